// A hot-wallet rotation (`pscli hotwallet rotate`): payserv started with a coin's next key beside its
// current one. New payouts wait; payments already in flight from the old wallet settle as always (the old
// driver still checks, resends and bumps them); then the old balance is swept to the new address by one
// write-ahead transaction, and once the sweep is final on the chain, payouts come from the new wallet.
//
// The sweep's record lives on the payserv host (STATE/rotation/<TAG>.json, written and fsynced before
// the commit that advances the nonce, long before the broadcast), not in the database: the database
// attacker has nothing to edit. Its destination is the next key's address, held in memory, and the
// stored bytes are checked against it on every read: bytes paying anything else are a fail-stop.
import { join } from 'node:path';
import { rename } from 'node:fs/promises';
import { z } from 'zod';
import { sameAddress } from '../chains/address.js';
import {
  ChainIdentityError,
  NodeUnavailable,
  type Attempt,
  type Broadcast,
  type ChainDriver,
  type DecodedTx,
  type DriverHealth,
  type PayOutput,
  type Placement,
  type SignedTx,
  type Signing,
  type Verdict,
  type WalletFlood,
  type Watch,
} from '../chains/driver.js';
import type { StorageTx } from '../chains/storage.js';
import { InvariantError } from '../ledger/invariant.js';
import { readJson, writeJsonAtomic } from '../state/atomic-file.js';
import type { Payserv } from './context.js';
import { fault } from './faults.js';
import { coinSendLock, LockBusy } from './locks.js';

/** What a coin's old driver must do for its wallet to be swept (Ethereum's, Zcash's and the Bitcoin family's). */
export interface Sweepable extends ChainDriver {
  signSweep(tx: StorageTx, to: string): Promise<Signing>;
  signedBy(raw: string): Promise<boolean>;
}

export const isSweepable = (d: ChainDriver): d is Sweepable =>
  typeof (d as Partial<Sweepable>).signSweep === 'function' && typeof (d as Partial<Sweepable>).signedBy === 'function';

export const rotationPath = (stateDir: string, tag: string) => join(stateDir, 'rotation', `${tag}.json`);

/** Ethereum's hashes and bytes are 0x-prefixed; the UTXO chains' are bare hex (as their nodes print them). */
const attemptSchema = z.strictObject({
  hash: z.string().regex(/^(0x)?[0-9a-f]{64}$/),
  raw: z.string().regex(/^(0x)?[0-9a-f]+$/),
  at: z.string(),
});
const recordSchema = z.strictObject({
  coin: z.string(),
  from: z.string(),
  to: z.string(),
  /** sweeping: signed and recorded, the chain has not made it final yet; final: paid out, the new wallet pays. */
  phase: z.enum(['sweeping', 'final']),
  value: z.string().regex(/^\d{1,40}$/),
  /** Null: the old wallet held no more than the fee reserve, nothing was swept. */
  attempt: attemptSchema.nullable(),
  block: z.strictObject({ blockNumber: z.int().min(0), blockHash: z.string() }).optional(),
});
export type SweepRecord = z.infer<typeof recordSchema>;
/** A record with its transaction. */
type Swept = SweepRecord & { attempt: NonNullable<SweepRecord['attempt']> };

export class RotationError extends InvariantError {
  override name = 'RotationError';
}

/**
 * A coin's driver during and after a rotation. Until the sweep is final: every call goes to the old
 * wallet's driver, except that nothing new is signed (payouts wait, send_retry). Once final: the new
 * wallet's driver pays; a stored attempt the old wallet signed is still judged by the old driver.
 */
export class RotatingDriver implements ChainDriver {
  readonly tag: string;
  readonly maxOutputs: number;
  #final = false;

  constructor(
    readonly old: Sweepable,
    readonly next: Sweepable,
    readonly settings: { stateDir: string; confirmations: number; finality: number },
  ) {
    this.tag = old.tag;
    this.maxOutputs = old.maxOutputs;
  }

  get final(): boolean {
    return this.#final;
  }

  get address(): string {
    return this.#final ? this.next.address : this.old.address;
  }

  get #now(): Sweepable {
    return this.#final ? this.next : this.old;
  }

  /** Switches payouts to the new wallet (the sweep is final). */
  activate(): void {
    this.#final = true;
  }

  async #owner(raw: string): Promise<Sweepable> {
    return this.#final && (await this.old.signedBy(raw)) ? this.old : this.#now;
  }

  validateAddress(address: string): string | null {
    return this.old.validateAddress(address);
  }
  outputProblem(address: string, value: bigint): string | null {
    return this.old.outputProblem?.(address, value) ?? null;
  }
  async start(): Promise<void> {
    await this.old.start();
    await this.next.start();
  }
  health(): Promise<DriverHealth> {
    return this.#now.health();
  }
  spendable(db: StorageTx): Promise<bigint> {
    return this.#now.spendable(db);
  }
  walletFlood(): WalletFlood | null {
    return this.#now.walletFlood?.() ?? null;
  }
  async sign(tx: StorageTx, outputs: readonly PayOutput[], ctx: { confirmations: number }): Promise<Signing> {
    if (!this.#final)
      return {
        kind: 'wait',
        reason: `hot wallet rotation: payouts wait until ${this.old.address} is swept to ${this.next.address} and the sweep is final`,
      };
    return this.next.sign(tx, outputs, ctx);
  }
  async committed(signed: SignedTx): Promise<void> {
    await (await this.#owner(signed.raw)).committed(signed);
  }
  async restored(tx: StorageTx, raw: string): Promise<void> {
    await (await this.#owner(raw)).restored(tx, raw);
  }
  async broadcast(raw: string): Promise<Broadcast> {
    return (await this.#owner(raw)).broadcast(raw);
  }
  decode(raw: string): DecodedTx {
    return this.#now.decode(raw);
  }
  async verdict(attempts: readonly Attempt[], ctx: { now: Date; confirmations: number }): Promise<Verdict> {
    const first = attempts[0];
    return (first ? await this.#owner(first.raw) : this.#now).verdict(attempts, ctx);
  }
  watch(hash: string, seen: Placement | null, ctx: { finality: number }): Promise<Watch> {
    return this.#now.watch(hash, seen, ctx);
  }
  async replace(tx: StorageTx, latest: Attempt): Promise<Signing | null> {
    return (await this.#owner(latest.raw)).replace(tx, latest);
  }
  release(tx: StorageTx, hash: string, why: string): Promise<void> {
    return this.#now.release(tx, hash, why);
  }
}

/** The host's sweep record, checked against the keys in memory: any other sender, destination or value is a fail-stop. */
export async function readSweep(d: RotatingDriver): Promise<SweepRecord | null> {
  const path = rotationPath(d.settings.stateDir, d.tag);
  const raw = await readJson(path);
  if (raw === null) return null;
  const parsed = recordSchema.safeParse(raw);
  if (!parsed.success) throw new RotationError(`${path} is not a sweep record`);
  const r = parsed.data;
  if (r.attempt) checkSweep(d, r.attempt.raw, BigInt(r.value), path);
  else if (r.phase !== 'final' || r.value !== '0') throw new RotationError(`${path}: a sweep record without a transaction`);
  if (r.coin !== d.tag || !sameAddress(d.tag, r.from, d.old.address) || !sameAddress(d.tag, r.to, d.next.address))
    throw new RotationError(
      `${path} sweeps ${r.from} to ${r.to}, not ${d.old.address} to ${d.next.address}: the record is not this rotation's`,
    );
  return r;
}

/** The bytes must pay exactly `value` to the next key's address, signed by the old wallet's: re-derived, never taken from a record. */
function checkSweep(d: RotatingDriver, raw: string, value: bigint, where: string): DecodedTx {
  let t: DecodedTx;
  try {
    t = d.old.decode(raw);
  } catch (e) {
    throw new RotationError(`${where}: the sweep's bytes are not a ${d.tag} transaction (${(e as Error).message})`);
  }
  const [out, ...more] = t.outputs;
  if (!out || more.length || !sameAddress(d.tag, out.address, d.next.address) || out.value !== value)
    throw new RotationError(
      `${where}: the sweep's bytes pay ${t.outputs.map((o) => `${o.value} to ${o.address}`).join(', ')}, not ${value} to ${d.next.address}: refused, nothing sent`,
    );
  return t;
}

export type RotationStep =
  | { kind: 'waiting'; reason: string }
  /** `left`: what the sweep leaves in the old wallet (outputs not worth spending), when anything. */
  | { kind: 'swept'; hash: string; value: string; left?: string }
  | { kind: 'settling'; hash: string; reason: string }
  | { kind: 'final'; hash: string | null };

/** One step of a coin's rotation, under the coin's send lock: sweep, follow the sweep, or switch to the new wallet. */
export async function rotationStep(ps: Payserv, d: RotatingDriver): Promise<RotationStep> {
  if (d.final) return { kind: 'final', hash: '' };
  // A sweep is a payment: never while payouts are off (a fail-stop, not yet enabled).
  if (!ps.state.enabled) return { kind: 'waiting', reason: `payouts are disabled: ${ps.state.status().reason}` };
  try {
    return await ps.locks.with(coinSendLock(d.tag), 'hot wallet rotation', () => step(ps, d));
  } catch (e) {
    if (e instanceof LockBusy) return { kind: 'waiting', reason: `coin ${d.tag} is being paid by another call` };
    if (e instanceof ChainIdentityError || e instanceof NodeUnavailable) return { kind: 'waiting', reason: e.message };
    throw e;
  }
}

async function step(ps: Payserv, d: RotatingDriver): Promise<RotationStep> {
  const r = await readSweep(d);
  if (!r) return sweep(ps, d);
  if (r.phase === 'final') {
    d.activate();
    ps.log.warn(
      { coin: d.tag, from: d.old.address, to: d.next.address, tx: r.attempt?.hash ?? null },
      'hot wallet rotated: payouts now come from the new wallet',
    );
    return { kind: 'final', hash: r.attempt?.hash ?? null };
  }
  if (!r.attempt) throw new RotationError(`the sweep record of ${d.tag} has no transaction and is not final`);
  return follow(ps, d, { ...r, attempt: r.attempt });
}

async function sweep(ps: Payserv, d: RotatingDriver): Promise<RotationStep> {
  const path = rotationPath(d.settings.stateDir, d.tag);
  let recorded: Swept | null = null;
  const s = await ps.db.transaction(async (tx) => {
    const signed = await d.old.signSweep(tx, d.next.address);
    if (signed.kind !== 'signed') return signed;
    const t = checkSweep(d, signed.tx.raw, d.old.decode(signed.tx.raw).outputs[0]?.value ?? -1n, 'the sweep just signed');
    recorded = {
      coin: d.tag,
      from: d.old.address,
      to: d.next.address,
      phase: 'sweeping',
      value: String(t.outputs[0]?.value),
      attempt: { hash: signed.tx.hash, raw: signed.tx.raw, at: ps.now().toISOString() },
    };
    // Written and fsynced before the commit: whoever can see the nonce advanced, the host knows the bytes.
    await writeJsonAtomic(path, recorded);
    await fault(ps.faults, 'sweep.recorded', { withdrawals: [], hash: signed.tx.hash });
    return signed;
  });
  if (s.kind === 'short') {
    // Every nonce mined and the balance at most the fee: nothing worth a transaction. The new wallet pays from now on.
    await writeJsonAtomic(path, {
      coin: d.tag,
      from: d.old.address,
      to: d.next.address,
      phase: 'final',
      value: '0',
      attempt: null,
    } satisfies SweepRecord);
    d.activate();
    ps.log.warn({ coin: d.tag, from: d.old.address, to: d.next.address, reason: s.reason }, 'hot wallet rotated with nothing to sweep');
    return { kind: 'final', hash: null };
  }
  if (s.kind !== 'signed' || !recorded) {
    const reason = s.kind === 'signed' ? 'not recorded' : s.reason;
    ps.log.info({ coin: d.tag, from: d.old.address, reason }, 'hot wallet rotation: the sweep waits');
    return { kind: 'waiting', reason };
  }
  const r: Swept = recorded;
  await d.old.committed(s.tx);
  // What the sweep leaves in the old wallet (outputs not worth their fee, sent by anyone): part of the report.
  const left = s.note === undefined ? {} : { left: s.note };
  ps.log.warn(
    { coin: d.tag, from: r.from, to: r.to, value: r.value, tx: r.attempt.hash, ...left },
    'hot wallet sweep signed and recorded: sending',
  );
  await fault(ps.faults, 'sweep.committed', { withdrawals: [], hash: r.attempt.hash });
  const b = await d.old.broadcast(r.attempt.raw);
  if (!b.ok) ps.log.warn({ coin: d.tag, tx: r.attempt.hash, reason: b.reason }, 'the node refused the sweep for now: the chain decides');
  return { kind: 'swept', hash: r.attempt.hash, value: r.value, ...left };
}

/** The chain decides the sweep: resent while unknown, a new sweep only after proof it failed, the switch only at finality. */
async function follow(
  ps: Payserv,
  d: RotatingDriver,
  r: SweepRecord & { attempt: NonNullable<SweepRecord['attempt']> },
): Promise<RotationStep> {
  const a: Attempt = { hash: r.attempt.hash, raw: r.attempt.raw, signedAt: new Date(r.attempt.at) };
  const v = await d.old.verdict([a], { now: ps.now(), confirmations: d.settings.confirmations });
  const path = rotationPath(d.settings.stateDir, d.tag);
  switch (v.kind) {
    case 'pending':
      for (const h of v.rebroadcast) if (h === a.hash) await d.old.broadcast(a.raw);
      return { kind: 'settling', hash: a.hash, reason: v.reason };
    case 'mined':
      return { kind: 'settling', hash: a.hash, reason: `${v.confirmations} of ${v.needed} confirmations` };
    case 'failed':
      // Proof, not absence: the record is kept beside it, and the next step sweeps what the wallet holds then.
      await rename(path, `${path}.failed-${a.hash}`);
      ps.log.error({ coin: d.tag, tx: a.hash, proof: v.proof }, 'hot wallet sweep failed on the chain: swept again');
      return { kind: 'waiting', reason: `the sweep ${a.hash} failed: ${v.proof}` };
    case 'confirmed': {
      const w = await d.old.watch(a.hash, v.block, { finality: d.settings.finality });
      if (w.kind !== 'final' || w.reverted) return { kind: 'settling', hash: a.hash, reason: `not final yet (${w.kind})` };
      await writeJsonAtomic(path, { ...r, phase: 'final', block: w.block } satisfies SweepRecord);
      d.activate();
      ps.log.warn(
        { coin: d.tag, from: r.from, to: r.to, value: r.value, tx: a.hash },
        'hot wallet sweep final: payouts now come from the new wallet',
      );
      return { kind: 'final', hash: a.hash };
    }
  }
}

// Each interval: every matured block of <coin>:blocks:matured from from_height on, paged by score, credited
// through the intake's Blocks.Credit (the chain's reward check decides); then, for a credited block only, each
// miner's login registered as their signed wallet. A block is imported whole or not at all; one not imported is
// logged with the reason and tried again next interval. What this process saw the intake credit is not asked
// again; anything else is asked (the intake answers already, by block hash). <coin>:payserv:imported (block hash
// -> income id) is written for the operator and never read: the pool's Redis does not decide what is skipped.

import type { Redis } from 'ioredis';
import { FORGED } from '../../chains/reward.js';
import { blockSubject, INTAKE_ALERT } from '../../intake/alerts.js';
import type { Intake } from '../../intake/context.js';
import { intakeView, verifiedCoin } from '../../intake/ledger.js';
import type { Logger } from '../../log/index.js';
import { PoolFormatError } from '../errors.js';
import { ensureMinerWallet } from '../miner-wallet.js';
import { derivedUserId } from '../user-id.js';
import { BlockNotImportable, blockClaim, shannonAmount, type BlockClaim } from './claim.js';
import { maturedBlockCredits, type MaturedBlockCredits } from './credits.js';
import { intakeBlockHash, intakeCall, type IntakeAnswer } from '../intake-call.js';
import { blocksKey, creditsKey, parseBlockMember } from './keys.js';
import { importedKey } from './steps.js';

export interface OepSettings {
  prefix: string;
  coin: string;
  poolFeeAddress: string;
  fromHeight: bigint;
  pageSize: number;
}

export interface ImportReport {
  imported: number;
  already: number;
  failed: number;
  uncles: number;
}

/** The ledger user of a login: derived, nothing stored (src/pools/user-id.ts). */
export const oepUserId = (s: Pick<OepSettings, 'prefix' | 'coin'>, login: string): number =>
  derivedUserId(`oep:${s.prefix}`, s.coin, login);

type Credited = { already: boolean; incomeId: number };

export class Importer {
  /** Blocks this process saw the intake credit, their wallets settled: not asked again. */
  readonly #credited = new Set<string>();
  /** Logins whose wallet this process has settled (src/pools/miner-wallet.ts). */
  readonly #wallets = new Set<string>();
  readonly #unclesWarned = new Set<string>();

  constructor(
    readonly it: Intake,
    readonly redis: Redis,
    readonly s: OepSettings,
    readonly log: Logger,
  ) {}

  async run(): Promise<ImportReport> {
    const report: ImportReport = { imported: 0, already: 0, failed: 0, uncles: 0 };
    const key = blocksKey(this.s.prefix, 'matured');
    for (let offset = 0; ; offset += this.s.pageSize) {
      const page = await this.redis.zrangebyscore(
        key,
        this.s.fromHeight.toString(),
        '+inf',
        'WITHSCORES',
        'LIMIT',
        offset,
        this.s.pageSize,
      );
      for (let i = 0; i < page.length; i += 2) await this.#one(page[i] as string, page[i + 1] as string, report);
      if (page.length < 2 * this.s.pageSize) return report;
    }
  }

  async #one(member: string, score: string, report: ImportReport): Promise<void> {
    let block;
    try {
      block = parseBlockMember(member);
    } catch (e) {
      report.failed++;
      const facts = { pool: 'oep', member, alert: INTAKE_ALERT.blockRefused, reason: (e as Error).message };
      this.log.error(facts, 'matured block not imported: unreadable member');
      this.it.alerts.once(
        facts.alert,
        `${this.s.coin} oep member ${member.slice(0, 120)}`,
        `unreadable matured member: ${facts.reason}`,
        facts,
      );
      return;
    }
    if (block.orphan || this.#credited.has(block.hash)) return;
    if (block.uncleHeight > 0n) {
      report.uncles++;
      if (!this.#unclesWarned.has(block.hash)) {
        this.#unclesWarned.add(block.hash);
        this.log.warn(
          { pool: 'oep', height: score, uncle: block.hash, uncleHeight: String(block.uncleHeight) },
          'uncle not imported: no chain check for uncles yet',
        );
      }
      return;
    }
    let b: MaturedBlockCredits;
    let c: BlockClaim;
    try {
      // A hash the pool writes ("0x0": a block without one) that the intake's schema refuses is this block's problem alone.
      intakeBlockHash(block.hash, 'block member hash');
      b = maturedBlockCredits(BigInt(score), member, await this.redis.hgetall(creditsKey(this.s.prefix, BigInt(score), block.hash)));
      if (b.credits.length === 0) throw new BlockNotImportable(`no credits under ${creditsKey(this.s.prefix, b.height, b.hash)}`);
      c = blockClaim(b, this.s.poolFeeAddress);
    } catch (e) {
      if (!(e instanceof BlockNotImportable || e instanceof PoolFormatError)) throw e;
      report.failed++;
      this.#notImported(block.hash, score, { message: e.message });
      return;
    }
    const r = await this.#credit(b, c);
    if (!r.ok) {
      report.failed++;
      this.#notImported(block.hash, score, r);
      return;
    }
    // Only now, for a credited block (a crash before: the next interval's Blocks.Credit answers already, then this).
    if (!(await this.#registerWallets(b, c))) {
      report.failed++;
      return;
    }
    await this.redis.hset(importedKey(this.s.prefix), block.hash, String(r.value.incomeId));
    this.#credited.add(block.hash);
    if (r.value.already) report.already++;
    else report.imported++;
  }

  async #credit(b: MaturedBlockCredits, c: BlockClaim): Promise<IntakeAnswer<Credited>> {
    const r = await intakeCall<Credited>(this.it, 'Blocks.Credit', {
      coin: this.s.coin,
      hash: b.hash,
      income: shannonAmount(c.incomeShannon),
      credits: c.miners.map((m) => ({ user: oepUserId(this.s, m.login), amount: shannonAmount(m.shannon) })),
      poolFee: shannonAmount(c.poolFeeShannon),
      // The member's score; the chain must have the block at it (maturedBlockCredits bounds it to a safe integer).
      height: Number(b.height),
    });
    if (!r.ok) return r;
    if (c.trimmedShannon > 0n)
      this.log.warn(
        { pool: 'oep', block: b.hash, trimmed: c.trimmedShannon.toString() },
        "pool fee lowered: the rounded credits exceeded the block's reward",
      );
    this.log.info(
      { pool: 'oep', block: b.hash, height: b.height.toString(), incomeId: r.value.incomeId, already: r.value.already },
      'matured block imported',
    );
    return r;
  }

  /** Each miner's login as their wallet (src/pools/miner-wallet.ts); false, logged, when one is refused. */
  async #registerWallets(b: MaturedBlockCredits, c: BlockClaim): Promise<boolean> {
    const todo = c.miners.filter((m) => !this.#wallets.has(m.login));
    if (todo.length === 0) return true;
    const coin = verifiedCoin(await intakeView(this.it, this.it.db), this.s.coin);
    for (const m of todo) {
      const w = await ensureMinerWallet(
        this.it,
        this.log,
        { pool: 'oep', coin, user: oepUserId(this.s, m.login), address: m.login },
        this.#wallets,
      );
      if (w.ok) continue;
      this.log.error(
        { pool: 'oep', block: b.hash, login: m.login, code: w.code, reason: w.message },
        'miner wallet not registered: retried next interval',
      );
      return false;
    }
    return true;
  }

  /** A block not imported this interval: waiting (immature, node down) is a warning; anything else is alerted once per block. */
  #notImported(hash: string, height: string, why: { code?: string; message: string }): void {
    const facts = { pool: 'oep', block: hash, height, ...(why.code ? { code: why.code } : {}), reason: why.message };
    if (why.code === 'block_immature' || why.code === 'node_unavailable')
      return this.log.warn(facts, 'matured block not imported yet: retried next interval');
    // Refused each interval, alerted once per block (a forged one by the intake already: the same subject).
    const forged = why.code !== undefined && FORGED.has(why.code as never);
    const alert = forged ? INTAKE_ALERT.blockForged : INTAKE_ALERT.blockRefused;
    if (forged) this.log.warn({ ...facts, alert }, 'matured block not imported: retried next interval');
    else this.log.error({ ...facts, alert }, 'matured block not imported: retried next interval');
    this.it.alerts.once(
      alert,
      blockSubject(this.s.coin, hash),
      `matured block ${hash} at height ${height} not imported: ${why.message}`,
      facts,
    );
  }
}

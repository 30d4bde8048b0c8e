// Each interval: every matured block of <coin>:blocks:matured from from_height on, paged by score, credited
// through the intake's Blocks.Credit (the chain's reward check decides), after registering each miner's login
// as their signed wallet. A block is imported whole or not at all; one not imported is logged with the reason
// and tried again next interval. <coin>:payserv:imported only saves work: the intake's idempotency by block
// hash is what keeps a block from being credited twice.

import type { Redis } from 'ioredis';
import { FORGED } from '../../chains/reward.js';
import { blockSubject, INTAKE_ALERT } from '../../intake/alerts.js';
import type { Intake } from '../../intake/context.js';
import type { Logger } from '../../log/index.js';
import { PoolFormatError } from '../errors.js';
import { derivedUserId } from '../user-id.js';
import { BlockNotImportable, blockClaim, shannonAmount, type BlockClaim } from './claim.js';
import { maturedBlockCredits, type MaturedBlockCredits } from './credits.js';
import { intakeCall, type IntakeAnswer } from '../intake-call.js';
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
  /** Users whose login is a signed wallet already (this process): Wallets.Register is not asked again. */
  readonly #walletsDone = new Set<number>();
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
      this.log.error({ pool: 'oep', member, reason: (e as Error).message }, 'matured block not imported: unreadable member');
      return;
    }
    if (block.orphan) return;
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
    if (await this.redis.hexists(importedKey(this.s.prefix), block.hash)) return;
    let r: IntakeAnswer<Credited>;
    try {
      const b = maturedBlockCredits(BigInt(score), member, await this.redis.hgetall(creditsKey(this.s.prefix, BigInt(score), block.hash)));
      if (b.credits.length === 0) throw new BlockNotImportable(`no credits under ${creditsKey(this.s.prefix, b.height, b.hash)}`);
      r = await this.#credit(b, blockClaim(b, this.s.poolFeeAddress));
    } catch (e) {
      if (!(e instanceof BlockNotImportable || e instanceof PoolFormatError)) throw e;
      report.failed++;
      this.#notImported(block.hash, score, { message: e.message });
      return;
    }
    if (!r.ok) {
      report.failed++;
      this.#notImported(block.hash, score, r);
      return;
    }
    // A crash before this write leaves the block credited and not recorded: the next interval's Blocks.Credit answers already.
    await this.redis.hset(importedKey(this.s.prefix), block.hash, String(r.value.incomeId));
    if (r.value.already) report.already++;
    else report.imported++;
  }

  async #credit(b: MaturedBlockCredits, c: BlockClaim): Promise<IntakeAnswer<Credited>> {
    const credits = [];
    for (const m of c.miners) {
      const user = await this.#wallet(m.login);
      if (!user.ok) return user;
      credits.push({ user: user.value, amount: shannonAmount(m.shannon) });
    }
    const r = await intakeCall<Credited>(this.it, 'Blocks.Credit', {
      coin: this.s.coin,
      hash: b.hash,
      income: shannonAmount(c.incomeShannon),
      credits,
      poolFee: shannonAmount(c.poolFeeShannon),
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

  /** The login as the user's wallet, signed (review auto for the adapter's wallets: the login is where the miner mines to). */
  async #wallet(login: string): Promise<IntakeAnswer<number>> {
    const user = oepUserId(this.s, login);
    if (this.#walletsDone.has(user)) return { ok: true, value: user };
    const r = await intakeCall(this.it.review === 'auto' ? this.it : { ...this.it, review: 'auto' }, 'Wallets.Register', {
      user,
      coin: this.s.coin,
      address: login,
    });
    if (!r.ok) return r;
    this.#walletsDone.add(user);
    return { ok: true, value: user };
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

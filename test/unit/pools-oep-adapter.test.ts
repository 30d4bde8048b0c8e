// The open-ethereum-pool adapter's pure parts: a matured block's credits to the Blocks.Credit asked of the
// intake (the pool fee split off, the rounding excess taken from it, a block it cannot cover refused whole),
// and the payer's Redis steps with their records, in the pool's exact key and member formats.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { fileSchema } from '../../src/config/schema.js';
import { BlockNotImportable, blockClaim, shannonAmount } from '../../src/pools/oep/claim.js';
import { maturedBlockCredits } from '../../src/pools/oep/credits.js';
import { blockMember } from '../../src/pools/oep/keys.js';
import { parseRecord, stepCommands, stepsTo } from '../../src/pools/oep/steps.js';
import { tmpStateDir } from '../support/tmp.js';

const FEE = '0x00000000000000000000000000000000000000fe';
const A = '0x00000000000000000000000000000000000000aa';
const B = '0x00000000000000000000000000000000000000bb';
const HASH = `0x${'cd'.repeat(32)}`;
const TX = `0x${'ef'.repeat(32)}`;

const block = (credits: Record<string, string>, rewardWei = 2n * 10n ** 18n) =>
  maturedBlockCredits(
    100n,
    blockMember({ uncleHeight: 0n, orphan: false, nonce: '0x1', hash: HASH, timestamp: 1n, difficulty: 1n, totalShares: 1n, rewardWei }),
    credits,
  );

describe('a matured block as a Blocks.Credit', () => {
  it('splits the pool fee address off as the pool fee; within the reward, nothing is trimmed', () => {
    const c = blockClaim(block({ [FEE]: '20000000', [A]: '990000000', [B]: '990000000' }), FEE.toUpperCase().replace('0X', '0x'));
    expect(c).toEqual({
      miners: [
        { login: A, shannon: 990_000_000n },
        { login: B, shannon: 990_000_000n },
      ],
      poolFeeShannon: 20_000_000n,
      trimmedShannon: 0n,
      incomeShannon: 2_000_000_000n,
    });
    expect(shannonAmount(c.incomeShannon)).toBe('2');
    expect(shannonAmount(1n)).toBe('0.000000001');
  });

  it('takes the rounding excess (whole Shannon, rounded up) from the pool fee, never from a miner', () => {
    const c = blockClaim(block({ [FEE]: '20000000', [A]: '990000001', [B]: '990000001' }), FEE);
    expect(c.poolFeeShannon).toBe(19_999_998n);
    expect(c.incomeShannon).toBe(2_000_000_000n);
    // A reward that is not whole Shannon: 0.5 Shannon over still takes a whole one.
    const half = blockClaim(block({ [FEE]: '20', [A]: '1999999980' }, 2n * 10n ** 18n - 5n * 10n ** 8n), FEE);
    expect(half.trimmedShannon).toBe(1n);
    expect(half.incomeShannon * 10n ** 9n <= 2n * 10n ** 18n - 5n * 10n ** 8n).toBe(true);
  });

  it('refuses the whole block when the pool fee cannot cover the excess, or no miner is credited', () => {
    expect(() => blockClaim(block({ [FEE]: '1', [A]: '2000000005' }), FEE)).toThrow(BlockNotImportable);
    expect(() => blockClaim(block({ [FEE]: '1', [A]: '2000000005' }), FEE)).toThrow(/exceed the block's reward/);
    expect(() => blockClaim(block({ [FEE]: '2000000000' }), FEE)).toThrow(/credits no miner/);
  });
});

describe("the payer's steps in Redis", () => {
  const FP = 'ab'.repeat(32);
  const p = { withdrawalId: 7, fingerprint: FP, login: A, shannon: 1_500_000_000n, txHash: TX, at: 1_700_000_000 };

  it('UpdateBalance: balance to pending for the miner and the finances, the pending entry, the record', () => {
    expect(stepCommands('eth', 'pending', p)).toEqual([
      ['hincrby', `eth:miners:${A}`, 'balance', '-1500000000'],
      ['hincrby', `eth:miners:${A}`, 'pending', '1500000000'],
      ['hincrby', 'eth:finances', 'balance', '-1500000000'],
      ['hincrby', 'eth:finances', 'pending', '1500000000'],
      ['zadd', 'eth:payments:pending', 1_700_000_000, `${A}:1500000000`],
      ['sadd', 'eth:payserv:pending', `${A}:1500000000`],
      ['hset', 'eth:payserv:mirrored', '7', `pending:${FP}`],
    ]);
  });

  it('WritePayment: pending to paid, payments:all "tx:login:amount" and payments:<login> "tx:amount", the pending entry removed', () => {
    expect(stepCommands('eth', 'paid', p)).toEqual([
      ['hincrby', `eth:miners:${A}`, 'pending', '-1500000000'],
      ['hincrby', `eth:miners:${A}`, 'paid', '1500000000'],
      ['hincrby', 'eth:finances', 'pending', '-1500000000'],
      ['hincrby', 'eth:finances', 'paid', '1500000000'],
      ['zadd', 'eth:payments:all', 1_700_000_000, `${TX}:${A}:1500000000`],
      ['zadd', `eth:payments:${A}`, 1_700_000_000, `${TX}:1500000000`],
      ['zrem', 'eth:payments:pending', `${A}:1500000000`],
      ['srem', 'eth:payserv:pending', `${A}:1500000000`],
      ['hset', 'eth:payserv:mirrored', '7', `paid:${FP}`],
    ]);
    expect(() => stepCommands('eth', 'paid', { ...p, txHash: null })).toThrow(/without a transaction hash/);
  });

  it('RollbackBalance: the exact inverse of UpdateBalance', () => {
    expect(stepCommands('eth', 'rolledback', p).slice(0, 5)).toEqual([
      ['hincrby', `eth:miners:${A}`, 'pending', '-1500000000'],
      ['hincrby', `eth:miners:${A}`, 'balance', '1500000000'],
      ['hincrby', 'eth:finances', 'pending', '-1500000000'],
      ['hincrby', 'eth:finances', 'balance', '1500000000'],
      ['zrem', 'eth:payments:pending', `${A}:1500000000`],
    ]);
  });

  it('a member another recorded withdrawal still holds ("login:amount" shared) is left in payments:pending by a final step', () => {
    const unpends = (c: (string | number)[]) => c[0] === 'zrem' || c[0] === 'srem';
    for (const stage of ['paid', 'rolledback'] as const) {
      const shared = stepCommands('eth', stage, p, true);
      expect(shared.filter(unpends)).toEqual([]);
      expect(shared).toEqual(stepCommands('eth', stage, p).filter((c) => !unpends(c)));
    }
  });

  it('goes through pending to a final stage once, and never from one final stage to the other', () => {
    expect(stepsTo(null, 'pending')).toEqual(['pending']);
    expect(stepsTo(null, 'paid')).toEqual(['pending', 'paid']);
    expect(stepsTo('pending', 'rolledback')).toEqual(['rolledback']);
    expect(stepsTo('paid', 'paid')).toEqual([]);
    expect(stepsTo('paid', 'rolledback')).toBeNull();
    expect(stepsTo('rolledback', 'pending')).toBeNull();
  });

  it("reads a record with the withdrawal's fingerprint, and one written before fingerprints (the stage alone); refuses anything else", () => {
    expect(parseRecord(`paid:${FP}`)).toEqual({ stage: 'paid', fingerprint: FP });
    expect(parseRecord('pending')).toEqual({ stage: 'pending', fingerprint: null });
    for (const bad of ['sent', `paid:${FP}:x`, 'paid:abc', `paid:${FP.toUpperCase()}`, ''])
      expect(() => parseRecord(bad), bad).toThrow(/mirrored record: not <stage>\[:<fingerprint>\]/);
  });
});

describe('[pools.oep] in the intake configuration', () => {
  const base = { redis_url: 'redis://127.0.0.1:6379/3', prefix: 'eth', coin: 'ETH', pool_fee_address: FEE };
  // Its coin's reward check too: an adapter's coin without a [coins.TAG] table is refused.
  const ETH = {
    chain: 'eth',
    first_height: 0,
    node_url: 'http://127.0.0.1:8545',
    chain_id: 1,
    pool_address: `0x${'11'.repeat(20)}`,
    issuance: '2',
  };
  const parse = (oep: Record<string, unknown>) => fileSchema('intake').safeParse({ coins: { ETH }, pools: { oep } });

  it('takes the documented keys with their defaults', () => {
    expect(parse(base).data?.pools.oep).toEqual({ ...base, interval_s: 60, from_height: 0, page_size: 500, timeout_ms: 10_000 });
  });

  it('refuses a bad value naming its key, and an unknown key', () => {
    const path = (oep: Record<string, unknown>) => parse(oep).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(path({ ...base, redis_url: 'http://x' })).toEqual(['pools.oep.redis_url: expected a redis:// or rediss:// URL']);
    expect(path({ ...base, prefix: 'eth:x' })).toEqual(['pools.oep.prefix: expected the pool\'s "coin" setting, e.g. "eth"']);
    expect(path({ ...base, pool_fee_address: '0x12' })).toEqual(['pools.oep.pool_fee_address: expected an address: 0x and 40 hex digits']);
    expect(path({ ...base, from_height: -1 })).toEqual(['pools.oep.from_height: expected a whole number']);
    expect(parse({ ...base, payouts: true }).success).toBe(false);
  });

  it("bounds interval_s as MiningCore's (86400): a longer one (past Node's 2^31 ms timer, which fires every millisecond) is refused naming the key", async () => {
    expect(parse({ ...base, interval_s: 86_400 }).data?.pools.oep?.interval_s).toBe(86_400);
    const path = (oep: Record<string, unknown>) => parse(oep).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(path({ ...base, interval_s: 86_401 })).toEqual(['pools.oep.interval_s: at most 86400']);
    const dir = await tmpStateDir();
    const file = join(dir, 'intake.toml');
    await writeFile(
      file,
      `[coins.ETH]\nchain = "eth"\nfirst_height = 0\nnode_url = "http://127.0.0.1:8545"\nchain_id = 1\npool_address = "0x${'11'.repeat(20)}"\nissuance = "2"\n[pools.oep]\nredis_url = "redis://127.0.0.1:6379/3"\nprefix = "eth"\ncoin = "ETH"\ninterval_s = 3000000\npool_fee_address = "${FEE}"\n`,
    );
    await expect(loadConfig('intake', file, { env: { PAYSERV_STATE_DIR: dir } })).rejects.toThrow(/pools\.oep\.interval_s.*at most 86400/);
  });
});

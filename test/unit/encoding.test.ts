// The bytes a ledger signature covers must be unambiguous: one encoding per record, never shared by
// two different records, never shared across kinds or tables, and covering every field and the row id.
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  encodeCoin,
  encodeCoinCheckpoint,
  encodeCredit,
  encodePoolIncome,
  encodeUserCheckpoint,
  encodeWallet,
  encodeWithdrawalStatus,
  TABLE_OF,
  type RecordKind,
} from '../../src/ledger/encoding.js';
import {
  WITHDRAWAL_STATUSES,
  type Coin,
  type CoinCheckpoint,
  type Credit,
  type PoolIncome,
  type StatusEntry,
  type UserCheckpoint,
  type Wallet,
  type WithdrawalRequest,
} from '../../src/ledger/records.js';
import { parseAmount, type Amount } from '../../src/money/amount.js';

// ---- canonical identity of a record (what "the same record" means) ----

function canon(x: unknown): string {
  if (x === null) return 'null';
  if (typeof x === 'bigint') return `n${x}`;
  if (typeof x === 'number') return `i${x}`;
  if (typeof x === 'boolean') return `b${x}`;
  if (typeof x === 'string') return `s${JSON.stringify(x)}`;
  if (x instanceof Date) return `d${x.getTime()}`;
  if (x instanceof Uint8Array) return `x${Buffer.from(x).toString('hex')}`;
  if (Array.isArray(x)) return `[${x.map(canon).join(',')}]`;
  if (typeof x === 'object') {
    return `{${Object.keys(x as object)
      .sort()
      .map((k) => `${k}:${canon((x as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  throw new Error(`cannot canonicalise ${typeof x}`);
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

// ---- arbitraries over deliberately small domains, so near-collisions are common ----

/** Strings whose concatenations coincide often: "1"+"23" vs "12"+"3", "" vs absent, separators, a multi-byte character. */
const str = fc.oneof(
  fc.constantFrom('', '1', '2', '3', '12', '23', '123', 'a\u0000b', '\u0000', ':', '|', 'é', 'e\u0301'),
  fc.string({ unit: fc.constantFrom('1', '2', '3', '\u0000', 'é'), maxLength: 4 }),
  fc.string({ unit: 'grapheme', maxLength: 6 }),
);
const int = fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constantFrom(12, 23, 123, 1_000_000, Number.MAX_SAFE_INTEGER));
const amount: fc.Arbitrary<Amount> = fc.oneof(
  fc.constantFrom('0', '1', '-1', '12', '1.2', '0.12', '123', '0.00000000000000000001').map((s) => parseAmount(s)),
  fc.bigInt({ min: -(10n ** 49n), max: 10n ** 49n }).map((n) => n as Amount),
);
const time = fc.oneof(
  fc.constantFrom(0, 1, 12, 123, 1_700_000_000_000, 1_700_000_000_001).map((t) => new Date(t)),
  fc.date({ min: new Date(0), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }),
);
const status = fc.constantFrom(...WITHDRAWAL_STATUSES);
const bytes = fc.oneof(fc.constantFrom(new Uint8Array(0), Uint8Array.of(1), Uint8Array.of(1, 2)), fc.uint8Array({ maxLength: 64 }));

const coinArb: fc.Arbitrary<Coin> = fc.record({
  id: int,
  tag: str,
  name: str,
  active: fc.boolean(),
  network: fc.constantFrom('mainnet' as const, 'testnet' as const),
  decimals: int,
  confirmations: int,
  withdrawalFee: amount,
  minWithdrawal: amount,
  feeUserId: int,
  updatedAt: time,
});
const walletArb: fc.Arbitrary<Wallet> = fc.record({
  id: int,
  userId: int,
  coinId: int,
  address: str,
  active: fc.boolean(),
  deleted: fc.boolean(),
  createdAt: time,
  signedAt: fc.option(time, { nil: null }),
});
const incomeArb: fc.Arbitrary<PoolIncome> = fc.record({
  id: int,
  coinId: int,
  prevId: int,
  blockHash: str,
  kind: fc.constantFrom('block' as const, 'correction' as const),
  amount,
  balanceBefore: amount,
  creditCount: int,
  createdAt: time,
});
const creditArb: fc.Arbitrary<Credit> = fc.record({
  id: int,
  userId: int,
  coinId: int,
  prevId: int,
  blockHash: str,
  type: fc.constantFrom('block' as const, 'fee' as const, 'correction' as const),
  amount,
  balanceBefore: amount,
  createdAt: time,
});
const requestArb: fc.Arbitrary<WithdrawalRequest> = fc.record({
  id: int,
  userId: int,
  coinId: int,
  walletId: int,
  address: str,
  prevId: int,
  amount,
  fee: amount,
  debitBefore: amount,
  parentId: fc.option(int, { nil: null }),
  createdAt: time,
});
const entryArb: fc.Arbitrary<StatusEntry> = fc.record({
  seq: int,
  status,
  txHash: fc.option(str, { nil: null }),
  txFee: fc.option(amount, { nil: null }),
  comment: str,
  createdAt: time,
});
const statusArb = fc.record({ w: requestArb, e: entryArb, prev: fc.option(bytes, { nil: null }) });
const userCpArb: fc.Arbitrary<UserCheckpoint> = fc.record({
  userId: int,
  coinId: int,
  version: int,
  lastCreditId: int,
  lastBlockHash: str,
  creditTotal: amount,
  lastWithdrawalId: int,
  debitTotal: amount,
  sentTotal: amount,
  statusCount: int,
  headWithdrawalId: int,
  headDebit: amount,
  openStatusCount: int,
  madeAt: time,
});
const coinCpArb: fc.Arbitrary<CoinCheckpoint> = fc.record({
  coinId: int,
  version: int,
  lastIncomeId: int,
  poolBalance: amount,
  lastBlockHash: str,
  lastFeeCreditId: int,
  feeTotal: amount,
  madeAt: time,
});

type StatusInput = { w: WithdrawalRequest; e: StatusEntry; prev: Uint8Array | null };
const encodeStatus = (s: StatusInput) => encodeWithdrawalStatus(s.w, s.e, s.prev);

interface KindSpec<T> {
  kind: RecordKind;
  arb: fc.Arbitrary<T>;
  encode: (r: T) => Uint8Array;
}
const spec = <T>(kind: RecordKind, arb: fc.Arbitrary<T>, encode: (r: T) => Uint8Array): KindSpec<unknown> =>
  ({ kind, arb, encode }) as KindSpec<unknown>;

const KINDS: KindSpec<unknown>[] = [
  spec('coin', coinArb, encodeCoin),
  spec('wallet', walletArb, encodeWallet),
  spec('pool_income', incomeArb, encodePoolIncome),
  spec('credit', creditArb, encodeCredit),
  spec('withdrawal_status', statusArb, encodeStatus),
  spec('user_checkpoint', userCpArb, encodeUserCheckpoint),
  spec('coin_checkpoint', coinCpArb, encodeCoinCheckpoint),
];

// ---- fixed, fully populated records for the per-field mutation tests ----

const T0 = new Date('2025-03-04T05:06:07.089Z');
const COIN: Coin = {
  id: 2,
  tag: 'ETH',
  name: 'Ethereum',
  active: true,
  network: 'mainnet',
  decimals: 18,
  confirmations: 12,
  withdrawalFee: parseAmount('0.0005'),
  minWithdrawal: parseAmount('0.01'),
  feeUserId: 1,
  updatedAt: T0,
};
const WALLET: Wallet = { id: 7, userId: 1001, coinId: 2, address: '0xabc', active: true, deleted: false, createdAt: T0, signedAt: T0 };
const INCOME: PoolIncome = {
  id: 10,
  coinId: 2,
  prevId: 9,
  blockHash: '0xblock',
  kind: 'block',
  amount: parseAmount('2.05'),
  balanceBefore: parseAmount('100'),
  creditCount: 3,
  createdAt: T0,
};
const CREDIT: Credit = {
  id: 11,
  userId: 1001,
  coinId: 2,
  prevId: 8,
  blockHash: '0xblock',
  type: 'block',
  amount: parseAmount('0.7'),
  balanceBefore: parseAmount('5'),
  createdAt: T0,
};
const REQUEST: WithdrawalRequest = {
  id: 20,
  userId: 1001,
  coinId: 2,
  walletId: 7,
  address: '0xabc',
  prevId: 19,
  amount: parseAmount('1'),
  fee: parseAmount('0.0005'),
  debitBefore: parseAmount('3'),
  parentId: 5,
  createdAt: T0,
};
const ENTRY: StatusEntry = { seq: 2, status: 'sending', txHash: '0xtx', txFee: parseAmount('0.0001'), comment: 'ok', createdAt: T0 };
const PREV_SIG = Uint8Array.from({ length: 64 }, (_, i) => i);
const USER_CP: UserCheckpoint = {
  userId: 1001,
  coinId: 2,
  version: 3,
  lastCreditId: 11,
  lastBlockHash: '0xblock',
  creditTotal: parseAmount('5.7'),
  lastWithdrawalId: 20,
  debitTotal: parseAmount('4'),
  sentTotal: parseAmount('3'),
  statusCount: 7,
  headWithdrawalId: 24,
  headDebit: parseAmount('6'),
  openStatusCount: 5,
  madeAt: T0,
};
const COIN_CP: CoinCheckpoint = {
  coinId: 2,
  version: 4,
  lastIncomeId: 10,
  poolBalance: parseAmount('102.05'),
  lastBlockHash: '0xblock',
  lastFeeCreditId: 12,
  feeTotal: parseAmount('1'),
  madeAt: T0,
};

/** Another value of the same type: every field of a record is mutated this way in turn. */
function mutations(v: unknown): unknown[] {
  if (typeof v === 'number') return [v + 1, v - 1, v * 10];
  if (typeof v === 'bigint') return [v + 1n, -v - 1n, v * 10n];
  if (typeof v === 'string') return [`${v}x`, v.slice(1), '', `${v}\u0000`];
  if (typeof v === 'boolean') return [!v];
  if (v instanceof Date) return [new Date(v.getTime() + 1), new Date(v.getTime() - 1000)];
  if (v === null) return [];
  throw new Error(`no mutation for ${typeof v}`);
}

function eachFieldMutated<T extends object>(
  base: T,
  encode: (r: T) => Uint8Array,
): Array<{ field: string; value: unknown; bytes: Uint8Array }> {
  const out: Array<{ field: string; value: unknown; bytes: Uint8Array }> = [];
  for (const field of Object.keys(base)) {
    for (const value of mutations((base as Record<string, unknown>)[field]).filter(
      (m) => canon(m) !== canon((base as Record<string, unknown>)[field]),
    )) {
      out.push({ field, value, bytes: encode({ ...base, [field]: value }) });
    }
  }
  return out;
}

describe('signed encoding', () => {
  it('is deterministic: the same record (even as different objects) encodes to the same bytes', () => {
    for (const k of KINDS) {
      fc.assert(
        fc.property(k.arb, (r) => {
          expect(hex(k.encode(structuredClone(r)))).toBe(hex(k.encode(r)));
        }),
        { numRuns: 50 },
      );
    }
    expect(hex(encodeCoin({ ...COIN, updatedAt: new Date(T0.getTime()) }))).toBe(hex(encodeCoin(COIN)));
  });

  for (const k of KINDS) {
    it(`${k.kind}: two different records never encode to the same bytes`, () => {
      fc.assert(
        fc.property(fc.array(k.arb, { minLength: 2, maxLength: 40 }), (records) => {
          const byBytes = new Map<string, string>();
          for (const r of records) {
            const b = hex(k.encode(r));
            const c = canon(r);
            const seen = byBytes.get(b);
            if (seen !== undefined) expect(seen, `two records share the bytes ${b.slice(0, 80)}…`).toBe(c);
            else byBytes.set(b, c);
          }
        }),
        { numRuns: 150 },
      );
    });
  }

  it('strings whose concatenations coincide encode differently ("1"+"23" vs "12"+"3")', () => {
    const a = encodeCoin({ ...COIN, tag: '1', name: '23' });
    const b = encodeCoin({ ...COIN, tag: '12', name: '3' });
    expect(hex(a)).not.toBe(hex(b));
    expect(hex(encodeWallet({ ...WALLET, address: '1', userId: 23 }))).not.toBe(hex(encodeWallet({ ...WALLET, address: '12', userId: 3 })));
    // An empty string is not a missing value, and a string "1" is not the number 1.
    expect(hex(encodeWithdrawalStatus(REQUEST, { ...ENTRY, txHash: '' }, null))).not.toBe(
      hex(encodeWithdrawalStatus(REQUEST, { ...ENTRY, txHash: null }, null)),
    );
    expect(hex(encodeWithdrawalStatus(REQUEST, { ...ENTRY, txFee: parseAmount('0') }, null))).not.toBe(
      hex(encodeWithdrawalStatus(REQUEST, { ...ENTRY, txFee: null }, null)),
    );
    expect(hex(encodeWallet({ ...WALLET, signedAt: null }))).not.toBe(hex(encodeWallet({ ...WALLET, signedAt: new Date(0) })));
    // Numbers whose digits concatenate alike.
    expect(hex(encodeCredit({ ...CREDIT, id: 1, userId: 23 }))).not.toBe(hex(encodeCredit({ ...CREDIT, id: 12, userId: 3 })));
    // Amounts that share digits but not value, across the decimal point.
    expect(hex(encodeCredit({ ...CREDIT, amount: parseAmount('1.2'), balanceBefore: parseAmount('3') }))).not.toBe(
      hex(encodeCredit({ ...CREDIT, amount: parseAmount('12'), balanceBefore: parseAmount('0.3') })),
    );
  });

  it('names its domain, table and kind, so a signature cannot move to another table or kind', () => {
    const samples: Record<RecordKind, Uint8Array> = {
      coin: encodeCoin(COIN),
      wallet: encodeWallet(WALLET),
      pool_income: encodePoolIncome(INCOME),
      credit: encodeCredit(CREDIT),
      withdrawal_status: encodeWithdrawalStatus(REQUEST, ENTRY, PREV_SIG),
      user_checkpoint: encodeUserCheckpoint(USER_CP),
      coin_checkpoint: encodeCoinCheckpoint(COIN_CP),
    };
    for (const [kind, b] of Object.entries(samples) as Array<[RecordKind, Uint8Array]>) {
      const text = Buffer.from(b).toString('latin1');
      expect(text.startsWith('\u0000\u0000\u0000\u0011payserv.ledger.v1')).toBe(true);
      expect(text).toContain(TABLE_OF[kind]);
      expect(text).toContain(kind);
    }
    expect(new Set(Object.values(TABLE_OF)).size).toBe(Object.keys(TABLE_OF).length);
  });

  it('different kinds with the same field values encode differently', () => {
    // Records built from one pool of shared values: every kind's bytes differ from every other kind's.
    const shared = fc.record({ id: int, other: int, s: str, a: amount, b: amount, t: time, flag: fc.boolean() });
    fc.assert(
      fc.property(shared, (v) => {
        const encodings = [
          encodeCoin({
            id: v.id,
            tag: v.s,
            name: v.s,
            active: v.flag,
            network: 'mainnet',
            decimals: v.other,
            confirmations: v.other,
            withdrawalFee: v.a,
            minWithdrawal: v.b,
            feeUserId: v.other,
            updatedAt: v.t,
          }),
          encodeWallet({
            id: v.id,
            userId: v.other,
            coinId: v.other,
            address: v.s,
            active: v.flag,
            deleted: v.flag,
            createdAt: v.t,
            signedAt: v.t,
          }),
          encodePoolIncome({
            id: v.id,
            coinId: v.other,
            prevId: v.other,
            blockHash: v.s,
            kind: 'correction',
            amount: v.a,
            balanceBefore: v.b,
            creditCount: v.other,
            createdAt: v.t,
          }),
          encodeCredit({
            id: v.id,
            userId: v.other,
            coinId: v.other,
            prevId: v.other,
            blockHash: v.s,
            type: 'correction',
            amount: v.a,
            balanceBefore: v.b,
            createdAt: v.t,
          }),
          encodeWithdrawalStatus(
            {
              id: v.id,
              userId: v.other,
              coinId: v.other,
              walletId: v.other,
              address: v.s,
              prevId: v.other,
              amount: v.a,
              fee: v.b,
              debitBefore: v.b,
              parentId: null,
              createdAt: v.t,
            },
            { seq: v.other, status: 'processing', txHash: null, txFee: null, comment: v.s, createdAt: v.t },
            null,
          ),
          encodeUserCheckpoint({
            userId: v.id,
            coinId: v.other,
            version: v.other,
            lastCreditId: v.other,
            lastBlockHash: v.s,
            creditTotal: v.a,
            lastWithdrawalId: v.other,
            debitTotal: v.b,
            sentTotal: v.b,
            statusCount: v.other,
            headWithdrawalId: v.other,
            headDebit: v.b,
            openStatusCount: v.other,
            madeAt: v.t,
          }),
          encodeCoinCheckpoint({
            coinId: v.id,
            version: v.other,
            lastIncomeId: v.other,
            poolBalance: v.a,
            lastBlockHash: v.s,
            lastFeeCreditId: v.other,
            feeTotal: v.b,
            madeAt: v.t,
          }),
        ].map(hex);
        expect(new Set(encodings).size).toBe(encodings.length);
      }),
      { numRuns: 200 },
    );
    // Pool income and a credit are the closest pair (same kinds of fields): still apart.
    const p: PoolIncome = {
      ...INCOME,
      id: 1,
      coinId: 2,
      prevId: 0,
      blockHash: 'h',
      amount: parseAmount('1'),
      balanceBefore: parseAmount('0'),
      createdAt: T0,
    };
    const c: Credit = {
      ...CREDIT,
      id: 1,
      coinId: 2,
      prevId: 0,
      blockHash: 'h',
      amount: parseAmount('1'),
      balanceBefore: parseAmount('0'),
      createdAt: T0,
    };
    expect(hex(encodePoolIncome(p))).not.toBe(hex(encodeCredit(c)));
  });

  // The fixed records are typed, so each has every field of its interface: mutating each of its keys covers them all.
  const FIXED: Array<{ kind: RecordKind; base: object; encode: (r: never) => Uint8Array }> = [
    { kind: 'coin', base: COIN, encode: encodeCoin },
    { kind: 'wallet', base: WALLET, encode: encodeWallet },
    { kind: 'pool_income', base: INCOME, encode: encodePoolIncome },
    { kind: 'credit', base: CREDIT, encode: encodeCredit },
    { kind: 'user_checkpoint', base: USER_CP, encode: encodeUserCheckpoint },
    { kind: 'coin_checkpoint', base: COIN_CP, encode: encodeCoinCheckpoint },
  ];

  for (const f of FIXED) {
    it(`${f.kind}: every field, the row id included, changes the bytes`, () => {
      const encode = f.encode as (r: object) => Uint8Array;
      const base = hex(encode(f.base));
      const muts = eachFieldMutated(f.base, encode);
      expect(new Set(muts.map((m) => m.field)).size).toBe(Object.keys(f.base).length);
      for (const m of muts) expect(hex(m.bytes), `${f.kind}.${m.field} = ${canon(m.value)}`).not.toBe(base);
      // And no two single-field mutations collide with each other either.
      const all = new Map<string, string>();
      for (const m of muts) {
        const b = hex(m.bytes);
        const key = `${m.field}=${canon(m.value)}`;
        expect(all.get(b) ?? key, `${key} collides with ${all.get(b)}`).toBe(key);
        all.set(b, key);
      }
    });
  }

  it('enumerated values change the bytes too (status, kind, type, network, nullable fields)', () => {
    const statuses = WITHDRAWAL_STATUSES.map((s) => hex(encodeWithdrawalStatus(REQUEST, { ...ENTRY, status: s }, PREV_SIG)));
    expect(new Set(statuses).size).toBe(WITHDRAWAL_STATUSES.length);
    expect(hex(encodePoolIncome({ ...INCOME, kind: 'correction' }))).not.toBe(hex(encodePoolIncome(INCOME)));
    const types = (['block', 'fee', 'correction'] as const).map((t) => hex(encodeCredit({ ...CREDIT, type: t })));
    expect(new Set(types).size).toBe(3);
    expect(hex(encodeCoin({ ...COIN, network: 'testnet' }))).not.toBe(hex(encodeCoin(COIN)));
    expect(hex(encodeWallet({ ...WALLET, signedAt: null }))).not.toBe(hex(encodeWallet(WALLET)));
    expect(hex(encodeWithdrawalStatus({ ...REQUEST, parentId: null }, ENTRY, PREV_SIG))).not.toBe(
      hex(encodeWithdrawalStatus(REQUEST, ENTRY, PREV_SIG)),
    );
  });

  it('withdrawal status: every field of the request and of the entry changes the bytes', () => {
    const base = hex(encodeWithdrawalStatus(REQUEST, ENTRY, PREV_SIG));
    const reqMuts = eachFieldMutated(REQUEST, (w) => encodeWithdrawalStatus(w, ENTRY, PREV_SIG));
    const entryMuts = eachFieldMutated(ENTRY, (e) => encodeWithdrawalStatus(REQUEST, e, PREV_SIG));
    expect(new Set(reqMuts.map((m) => m.field)).size).toBe(Object.keys(REQUEST).length);
    expect(new Set(entryMuts.map((m) => m.field)).size).toBe(Object.keys(ENTRY).length);
    for (const m of [...reqMuts, ...entryMuts]) expect(hex(m.bytes), `${m.field} = ${canon(m.value)}`).not.toBe(base);
    // The nullable fields, set to null.
    for (const [w, e] of [
      [{ ...REQUEST, parentId: null }, ENTRY],
      [REQUEST, { ...ENTRY, txHash: null }],
      [REQUEST, { ...ENTRY, txFee: null }],
    ] as Array<[WithdrawalRequest, StatusEntry]>) {
      expect(hex(encodeWithdrawalStatus(w, e, PREV_SIG))).not.toBe(base);
    }
  });

  it("withdrawal status: the encoding changes with the previous entry's signature", () => {
    const none = hex(encodeWithdrawalStatus(REQUEST, ENTRY, null));
    const base = hex(encodeWithdrawalStatus(REQUEST, ENTRY, PREV_SIG));
    expect(base).not.toBe(none);
    // Empty signature is not the same as no signature.
    expect(hex(encodeWithdrawalStatus(REQUEST, ENTRY, new Uint8Array(0)))).not.toBe(none);
    // Any single bit of the previous signature.
    for (let i = 0; i < PREV_SIG.length; i++) {
      for (const bit of [0x01, 0x80]) {
        const other = Uint8Array.from(PREV_SIG);
        other[i] = (other[i] as number) ^ bit;
        expect(hex(encodeWithdrawalStatus(REQUEST, ENTRY, other)), `byte ${i} bit ${bit}`).not.toBe(base);
      }
    }
    // Truncated or extended signatures.
    expect(hex(encodeWithdrawalStatus(REQUEST, ENTRY, PREV_SIG.subarray(0, 63)))).not.toBe(base);
    expect(hex(encodeWithdrawalStatus(REQUEST, ENTRY, Uint8Array.from([...PREV_SIG, 0])))).not.toBe(base);
    // It covers the hash of the previous signature.
    const digest = createHash('sha256').update(PREV_SIG).digest('hex');
    expect(base).toContain(digest);
    // Property: different previous signatures give different bytes.
    fc.assert(
      fc.property(bytes, bytes, (a, b) => {
        fc.pre(hex(a) !== hex(b));
        expect(hex(encodeWithdrawalStatus(REQUEST, ENTRY, a))).not.toBe(hex(encodeWithdrawalStatus(REQUEST, ENTRY, b)));
      }),
    );
  });

  it('refuses to encode an invalid timestamp rather than sign garbage', () => {
    expect(() => encodeCredit({ ...CREDIT, createdAt: new Date(Number.NaN) })).toThrow(/invalid timestamp/);
    expect(() => encodeWallet({ ...WALLET, signedAt: new Date('not a date') })).toThrow(/invalid timestamp/);
  });
});

// The intake's memory of an account's head (src/ledger/head-watch.ts, src/intake/heads.ts): rows fed from the
// start must reach every remembered point again; the memory survives a restart through its file.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AccountHeads } from '../../src/intake/heads.js';
import { HeadWatch, headOf, type RememberedHead } from '../../src/ledger/head-watch.js';
import type { Withdrawal } from '../../src/ledger/records.js';
import { add, parseAmount, ZERO, type Amount } from '../../src/money/amount.js';
import { EMPTY_ACCOUNT, type AccountState } from '../../src/ledger/account.js';

/** Withdrawals of 1 each, chained; `statuses` gives each one's status and status seq. */
function chain(statuses: Array<[Withdrawal['status'], number]>): Withdrawal[] {
  let debit: Amount = ZERO;
  return statuses.map(([status, statusSeq], i) => {
    const w: Withdrawal = {
      id: i + 1,
      userId: 7,
      coinId: 1,
      walletId: 1,
      address: '0xabc',
      prevId: i,
      amount: parseAmount('1'),
      fee: ZERO,
      debitBefore: debit,
      parentId: null,
      createdAt: new Date(0),
      status,
      statusSeq,
      txHash: null,
      txFee: null,
      comment: '',
      updatedAt: new Date(0),
    };
    debit = add(debit, w.amount);
    return w;
  });
}

/** The head as the verifier would state it for these rows (no credits). */
function headAfter(ws: Withdrawal[]): RememberedHead {
  const firstOpen = ws.findIndex((w) => w.status === 'sending' || w.status === 'pending');
  const final = firstOpen < 0 ? ws : ws.slice(0, firstOpen);
  const open = firstOpen < 0 ? [] : ws.slice(firstOpen);
  const state: AccountState = {
    ...EMPTY_ACCOUNT,
    lastWithdrawalId: final.at(-1)?.id ?? 0,
    debitTotal: parseAmount(String(final.length)),
    sentTotal: parseAmount(String(final.length)),
    statusCount: final.reduce((s, w) => s + w.statusSeq + 1, 0),
    headWithdrawalId: ws.at(-1)?.id ?? 0,
    headDebit: parseAmount(String(ws.length)),
    openStatusCount: open.reduce((s, w) => s + w.statusSeq + 1, 0),
  };
  return headOf(state, open, 3);
}

const problemsOf = (head: RememberedHead, ws: Withdrawal[]) => {
  const watch = new HeadWatch(7, 1, head);
  ws.forEach((w) => watch.withdrawal(w));
  return watch.finish().map((p) => `${p.code}: ${p.detail}`);
};

describe('HeadWatch', () => {
  const seen = chain([
    ['sent', 3],
    ['sent', 3],
    ['sending', 2],
  ]);
  const head = headAfter(seen);

  it('the same rows, or rows that moved forward, reach the head', () => {
    expect(problemsOf(head, seen)).toEqual([]);
    expect(
      problemsOf(
        head,
        chain([
          ['sent', 3],
          ['sent', 3],
          ['sent', 3],
          ['sending', 2],
        ]),
      ),
    ).toEqual([]);
  });

  it('the newest withdrawal deleted (the tail cut) is named', () => {
    expect(problemsOf(head, seen.slice(0, 2)).join('\n')).toMatch(/withdrawal 3, the last one already seen, is gone/);
  });

  it('a sent withdrawal put back to sending, or an open one to an older status, is status_rolled_back', () => {
    expect(
      problemsOf(
        head,
        chain([
          ['sending', 2],
          ['sent', 3],
          ['sending', 2],
        ]),
      ).join('\n'),
    ).toMatch(/status_rolled_back: it was final, now sending/);
    expect(
      problemsOf(
        head,
        chain([
          ['sent', 3],
          ['sent', 3],
          ['sending', 1],
        ]),
      ).join('\n'),
    ).toMatch(/status_rolled_back: its signed status 1 is older than status 2/);
  });
});

describe('AccountHeads', () => {
  const head = headAfter(
    chain([
      ['sent', 3],
      ['sending', 2],
    ]),
  );

  it('a head put is read back by another instance (a restart), exactly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'heads-'));
    await new AccountHeads(dir).put(7, 1, head);
    expect(await new AccountHeads(dir).get(7, 1)).toEqual(head);
    expect(await new AccountHeads(dir).get(8, 1)).toBeNull();
  });

  it('a file copied to another account or damaged is an error naming it, never a fresh start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'heads-'));
    await new AccountHeads(dir).put(7, 1, head);
    mkdirSync(join(dir, 'account-heads', '1'), { recursive: true });
    writeFileSync(join(dir, 'account-heads', '1', '8.json'), readFileSync(join(dir, 'account-heads', '1', '7.json')));
    await expect(new AccountHeads(dir).get(8, 1)).rejects.toThrow(/8\.json: it names user=7 coin=1/);
    writeFileSync(join(dir, 'account-heads', '1', '9.json'), '{"user_id":9,"coin_id":1,"open":[[1,-1]]}');
    await expect(new AccountHeads(dir).get(9, 1)).rejects.toThrow(/open is missing or malformed/);
  });
});

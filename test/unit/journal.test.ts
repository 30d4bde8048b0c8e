// The payment journal as a file: durable records, a torn last record cut off on open, damage anywhere
// else refused naming the line, compaction that keeps what is in flight and every sender's next nonce.
import { appendFile, mkdir, readFile, truncate, writeFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { journalDir, PaymentJournal, readJournal } from '../../src/journal/journal.js';
import { encodeRecord, JournalError, type JournalAttempt } from '../../src/journal/record.js';
import { join } from 'node:path';
import { tmpStateDir } from '../support/tmp.js';

afterEach(() => PaymentJournal.closeAll());

const h = (n: number) => `0x${n.toString(16).padStart(64, '0')}`;
const attempt = (n: number, o: Partial<JournalAttempt> = {}): Omit<JournalAttempt, 'k' | 'at'> => ({
  coin: 'ETH',
  hash: h(n),
  payment: h(n),
  withdrawals: [[n, 2, 100 + n, 1]],
  from: '0xAbC',
  nonce: String(n),
  inputs: [],
  raw: `0x${n.toString(16).padStart(4, '0')}`,
  ...o,
});
const at = new Date('2026-12-01T00:00:00Z');

async function fresh(): Promise<{ dir: string; j: PaymentJournal }> {
  const dir = journalDir(await tmpStateDir());
  return { dir, j: await PaymentJournal.open(dir) };
}

async function reopen(dir: string): Promise<PaymentJournal> {
  await PaymentJournal.closeAll();
  return PaymentJournal.open(dir);
}

describe('the payment journal', () => {
  it('remembers attempts, failures and nonces across a reopen; one instance per directory in a process', async () => {
    const { dir, j } = await fresh();
    expect(await PaymentJournal.open(dir)).toBe(j);
    await j.recordAttempt(attempt(1), at);
    await j.recordAttempt(attempt(1), at); // idempotent
    await j.recordAttempt(attempt(2, { coin: 'ZEC', nonce: null, inputs: [`${'a'.repeat(64)}:0`], from: 't1x' }), at);
    await j.recordFailed('ZEC', h(2), 'expired at height 90', at);
    const again = await reopen(dir);
    expect(again.size).toBe(2);
    expect(again.attemptsOf(1).map((a) => a.hash)).toEqual([h(1)]);
    expect(again.get(h(2))?.failed).toBe('expired at height 90');
    expect(again.nextNonce('ETH', '0xabc')).toBe(2n);
    expect(again.inputsInFlight('ZEC').size).toBe(0);
    expect((await readFile(again.path, 'utf8')).trim().split('\n')).toHaveLength(3);
  });

  it('a torn last record (no newline: the write a crash cut) is cut off on open; the records before it stand', async () => {
    const { dir, j } = await fresh();
    await j.recordAttempt(attempt(1), at);
    await appendFile(j.path, '0123456789abcdef {"k":"attempt","coin":"ETH","ha');
    const again = await reopen(dir);
    expect(again.size).toBe(1);
    expect((await readFile(again.path, 'utf8')).endsWith('\n')).toBe(true);
    await again.recordAttempt(attempt(3), at);
    expect((await reopen(dir)).size).toBe(2);
  });

  it('damage to a whole record is refused naming the line, never skipped', async () => {
    const { dir, j } = await fresh();
    await j.recordAttempt(attempt(1), at);
    await j.recordAttempt(attempt(2), at);
    const text = await readFile(j.path, 'utf8');
    await PaymentJournal.closeAll();
    await writeFile(j.path, text.replace('"nonce":"1"', '"nonce":"7"'));
    await expect(PaymentJournal.open(dir)).rejects.toThrow(/line 1: checksum does not match/);
    await expect(PaymentJournal.open(dir)).rejects.toBeInstanceOf(JournalError);
    await writeFile(j.path, `${text}not a record\n`);
    await expect(PaymentJournal.open(dir)).rejects.toThrow(/line 3/);
    await truncate(j.path, 0);
    expect((await PaymentJournal.open(dir)).size).toBe(0);
  });

  it('malformed values are refused: never written, and never read from a line whose checksum was made to fit', async () => {
    const { dir, j } = await fresh();
    await expect(j.recordAttempt(attempt(1, { withdrawals: [] }), at)).rejects.toThrow(/no withdrawals/);
    await expect(j.recordAttempt(attempt(2, { nonce: '-1' }), at)).rejects.toThrow(/bad nonce/);
    expect(j.size).toBe(0);
    const json = JSON.stringify({ k: 'attempt', ...attempt(3), withdrawals: [[0, 1, 1, 1]], at: at.toISOString() });
    const { createHash } = await import('node:crypto');
    await appendFile(j.path, `${createHash('sha256').update(json).digest('hex').slice(0, 16)} ${json}\n`);
    await expect(reopen(dir)).rejects.toThrow(/line 1: bad withdrawals/);
  });

  it("compaction keeps attempts in flight and each sender's next nonce, drops the settled, and survives a reopen", async () => {
    const { dir, j } = await fresh();
    for (let n = 1; n <= 5; n++) await j.recordAttempt(attempt(n), at);
    const r = await j.compact(async (e) => Number(e.attempt.nonce) <= 4);
    expect(r).toEqual({ kept: 1, dropped: 4 });
    expect(j.nextNonce('ETH', '0xABC')).toBe(6n);
    await j.recordAttempt(attempt(6), at);
    const again = await reopen(dir);
    expect([...again.entries()].map((e) => e.attempt.hash)).toEqual([h(5), h(6)]);
    expect(again.attemptsOf(1)).toEqual([]);
    expect(again.nextNonce('ETH', '0xabc')).toBe(7n);
    expect((await readJournal(dir))?.map((e) => e.attempt.hash)).toEqual([h(5), h(6)]);
  });

  it('one writer per journal: beside a live writer this process only reads (and catches up), a dead writer is taken over', async () => {
    const dir = journalDir(await tmpStateDir());
    await mkdir(dir, { recursive: true });
    // pid 1 is always alive: another payserv writes this journal.
    await writeFile(join(dir, 'owner.pid'), '1');
    const reader = await PaymentJournal.open(dir);
    await expect(reader.recordAttempt(attempt(1), at)).rejects.toThrow(/another payserv process writes it/);
    // The writer appends; the reader sees it after a refresh.
    await appendFile(reader.path, encodeRecord({ k: 'attempt', ...attempt(2), at: at.toISOString() }));
    expect(reader.get(h(2))).toBeUndefined();
    await reader.refresh();
    expect(reader.attemptsOf(2).map((a) => a.hash)).toEqual([h(2)]);
    // The writer dies (its pid no longer exists): the next append takes over.
    await writeFile(join(dir, 'owner.pid'), '4194303');
    await reader.recordAttempt(attempt(3), at);
    expect(await readFile(join(dir, 'owner.pid'), 'utf8')).toBe(String(process.pid));
    const again = await reopen(dir);
    expect(again.size).toBe(2);
  });

  it('readJournal ignores a record being written and answers null where there is no journal', async () => {
    const { dir, j } = await fresh();
    await j.recordAttempt(attempt(1), at);
    await appendFile(j.path, '0123');
    expect((await readJournal(dir))?.length).toBe(1);
    expect(await readJournal(journalDir(await tmpStateDir()))).toBeNull();
  });
});

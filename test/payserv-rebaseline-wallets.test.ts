// Regression (issue 17, outsider round 3, medium): a rebaseline after only the wallet memory was lost wrote no wallet
// memory. It now writes it, from the verified ledger, and the anchor is whole again. The attack as it was found:
//
// Promise broken (README "Lost local state: pscli rebaseline"): once T operators confirmed, "payserv writes the fresh
// local state: every checkpoint of the verified ledger and the wallet memory of each checkpointed account"; and
// (README "Wallet deletion") the memory is what catches a database attacker who deletes the newest reviewed wallet or
// puts a retired wallet's old signed copy back: rows that each verify, which only the host's memory contradicts.
//
// Steps: a miner adds a second wallet, reviewed; payserv processes their withdrawal and remembers that newest wallet
// (STATE/checkpoints/wallet/). Only checkpoints/wallet/ is lost (the checkpoints and the audit head survive): the
// anchor names wallet_memory, payouts are refused until rebaselined, alice and bob rebaseline: REBASELINED, but payserv
// writes nothing (it writes fresh state only when a kind of checkpoint was lost): the host no longer knows the
// account's newest wallet. A database attacker then deletes that wallet's row: the checks are silent (with the memory
// file put back, the same database is caught), and autopay would pay the older wallet. And the anchor still records
// wallet_memory: the next restart refuses payouts again until another rebaseline, which again writes nothing.
//
// Fixed: writeFreshState runs whenever wallet_memory is among the lost parts (not only when checkpoints are).
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EXIT } from '../src/cli/exit.js';
import type { Env } from '../src/config/load.js';
import type { RunningPayserv } from '../src/app/service.js';
import { addWallet, signWallet } from '../src/writer/wallets.js';
import { backend } from './support/db.js';
import { asAttacker, WALLETS, WITHDRAWALS } from './support/attacker.js';
import { testLedger, type TestLedger } from './support/ledger.js';
import { ethAddress } from './support/miners.js';
import { runPscli } from './support/pscli.js';
import { payservForPscli } from './support/pscli-world.js';

let l: TestLedger | undefined;
let running: RunningPayserv | undefined;
afterEach(async () => {
  await running?.stop();
  await l?.db.close();
  running = undefined;
  l = undefined;
});

const files = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir, { recursive: true, encoding: 'utf8' }) : []);

describe(`rebaseline of a lost wallet memory (${backend()})`, { timeout: 120_000 }, () => {
  it('writes the wallet memory afresh: the newest reviewed wallet deleted afterwards is caught', async () => {
    l = await testLedger();
    const dir = l.stateDir;
    const memory = join(dir, 'checkpoints', 'wallet');
    const as = (operator: string | null, argv: string[]) =>
      runPscli(argv, { PAYSERV_STATE_DIR: dir, ...(operator ? { PSCLI_OPERATOR: operator } : {}) } as Env);
    // A processing ETH withdrawal; its miner adds a newer wallet, reviewed by the admin.
    const [w] = await l.db.query<{ id: number; user_id: number; coin_id: number }>(
      `SELECT w.id, w.user_id, w.coin_id FROM ${WITHDRAWALS} w JOIN coins_coin c ON c.id = w.coin_id
       WHERE w.status = 'processing' AND c.tag = 'ETH' ORDER BY w.id LIMIT 1`,
    );
    if (!w) throw new Error('the seed has no processing ETH withdrawal');
    const newest = await addWallet(l.db, { userId: w.user_id, coinId: w.coin_id, address: ethAddress() });
    await l.db.transaction((tx) => signWallet(tx, l!.signers.admin, newest.id));
    await l.checkpointAll();

    running = await payservForPscli(l);
    for (const name of ['alice', 'bob']) expect((await as(null, ['pki', 'issue', '--operator', name])).code).toBe(EXIT.OK);
    expect((await as('alice', ['enable'])).code).toBe(EXIT.OK);
    expect((await as('alice', ['process', String(w.id)])).stdout).toMatch(/^REPLY: \[PENDING\]/);
    await running.stop();
    running = undefined;
    const remembered = files(memory).filter((f) => f.endsWith('.json'));
    expect(remembered.length).toBeGreaterThan(0);
    const saved = mkdtempSync(join(tmpdir(), 'att17c-wallet-'));
    cpSync(memory, saved, { recursive: true });

    // Only the wallet memory is lost.
    rmSync(memory, { recursive: true, force: true });
    running = await payservForPscli(l);
    const en = await as('alice', ['enable']);
    expect(en.code).toBe(EXIT.PROBLEMS);
    expect(en.stderr).toMatch(/rebaseline_required.*wallet_memory/s);
    expect((await as('alice', ['rebaseline', '--reason', 'wallet memory lost'])).stdout).toMatch(/1 of 2 confirmations/);
    expect((await as('bob', ['rebaseline', '--reason', 'checked the books'])).stdout).toMatch(/^REPLY: \[REBASELINED\]/);

    // The memory is written afresh from the verified ledger (every checkpointed account), the one payserv kept among it.
    expect(files(memory).filter((f) => f.endsWith('.json'))).toEqual(expect.arrayContaining(remembered));
    for (const f of remembered) expect(readFileSync(join(memory, f), 'utf8')).toBe(readFileSync(join(saved, f), 'utf8'));

    // The database attacker deletes the newest reviewed wallet: caught by the memory the rebaseline wrote.
    await asAttacker(l.db, [[`DELETE FROM ${WALLETS} WHERE id = $1`, [newest.id]]]);
    expect((await l.check('wallets')).join('\n')).toMatch(new RegExp(`wallet.*${newest.id}|newest`, 's'));
    // A restart finds the local state whole: the rebaseline made it so.
    await running.stop();
    running = await payservForPscli(l);
    expect((await as('alice', ['status'])).stdout).not.toMatch(/rebaseline_required|wallet_memory/);
  });
});

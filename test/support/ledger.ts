// A signed ledger for tests: a PKI in a temp state directory, a fresh database of this project's back
// end, the role certificates registered, a seeded ledger, and every checkpoint advanced by payserv.
import { readFileSync } from 'node:fs';
import { advanceAll } from '../../src/verify/advance.js';
import { LocalCheckpointStore } from '../../src/checkpoints/local-store.js';
import type { Db } from '../../src/db/db.js';
import { formatProblem, type Problem } from '../../src/ledger/problem.js';
import { runCheck, type CheckArgs, type CheckName } from '../../src/checks/run.js';
import { initPki, loadSigner, loadTrust, pkiPaths } from '../../src/esman/pki-files.js';
import { registerCert } from '../../src/writer/certs.js';
import { SIGNER_ROLES } from '../../src/pki/roles.js';
import type { Signer } from '../../src/pki/signer.js';
import type { Trust } from '../../src/pki/trust.js';
import { seedLedger, type SeedOptions, type SeedReport } from '../../src/writer/seed.js';
import { openView, type LedgerView } from '../../src/verify/view.js';
import { freshDb } from './db.js';
import { writeAnchor } from '../../src/state/local-anchor.js';
import { tmpStateDir } from './tmp.js';
import { COIN_CHECKPOINTS, STATUS_SIGNATURES, USER_CHECKPOINTS, WITHDRAWALS } from './attacker.js';

export interface TestLedger {
  db: Db;
  stateDir: string;
  trust: Trust;
  local: LocalCheckpointStore;
  signers: { admin: Signer; autopay: Signer; payserv: Signer };
  report: SeedReport | null;
  /** A fresh view (re-reads certificates and coins, as every check run does). */
  view(): Promise<LedgerView>;
  /** Runs a check and returns its problems, one formatted line each. */
  check(name: CheckName, args?: CheckArgs): Promise<string[]>;
  /** The same, as problem objects. */
  problems(name: CheckName, args?: CheckArgs): Promise<Problem[]>;
  /** Advances the checkpoint of every account and coin (payserv's job after each change); throws on any problem. */
  checkpointAll(): Promise<void>;
}

export const SMALL_SEED: SeedOptions = {
  users: 12,
  blocks: 4,
  withdrawals: 10,
  coins: ['ETH', 'ZEC'],
  minersPerBlock: 0.6,
  declineShare: 0.3,
  corrections: 2,
  seed: 7,
};

/** A small ETH background for payserv tests (other miners, requests, declines, a correction): enough for the checks to mean something. */
export const ethBackground = (seed: number): SeedOptions => ({
  users: 5,
  blocks: 2,
  withdrawals: 4,
  coins: ['ETH'],
  minersPerBlock: 0.6,
  declineShare: 0.5,
  corrections: 1,
  seed,
});

/** An empty ledger but for its coins: no users, blocks or requests (the test makes the miners it needs). */
export const emptySeed = (seed: number, coins: string[] = ['ETH']): SeedOptions => ({
  users: 0,
  blocks: 0,
  withdrawals: 0,
  coins,
  minersPerBlock: 1,
  declineShare: 0,
  corrections: 0,
  seed,
});

/** Every withdrawal's status and comment, every signed status entry, every checkpoint in the database: what a refused call leaves as it was. */
export async function signedState(db: Db): Promise<Record<string, unknown>> {
  return {
    withdrawals: await db.query(`SELECT id, status, status_seq, comment FROM ${WITHDRAWALS} ORDER BY id`),
    statusRows: await db.query(`SELECT withdrawal_id, seq FROM ${STATUS_SIGNATURES} ORDER BY 1, 2`),
    users: await db.query(`SELECT user_id, coin_id, version FROM ${USER_CHECKPOINTS} ORDER BY 1, 2`),
    coins: await db.query(`SELECT coin_id, version FROM ${COIN_CHECKPOINTS} ORDER BY 1`),
  };
}

/** Call inside a test (the state directory lives until the test ends); close the db with `await l.db.close()` or let the test's hooks do it. */
export async function testLedger(seed: SeedOptions | null = SMALL_SEED): Promise<TestLedger> {
  const stateDir = await tmpStateDir();
  await initPki(stateDir, { rootDays: 3650, leafDays: 825 });
  const db = await freshDb();
  // A fresh state directory beside an empty ledger, as at payserv's first start: the seed's checkpoints are recorded in it.
  await writeAnchor(stateDir, 'seed', []);
  const trust = loadTrust(stateDir);
  for (const role of SIGNER_ROLES) await registerCert(db, trust, readFileSync(pkiPaths(stateDir).signerCert(role), 'utf8'));
  const signers = {
    admin: loadSigner(stateDir, 'admin'),
    autopay: loadSigner(stateDir, 'autopay'),
    payserv: loadSigner(stateDir, 'payserv'),
  };
  const report = seed ? await seedLedger(db, signers, seed) : null;
  const local = new LocalCheckpointStore(stateDir);
  const view = () => openView(db, trust, local);
  const problems = async (name: CheckName, args: CheckArgs = {}) => {
    const out: Problem[] = [];
    await runCheck(await view(), name, args, (p) => out.push(p));
    return out;
  };
  return {
    db,
    stateDir,
    trust,
    local,
    signers,
    report,
    view,
    problems,
    check: async (name, args) => (await problems(name, args)).map(formatProblem),
    async checkpointAll() {
      await advanceAll(db, await view(), signers.payserv);
    },
  };
}

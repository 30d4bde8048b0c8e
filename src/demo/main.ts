// The main job on embedded defaults: an embedded PostgreSQL, a fresh PKI, a pool's signed ledger with
// thousands of miners, the operator's start-up checks, checkpoints, and an attack caught in the act.
// Later issues extend it until it shows the whole system at work.
import { writeAnchor } from '../state/local-anchor.js';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { advanceAll } from '../verify/advance.js';
import { LocalCheckpointStore } from '../checkpoints/local-store.js';
import { runCheck, type CheckName } from '../checks/run.js';
import type { Db } from '../db/db.js';
import { migrate } from '../db/migrate.js';
import { openDatabase } from '../db/open.js';
import { formatProblem, type Problem } from '../ledger/problem.js';
import { formatAmount, sum } from '../money/amount.js';
import { loadTrust, pkiPaths } from '../esman/pki-files.js';
import { registerCert } from '../writer/certs.js';
import { SIGNER_ROLES } from '../pki/roles.js';
import { verifyAccount } from '../verify/account.js';
import { openView, type LedgerView } from '../verify/view.js';
import { seedLedger, FIRST_MINER } from '../writer/seed.js';
import { freshDemoDir } from './state-dir.js';
import { parseDemoArgs } from './args.js';
import { demoPassphrases, prepareKeys, SHARES, THRESHOLD } from './keys.js';
import { demoOverRpc } from './rpc.js';

const out = (s = '') => process.stdout.write(`${s}\n`);
const secs = (t0: number) => `${((performance.now() - t0) / 1000).toFixed(1)} s`;

export async function main(argv: string[]): Promise<number> {
  const args = parseDemoArgs(argv);
  if (typeof args === 'string') {
    process.stderr.write(`demo: ${args}\n`);
    return 2;
  }
  const named = process.env.PAYSERV_STATE_DIR;
  const stateDir = resolve(named ?? '.demo');
  // A fresh state directory every run, so the run shows a first start; only one the demo made is deleted.
  const refused = freshDemoDir(stateDir, named !== undefined);
  if (refused) {
    process.stderr.write(`demo: ${refused}\n`);
    return 2;
  }
  out(`payserv demo — state directory ${stateDir} (embedded PostgreSQL, generated test keys)`);

  let t0 = performance.now();
  out(
    `1. Keys: the PKI (root CA pinned, signer and TLS certificates of every role) into esman's encrypted store, ${SHARES} operators' shares, ${THRESHOLD} needed:`,
  );
  const keys = await prepareKeys(
    stateDir,
    demoPassphrases(args.passphraseFd),
    args.coins.filter((c) => c === 'ETH' || c === 'ZEC'),
    out,
  );
  const db = await openDatabase({}, stateDir);
  try {
    await migrate(db);
    // A fresh state directory beside an empty ledger, as at payserv's first start (README "Lost local state").
    await writeAnchor(stateDir, 'seed', []);
    const trust = loadTrust(stateDir);
    for (const role of SIGNER_ROLES) await registerCert(db, trust, readFileSync(pkiPaths(stateDir).signerCert(role), 'utf8'));
    out(`   and the schema: ${secs(t0)}`);

    t0 = performance.now();
    // The pool's own writers (its back end and admin) hold these; the demo plays them.
    const { signers } = keys;
    let shown = '';
    const seed = await seedLedger(db, signers, {
      ...args,
      corrections: 5,
      seed: 2026,
      onProgress: (what) => {
        if (what !== shown) process.stderr.write(`   … ${(shown = what)}\n`);
      },
    });
    out(
      `2. Pool ledger for ${seed.coins.join(' and ')}: ${seed.users} miners, ${seed.wallets} reviewed wallets, ${seed.blocks} blocks, ` +
        `${seed.credits} signed credits, ${seed.withdrawals} withdrawal requests (${seed.declined} declined), ${seed.corrections} corrections: ${secs(t0)}`,
    );

    const local = new LocalCheckpointStore(stateDir);
    const view = await openView(db, trust, local);
    t0 = performance.now();
    const problems = await checks(view, ['balanceerrors']);
    out(`3. Start-up check (pscli checkbalanceerrors): ${problems.length ? `${problems.length} PROBLEMS` : 'clean'} in ${secs(t0)}`);
    problems.slice(0, 10).forEach((p) => out(`   ${formatProblem(p)}`));

    t0 = performance.now();
    const accounts = await advanceAll(db, view, signers.payserv);
    out(
      `4. Checkpoints signed by payserv, kept in the database and in ${local.constructor.name} under ${stateDir}/checkpoints: ` +
        `${accounts} accounts and ${view.coins.size} coins in ${secs(t0)}`,
    );

    await showBalances(db, view);
    await showAttack(db, view);

    const after = await checks(await openView(db, trust, local), ['balanceerrors']);
    out(`7. After the attacks were rolled back, the checks are ${after.length ? `NOT clean (${after.length})` : 'clean again'}.`);
    const auditClean = await demoOverRpc(db, stateDir, keys, out);
    out('');
    out('Try it yourself (the same state directory):');
    out(`   export PAYSERV_STATE_DIR=${stateDir}`);
    out('   npx pscli checkbalanceerrors && echo clean');
    out(`   npx pscli checkbalance --user ${FIRST_MINER} --coin ETH`);
    out('   npx pscli checkproxypool --coin ZEC --json');
    out(`   npx esman list --storage ${keys.storage}`);
    out("   (payserv itself would ask esman manager for the key: the demo's passphrases were generated for this run and are gone)");
    return problems.length || after.length || !auditClean ? 1 : 0;
  } finally {
    await db.close();
  }
}

async function checks(view: LedgerView, names: CheckName[]): Promise<Problem[]> {
  const found: Problem[] = [];
  for (const n of names) await runCheck(view, n, {}, (p) => found.push(p));
  return found;
}

/** The demo reads its database as the pool does, directly: picking users to show is not a payserv operation. */
async function showBalances(db: Db, view: LedgerView): Promise<void> {
  out('5. Verified balances (incremental: from each checkpoint, reading only newer rows):');
  for (const coin of view.coins.values()) {
    const t0 = performance.now();
    const rows = await db.query<{ user_id: number }>(
      'SELECT DISTINCT user_id FROM finances_user_balance_transaction WHERE coin_id = $1 ORDER BY user_id LIMIT 5',
      [coin.id],
    );
    const results = [];
    for (const r of rows) results.push(await verifyAccount(view, r.user_id, coin.id, 'incremental'));
    const ms = (performance.now() - t0) / Math.max(1, rows.length);
    const avail = results.map((r) => r.creditTotal - r.debitTotal).map((x) => x as never);
    out(
      `   ${coin.tag}: users ${rows.map((r) => r.user_id).join(', ')} hold ${avail.map((a) => formatAmount(a)).join(', ')} ${coin.tag} ` +
        `(total ${formatAmount(sum(avail))}); ${ms.toFixed(1)} ms per account, ${results.every((r) => r.problems.length === 0) ? 'all verified' : 'PROBLEMS'}`,
    );
  }
}

/** Attacks with full write access to the database, each inside a transaction that is rolled back afterwards. */
async function showAttack(db: Db, view: LedgerView): Promise<void> {
  out('6. An attacker with write access to the database (each attack rolled back after the check):');
  const attacks: Array<[string, string, CheckName]> = [
    [
      "raises a miner's credit by 100",
      `UPDATE finances_user_balance_transaction SET amount = amount + 100 WHERE id = (SELECT max(id) FROM finances_user_balance_transaction WHERE type = 'block')`,
      'balances',
    ],
    [
      'points a reviewed wallet at their own address',
      `UPDATE users_userwallets SET address = '0x000000000000000000000000000000000000dEaD' WHERE id = (SELECT min(id) FROM users_userwallets)`,
      'wallets',
    ],
    [
      "deletes a withdrawal's reversal row (to pay a declined request)",
      `DELETE FROM finances_withdrawal_signatures WHERE withdrawal_id = (SELECT max(id) FROM finances_withdrawal_transaction WHERE parent_id IS NOT NULL);
      DELETE FROM finances_withdrawal_transaction WHERE id = (SELECT max(id) FROM finances_withdrawal_transaction WHERE parent_id IS NOT NULL)`,
      'balances',
    ],
  ];
  for (const [what, sql, check] of attacks) {
    const found = await attackAndRollBack(db, view, sql, check);
    out(`   attacker ${what}:`);
    found.slice(0, 2).forEach((p) => out(`     → ${formatProblem(p)}`));
    if (!found.length) out('     → NOT DETECTED');
  }
}

class Rollback extends Error {}

async function attackAndRollBack(db: Db, view: LedgerView, sql: string, check: CheckName): Promise<Problem[]> {
  let found: Problem[] = [];
  await db
    .transaction(async (tx) => {
      // The attacker first disables the append-only triggers: the database alone is not the defence.
      await tx.exec(`ALTER TABLE finances_user_balance_transaction DISABLE TRIGGER USER;
                   ALTER TABLE finances_withdrawal_transaction DISABLE TRIGGER USER;
                   ALTER TABLE finances_withdrawal_signatures DISABLE TRIGGER USER;`);
      await tx.exec(sql);
      found = await checks({ ...view, db: tx }, [check]);
      throw new Rollback();
    })
    .catch((e) => {
      if (!(e instanceof Rollback)) throw e;
    });
  return found;
}

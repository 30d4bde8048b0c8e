// A ledger signer renewed with a new key (`pscli pki renew --signer ROLE --new-key`): the records its old
// key signed keep verifying under the old certificate, the new key's count once `pscli loadcert` has
// registered its certificate, and not before.
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { EXIT } from '../src/cli/exit.js';
import { loadSigner, pkiPaths } from '../src/esman/pki-files.js';
import { advanceAll } from '../src/verify/advance.js';
import { registerCert } from '../src/writer/certs.js';
import { seedLedger } from '../src/writer/seed.js';
import { testLedger, type TestLedger } from './support/ledger.js';
import { runPscli } from './support/pscli.js';

let l: TestLedger | undefined;
afterEach(async () => {
  await l?.db.close();
  l = undefined;
});

/** The checks of the whole ledger: every account, every pool, coins and wallets. */
const allProblems = async (t: TestLedger) =>
  (await Promise.all((['balanceerrors', 'balances', 'coins', 'wallets', 'proxypools'] as const).map((c) => t.check(c)))).flat();

describe('renewing a ledger signer', () => {
  it("old records verify under the old certificate; the new key's once its certificate is registered", async () => {
    l = await testLedger({ users: 4, blocks: 2, withdrawals: 3, coins: ['ETH'], declineShare: 0.5, corrections: 1, seed: 3 });
    const t = l;
    await t.checkpointAll();
    expect(await allProblems(t)).toEqual([]);
    const old = { admin: t.signers.admin.keyId, payserv: t.signers.payserv.keyId };

    for (const role of ['admin', 'payserv', 'autopay'])
      expect(
        (await runPscli(['pki', 'renew', '--signer', role, '--new-key', '--days', '400'], { PAYSERV_STATE_DIR: t.stateDir })).code,
      ).toBe(EXIT.OK);
    const signers = {
      admin: loadSigner(t.stateDir, 'admin'),
      autopay: loadSigner(t.stateDir, 'autopay'),
      payserv: loadSigner(t.stateDir, 'payserv'),
    };
    expect(signers.admin.keyId).not.toBe(old.admin);
    expect(signers.payserv.keyId).not.toBe(old.payserv);

    // Signed by the new keys before `loadcert`: the checks say whose key is unknown.
    await seedLedger(t.db, signers, { users: 3, blocks: 1, withdrawals: 2, coins: ['ZEC'], seed: 5 });
    const unregistered = (await allProblems(t)).join('\n');
    expect(unregistered).toContain(`signed by key ${signers.admin.keyId.slice(0, 16)}…, which is not a certificate under the pinned root`);

    for (const role of ['admin', 'payserv', 'autopay'] as const)
      expect((await registerCert(t.db, t.trust, readFileSync(pkiPaths(t.stateDir).signerCert(role), 'utf8'))).added).toBe(true);
    await advanceAll(t.db, await t.view(), signers.payserv);
    // Every record, old key's and new key's, verifies; checkpoints advanced by the new payserv key too.
    expect(await allProblems(t)).toEqual([]);
  }, 60_000);
});

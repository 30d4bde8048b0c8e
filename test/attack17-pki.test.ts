// Attack (issue 17): the operators' revocation list.
import { readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { issueOperator, pkiPaths, revocationCheck, revokeOperator } from '../src/esman/pki-files.js';
import { describePerDataPath } from './support/backend.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';

let t: TestPayserv;
const SEED = { users: 1, blocks: 1, withdrawals: 0, coins: ['ETH'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 3 };
beforeEach(async () => {
  t = await testPayserv({ seed: SEED });
});
afterEach(async () => {
  await t.ledger.db.close();
});

describePerDataPath('attack17 pki', () => {
  it('P1: an older, validly signed revocation list written back does not un-revoke an operator while the server runs', async () => {
    const dir = t.ledger.stateDir;
    await issueOperator(dir, 'alice', { days: 30 });
    await issueOperator(dir, 'bob', { days: 30 });
    const list = join(pkiPaths(dir).dir, 'revoked.json');
    await revokeOperator(dir, 'alice', {});
    const older = readFileSync(list); // alice only
    await revokeOperator(dir, 'bob', {});
    const problems: string[] = [];
    const check = revocationCheck(dir, (message, reason) => problems.push(`${message}: ${reason}`));
    expect(check('bob')).toMatch(/revoked/);
    // Whoever can write the file (not the CA key) puts the older list back:
    writeFileSync(list, older);
    utimesSync(list, new Date(), new Date(Date.now() + 5_000));
    expect(check('bob')).toMatch(/operator bob is revoked/);
    expect(check('alice')).toMatch(/operator alice is revoked/);
    expect(problems).toEqual([expect.stringMatching(/fewer operators than before: those stay refused: no longer named: bob /)]);
  });
});

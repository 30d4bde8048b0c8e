// The operator's workflow through pscli, as the runbook has it: pki init → db migrate → ledger seed →
// checks (silent when clean) → a database attacker → checks name the row and exit 1.
import { readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EXIT } from '../src/cli/exit.js';
import { parseAmount } from '../src/money/amount.js';
import type { Env } from '../src/config/load.js';
import { openDatabase } from '../src/db/open.js';
import type { Db } from '../src/db/db.js';
import { LocalCheckpointStore } from '../src/checkpoints/local-store.js';
import { loadSigner, loadTrust } from '../src/esman/pki-files.js';
import { openView } from '../src/verify/view.js';
import { advanceAll } from '../src/verify/advance.js';
import { rememberWallets, verifyWallets } from '../src/verify/wallets.js';
import { restoreRow } from './support/attacker.js';
import { createPgDatabase, backend, type TestDatabase } from './support/db.js';
import { tmpStateDir } from './support/tmp.js';
import { EMBEDDED, runPscli } from './support/pscli.js';

const run = runPscli;

const dropLater: TestDatabase[] = [];
afterEach(async () => {
  await Promise.all(dropLater.splice(0).map((t) => t.drop()));
});

async function workspace(): Promise<{ stateDir: string; env: Env }> {
  const stateDir = await tmpStateDir();
  if (backend() === 'pglite') return { stateDir, env: { PAYSERV_STATE_DIR: stateDir, ...EMBEDDED } };
  const t = await createPgDatabase();
  dropLater.push(t);
  return { stateDir, env: { PAYSERV_STATE_DIR: stateDir, DATABASE_URL: t.url } };
}

async function seeded(): Promise<{ stateDir: string; env: Env }> {
  const w = await workspace();
  expect((await run(['pki', 'init'], w.env)).code).toBe(EXIT.OK);
  expect((await run(['db', 'migrate'], w.env)).code).toBe(EXIT.OK);
  const seed = await run(['ledger', 'seed', '--users', '15', '--blocks', '3', '--withdrawals', '8', '--coins', 'ETH,ZEC'], w.env);
  expect(seed.code, seed.stderr).toBe(EXIT.OK);
  expect(seed.stdout).toMatch(/seeded ETH, ZEC: 15 users, 30 wallets, 6 blocks/);
  return w;
}

async function attack(w: { stateDir: string; env: Env }, sql: string): Promise<void> {
  const db = await openDatabase({ url: w.env.DATABASE_URL }, w.stateDir);
  try {
    await db.exec(sql);
  } finally {
    await db.close();
  }
}

/** How many rows each ledger table holds: what a refused command must leave as it was. */
async function rowCounts(w: { stateDir: string; env: Env }): Promise<Record<string, string>> {
  const db = await openDatabase({ url: w.env.DATABASE_URL }, w.stateDir);
  try {
    const tables = [
      'coins_coin',
      'users_userwallets',
      'finances_proxypool_transactions',
      'finances_user_balance_transaction',
      'finances_withdrawal_transaction',
      'crypto_certs',
    ];
    const [row] = await db.query(`SELECT ${tables.map((t) => `(SELECT count(*) FROM ${t})::text AS ${t}`).join(', ')}`);
    return row as Record<string, string>;
  } finally {
    await db.close();
  }
}

// Every pscli command opens the embedded database from disk (seconds on PGlite): a workflow needs minutes, not the default.
describe('pscli: the operator workflow', { timeout: 180_000 }, () => {
  it('prints nothing and exits 0 on a clean ledger, for every check', async () => {
    const w = await seeded();
    for (const argv of [
      ['checkbalanceerrors'],
      ['checkbalances'],
      ['checkcoins'],
      ['checkwallets'],
      ['checkproxypools'],
      ['checkproxypool', '--coin', 'ZEC'],
      ['checkbalance', '--user', '1001', '--coin', 'ETH'],
    ]) {
      const r = await run(argv, w.env);
      expect({ argv, code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({ argv, code: EXIT.OK, stdout: '', stderr: '' });
    }
    const j = await run(['--json', 'checkbalanceerrors'], w.env);
    const doc = JSON.parse(j.stdout) as { clean: boolean; problems: unknown[]; counts: Record<string, number> };
    expect(doc.clean).toBe(true);
    expect(doc.problems).toEqual([]);
    expect(doc.counts.wallets).toBe(30);
  });

  it('reports a tampered credit with a line naming the table and row, exit 1, and --json lists it', async () => {
    const w = await seeded();
    await attack(
      w,
      `ALTER TABLE finances_user_balance_transaction DISABLE TRIGGER USER;
      UPDATE finances_user_balance_transaction SET amount = amount * 2 WHERE id = (SELECT min(id) FROM finances_user_balance_transaction WHERE type = 'block')`,
    );
    const [row] = await (async () => {
      const db = await openDatabase({ url: w.env.DATABASE_URL }, w.stateDir);
      try {
        return await db.query<{ id: number }>(`SELECT min(id) AS id FROM finances_user_balance_transaction WHERE type = 'block'`);
      } finally {
        await db.close();
      }
    })();
    const r = await run(['checkbalanceerrors'], w.env);
    expect(r.code).toBe(EXIT.PROBLEMS);
    expect(r.stdout).toContain(`finances_user_balance_transaction id=${row?.id}: signature does not match the record`);
    const j = JSON.parse((await run(['--json', 'checkbalances'], w.env)).stdout) as {
      clean: boolean;
      problems: Array<{ table: string; row: string; code: string }>;
    };
    expect(j.clean).toBe(false);
    expect(j.problems).toContainEqual(
      expect.objectContaining({ table: 'finances_user_balance_transaction', row: `id=${row?.id}`, code: 'signature' }),
    );
  });

  it('refuses bad input with a named error and changes nothing', async () => {
    const w = await seeded();
    const bad = join(w.stateDir, 'not-a-cert.pem');
    writeFileSync(bad, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    const cases: Array<[string[], RegExp]> = [
      [['loadcert', join(w.stateDir, 'missing.pem')], /cannot read certificate file .*missing\.pem/],
      [['loadcert', bad], /not-a-cert\.pem: not a parseable X\.509 certificate/],
      [['loadcert', join(w.stateDir, 'pki', 'tls', 'pscli.crt')], /TLS certificate, not a ledger signer/],
      [['checkbalance', '--user', '0', '--coin', 'ETH'], /--user must be a positive integer/],
      [
        ['checkbalance', '--user', '999999', '--coin', 'eth'],
        /^pscli: unknown user 999999 for ETH: no credit, withdrawal or checkpoint\n$/,
      ],
      [['checkproxypool', '--coin', 'NOPE'], /unknown coin "NOPE"/],
      [['pki', 'init'], /a PKI already exists/],
      [['ledger', 'seed', '--users', '-3'], /--users must be a positive integer/],
      [['ledger', 'wallet', '--user', '5', '--coin', 'ETH', '--address', '0x1234'], /--address: not a valid ETH address/],
      [['ledger', 'wallet-delete', '--wallet', '987654'], /unknown wallet 987654/],
    ];
    for (const [argv, message] of cases) {
      const r = await run(argv, w.env);
      expect(r.code, argv.join(' ')).toBe(EXIT.USAGE);
      expect(r.stderr, argv.join(' ')).toMatch(message);
    }
    // Nothing was written by the refused commands: the ledger is exactly as clean and as large as before.
    const j = JSON.parse((await run(['--json', 'checkbalanceerrors'], w.env)).stdout) as { clean: boolean; counts: Record<string, number> };
    expect(j.clean).toBe(true);
    expect(j.counts.wallets).toBe(30);
    expect(j.counts.certs).toBe(3);
  });

  it("ledger wallet of a Bitcoin-family coin: checked in the network of payserv's configuration, declined with the reason, nothing written", async () => {
    const w = await seeded();
    const ltc = ['ledger', 'coin', '--tag', 'LTC', '--name', 'Litecoin', '--decimals', '8', '--network', 'testnet', '--fee-user', '1'];
    expect((await run(ltc, w.env)).code).toBe(EXIT.OK);
    writeFileSync(
      join(w.stateDir, 'payserv.toml'),
      '[coins.LTC]\nchain = "btc"\nnode_url = "http://127.0.0.1:1"\n[coins.LTC.network]\npreset = "LTC-regtest"\n',
    );
    const add = (address: string) => run(['ledger', 'wallet', '--user', '5', '--coin', 'LTC', '--address', address], w.env);
    const before = await rowCounts(w);
    // Private key 1's P2WPKH address: mainnet (BIP173's hash) and regtest.
    const mainnet = 'ltc1qw508d6qejxtdg4y5r3zarvary0c5xw7kgmn4n9';
    const regtest = 'rltc1qw508d6qejxtdg4y5r3zarvary0c5xw7k693xs3';
    for (const [address, why] of [
      [mainnet, /--address: an address of LTC-mainnet, not of LTC-regtest/],
      [`${regtest.slice(0, -1)}2`, /--address: bad bech32 checksum/],
      ['LVuDpNCSSj6pQ7t9Pv6d6sUkLKoqDEVUnJ', /--address: an address of LTC-mainnet, not of LTC-regtest/],
      ['tmweb1qqfake', /--address: an MWEB \(MimbleWimble\) address/],
      ['bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080', /--address: an address of BTC-regtest, not of LTC-regtest/],
    ] as const) {
      const r = await add(address);
      expect(r.code, address).toBe(EXIT.USAGE);
      expect(r.stderr).toMatch(why);
    }
    expect(await rowCounts(w)).toEqual(before);
    const ok = await add(regtest);
    expect(ok.code, ok.stderr).toBe(EXIT.OK);
  });

  it('ledger wallet-delete: the pool deletes a wallet under the admin signature, one-way; the deletion undone in the database is reported', async () => {
    const w = await seeded();
    const withDatabase = async <T>(fn: (db: Db) => Promise<T>): Promise<T> => {
      const db = await openDatabase({ url: w.env.DATABASE_URL }, w.stateDir);
      try {
        return await fn(db);
      } finally {
        await db.close();
      }
    };
    const rowOf = () =>
      withDatabase(async (db) => (await db.query('SELECT * FROM users_userwallets WHERE id = 1'))[0] as Record<string, unknown>);
    const whileActive = await rowOf();
    const del = await run(['--json', 'ledger', 'wallet-delete', '--wallet', '1'], w.env);
    expect(del.code, del.stderr).toBe(EXIT.OK);
    expect(JSON.parse(del.stdout)).toEqual({
      id: 1,
      user: whileActive.user_id,
      coin: expect.any(String),
      address: whileActive.address,
      active: true,
      deleted: true,
    });
    expect(await run(['checkwallets'], w.env)).toEqual({ code: EXIT.OK, stdout: '', stderr: '' });
    // Deactivating it as well leaves it deleted: no retirement goes back.
    const inactive = await run(['--json', 'ledger', 'wallet-delete', '--wallet', '1', '--inactive'], w.env);
    expect(JSON.parse(inactive.stdout)).toMatchObject({ id: 1, active: false, deleted: true });
    expect((await run(['checkbalanceerrors'], w.env)).code).toBe(EXIT.OK);

    // payserv reads the user's wallets to pay them, and remembers what it saw in its state directory.
    await withDatabase(async (db) => {
      const view = await openView(db, loadTrust(w.stateDir), new LocalCheckpointStore(w.stateDir));
      const seen = await verifyWallets(view, whileActive.user_id as number, whileActive.coin_id as number);
      expect(seen.problems).toEqual([]);
      await rememberWallets(db, view.local, loadSigner(w.stateDir, 'payserv'), seen);
    });
    // The flag flipped back by hand: the admin's signature covers it.
    await attack(
      w,
      'ALTER TABLE users_userwallets DISABLE TRIGGER USER; UPDATE users_userwallets SET deleted = false, active = true WHERE id = 1',
    );
    const flipped = await run(['checkwallets'], w.env);
    expect(flipped.code).toBe(EXIT.PROBLEMS);
    expect(flipped.stdout).toContain('users_userwallets id=1: signature does not match the record');
    // The copy signed before the deletion put back: its signature verifies; the state directory's memory of the deletion names it.
    await withDatabase(async (db) => {
      const [sql, params] = restoreRow('users_userwallets', whileActive, ['id']) as [string, unknown[]];
      await db.transaction(async (tx) => {
        await tx.query('ALTER TABLE users_userwallets DISABLE TRIGGER USER');
        await tx.query(sql, params);
      });
    });
    const revived = await run(['checkwallets'], w.env);
    expect({ code: revived.code, stdout: revived.stdout }).toEqual({
      code: EXIT.PROBLEMS,
      stdout:
        "users_userwallets id=1: payserv saw this wallet retired (deleted or inactive) under the pool's signature; it is active again: a deletion is one-way [wallet_revived]\n",
    });
  });

  it('ledger coin on a registered tag: the same values "already registered" (exit 0), others refused naming them (exit 1); nothing written', async () => {
    const w = await workspace();
    expect((await run(['pki', 'init'], w.env)).code).toBe(EXIT.OK);
    expect((await run(['db', 'migrate'], w.env)).code).toBe(EXIT.OK);
    const eth = ['ledger', 'coin', '--tag', 'ETH', '--name', 'Ethereum', '--decimals', '18', '--fee', '0.0005', '--fee-user', '1'];
    const first = await run(eth, w.env);
    expect(first.code, first.stderr).toBe(EXIT.OK);
    expect(first.stdout).toMatch(/^coin ETH id \d+ registered and signed\n$/);
    const coinRow = async () => {
      const db = await openDatabase({ url: w.env.DATABASE_URL }, w.stateDir);
      try {
        return await db.query('SELECT * FROM coins_coin ORDER BY id');
      } finally {
        await db.close();
      }
    };
    const before = await coinRow();
    const again = await run(['--json', ...eth], w.env);
    expect(again.code, again.stderr).toBe(EXIT.OK);
    expect(JSON.parse(again.stdout)).toMatchObject({ tag: 'ETH', added: false });
    const evil = await run(
      ['ledger', 'coin', '--tag', 'eth', '--name', 'Evil', '--decimals', '6', '--fee', '50', '--fee-user', '7'],
      w.env,
    );
    expect(evil.code).toBe(EXIT.PROBLEMS);
    expect(evil.stderr).toContain(
      'pscli: [conflict] coin ETH is already registered with other values (name: "Ethereum", not "Evil"; decimals: 18, not 6; ' +
        'withdrawal fee: "0.0005", not "50"; fee user: 1, not 7): nothing changed',
    );
    expect(await coinRow()).toEqual(before);
  });

  it('writes through the ledger commands: coin, wallet, block, request', async () => {
    const w = await seeded();
    const coin = await run(
      [
        'ledger',
        'coin',
        '--tag',
        'ETC',
        '--name',
        'Ethereum Classic',
        '--decimals',
        '18',
        '--fee',
        '0.001',
        '--min',
        '0.1',
        '--fee-user',
        '1',
      ],
      w.env,
    );
    expect(coin.code, coin.stderr).toBe(EXIT.OK);
    const wallet = await run(
      ['--json', 'ledger', 'wallet', '--user', '7', '--coin', 'ETC', '--address', '0x52908400098527886E0F7030069857D2E4169EE7'],
      w.env,
    );
    expect(wallet.code, wallet.stderr).toBe(EXIT.OK);
    const walletId = (JSON.parse(wallet.stdout) as { id: number }).id;
    const block = await run(
      [
        'ledger',
        'block',
        '--coin',
        'ETC',
        '--hash',
        `0x${'abc'.padEnd(64, '0')}`,
        '--credit',
        '7=1.5',
        '--credit',
        '8=0.25',
        '--pool-fee',
        '0.0175',
      ],
      w.env,
    );
    expect(block.code, block.stderr).toBe(EXIT.OK);
    // The same block again: the database's unique refusal, said plainly (issue 15, item 7).
    const before = await rowCounts(w);
    const dup = await run(
      ['ledger', 'block', '--coin', 'ETC', '--hash', `0x${'ABC'.padEnd(64, '0')}`, '--credit', '7=1', '--pool-fee', '0'],
      w.env,
    );
    expect(dup).toMatchObject({
      code: EXIT.PROBLEMS,
      stderr: `pscli: block 0x${'abc'.padEnd(64, '0')} already credited for ETC: nothing changed\n`,
    });
    expect(await rowCounts(w)).toEqual(before);
    // Without its 0x the same block is still the same block (found by an outsider: it credited twice).
    const bare = await run(
      ['ledger', 'block', '--coin', 'ETC', '--hash', 'abc'.padEnd(64, '0'), '--credit', '7=1', '--pool-fee', '0'],
      w.env,
    );
    expect(bare.code).toBe(EXIT.PROBLEMS);
    expect(await rowCounts(w)).toEqual(before);
    const req = await run(['--json', 'ledger', 'request', '--wallet', String(walletId), '--amount', '1.2'], w.env);
    expect(req.code, req.stderr).toBe(EXIT.OK);
    expect(JSON.parse(req.stdout)).toMatchObject({ status: 'processing' });
    expect((await run(['checkbalanceerrors'], w.env)).code).toBe(EXIT.OK);
    const pool = JSON.parse((await run(['--json', 'checkproxypool', '--coin', 'ETC'], w.env)).stdout) as { clean: boolean };
    expect(pool.clean).toBe(true);
  });

  it('refuses bad option values before any I/O, exit 2 naming the option, and changes nothing (issue 15, item 7)', async () => {
    const w = await seeded();
    const before = await rowCounts(w);
    const hash = `0x${'1'.repeat(64)}`;
    const cases: Array<[string[], RegExp]> = [
      [
        ['ledger', 'coin', '--tag', 'ETC', '--name', 'x', '--decimals', 'abc', '--fee-user', '1'],
        /--decimals must be a whole number from 0 to 20, got "abc"/,
      ],
      [['ledger', 'coin', '--tag', 'ETC', '--name', 'x', '--decimals', '21', '--fee-user', '1'], /--decimals must be a whole number/],
      [
        ['ledger', 'coin', '--tag', 'ETC', '--name', 'x', '--confirmations', '-1', '--fee-user', '1'],
        /--confirmations must be a whole number/,
      ],
      [['ledger', 'coin', '--tag', 'E', '--name', 'x', '--fee-user', '1'], /--tag: expected a coin tag/],
      [['ledger', 'coin', '--tag', 'ETC', '--name', 'x', '--fee', '1e3', '--fee-user', '1'], /--fee: not a decimal number/],
      [['ledger', 'coin', '--tag', 'ETC', '--name', 'x', '--min', '-1', '--fee-user', '1'], /--min: must not be negative/],
      [['ledger', 'coin', '--tag', 'ETC', '--name', ' ', '--fee-user', '1'], /--name: expected the coin's name/],
      [['ledger', 'coin', '--tag', 'ETC', '--name', 'x', '--fee-user', 'one'], /--fee-user must be a positive integer/],
      [['ledger', 'block', '--coin', 'ETH', '--hash', 'zz', '--credit', '7=1'], /--hash: expected a block hash of 64 hex digits/],
      [['ledger', 'block', '--coin', 'ETH', '--hash', hash, '--credit', '7=abc'], /--credit "7=abc": the amount: not a decimal number/],
      // A rejected credit names the credit (issue 15: these exited 3 from the writer's own check).
      [['ledger', 'block', '--coin', 'ETH', '--hash', hash, '--credit', '5=-1'], /--credit "5=-1": the amount must be more than 0/],
      [['ledger', 'block', '--coin', 'ETH', '--hash', hash, '--credit', '5=0.000'], /--credit "5=0.000": the amount must be more than 0/],
      [
        ['ledger', 'block', '--coin', 'ETH', '--hash', hash, '--credit', '5=1', '--credit', '6=1', '--credit', '5=2'],
        /--credit "5=2": user 5 is credited twice/,
      ],
      [['ledger', 'block', '--coin', 'ETH', '--hash', hash, '--credit', '5'], /--credit "5": expected USER=AMOUNT/],
      [['ledger', 'block', '--coin', 'ETH', '--hash', hash, '--credit', '0=1'], /--credit "0=1": the user must be a positive integer/],
      [['ledger', 'block', '--coin', 'ETH', '--hash', hash, '--credit', '1=1'], /user 1 is ETH's fee user, credited by --pool-fee/],
      // Finer than the coin's decimals: the writer's PrecisionError, named, exit 2, nothing signed.
      [
        ['ledger', 'block', '--coin', 'ETH', '--hash', hash, '--credit', '5=1.0000000000000000001'],
        /block credit to user 5 1\.0000000000000000001 has more than ETH's 18 decimal places/,
      ],
      [
        ['ledger', 'request', '--wallet', '1', '--amount', '1.0000000000000000001'],
        /withdrawal amount 1\.0000000000000000001 has more than/,
      ],
      [
        ['ledger', 'coin', '--tag', 'WHL', '--name', 'x', '--decimals', '0', '--fee', '0.5', '--min', '1', '--fee-user', '1'],
        /withdrawal fee 0\.5 has more than WHL's 0 decimal places/,
      ],
      [['ledger', 'request', '--wallet', '1', '--amount', '0.00001'], /--amount: 0\.00001 is below \w+'s withdrawal fee 0\.000[15]/],
      [['ledger', 'block', '--coin', 'ETH', '--hash', hash, '--credit', '7=1', '--pool-fee', '-1'], /--pool-fee: must not be negative/],
      [['ledger', 'block', '--coin', 'NOPE', '--hash', hash, '--credit', '7=1'], /unknown coin "NOPE"/],
      [['ledger', 'request', '--wallet', '1', '--amount', '0'], /--amount: must be more than 0/],
      [['ledger', 'request', '--wallet', 'x', '--amount', '1'], /--wallet must be a positive integer/],
      [
        ['ledger', 'wallet', '--user', '0', '--coin', 'ETH', '--address', '0x52908400098527886E0F7030069857D2E4169EE7'],
        /--user must be a positive integer/,
      ],
      [['ledger', 'seed', '--coins', 'ETH,x'], /--coins: expected a coin tag/],
      [['ledger', 'seed', '--withdrawals', '-3'], /--withdrawals must be a whole number/],
      [['checkbalance', '--user', 'u', '--coin', 'ETH'], /--user must be a positive integer/],
      [['checkproxypool', '--coin', 'DOGE'], /unknown coin "DOGE"/],
      [['createcorrection', '--user', '1', '--coin', 'ETH', '--amount', 'lots'], /--amount: not a decimal number/],
      [['autopay', 'run', '--coin', 'E!'], /--coin: expected a coin tag/],
      [['sendcoin', 'x'], /coin: expected a coin tag/],
      [['approve', '0'], /id must be a positive integer/],
    ];
    for (const [argv, message] of cases) {
      const r = await run(argv, w.env);
      expect(r.code, `${argv.join(' ')}: ${r.stderr}`).toBe(EXIT.USAGE);
      expect(r.stderr, argv.join(' ')).toMatch(new RegExp(`^pscli: .*${message.source}`));
    }
    expect(await rowCounts(w)).toEqual(before);
  });

  it("reads payserv's local checkpoint store from --payserv-state-dir, read only; without it and none in its own directory, says so (exit 2)", async () => {
    const w = await seeded();
    const db = await openDatabase({ url: w.env.DATABASE_URL }, w.stateDir);
    try {
      await advanceAll(
        db,
        await openView(db, loadTrust(w.stateDir), new LocalCheckpointStore(w.stateDir)),
        loadSigner(w.stateDir, 'payserv'),
      );
    } finally {
      await db.close();
    }
    // Production: payserv's checkpoints in its own state directory, none in pscli's.
    const payserv = await tmpStateDir();
    renameSync(join(w.stateDir, 'checkpoints'), join(payserv, 'checkpoints'));
    const listing = () => readdirSync(payserv, { recursive: true }).sort();
    const before = listing();
    const where =
      /^pscli: no local checkpoint store in .*: give payserv's state directory with --payserv-state-dir \(production: \/var\/lib\/payserv\)\n$/;
    for (const argv of [
      ['checkbalanceerrors'],
      ['checkbalance', '--user', '1001', '--coin', 'ETH'],
      ['balance', '--user', '1001', '--coin', 'ETH'],
    ]) {
      expect(await run(argv, w.env), argv.join(' ')).toMatchObject({ code: EXIT.USAGE, stdout: '', stderr: expect.stringMatching(where) });
      const given = await run([...argv, '--payserv-state-dir', payserv], w.env);
      expect(given.code, `${argv.join(' ')}: ${given.stdout}${given.stderr}`).toBe(EXIT.OK);
    }
    expect(listing()).toEqual(before);
    expect(await run(['checkcoins', '--payserv-state-dir', join(payserv, 'nope')], w.env)).toMatchObject({
      code: EXIT.USAGE,
      stderr: expect.stringMatching(/--payserv-state-dir: ".*nope" is not a directory/),
    });
  });

  it('balance prints the verified balance, an unknown user or coin is an error; withdrawals pages by id with filters (issue 15, item 9)', async () => {
    const w = await seeded();
    const balance = async () => {
      const r = await run(['balance', '--user', '1001', '--coin', 'eth'], w.env);
      expect(r.code, r.stderr).toBe(EXIT.OK);
      expect(r.stdout).toMatch(/^-?\d+(\.\d+)?\n$/);
      return parseAmount(r.stdout.trim());
    };
    const before = await balance();
    expect((await run(['ledger', 'block', '--coin', 'ETH', '--hash', `0x${'7'.repeat(64)}`, '--credit', '1001=0.125'], w.env)).code).toBe(
      EXIT.OK,
    );
    expect(await balance()).toBe(before + parseAmount('0.125'));
    expect(await run(['balance', '--user', '999999', '--coin', 'ETH'], w.env)).toMatchObject({
      code: EXIT.USAGE,
      stdout: '',
      stderr: 'pscli: unknown user 999999 for ETH: no credit, withdrawal or checkpoint\n',
    });
    expect(await run(['balance', '--user', '1001', '--coin', 'DOGE'], w.env)).toMatchObject({ code: EXIT.USAGE, stdout: '' });

    type Page = { withdrawals: Array<{ id: number; user: number; coin: string; status: string }>; next_after: number | null };
    const page = async (...argv: string[]) => {
      const r = await run(['--json', 'withdrawals', ...argv], w.env);
      expect(r.code, r.stderr).toBe(EXIT.OK);
      return JSON.parse(r.stdout) as Page;
    };
    const first = await page('--coin', 'ZEC', '--limit', '3');
    expect(first.withdrawals.map((x) => x.coin)).toEqual(['ZEC', 'ZEC', 'ZEC']);
    expect(first.next_after).toBe(first.withdrawals[2]!.id);
    const second = await page('--coin', 'ZEC', '--limit', '3', '--after', String(first.next_after));
    expect(second.withdrawals[0]!.id).toBeGreaterThan(first.next_after!);
    const all = await page('--limit', '1000');
    expect(all.next_after).toBeNull();
    expect(all.withdrawals.map((x) => x.id)).toEqual([...all.withdrawals.map((x) => x.id)].sort((a, b) => a - b));
    const one = all.withdrawals[0]!;
    const mine = await page('--user', String(one.user), '--status', one.status, '--coin', one.coin);
    expect(mine.withdrawals.length).toBe(
      all.withdrawals.filter((x) => x.user === one.user && x.status === one.status && x.coin === one.coin).length,
    );
    const text = await run(['withdrawals', '--limit', '2'], w.env);
    expect(text.stdout).toMatch(/^id\s+user\s+coin\s+amount\s+fee\s+status/);
    expect(text.stdout).toMatch(/more: --after \d+\n$/);
    for (const [argv, message] of [
      [['--status', 'paid'], /--status: expected one of processing, pending/],
      [['--coin', 'DOGE'], /unknown coin "DOGE"/],
      [['--limit', '0'], /--limit must be a positive integer/],
      [['--limit', '5000'], /--limit: at most 1000/],
      [['--after', 'x'], /--after must be a whole number/],
    ] as const) {
      const r = await run(['withdrawals', ...argv], w.env);
      expect(r.code, argv.join(' ')).toBe(EXIT.USAGE);
      expect(r.stderr).toMatch(message);
    }
  });
});

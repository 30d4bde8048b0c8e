import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main as dbgw } from '../src/cli/dbgw.js';
import { main as esman } from '../src/cli/esman.js';
import { EXIT } from '../src/cli/exit.js';
import { main as payserv } from '../src/cli/payserv.js';
import { main as intake } from '../src/cli/intake.js';
import { DEMO_MARKER } from '../src/demo/state-dir.js';
import type { Env } from '../src/config/load.js';
import { backend, createPgDatabase, describeOncePerSuite, type TestDatabase } from './support/db.js';
import { tmpStateDir } from './support/tmp.js';
import { EMBEDDED, runPscli, type Run } from './support/pscli.js';

const run = runPscli;

/** The error lines pscli printed, without the JSON log lines that share stderr. */
const errorLines = (r: Run) => r.stderr.split('\n').filter((l) => l.startsWith('pscli: '));

const dropLater: TestDatabase[] = [];
afterEach(async () => {
  await Promise.all(dropLater.splice(0).map((t) => t.drop()));
});

/** Where `pscli db` works in this project: the embedded database, or an empty database on the test server. */
async function target(): Promise<{ stateDir: string; env: Env }> {
  const stateDir = await tmpStateDir();
  if (backend() === 'pglite') return { stateDir, env: EMBEDDED };
  const t = await createPgDatabase();
  dropLater.push(t);
  return { stateDir, env: { DATABASE_URL: t.url } };
}

describe(`pscli db (${backend()})`, () => {
  it('migrate applies, then finds the schema current', async () => {
    const { stateDir, env } = await target();
    const first = await run(['--state-dir', stateDir, 'db', 'migrate'], env);
    expect(first).toMatchObject({
      code: EXIT.OK,
      stdout:
        'applied 1 ledger\napplied 2 payserv\napplied 3 payments\napplied 4 autopay\napplied 5 sent_watch\napplied 6 audit_code\napplied 7 intake\napplied 8 in_flight\n',
    });
    const second = await run(['--state-dir', stateDir, 'db', 'migrate'], env);
    expect(second).toMatchObject({ code: EXIT.OK, stdout: 'schema is current\n' });
    expect(errorLines(second)).toEqual([]);
  });

  it('status --json prints one parseable document', async () => {
    const { stateDir, env } = await target();
    const before = await run(['db', 'status', '--json', '--state-dir', stateDir], env);
    expect(before.code).toBe(EXIT.OK);
    expect(JSON.parse(before.stdout)).toEqual({
      migrations: [
        { version: 1, name: 'ledger', applied: false, applied_at: null },
        { version: 2, name: 'payserv', applied: false, applied_at: null },
        { version: 3, name: 'payments', applied: false, applied_at: null },
        { version: 4, name: 'autopay', applied: false, applied_at: null },
        { version: 5, name: 'sent_watch', applied: false, applied_at: null },
        { version: 6, name: 'audit_code', applied: false, applied_at: null },
        { version: 7, name: 'intake', applied: false, applied_at: null },
        { version: 8, name: 'in_flight', applied: false, applied_at: null },
      ],
    });
    expect((await run(['--json', '--state-dir', stateDir, 'db', 'migrate'], env)).stdout).toBe(
      `${JSON.stringify(
        {
          applied: [
            { version: 1, name: 'ledger' },
            { version: 2, name: 'payserv' },
            { version: 3, name: 'payments' },
            { version: 4, name: 'autopay' },
            { version: 5, name: 'sent_watch' },
            { version: 6, name: 'audit_code' },
            { version: 7, name: 'intake' },
            { version: 8, name: 'in_flight' },
          ],
        },
        null,
        2,
      )}\n`,
    );
    const after = JSON.parse((await run(['--json', '--state-dir', stateDir, 'db', 'status'], env)).stdout) as {
      migrations: { applied: boolean; applied_at: string }[];
    };
    expect(after.migrations[0]?.applied).toBe(true);
    expect(new Date(after.migrations[0]!.applied_at).getTime()).not.toBeNaN();
  });

  it('status prints a table', async () => {
    const { stateDir, env } = await target();
    const r = await run(['--state-dir', stateDir, 'db', 'status'], env);
    expect(r.stdout).toBe(
      'version  name        applied  applied_at\n1        ledger      no       -\n2        payserv     no       -\n3        payments    no       -\n4        autopay     no       -\n5        sent_watch  no       -\n6        audit_code  no       -\n7        intake      no       -\n8        in_flight   no       -\n',
    );
  });
});

describeOncePerSuite('pscli', () => {
  it('exits 2 on an unknown command, with one error line', async () => {
    const r = await run(['frobnicate']);
    expect(r.code).toBe(EXIT.USAGE);
    expect(r.stderr).toBe("pscli: unknown command 'frobnicate'\n");
    expect(r.stdout).toBe('');
    expect((await run(['db', 'frobnicate'])).code).toBe(EXIT.USAGE);
    expect((await run(['--bogus'])).code).toBe(EXIT.USAGE);
    expect((await run([])).code).toBe(EXIT.USAGE);
  });

  it('prints help on stdout and exits 0', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(EXIT.OK);
    expect(r.stdout).toContain('Usage: pscli');
    expect(r.stdout).toContain('db');
    expect((await run(['db', '--help'])).stdout).toContain('migrate');
  });

  it('exits 2 on a bad configuration, naming the file and key', async () => {
    const stateDir = await tmpStateDir();
    const { writeFile } = await import('node:fs/promises');
    await writeFile(`${stateDir}/pscli.toml`, '[database]\npool_size = -3\n');
    const r = await run(['--state-dir', stateDir, 'db', 'status']);
    expect(r.code).toBe(EXIT.USAGE);
    expect(r.stderr).toBe(`pscli: config ${stateDir}/pscli.toml: database.pool_size: expected a positive integer\n`);
  });

  it('exits 3 when the database cannot be reached, without showing the password', async () => {
    const stateDir = await tmpStateDir();
    const r = await run(['--state-dir', stateDir, 'db', 'status'], { DATABASE_URL: 'postgres://payserv:hunter2@127.0.0.1:1/payserv' });
    expect(r.code).toBe(EXIT.RUNTIME);
    expect(r.stderr).toMatch(/^pscli: cannot connect to PostgreSQL at postgres:\/\/payserv:\*\*\*@127\.0\.0\.1:1\/payserv: .*\n$/);
    expect(r.stderr).not.toContain('hunter2');
  });
});

describeOncePerSuite('payserv, dbgw and the intake', () => {
  it.each([
    ['payserv', payserv],
    ['dbgw', dbgw],
    ['intake', intake],
  ] as const)('%s refuses a bad option or configuration with one line naming it, exit 2', async (name, main) => {
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    expect(await main(['--frobnicate'])).toBe(EXIT.USAGE);
    expect(err).toHaveBeenCalledWith(`${name}: unknown option '--frobnicate'\n`);
    expect(await main(['--config', `/nonexistent/${name}.toml`])).toBe(EXIT.USAGE);
    expect(err).toHaveBeenCalledWith(expect.stringMatching(new RegExp(`^${name}: .*/nonexistent/${name}\\.toml`)));
    vi.restoreAllMocks();
  });
});

describeOncePerSuite('esman without a command', () => {
  it('prints its commands on stderr and exits 2', async () => {
    let out = '';
    let err = '';
    const io = {
      stdin: process.stdin,
      stdout: { write: (s: string) => (out += s) },
      stderr: { write: (s: string) => (err += s) },
    } as never;
    expect(await esman([], io)).toBe(EXIT.USAGE);
    expect(err).toMatch(/Usage: esman/);
    for (const c of ['init', 'create', 'list', 'add', 'delete', 'rekey', 'manager']) expect(err).toContain(c);
    expect(out).toBe('');
  });
});

describeOncePerSuite('pscli without a database configured (issue 15, blocker 3)', () => {
  it('refuses every command needing the database, exit 2, creating nothing', async () => {
    const stateDir = join(await tmpStateDir(), 'state');
    for (const argv of [
      ['db', 'migrate'],
      ['db', 'status'],
      ['checkbalanceerrors'],
      ['audit', 'verify'],
      ['ledger', 'request', '--wallet', '1', '--amount', '1'],
      ['loadcert', '/dev/null'],
    ]) {
      const r = await run(['--state-dir', stateDir, ...argv]);
      expect(r.code, argv.join(' ')).toBe(EXIT.USAGE);
      expect(errorLines(r)).toEqual([
        expect.stringMatching(
          /^pscli: no database configured: set \[database\] url in pscli\.toml \(or DATABASE_URL\), or a \[dbgw\] table .*\[database\] embedded = true$/,
        ),
      ]);
      expect(existsSync(stateDir), argv.join(' ')).toBe(false);
    }
  });

  it(
    'opens the embedded database when told to ([database] embedded = true) or in a state directory the demo made',
    { timeout: 120_000 },
    async () => {
      const chosen = join(await tmpStateDir(), 'state');
      expect((await run(['--state-dir', chosen, 'db', 'status'], EMBEDDED)).code).toBe(EXIT.OK);
      expect(existsSync(join(chosen, 'db'))).toBe(true);
      const demo = await tmpStateDir();
      await writeFile(join(demo, DEMO_MARKER), 'made by the demo\n');
      const r = await run(['--state-dir', demo, 'db', 'status']);
      expect(r.code, r.stderr).toBe(EXIT.OK);
      expect(r.stdout).toMatch(/1\s+ledger\s+no/);
    },
  );
});

describeOncePerSuite('pscli pki init over existing files (issue 15)', () => {
  it('checks every file before writing any: a --keys-dir already holding a key is refused, exit 2, nothing written', async () => {
    const stateDir = join(await tmpStateDir(), 'state');
    const keys = await tmpStateDir();
    await writeFile(join(keys, 'autopay.SIGN.KEY'), 'an earlier key\n');
    const r = await run(['--state-dir', stateDir, 'pki', 'init', '--keys-dir', keys]);
    expect(r.code).toBe(EXIT.USAGE);
    expect(errorLines(r)).toEqual([
      `pscli: refusing to create a PKI over 1 existing file(s) of one (${join(keys, 'autopay.SIGN.KEY')}); nothing was written: give an empty --keys-dir, or move them away first`,
    ]);
    expect(existsSync(stateDir)).toBe(false);
    expect(readdirSync(keys)).toEqual(['autopay.SIGN.KEY']);
    // Moved away, the same command succeeds: the refusal left nothing behind that a second run trips over.
    rmSync(join(keys, 'autopay.SIGN.KEY'));
    expect((await run(['--state-dir', stateDir, 'pki', 'init', '--keys-dir', keys])).code).toBe(EXIT.OK);
    expect(readdirSync(keys)).toContain('autopay.SIGN.KEY');
  });

  it('--keys-dir must be a new or empty directory, no symlink, outside the state directory, writable: else exit 2, nothing written', async () => {
    const stateDir = join(await tmpStateDir(), 'state');
    const other = await tmpStateDir();
    const target = join(other, 'target');
    mkdirSync(target);
    symlinkSync(target, join(other, 'link'));
    await writeFile(join(other, 'notes.txt'), 'precious\n');
    for (const [keysDir, why] of [
      [join(other, 'link'), /is a symlink: give the real directory/],
      [join(other, 'notes.txt'), /is not a directory$/],
      [other, /is not empty: give a new or empty directory$/],
      [join(stateDir, 'keys'), /is inside the state directory .*: its private keys would stay on that disk/],
      [stateDir, /is inside the state directory/],
      ['/proc', /is not empty/],
      ['/proc/payserv-keys', /\/proc is on a kernel file system, which holds no files$/],
    ] as const) {
      const r = await run(['--state-dir', stateDir, 'pki', 'init', '--keys-dir', keysDir]);
      expect(r.code, keysDir).toBe(EXIT.USAGE);
      expect(errorLines(r), keysDir).toEqual([expect.stringMatching(new RegExp(`^pscli: --keys-dir ${keysDir}[ :]`))]);
      expect(errorLines(r)[0], keysDir).toMatch(why);
    }
    expect(existsSync(stateDir)).toBe(false);
    expect(readdirSync(target)).toEqual([]);
    expect(readdirSync(other).sort()).toEqual(['link', 'notes.txt', 'target']);
    // A new directory, parents and all, outside the state directory: taken.
    expect((await run(['--state-dir', stateDir, 'pki', 'init', '--keys-dir', join(other, 'new', 'keys')])).code).toBe(EXIT.OK);
    expect(readdirSync(join(other, 'new', 'keys'))).toContain('autopay.SIGN.KEY');
  });
});

describeOncePerSuite('pscli on a production state directory: its files named, never a raw ENOENT (issue 15 review)', () => {
  const coin = ['ledger', 'coin', '--tag', 'ETH', '--name', 'Ethereum', '--fee-user', '1'];

  it('ledger commands without the role keys (pki init --keys-dir): exit 2 naming the key, nothing opened', async () => {
    const stateDir = join(await tmpStateDir(), 'state');
    const keys = await tmpStateDir();
    expect((await run(['--state-dir', stateDir, 'pki', 'init', '--keys-dir', keys])).code).toBe(EXIT.OK);
    for (const [argv, role] of [
      [coin, 'admin'],
      [['ledger', 'seed'], 'admin'],
      [['ledger', 'block', '--coin', 'ETH', '--hash', `0x${'ab'.repeat(32)}`, '--credit', '5=1'], 'admin'],
      [['ledger', 'request', '--wallet', '1', '--amount', '1'], 'autopay'],
    ] as const) {
      const r = await run(['--state-dir', stateDir, ...argv], EMBEDDED);
      expect(r.code, argv.join(' ')).toBe(EXIT.USAGE);
      expect(errorLines(r)).toEqual([
        `pscli: pscli ledger signs with the state directory's ${role} key (${join(stateDir, 'pki', 'signers', `${role}.key`)}): none here; ` +
          `in production the pool's back end writes the ledger (see README, "The ledger writer (pool side)")`,
      ]);
    }
    expect(existsSync(join(stateDir, 'db'))).toBe(false);
  });

  it('a signing key without its certificate, and loadcert without a pinned root: each file named, exit 2', async () => {
    const stateDir = join(await tmpStateDir(), 'state');
    expect((await run(['--state-dir', stateDir, 'pki', 'init'])).code).toBe(EXIT.OK);
    const cert = join(stateDir, 'pki', 'signers', 'payserv.crt');
    const moved = join(await tmpStateDir(), 'payserv.crt');
    renameSync(cert, moved);
    const r = await run(['--state-dir', stateDir, ...coin], EMBEDDED);
    expect(r.code).toBe(EXIT.USAGE);
    expect(errorLines(r)).toEqual([`pscli: payserv signing certificate not found at ${cert}`]);
    const empty = await tmpStateDir();
    const l = await run(['--state-dir', empty, 'loadcert', moved], EMBEDDED);
    expect(l.code).toBe(EXIT.USAGE);
    expect(errorLines(l)).toEqual([expect.stringMatching(/^pscli: pinned root .*pki\/root\.crt: pinned root certificate not found at /)]);
    expect(existsSync(join(stateDir, 'db')) || existsSync(join(empty, 'db'))).toBe(false);
  });

  it('pki init --host: a DNS name or an IP address, else exit 2 and nothing written', async () => {
    for (const host of ['', 'bad host', '-lead.example', 'a..b']) {
      const stateDir = join(await tmpStateDir(), 'state');
      const r = await run(['--state-dir', stateDir, 'pki', 'init', '--host', 'localhost', '--host', host]);
      expect(r.code, host).toBe(EXIT.USAGE);
      expect(errorLines(r)).toEqual([`pscli: --host: expected a DNS name or an IP address, got ${JSON.stringify(host)}`]);
      expect(existsSync(stateDir)).toBe(false);
    }
    const ok = join(await tmpStateDir(), 'state');
    expect((await run(['--state-dir', ok, 'pki', 'init', '--host', 'pay-1.example.org', '--host', '10.0.0.5', '--host', '::1'])).code).toBe(
      EXIT.OK,
    );
  });

  it('loadcert of a file that is no certificate: named, exit 2, no OpenSSL text', async () => {
    const stateDir = await tmpStateDir();
    const fake = join(stateDir, 'fake.pem');
    await writeFile(fake, '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n');
    for (const [file, line] of [
      ['/etc/passwd', 'pscli: not a PEM certificate: /etc/passwd'],
      [fake, `pscli: ${fake}: not a parseable X.509 certificate`],
    ] as const) {
      const r = await run(['--state-dir', stateDir, 'loadcert', file], EMBEDDED);
      expect(r.code, file).toBe(EXIT.USAGE);
      expect(errorLines(r)).toEqual([line]);
    }
  });
});

describeOncePerSuite('--version', () => {
  const version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

  it('pscli and esman print the package version and exit 0', async () => {
    expect(await run(['--version'])).toEqual({ code: EXIT.OK, stdout: `${version}\n`, stderr: '' });
    let out = '';
    const io = { stdin: process.stdin, stdout: { write: (s: string) => (out += s) }, stderr: { write: () => true } } as never;
    expect(await esman(['--version'], io)).toBe(EXIT.OK);
    expect(out).toBe(`${version}\n`);
  });

  it.each([
    ['payserv', payserv],
    ['dbgw', dbgw],
  ] as const)('%s prints the package version and exits 0', async (_name, main) => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      expect(await main(['--version'])).toBe(EXIT.OK);
      expect(out).toHaveBeenCalledWith(`${version}\n`);
    } finally {
      vi.restoreAllMocks();
    }
  });
});

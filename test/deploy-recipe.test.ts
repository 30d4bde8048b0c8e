// The README's production recipe ("Preparing a host"), run in order on a fresh PostgreSQL database with
// real esman, dbgw, payserv and pscli processes. The host's paths (/etc/payserv, /var/lib/payserv, …)
// live under a temporary root; the configuration files are the README's own, only their ports changed;
// the esman and pscli command lines are taken from the README (the test fails if the README stops
// saying them); dbgw and payserv start as the systemd units in deploy/ start them. Once the staging keys
// are gone, dbgw starts on its exported key, payserv starts locked and gets the key from esman manager
// ("y"), and `pscli status` answers over TLS; no private key is left in a plain file but the two exported
// TLS keys, and no embedded database appears.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { describe, expect, it, onTestFinished } from 'vitest';
import { backend } from './support/backend.js';
import { createPgDatabase } from './support/db.js';
import { REPO, spawnNode, until, type Child } from './support/spawn.js';
import { tmpStateDir } from './support/tmp.js';
import { freePort } from './support/ports.js';

const README = readFileSync(join(REPO, 'README.md'), 'utf8');
const RECIPE = README.slice(README.indexOf('**Preparing a host.**'), README.indexOf('## dbgw: the database gateway'));
const PASS = ['recipe-pass-phrase-1', 'recipe-pass-phrase-2', 'recipe-pass-phrase-3'];
const TWO = PASS.slice(0, 2);
/** The least scrypt cost esman allows: the recipe's default (128 MiB per share) would cost the shared test machine seconds per command. */
const FAST_KDF = ['--kdf-cost', '10'];
const STEP_MS = 60_000;

/** The README's configuration files: `cat > FILE <<'TOML'` … `TOML`, by file. */
function readmeConfigs(): Map<string, string> {
  const files = new Map<string, string>();
  for (const m of RECIPE.matchAll(/cat > (\S+) <<'TOML'\n([\s\S]*?)\n\s*TOML\n/g)) files.set(m[1]!, m[2]!.replace(/^ {3}/gm, ''));
  return files;
}

/** `Key=value` lines of a systemd unit in deploy/. */
function unitValues(unit: string, key: string): string[] {
  return readFileSync(join(REPO, 'deploy', unit), 'utf8')
    .split('\n')
    .flatMap((l) => (l.startsWith(`${key}=`) ? [l.slice(key.length + 1)] : []));
}

/** Every file under `dir`, with its stat. */
function walk(dir: string): Array<{ path: string; st: Stats }> {
  return readdirSync(dir).flatMap((n) => {
    const path = join(dir, n);
    const st = statSync(path);
    return [{ path, st }, ...(st.isDirectory() ? walk(path) : [])];
  });
}

describe.runIf(backend() === 'postgres')('the README production recipe', () => {
  it('followed in order on a fresh host: after the staging keys are gone every service runs, and only the exported TLS keys are plain files', async () => {
    const root = await tmpStateDir('recipe-');
    const offline = await tmpStateDir('recipe-offline-');
    /** A host path under the temporary root. */
    const at = (p: string) => join(root, p);
    const hostPaths = (args: string[]) => args.map((a) => (a.startsWith('/') ? at(a) : a));
    const database = await createPgDatabase();
    onTestFinished(() => database.drop());
    const ports = { payserv: await freePort(), manager: await freePort(), dbgw: await freePort(), intake: await freePort() };

    /** A command line of the README (so the test fails when the README changes it), with host paths under root. */
    const readmeArgs = (line: string, inReadme = true): [string, string[]] => {
      if (inReadme) expect(RECIPE, `the README recipe says: ${line}`).toContain(line);
      const [prog, ...args] = line.split(/\s+/);
      return [`bin/${prog}.mjs`, hostPaths(args)];
    };
    /** `inReadme: false`: one turn of a README loop, whose whole line the caller checked. */
    const spawnReadme = (
      line: string,
      o: { extra?: string[]; env?: Record<string, string>; pass?: string[]; keepStdin?: boolean; inReadme?: boolean } = {},
    ): Child => {
      const [bin, args] = readmeArgs(line, o.inReadme);
      const child = spawnNode([bin, ...args, ...(o.extra ?? []), ...(o.pass ? ['--passphrase-fd', '3'] : [])], o.env ?? {}, {
        pipes: true,
      });
      (child.proc.stdio[3] as Writable).end(o.pass ? o.pass.map((p) => `${p}\n`).join('') : '');
      if (!o.keepStdin) child.proc.stdin!.end();
      return child;
    };
    const outputs: string[] = [];
    const ok = async (line: string, o: Parameters<typeof spawnReadme>[1] = {}): Promise<string> => {
      const child = spawnReadme(line, o);
      const code = await child.waitExit(STEP_MS);
      outputs.push(child.stdout(), child.stderr());
      expect(code, `${line}\n${child.stderr()}`).toBe(0);
      return child.stdout();
    };
    /** A service as its systemd unit starts it: ExecStart's program and arguments, Environment's variables. */
    const startUnit = (unit: string): Child => {
      const [exec, ...args] = unitValues(unit, 'ExecStart')[0]!.split(/\s+/);
      const env = Object.fromEntries(
        unitValues(unit, 'Environment').map((e) => {
          const [k, v] = e.split('=') as [string, string];
          return [k, v.startsWith('/') ? at(v) : v];
        }),
      );
      return spawnNode([`bin/${exec!.replace(/^\/usr\/bin\//, '')}.mjs`, ...hostPaths(args)], env);
    };

    // 1. The directories tmpfiles.d makes (the users and ownership need root: not here).
    const tmpfiles = readFileSync(join(REPO, 'deploy/tmpfiles.d/payserv.conf'), 'utf8');
    for (const d of [
      '/var/lib/payserv',
      '/var/lib/dbgw',
      '/var/lib/pscli',
      '/var/lib/intake',
      '/etc/payserv',
      '/etc/dbgw',
      '/etc/intake',
    ]) {
      expect(tmpfiles).toMatch(new RegExp(`^d\\s+${d}\\s`, 'm'));
      mkdirSync(at(d), { recursive: true, mode: 0o700 });
    }
    mkdirSync(at('/dev/shm'), { recursive: true });
    mkdirSync(at('/root'), { recursive: true });

    // 3. The README's configuration files, on this test's ports.
    const configs = readmeConfigs();
    expect([...configs.keys()].sort()).toEqual([
      '/etc/dbgw/dbgw.toml',
      '/etc/intake/intake.toml',
      '/etc/payserv/payserv.toml',
      '/var/lib/pscli/pscli.toml',
    ]);
    for (const [file, text] of configs) {
      writeFileSync(
        at(file),
        text
          .replace(/^port = 7443$/m, `port = ${ports.payserv}`)
          .replace(/^port = 7445$/m, `port = ${ports.dbgw}`)
          .replace(/^port = 7446$/m, `port = ${ports.intake}`)
          .replace('"127.0.0.1:7444"', `"127.0.0.1:${ports.manager}"`),
      );
    }
    expect(configs.get('/etc/payserv/payserv.toml')).toMatch(/\[keys\]\nstore = "storage.prod"/);

    // 4. The keys.
    await ok('pscli --state-dir /var/lib/payserv pki init --keys-dir /dev/shm/keys');
    // The database password: read without echo, never on a command line; the README's own command
    // (run by sh) puts it URL-encoded into DB.JSON, whatever characters it has.
    expect(RECIPE).toContain("read -rs -p 'password of the database role payserv: ' PGPASSWORD && echo && export PGPASSWORD");
    expect(RECIPE, 'a password written into a database URL').not.toMatch(/postgres:\/\/[^/\s]*:[^@\s$]+@/);
    const dbJsonLine = /^\s*(node -e .*) > \/dev\/shm\/keys\/DB\.JSON$/m.exec(RECIPE)?.[1];
    expect(dbJsonLine, 'the README writes DB.JSON with node -e').toBeDefined();
    const password = 'p@ss/w:rd "%?#ü';
    const PATH = `${dirname(process.execPath)}:${process.env['PATH'] ?? ''}`;
    execFileSync('sh', ['-c', `${dbJsonLine!} > "$OUT"`], { env: { PATH, PGPASSWORD: password, OUT: at('/dev/shm/keys/DB.JSON') } });
    const written = new URL((JSON.parse(readFileSync(at('/dev/shm/keys/DB.JSON'), 'utf8')) as { url: string }).url);
    expect([written.username, decodeURIComponent(written.password), written.host, written.pathname]).toEqual([
      'payserv',
      password,
      '127.0.0.1:5432',
      '/payserv',
    ]);
    // This test's server is another, and takes no password: DB.JSON names it instead.
    writeFileSync(at('/dev/shm/keys/DB.JSON'), JSON.stringify({ url: database.url }), { mode: 0o600 });
    // The pool side's keys out of payserv's staging directory (the README's shell lines, done here).
    expect(RECIPE).toContain('install -d -m 0700 /dev/shm/pool-keys');
    expect(RECIPE).toContain('mv /dev/shm/keys/admin.SIGN.* /dev/shm/keys/intake.TLS.* /dev/shm/keys/backend.TLS.* /dev/shm/pool-keys/');
    expect(RECIPE).toContain('cp /dev/shm/keys/autopay.SIGN.* /dev/shm/keys/DB.JSON /dev/shm/pool-keys/');
    mkdirSync(at('/dev/shm/pool-keys'), { mode: 0o700 });
    for (const n of ['admin.SIGN.CRT', 'admin.SIGN.KEY', 'intake.TLS.CRT', 'intake.TLS.KEY', 'backend.TLS.CRT', 'backend.TLS.KEY'])
      renameSync(at(`/dev/shm/keys/${n}`), at(`/dev/shm/pool-keys/${n}`));
    for (const n of ['autopay.SIGN.CRT', 'autopay.SIGN.KEY', 'DB.JSON'])
      copyFileSync(at(`/dev/shm/keys/${n}`), at(`/dev/shm/pool-keys/${n}`));
    await ok('esman init --shares 3 --threshold 2 --dir /root/shares', { extra: FAST_KDF, pass: PASS });
    const storage = '--dir /root/shares --storage /var/lib/payserv/storage.prod';
    const intakeStorage = '--dir /root/shares --storage /var/lib/intake/storage.prod';
    await ok(`esman create --from /dev/shm/keys ${storage}`, { pass: TWO });
    await ok(`esman create --from /dev/shm/pool-keys ${intakeStorage}`, { pass: TWO });
    // payserv's store holds no admin key (it signs no coin or wallet here); the intake's does.
    const listed = await ok(`esman list --storage /var/lib/payserv/storage.prod`, { inReadme: false });
    expect(listed).not.toContain('admin.SIGN.KEY');
    expect(await ok(`esman list --storage /var/lib/intake/storage.prod`, { inReadme: false })).toContain('admin.SIGN.KEY');
    expect(await ok(`esman wallet --coin ETH ${storage}`, { pass: TWO })).toMatch(/Coin\.ETH\.JSON: hot wallet 0x[0-9a-fA-F]{40}/);

    // 5. dbgw's and pscli's TLS pairs where they read them, then the staging keys gone.
    expect(RECIPE).toContain('install -m 0644 /var/lib/payserv/pki/tls/$s.crt /var/lib/$s/pki/tls/$s.crt');
    for (const s of ['dbgw', 'pscli']) {
      mkdirSync(at(`/var/lib/${s}/pki/tls`), { recursive: true, mode: 0o700 });
      copyFileSync(at('/var/lib/payserv/pki/root.crt'), at(`/var/lib/${s}/pki/root.crt`));
      copyFileSync(at(`/var/lib/payserv/pki/tls/${s}.crt`), at(`/var/lib/${s}/pki/tls/${s}.crt`));
    }
    await ok(`esman export dbgw.TLS.KEY --to /var/lib/dbgw/pki/tls/dbgw.key ${storage}`, { pass: TWO });
    await ok(`esman export pscli.TLS.KEY --to /var/lib/pscli/pki/tls/pscli.key ${storage}`, { pass: TWO });
    expect(RECIPE).toContain(
      'install -d -m 0700 /var/lib/intake/pki && install -m 0644 /var/lib/payserv/pki/root.crt /var/lib/intake/pki/root.crt',
    );
    mkdirSync(at('/var/lib/intake/pki'), { recursive: true, mode: 0o700 });
    copyFileSync(at('/var/lib/payserv/pki/root.crt'), at('/var/lib/intake/pki/root.crt'));
    await ok(`esman export backend.TLS.KEY --to /root/backend.key ${intakeStorage}`, { pass: TWO });
    expect(RECIPE).toContain('mv /dev/shm/keys/offline /media/offline-ca && rm -rf /dev/shm/keys /dev/shm/pool-keys');
    renameSync(at('/dev/shm/keys/offline'), join(offline, 'ca'));
    rmSync(at('/dev/shm/keys'), { recursive: true });
    rmSync(at('/dev/shm/pool-keys'), { recursive: true });

    // 6. The schema and the signers' certificates, by pscli in its own state directory.
    const pscliEnv = { PAYSERV_STATE_DIR: at('/var/lib/pscli') };
    expect(RECIPE).toContain('export PAYSERV_STATE_DIR=/var/lib/pscli');
    expect(RECIPE).toContain('export DATABASE_URL=postgres://payserv@127.0.0.1:5432/payserv');
    expect(RECIPE).toContain('unset DATABASE_URL PGPASSWORD');
    await ok('pscli db migrate', { env: { ...pscliEnv, DATABASE_URL: database.url } });
    expect(RECIPE).toContain('for r in payserv admin autopay; do pscli loadcert /var/lib/payserv/pki/signers/$r.crt; done');
    for (const r of ['payserv', 'admin', 'autopay']) {
      expect(
        await ok(`pscli loadcert /var/lib/payserv/pki/signers/${r}.crt`, {
          env: { ...pscliEnv, DATABASE_URL: database.url },
          inReadme: false,
        }),
      ).toMatch(/registered: role/);
    }

    // 7. The services as their units start them, then the hand-over.
    const dbgw = startUnit('dbgw.service');
    await dbgw.waitForLine(new RegExp(`^dbgw listening on 127\\.0\\.0\\.1:${ports.dbgw}$`), STEP_MS);
    const payserv = startUnit('payserv.service');
    await until(
      'payserv waits for esman manager',
      () => payserv.stderr().includes('payserv is locked: waiting for the key from esman manager'),
      STEP_MS,
    );
    expect(payserv.stdout()).not.toMatch(/listening/);
    const intake = startUnit('intake.service');
    await until('the intake waits for esman manager', () => intake.stderr().includes('waiting for the key from esman manager'), STEP_MS);
    const manager = spawnReadme('esman manager --dir /root/shares --storage /var/lib/payserv/storage.prod --count 2', {
      extra: ['--listen', `127.0.0.1:${ports.manager}`],
      pass: TWO,
      keepStdin: true,
    });
    // Two requests (payserv's and the intake's, in either order): an operator allows each.
    for (const n of [1, 2]) {
      await until(`key request ${n}`, () => manager.stdout().split('key request from 127.0.0.1').length > n, STEP_MS);
      manager.proc.stdin!.write('y\n');
    }
    await payserv.waitForLine(new RegExp(`^payserv listening on 127\\.0\\.0\\.1:${ports.payserv}$`), STEP_MS);
    await intake.waitForLine(new RegExp(`^intake listening on 127\\.0\\.0\\.1:${ports.intake}$`), STEP_MS);
    expect(await manager.waitExit(STEP_MS), manager.stderr()).toBe(0);
    outputs.push(manager.stdout(), manager.stderr());
    // payserv's database came from the store, through dbgw.
    expect(payserv.stderr()).toContain('data access through dbgw');
    expect(dbgw.stderr()).toContain('database connected');

    // Payouts start disabled (pscli status: exit 1); the checks read through dbgw; clean, the operator enables.
    const status = spawnReadme('pscli status', { env: pscliEnv });
    expect(await status.waitExit(STEP_MS), status.stderr()).toBe(1);
    expect(status.stdout()).toMatch(/^payouts DISABLED since /);
    const local = '--payserv-state-dir /var/lib/payserv';
    expect(RECIPE).toContain(`pscli checkbalanceerrors ${local} && pscli checkwallets ${local}`);
    for (const check of [`checkbalanceerrors ${local}`, `checkwallets ${local}`, 'checkcoins'])
      expect(await ok(`pscli ${check}`, { env: pscliEnv, inReadme: false })).toBe('');
    expect(await ok('pscli enable', { env: pscliEnv })).toMatch(/^payouts ENABLED since /);
    expect(await ok('pscli status', { env: pscliEnv })).toMatch(/^payouts ENABLED since /);

    // What the host holds afterwards.
    const files = walk(root);
    const plainKeys = files.filter((f) => f.st.isFile() && readFileSync(f.path, 'utf8').includes('PRIVATE KEY'));
    expect(plainKeys.map((f) => f.path).sort()).toEqual([
      at('/root/backend.key'),
      at('/var/lib/dbgw/pki/tls/dbgw.key'),
      at('/var/lib/pscli/pki/tls/pscli.key'),
    ]);
    for (const f of plainKeys) expect(f.st.mode & 0o777).toBe(0o600);
    expect(files.filter((f) => f.st.isDirectory() && /\/db$/.test(f.path)).map((f) => f.path)).toEqual([]);
    expect(files.some((f) => f.path === at('/dev/shm/keys'))).toBe(false);
    // Neither a key nor a passphrase was printed by any step.
    const printed = [...outputs, dbgw.stdout(), dbgw.stderr(), payserv.stdout(), payserv.stderr(), intake.stdout(), intake.stderr()].join(
      '\n',
    );
    for (const p of PASS) expect(printed).not.toContain(p);
    expect(printed).not.toContain('PRIVATE KEY');

    expect(await intake.stop('SIGTERM', STEP_MS)).toBe(0);
    expect(await payserv.stop('SIGTERM', STEP_MS)).toBe(0);
    expect(await dbgw.stop('SIGTERM', STEP_MS)).toBe(0);
  }, 300_000);
});

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import { tmpStateDir } from '../support/tmp.js';

async function writeConfig(dir: string, text: string, name = 'pscli.toml'): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, text);
  return file;
}

/** The rejection message, asserting it is a ConfigError. */
async function configError(p: Promise<unknown>): Promise<string> {
  const e = await p.then(
    () => expect.fail('expected a ConfigError'),
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ConfigError);
  return (e as Error).message;
}

describe('loadConfig', () => {
  it('uses defaults when there is no file', async () => {
    const home = await tmpStateDir();
    const c = await loadConfig('pscli', undefined, { env: { HOME: home } });
    expect(c.file).toBeNull();
    expect(c.stateDir).toBe(join(home, '.local', 'state', 'payserv'));
    expect(c.database).toEqual({ url: undefined, poolSize: 10, statementTimeoutMs: 60_000, embedded: false });
    // pscli's checks are silent when clean, so it logs warnings only; the services log every event.
    expect(c.log.level).toBe('warn');
    expect((await loadConfig('payserv', undefined, { env: { HOME: home } })).log.level).toBe('info');
  });

  it('honours XDG_STATE_HOME for the default state directory', async () => {
    const xdg = await tmpStateDir();
    const c = await loadConfig('payserv', undefined, { env: { HOME: '/nonexistent', XDG_STATE_HOME: xdg } });
    expect(c.stateDir).toBe(join(xdg, 'payserv'));
  });

  it('reads a given file and resolves a relative state_dir against it', async () => {
    const dir = await tmpStateDir();
    const file = await writeConfig(
      dir,
      'state_dir = "state"\n[database]\npool_size = 3\nstatement_timeout_ms = 500\n[log]\nlevel = "debug"\n',
    );
    const c = await loadConfig('pscli', file, { env: {} });
    expect(c.file).toBe(file);
    expect(c.stateDir).toBe(join(dir, 'state'));
    expect(c.database).toEqual({ url: undefined, poolSize: 3, statementTimeoutMs: 500, embedded: false });
    expect(c.log.level).toBe('debug');
  });

  it('finds <stateDir>/<service>.toml, and PAYSERV_CONFIG before it', async () => {
    const dir = await tmpStateDir();
    await writeConfig(dir, '[log]\nlevel = "warn"\n', 'dbgw.toml');
    const found = await loadConfig('dbgw', undefined, { env: { PAYSERV_STATE_DIR: dir } });
    expect(found.file).toBe(join(dir, 'dbgw.toml'));
    expect(found.log.level).toBe('warn');

    const other = await writeConfig(dir, '[log]\nlevel = "error"\n', 'other.toml');
    const viaEnv = await loadConfig('dbgw', undefined, { env: { PAYSERV_STATE_DIR: dir, PAYSERV_CONFIG: other } });
    expect(viaEnv.file).toBe(other);
    expect(viaEnv.log.level).toBe('error');
  });

  it('lets the environment override the file', async () => {
    const dir = await tmpStateDir();
    const file = await writeConfig(dir, 'state_dir = "/from/file"\n[database]\nurl = "postgres://file@h/db"\n');
    const c = await loadConfig('pscli', file, { env: { PAYSERV_STATE_DIR: dir, DATABASE_URL: 'postgres://env@h/db' } });
    expect(c.stateDir).toBe(dir);
    expect(c.database.url).toBe('postgres://env@h/db');
    // The command line's --state-dir wins over both.
    const cli = await loadConfig('pscli', file, { env: { PAYSERV_STATE_DIR: dir }, stateDir: join(dir, 'cli') });
    expect(cli.stateDir).toBe(join(dir, 'cli'));
  });

  it('refuses an unknown key, naming the file and the key', async () => {
    const dir = await tmpStateDir();
    const file = await writeConfig(dir, 'databse_url = "postgres://x@h/db"\n');
    expect(await configError(loadConfig('pscli', file, { env: {} }))).toBe(`config ${file}: unknown key "databse_url"`);
  });

  it('refuses an unknown nested key with its dotted path', async () => {
    const dir = await tmpStateDir();
    const file = await writeConfig(dir, '[database]\npool_siz = 3\n');
    expect(await configError(loadConfig('pscli', file, { env: {} }))).toBe(`config ${file}: unknown key "database.pool_siz"`);
  });

  it.each([
    ['[database]\npool_size = 0\n', 'database.pool_size: expected a positive integer'],
    ['[database]\npool_size = "ten"\n', 'database.pool_size: expected a positive integer'],
    ['[database]\nstatement_timeout_ms = 1.5\n', 'database.statement_timeout_ms: expected a positive integer'],
    ['[database]\nurl = "mysql://h/db"\n', 'database.url: expected a postgres:// or postgresql:// URL'],
    ['[log]\nlevel = "loud"\n', 'log.level: expected one of trace, debug, info, warn, error, fatal, silent'],
    ['database = 5\n', 'database: expected a table'],
    ['state_dir = ""\n', 'state_dir: expected a non-empty string'],
  ])('refuses a bad value: %j', async (text, expected) => {
    const dir = await tmpStateDir();
    const file = await writeConfig(dir, text);
    expect(await configError(loadConfig('pscli', file, { env: {} }))).toBe(`config ${file}: ${expected}`);
  });

  // Node's timers hold at most 2^31-1 ms: past it a timeout or pause fires after 1 ms. Every timer setting of payserv is bounded.
  it.each([
    ['[keys]\nretry_ms = 2147483648\n', 'keys.retry_ms'],
    ['[keys]\nanswer_timeout_ms = 3000000000\n', 'keys.answer_timeout_ms'],
    ['[alerts]\nbackoff_max_ms = 2147483648\n', 'alerts.backoff_max_ms'],
    ['[autopay]\ninterval_s = 2147484\n', 'autopay.interval_s'],
    ['[monitor]\nstuck_after_s = 2147484\n', 'monitor.stuck_after_s'],
    ['[locks]\nheld_max_ms = 2147483648\n', 'locks.held_max_ms'],
  ])('refuses a timer setting past what Node holds: %j', async (text, key) => {
    const dir = await tmpStateDir();
    const file = await writeConfig(dir, text);
    expect(await configError(loadConfig('payserv', file, { env: {} }))).toMatch(
      new RegExp(`^config ${file}: ${key.replace('.', '\\.')}: at most 2147483`),
    );
  });

  it('reports invalid TOML by position, without echoing the line (it may hold a password)', async () => {
    const dir = await tmpStateDir();
    const file = await writeConfig(dir, '[database]\nurl = "postgres://u:hunter2@h/db\n');
    const msg = await configError(loadConfig('pscli', file, { env: {} }));
    expect(msg).toMatch(new RegExp(`^config ${file}: invalid TOML at line 2, column \\d+: `));
    expect(msg).not.toContain('hunter2');
  });

  it('refuses a missing explicitly given file, naming it', async () => {
    const dir = await tmpStateDir();
    const missing = join(dir, 'nope.toml');
    expect(await configError(loadConfig('pscli', missing, { env: {} }))).toBe(`config ${missing}: file not found`);
    expect(await configError(loadConfig('pscli', undefined, { env: { PAYSERV_CONFIG: missing } }))).toBe(
      `config ${missing}: file not found`,
    );
  });

  it('refuses a DATABASE_URL that is not a PostgreSQL URL, without echoing it', async () => {
    const dir = await tmpStateDir();
    const msg = await configError(loadConfig('pscli', undefined, { env: { PAYSERV_STATE_DIR: dir, DATABASE_URL: 'secret-ish' } }));
    expect(msg).toBe('environment DATABASE_URL: expected a postgres:// or postgresql:// URL');
  });

  it('ships example files that load', async () => {
    const dir = await tmpStateDir();
    for (const service of ['pscli', 'payserv', 'dbgw', 'intake'] as const) {
      const c = await loadConfig(service, join(import.meta.dirname, '..', '..', 'config', `${service}.toml`), {
        env: { PAYSERV_STATE_DIR: dir },
      });
      expect(c.service).toBe(service);
    }
  });
});

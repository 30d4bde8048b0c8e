// dbgw's first part: mutual TLS to the payserv and pscli identities only, the version handshake, and no
// database until payserv hands over its parameters (or dbgw's own configuration names one).
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CATALOG_DIGEST } from '../src/data/catalog.js';
import { DBGW_VERSION } from '../src/api/dbgw.js';
import { DbgwVersionError, openDbgw, versionMismatch } from '../src/dbgw/client.js';
import type { RunningDbgw } from '../src/dbgw/service.js';
import { migrate } from '../src/db/migrate.js';
import { openPostgres } from '../src/db/postgres.js';
import { createLogger } from '../src/log/index.js';
import { initPki } from '../src/esman/pki-files.js';
import type { TlsIdentity } from '../src/pki/roles.js';
import { RpcClient, RpcTransportError } from '../src/rpc/client.js';
import { RPC, RpcError } from '../src/api/jsonrpc.js';
import { startRpcServer } from '../src/rpc/server.js';
import { backend, describeOncePerSuite } from './support/backend.js';
import { startTestDbgw } from './support/dbgw.js';
import { createPgDatabase } from './support/db.js';
import { spawnNode, tlsOf } from './support/spawn.js';
import { tmpStateDir } from './support/tmp.js';

// It connects to a PostgreSQL server: the postgres project runs it.
const describePg = backend() === 'postgres' ? describe : describe.skip;

async function migratedDatabase(): Promise<string> {
  const t = await createPgDatabase();
  const db = await openPostgres({ url: t.url, poolSize: 2, statementTimeoutMs: 30_000 });
  await migrate(db);
  await db.close();
  return t.url;
}

/** A state directory with a fresh PKI (dbgw's, payserv's and pscli's TLS pairs). */
async function pkiDir(): Promise<string> {
  const stateDir = await tmpStateDir();
  await initPki(stateDir, { rootDays: 30, leafDays: 30 });
  return stateDir;
}

/** A dbgw on a free port; with `url`, connected from the start by its own [database] url. */
const dbgwIn = (stateDir: string, url?: string): Promise<RunningDbgw> =>
  startTestDbgw(stateDir, (c) => void (url && (c.database.url = url)));

const client = (stateDir: string, identity: TlsIdentity, port: number) =>
  new RpcClient({ host: '127.0.0.1', port, tls: tlsOf(stateDir, identity), timeoutMs: 30_000, serverIdentity: 'dbgw' });

async function rpcError(p: Promise<unknown>): Promise<RpcError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(RpcError);
  return e as RpcError;
}

describePg('dbgw', () => {
  it('answers only its version and status until payserv hands over the database; then it is connected', async () => {
    const stateDir = await pkiDir();
    const url = await migratedDatabase();
    const d = await dbgwIn(stateDir);
    const payserv = client(stateDir, 'payserv', d.server.port);
    const pscli = client(stateDir, 'pscli', d.server.port);
    try {
      expect(await payserv.call('Dbgw.Version')).toEqual({ ...DBGW_VERSION, catalog: CATALOG_DIGEST });
      expect(await pscli.call('Dbgw.Status')).toMatchObject({ connected: false, database: null });
      // Until then an operation is refused as such: nothing ran.
      expect((await rpcError(payserv.call('Dbgw.Query', { op: 'ledger.coins', params: [1] }))).code).toBe(RPC.NOT_CONNECTED);
      // pscli may not hand over a database; the pool's back end may call nothing; unknown operations and SQL are refused.
      expect((await rpcError(pscli.call('Dbgw.Connect', { url }))).code).toBe(RPC.FORBIDDEN);
      const backendClient = client(stateDir, 'backend', d.server.port);
      expect((await rpcError(backendClient.call('Dbgw.Version'))).code).toBe(RPC.FORBIDDEN);
      backendClient.close();
      expect((await rpcError(payserv.call('Dbgw.Exec' as never, ['SELECT 1']))).code).toBe(RPC.METHOD_NOT_FOUND);
      expect((await rpcError(payserv.call('Dbgw.Query', ['SELECT 1']))).code).toBe(RPC.INVALID_PARAMS);
      expect((await rpcError(payserv.call('Dbgw.Connect', { url, sql: 'DROP TABLE coins_coin' }))).code).toBe(RPC.INVALID_PARAMS);

      // A wrong password: refused with the address, never the password; still not connected.
      const wrong = new URL(url);
      wrong.username = 'nobody';
      wrong.password = 's3cret-pw';
      const refused = await rpcError(payserv.call('Dbgw.Connect', { url: wrong.toString() }));
      expect(refused.message).toMatch(/cannot connect/);
      expect(refused.message).not.toContain('s3cret-pw');
      // Refused parameters are a configuration fault for payserv (exit 2); a database out of reach is still
      // "not connected" (payserv waits and hands it over again).
      expect(refused.code).toBe(RPC.INVALID_PARAMS);
      const down = new URL(url);
      down.port = '1';
      const unreachable = await rpcError(payserv.call('Dbgw.Connect', { url: down.toString() }));
      expect(unreachable).toMatchObject({ code: RPC.NOT_CONNECTED, message: expect.stringMatching(/^cannot connect: .*ECONNREFUSED/) });
      expect(d.database()).toBeNull();

      expect(await payserv.call('Dbgw.Connect', { url })).toMatchObject({ connected: true });
      expect(await pscli.call('Dbgw.Status')).toMatchObject({ connected: true });
      // The same parameters again are a no-op; another database is refused while connected.
      expect(await payserv.call('Dbgw.Connect', { url })).toMatchObject({ connected: true });
      expect((await rpcError(payserv.call('Dbgw.Connect', { url: `${url}x` }))).message).toMatch(/already connected/);
    } finally {
      payserv.close();
      pscli.close();
      await d.stop();
    }
  }, 60_000);

  it('refuses a database whose schema is not current', async () => {
    const stateDir = await pkiDir();
    const empty = await createPgDatabase();
    const d = await dbgwIn(stateDir);
    const payserv = client(stateDir, 'payserv', d.server.port);
    try {
      expect((await rpcError(payserv.call('Dbgw.Connect', { url: empty.url }))).message).toMatch(/schema is not current/);
      expect(d.database()).toBeNull();
    } finally {
      payserv.close();
      await d.stop();
    }
  }, 60_000);

  it('is connected from the start when its own configuration names the database', async () => {
    const stateDir = await pkiDir();
    const d = await dbgwIn(stateDir, await migratedDatabase());
    try {
      expect(d.database()).toMatch(/^postgres/);
    } finally {
      await d.stop();
    }
  }, 60_000);

  it('refuses a client without a certificate of the project', async () => {
    const stateDir = await pkiDir();
    const other = await pkiDir();
    const d = await dbgwIn(stateDir);
    try {
      // Another CA's payserv certificate (the same names): the handshake fails, nothing runs.
      const stranger = new RpcClient({
        host: '127.0.0.1',
        port: d.server.port,
        tls: { ...tlsOf(other, 'payserv'), caPem: tlsOf(stateDir, 'payserv').caPem },
        timeoutMs: 10_000,
        serverIdentity: 'dbgw',
      });
      await expect(stranger.call('Dbgw.Version')).rejects.toBeInstanceOf(RpcTransportError);
      stranger.close();
    } finally {
      await d.stop();
    }
  }, 60_000);
});

describeOncePerSuite('the dbgw version handshake', () => {
  it('is refused for another component, protocol or release', () => {
    const ours = { ...DBGW_VERSION, catalog: CATALOG_DIGEST };
    expect(versionMismatch(ours)).toBeNull();
    expect(versionMismatch({ ...ours, catalog: '0123456789abcdef' })).toMatch(/serves other operations/);
    expect(versionMismatch(DBGW_VERSION)).toMatch(/catalog none/);
    expect(versionMismatch({ ...DBGW_VERSION, component: 'payserv' })).toMatch(/not payserv dbgw/);
    expect(versionMismatch({ ...DBGW_VERSION, project: 'other' })).toMatch(/it is other dbgw/);
    expect(versionMismatch({ ...DBGW_VERSION, protocol: 99 })).toMatch(/protocol 99/);
    expect(versionMismatch({ ...DBGW_VERSION, version: '9.9.9' })).toMatch(/release 9\.9\.9/);
  });

  it('refuses a gateway answering another version, and accepts dbgw itself', async () => {
    const stateDir = await pkiDir();
    // A server with dbgw's certificate that claims another release, then other operations under ours.
    let claim: Record<string, unknown> = { ...DBGW_VERSION, version: '0.0.1' };
    const impostor = await startRpcServer({
      port: 0,
      tls: tlsOf(stateDir, 'dbgw'),
      log: createLogger('dbgw', 'silent'),
      contract: { methods: { 'Dbgw.Version': (await import('../src/api/dbgw.js')).DBGW_METHODS['Dbgw.Version'] }, allowed: () => true },
      handle: async () => claim,
    });
    try {
      const opts = { host: '127.0.0.1', port: impostor.port, tls: tlsOf(stateDir, 'payserv'), timeoutMs: 10_000 };
      await expect(openDbgw(opts)).rejects.toThrow(DbgwVersionError);
      await expect(openDbgw(opts)).rejects.toThrow(/release 0\.0\.1, this payserv 0\.1\.0/);
      claim = { ...DBGW_VERSION, catalog: '0123456789abcdef' };
      await expect(openDbgw(opts)).rejects.toThrow(/serves other operations/);
    } finally {
      await impostor.close(1_000);
    }
    const d = await dbgwIn(stateDir);
    try {
      const ok = await openDbgw({ host: '127.0.0.1', port: d.server.port, tls: tlsOf(stateDir, 'payserv'), timeoutMs: 10_000 });
      expect(ok.version).toEqual({ ...DBGW_VERSION, catalog: CATALOG_DIGEST });
      ok.close();
    } finally {
      await d.stop();
    }
  }, 60_000);

  it('dbgw runs as a process: listening line, SIGTERM exits 0', async () => {
    const stateDir = await pkiDir();
    const child = spawnNode(['bin/dbgw.mjs', '--config', join(stateDir, 'none.toml')], { PAYSERV_STATE_DIR: stateDir });
    await expect(child.waitExit(30_000)).resolves.toBe(2); // a named config file must exist
    writeFileSync(join(stateDir, 'dbgw.toml'), '[rpc]\nport = 0\n');
    const d = spawnNode(['bin/dbgw.mjs'], { PAYSERV_STATE_DIR: stateDir });
    await d.waitForLine(/^dbgw listening on 127\.0\.0\.1:\d+$/, 30_000);
    expect(await d.stop('SIGTERM', 30_000), d.stderr()).toBe(0);
  }, 60_000);

  it('dbgw without its TLS key (step 5 of preparing a host not done) names the file and state_dir, exit 2', async () => {
    const stateDir = await pkiDir();
    const key = join(stateDir, 'pki', 'tls', 'dbgw.key');
    rmSync(key);
    writeFileSync(join(stateDir, 'dbgw.toml'), '[rpc]\nport = 0\n');
    const child = spawnNode(['bin/dbgw.mjs'], { PAYSERV_STATE_DIR: stateDir });
    expect(await child.waitExit(30_000)).toBe(2);
    expect(child.stderr()).toContain(
      `dbgw: the dbgw TLS key ${key}: not found; dbgw reads it from its state directory ${stateDir} (state_dir in`,
    );
    expect(child.stderr()).toContain(`esman export dbgw.TLS.KEY --to ${key}`);
    expect(child.stderr()).not.toMatch(/ENOENT/);
  }, 60_000);
});

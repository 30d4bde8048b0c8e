// Real payserv processes for tests: `node bin/payserv.mjs --config FILE` as a child, ready once it prints
// its "listening on" line, with its JSON log (stderr) kept; and the ledger such a process runs on, built
// where the child can open it (PostgreSQL: a database of its own; PGlite: <state dir>/db, which only
// one process at a time may hold open). Every child started here is SIGKILLed when its test finishes,
// pass or fail, and killAllChildren() does the same for an afterEach: no test leaves a process behind.
import { spawn, type ChildProcess, type ChildProcessByStdio } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { inject, onTestFinished } from 'vitest';
import { advanceAll } from '../../src/verify/advance.js';
import { LocalCheckpointStore } from '../../src/checkpoints/local-store.js';
import { runCheck, type CheckArgs, type CheckName } from '../../src/checks/run.js';
import type { Db } from '../../src/db/db.js';
import { migrate } from '../../src/db/migrate.js';
import { openPglite } from '../../src/db/pglite.js';
import { openPostgres } from '../../src/db/postgres.js';
import { formatProblem } from '../../src/ledger/problem.js';
import { initPki, loadSigner, loadTrust, pkiPaths } from '../../src/esman/pki-files.js';
import { registerCert } from '../../src/writer/certs.js';
import { SIGNER_ROLES, type TlsIdentity } from '../../src/pki/roles.js';
import type { Signer } from '../../src/pki/signer.js';
import type { Trust } from '../../src/pki/trust.js';
import { RpcClient } from '../../src/rpc/client.js';
import type { TlsMaterial } from '../../src/rpc/tls.js';
import { openView } from '../../src/verify/view.js';
import { seedLedger, type SeedOptions } from '../../src/writer/seed.js';
import { backend, createPgDatabase } from './db.js';
import { overDbgw, startTestDbgw } from './dbgw.js';
import type { RunningDbgw } from '../../src/dbgw/service.js';
import { tmpStateDir } from './tmp.js';

/** The repository root: the children's working directory. */
export const REPO = fileURLToPath(new URL('../..', import.meta.url));

// ---- children --------------------------------------------------------------------------------------

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Child {
  readonly proc: ChildProcess;
  readonly pid: number;
  /** Everything written so far. */
  stdout(): string;
  stderr(): string;
  /** Settles when the process has exited (never rejects). */
  readonly exited: Promise<Exit>;
  /** The exit, once there is one. */
  exit(): Exit | null;
  /** Resolves with the first stdout line matching `re` (bounded); rejects if the child exits or the time runs out first. */
  waitForLine(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  /** Waits (bounded) for the exit; past the bound the child is SIGKILLed and this throws. Returns the exit code. */
  waitExit(timeoutMs?: number): Promise<number | null>;
  /** Sends `signal` (unless it has exited), then waitExit. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  /** SIGKILL unless it has exited; resolves once it has (bounded). */
  kill(): Promise<void>;
}

const live = new Set<Child>();

/** SIGKILLs every child still running and waits for each to go: for an afterEach (and for the tests' own hooks). */
export async function killAllChildren(): Promise<void> {
  await Promise.all([...live].map((c) => c.kill()));
}

// A worker that dies (or is torn down) must not leave children running either.
process.once('exit', () => {
  for (const c of live) if (c.exit() === null) c.proc.kill('SIGKILL');
});

/** The environment of a child: ours, minus everything that would choose its configuration or database for it. */
function childEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['PAYSERV_CONFIG', 'PAYSERV_STATE_DIR', 'DATABASE_URL', 'NODE_OPTIONS']) delete env[k];
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v;
  return env;
}

export interface SpawnOptions {
  /** Pipes to the child's stdin (proc.stdin) and fd 3 (proc.stdio[3]); without, it has neither. Their write errors (EPIPE once it exits) are ignored. */
  pipes?: boolean;
}

/** Starts `node ...args` in the repository root. Call inside a test: the child is SIGKILLed when the test ends. */
export function spawnNode(args: string[], env: Record<string, string | undefined> = {}, opts: SpawnOptions = {}): Child {
  const proc = spawn(process.execPath, args, {
    cwd: REPO,
    env: childEnv(env),
    stdio: opts.pipes ? ['pipe', 'pipe', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe'],
  }) as ChildProcessByStdio<Writable | null, Readable, Readable>;
  for (const s of [proc.stdin, proc.stdio[3]]) s?.on('error', () => undefined);
  let out = '';
  let err = '';
  let exit: Exit | null = null;
  const lineWaiters = new Set<() => void>();
  proc.stdout.setEncoding('utf8').on('data', (s: string) => {
    out += s;
    for (const w of lineWaiters) w();
  });
  proc.stderr.setEncoding('utf8').on('data', (s: string) => void (err += s));
  const exited = new Promise<Exit>((resolve) => {
    proc.once('error', (e) => {
      err += `\nspawn error: ${e.message}\n`;
      exit ??= { code: null, signal: null };
      resolve(exit);
    });
    proc.once('exit', (code, signal) => {
      exit = { code, signal };
      resolve(exit);
    });
  });
  // 'exit' can come before the pipes are drained; the streams' own close is what makes stdout/stderr complete.
  const drained = Promise.all([new Promise((r) => proc.stdout.once('close', r)), new Promise((r) => proc.stderr.once('close', r))]);
  const done = exited.then(async (e) => {
    await Promise.race([drained, sleep(2_000)]);
    for (const w of lineWaiters) w();
    return e;
  });

  const child: Child = {
    proc,
    pid: proc.pid ?? -1,
    stdout: () => out,
    stderr: () => err,
    exited: done,
    exit: () => exit,
    waitForLine(re, timeoutMs) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            finish(
              new Error(`no stdout line matching ${re} within ${timeoutMs} ms; stdout: ${out.slice(-2000)}; stderr: ${err.slice(-4000)}`),
            ),
          timeoutMs,
        );
        const check = () => {
          const line = out.split('\n').find((l) => re.test(l));
          const m = line === undefined ? null : line.match(re);
          if (m) finish(null, m);
          else if (exit)
            finish(
              new Error(`the child exited (${JSON.stringify(exit)}) before a stdout line matching ${re}; stderr: ${err.slice(-4000)}`),
            );
        };
        const finish = (e: Error | null, m?: RegExpMatchArray) => {
          clearTimeout(timer);
          lineWaiters.delete(check);
          if (e) reject(e);
          else resolve(m as RegExpMatchArray);
        };
        lineWaiters.add(check);
        check();
      });
    },
    async waitExit(timeoutMs = 60_000) {
      const e = await Promise.race([done, sleep(timeoutMs).then(() => null)]);
      if (e === null) {
        await child.kill();
        throw new Error(`pid ${child.pid} did not exit within ${timeoutMs} ms; stderr: ${err.slice(-4000)}`);
      }
      return e.code;
    },
    stop(signal = 'SIGTERM', timeoutMs = 60_000) {
      if (!exit) proc.kill(signal);
      return child.waitExit(timeoutMs);
    },
    async kill() {
      if (!exit) proc.kill('SIGKILL');
      await Promise.race([done, sleep(10_000)]);
      live.delete(child);
    },
  };
  live.add(child);
  void done.then(() => live.delete(child));
  onTestFinished(() => child.kill());
  return child;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `probe` until it returns true (bounded); throws with `what` when the time runs out. */
export async function until(what: string, probe: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 100): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}

// ---- payserv --------------------------------------------------------------------------------------

export interface PayservChild extends Child {
  host: string;
  port: number;
  /** The JSON log lines written so far (stderr), parsed; a line that is not JSON is kept as { raw }. */
  logs(): Array<Record<string, unknown>>;
  /** An RPC client with `identity`'s certificate of this state directory's PKI (or `tls`), closed when the test ends. */
  client(identity: TlsIdentity, opts?: ClientOptions): RpcClient;
}

export interface ClientOptions {
  timeoutMs?: number;
  tls?: TlsMaterial;
  maxSockets?: number;
}

export interface PayservConfig {
  /** 0 (the default): any free port, which the child then prints. */
  port?: number;
  poolSize?: number;
  shutdownGraceMs?: number;
  requestTimeoutMs?: number;
  logLevel?: string;
  /** More TOML, appended as is (e.g. [coins.ETH]). */
  extra?: string;
  /** [database] embedded: default on PGlite, whose ledger is <state dir>/db (PostgreSQL names its own). */
  embedded?: boolean;
}

/** Writes a payserv.toml (the state directory and the database's url come from the environment). */
export function writeConfig(file: string, c: PayservConfig = {}): string {
  writeFileSync(
    file,
    [
      '[database]',
      `embedded = ${c.embedded ?? backend() !== 'postgres'}`,
      `pool_size = ${c.poolSize ?? 10}`,
      'statement_timeout_ms = 30000',
      '[log]',
      `level = "${c.logLevel ?? 'info'}"`,
      '[rpc]',
      'host = "127.0.0.1"',
      `port = ${c.port ?? 0}`,
      `shutdown_grace_ms = ${c.shutdownGraceMs ?? 15_000}`,
      `request_timeout_ms = ${c.requestTimeoutMs ?? 60_000}`,
      c.extra ?? '',
      '',
    ].join('\n'),
  );
  return file;
}

/** The TLS material of `identity` in the PKI under `stateDir`. */
export function tlsOf(stateDir: string, identity: TlsIdentity): TlsMaterial {
  const p = pkiPaths(stateDir);
  return {
    certPem: readFileSync(p.tlsCert(identity), 'utf8'),
    keyPem: readFileSync(p.tlsKey(identity), 'utf8'),
    caPem: readFileSync(p.root, 'utf8'),
  };
}

export const READY_TIMEOUT_MS = 30_000;

const gateways = new Map<string, Promise<RunningDbgw>>();

/**
 * The dbgw project: the config with a [dbgw] table naming a dbgw of this state directory (one per
 * state directory for the test, so a restarted payserv finds the same one); payserv hands it DATABASE_URL.
 */
async function throughDbgw(file: string, stateDir: string): Promise<string> {
  let gw = gateways.get(stateDir);
  if (!gw) {
    gw = startTestDbgw(stateDir);
    gateways.set(stateDir, gw);
    onTestFinished(async () => {
      gateways.delete(stateDir);
      await (await gw)?.stop();
    });
  }
  const out = `${file}.dbgw.toml`;
  writeFileSync(
    out,
    `${readFileSync(file, 'utf8')}
[dbgw]
port = ${(await gw).server.port}
`,
  );
  return out;
}

/**
 * Starts payserv (`node bin/payserv.mjs --config FILE`, PAYSERV_STATE_DIR and DATABASE_URL in its
 * environment) and resolves once it listens. On PGlite no other process may hold <state dir>/db open.
 */
export async function startPayservProcess(o: {
  config: string;
  stateDir: string;
  databaseUrl: string | undefined;
  readyTimeoutMs?: number;
}): Promise<PayservChild> {
  const config = overDbgw() && o.databaseUrl ? await throughDbgw(o.config, o.stateDir) : o.config;
  const child = spawnNode(['bin/payserv.mjs', '--config', config], { PAYSERV_STATE_DIR: o.stateDir, DATABASE_URL: o.databaseUrl });
  let m: RegExpMatchArray;
  try {
    m = await child.waitForLine(/^payserv listening on (\S+):(\d+)$/, o.readyTimeoutMs ?? READY_TIMEOUT_MS);
  } catch (e) {
    await child.kill();
    throw e;
  }
  const clients: RpcClient[] = [];
  onTestFinished(() => {
    for (const c of clients.splice(0)) c.close();
  });
  return Object.assign(child, {
    host: m[1] as string,
    port: Number(m[2]),
    logs: () =>
      child
        .stderr()
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => {
          try {
            return JSON.parse(l) as Record<string, unknown>;
          } catch {
            return { raw: l };
          }
        }),
    client(identity: TlsIdentity, opts: ClientOptions = {}) {
      const c = new RpcClient({
        host: '127.0.0.1',
        port: Number(m[2]),
        tls: opts.tls ?? tlsOf(o.stateDir, identity),
        timeoutMs: opts.timeoutMs ?? 60_000,
        ...(opts.maxSockets !== undefined ? { maxSockets: opts.maxSockets } : {}),
      });
      clients.push(c);
      return c;
    },
  });
}

// ---- a ledger a payserv process can open ------------------------------------------------------------

export interface ProcessLedger {
  stateDir: string;
  /** PostgreSQL: the test database's URL (DATABASE_URL of the children); PGlite: undefined (<state dir>/db). */
  databaseUrl: string | undefined;
  trust: Trust;
  signers: { admin: Signer; autopay: Signer; payserv: Signer };
  /** Writes a config file `name` into the state directory (see writeConfig) and returns its path. */
  config(name: string, c?: PayservConfig): string;
  /** Starts a payserv child on this ledger with the named config file. */
  start(config: string): Promise<PayservChild>;
  /** Opens the database, runs fn, closes it. On PGlite no payserv child may be running meanwhile. */
  withDb<T>(fn: (db: Db) => Promise<T>): Promise<T>;
  /** Runs a check on `db` with this state directory's local checkpoints; one formatted line per problem. */
  check(db: Db, name: CheckName, args?: CheckArgs): Promise<string[]>;
}

let snapshot: Promise<Blob | undefined> | undefined;

function pgliteSnapshot(): Promise<Blob | undefined> {
  snapshot ??= (async () => {
    const file = inject('pgliteSnapshot');
    return file ? new Blob([new Uint8Array(await readFile(file))]) : undefined;
  })();
  return snapshot;
}

async function checkpointAll(db: Db, trust: Trust, local: LocalCheckpointStore, payserv: Signer): Promise<void> {
  await advanceAll(db, await openView(db, trust, local), payserv);
}

/**
 * A PKI in a temp state directory, a migrated database of this project's back end that a child can
 * open, the signer certificates registered, a seeded ledger (then `prepare`, e.g. more rows), and every
 * checkpoint advanced. Call inside a test: the directory and the database go when it finishes.
 */
export async function processLedger(
  seed: SeedOptions,
  prepare?: (db: Db, l: Pick<ProcessLedger, 'signers' | 'trust'>) => Promise<void>,
): Promise<ProcessLedger> {
  const stateDir = await tmpStateDir('payserv-proc-');
  await initPki(stateDir, { rootDays: 3650, leafDays: 825 });
  let databaseUrl: string | undefined;
  let open: () => Promise<Db>;
  if (backend() === 'postgres') {
    const t = await createPgDatabase();
    onTestFinished(() => t.drop());
    databaseUrl = t.url;
    open = () => openPostgres({ url: t.url, poolSize: 4, statementTimeoutMs: 30_000 });
  } else {
    const dataDir = join(stateDir, 'db');
    const snap = await pgliteSnapshot();
    let first = true;
    open = () => {
      const o = first && snap ? { dataDir, snapshot: snap } : { dataDir };
      first = false;
      return openPglite(o);
    };
  }
  const trust = loadTrust(stateDir);
  const signers = {
    admin: loadSigner(stateDir, 'admin'),
    autopay: loadSigner(stateDir, 'autopay'),
    payserv: loadSigner(stateDir, 'payserv'),
  };
  const local = new LocalCheckpointStore(stateDir);
  const withDb = async <T>(fn: (db: Db) => Promise<T>): Promise<T> => {
    const db = await open();
    try {
      return await fn(db);
    } finally {
      await db.close();
    }
  };
  await withDb(async (db) => {
    await migrate(db);
    for (const role of SIGNER_ROLES) await registerCert(db, trust, readFileSync(pkiPaths(stateDir).signerCert(role), 'utf8'));
    await seedLedger(db, signers, seed);
    if (prepare) await prepare(db, { signers, trust });
    await checkpointAll(db, trust, local, signers.payserv);
  });
  return {
    stateDir,
    databaseUrl,
    trust,
    signers,
    withDb,
    config: (name, c) => writeConfig(join(stateDir, name), c),
    start: (config) => startPayservProcess({ config, stateDir, databaseUrl }),
    async check(db, name, args = {}) {
      const out: string[] = [];
      await runCheck(await openView(db, trust, local), name, args, (p) => out.push(formatProblem(p)));
      return out;
    },
  };
}

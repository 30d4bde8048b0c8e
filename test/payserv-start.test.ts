// payserv's start, before the key ceremony: [keys] first (a store file that is missing or not a store, a
// manager off loopback: exit 2 naming the key, nothing bound, nobody asked), then the RPC port (a second payserv on a taken
// port exits naming host:port, and nobody is asked for a key), a configured node on another chain stops
// the start naming the coin, the configured and the node's value (no key request either), a node that
// does not answer is only a warning; while locked the port answers every connection with one line, and
// once unlocked the same port serves TLS. dbgw on a taken port exits naming it too.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startManager } from '../src/esman/manager.js';
import { coinItem, encodeCoinItem } from '../src/esman/items.js';
import { newMasterKey } from '../src/esman/master-key.js';
import { LOCKED_LINE } from '../src/app/locked-port.js';
import { RpcClient } from '../src/rpc/client.js';
import { processLedger, spawnNode, tlsOf, until, writeConfig, type ProcessLedger } from './support/spawn.js';
import { freePort } from './support/ports.js';
import { anvilForFile } from './support/chains.js';
import { storeFor } from './support/keystore.js';
import { backend } from './support/backend.js';
import { startTestDbgw } from './support/dbgw.js';

const SEED = { users: 2, blocks: 1, withdrawals: 1, coins: ['ETH'] };
const EXIT_MS = 60_000;
const anvil = anvilForFile();
const berlin = anvilForFile({ hardfork: 'berlin', chainId: 61 });

async function listening(server: Server, port = 0): Promise<number> {
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  onTestFinished(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as { port: number }).port;
}

/** A stand-in for esman manager that only counts who asked: a key request is a connection here. */
async function countingManager(): Promise<{ port: number; asked: () => number }> {
  let n = 0;
  const s = createServer((socket) => {
    n++;
    socket.destroy();
  });
  return { port: await listening(s), asked: () => n };
}

/** An Ethereum node that says it is on chain `chainId` (and answers nothing else). */
async function nodeOnChain(chainId: number): Promise<string> {
  const s = createHttpServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const { id } = JSON.parse(body) as { id: number };
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ jsonrpc: '2.0', id, result: `0x${chainId.toString(16)}` }));
    });
  });
  return `http://127.0.0.1:${await listening(s)}/`;
}

/**
 * payserv with [keys] store set, waiting for the key from a manager on `manager` (a port, or host:port).
 * The store is made (under a key nobody holds) unless it exists or `store` names another file.
 */
async function lockedPayserv(
  l: ProcessLedger,
  o: {
    port: number;
    manager: number | string;
    coins?: string;
    store?: string;
    name?: string;
    keys?: string;
    extra?: string;
    embedded?: boolean;
  },
) {
  // Each coin of `coins` paid automatically needs its hot-wallet item in the store.
  const hot = Object.fromEntries(
    [...(o.coins ?? '').matchAll(/^\[coins\.([A-Z0-9]+)\]/gm)].map(([, tag]) => [
      coinItem(tag as string),
      encodeCoinItem({ coin: tag as string, privateKey: randomBytes(32) }),
    ]),
  );
  const manager = typeof o.manager === 'number' ? `127.0.0.1:${o.manager}` : o.manager;
  if (!o.store && !existsSync(join(l.stateDir, 'storage.prod'))) await storeFor(l, newMasterKey(), hot);
  const config = writeConfig(join(l.stateDir, o.name ?? 'payserv.toml'), {
    port: o.port,
    extra: `[keys]\nstore = "${o.store ?? 'storage.prod'}"\nmanager = "${manager}"\nretry_ms = 100\n${o.keys ?? ''}${o.coins ?? ''}${o.extra ?? ''}`,
    ...(o.embedded !== undefined ? { embedded: o.embedded } : {}),
  });
  return spawnNode(['bin/payserv.mjs', '--config', config], { PAYSERV_STATE_DIR: l.stateDir });
}

/** Everything a connection to host:port receives until it is closed. */
function readAll(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const s = connect({ host: '127.0.0.1', port });
    s.setEncoding('utf8')
      .on('data', (d: string) => (text += d))
      .once('end', () => resolve(text))
      .once('error', reject);
  });
}

describe('payserv start, before the key', () => {
  it('a node on another chain id stops the start (exit 2) naming the coin, both values; no key was requested', async () => {
    const l = await processLedger(SEED);
    const manager = await countingManager();
    const node = await nodeOnChain(31337);
    const payserv = await lockedPayserv(l, {
      port: await freePort(),
      manager: manager.port,
      coins: `[coins.ETH]\nchain = "evm"\nnode_url = "${node}"\nchain_id = 1\n`,
    });
    expect(await payserv.waitExit(EXIT_MS), payserv.stderr()).toBe(2);
    expect(payserv.stderr()).toMatch(/\[coins\.ETH\] chain_id = 1, but the node at http:\/\/127\.0\.0\.1:\d+ is on chain_id 31337/);
    expect(payserv.stderr()).not.toContain('waiting for the key');
    expect(manager.asked()).toBe(0);
  }, 120_000);

  it('a fee mode the node contradicts (eip1559 against its latest block) stops the start (exit 2) naming the coin and the key; no key was requested', async () => {
    for (const [node, coin, expected] of [
      [
        (await anvil()).url,
        'chain_id = 31337\neip1559 = false',
        /\[coins\.ETH\] eip1559 = false, but the node's chain has a base fee .*no key was requested/,
      ],
      [
        (await berlin()).url,
        'chain_id = 61\neip1559 = true',
        /\[coins\.ETH\] eip1559 = true, but the node's latest block carries no base fee .*no key was requested/,
      ],
    ] as const) {
      const l = await processLedger(SEED);
      const manager = await countingManager();
      const payserv = await lockedPayserv(l, {
        port: await freePort(),
        manager: manager.port,
        coins: `[coins.ETH]\nchain = "evm"\nnode_url = "${node}"\n${coin}\n`,
      });
      expect(await payserv.waitExit(EXIT_MS), payserv.stderr()).toBe(2);
      expect(payserv.stderr()).toMatch(expected);
      expect(payserv.stderr()).not.toContain('waiting for the key');
      expect(manager.asked()).toBe(0);
    }
  }, 180_000);

  it('a node that does not answer is a warning: payserv goes on to ask for the key', async () => {
    const l = await processLedger(SEED);
    const manager = await countingManager();
    const payserv = await lockedPayserv(l, {
      port: await freePort(),
      manager: manager.port,
      coins: '[coins.ETH]\nchain = "evm"\nnode_url = "http://127.0.0.1:1/"\nchain_id = 1\n',
    });
    await until('payserv asks for the key', () => manager.asked() > 0, EXIT_MS);
    expect(payserv.stderr()).toContain('node not checked before the key request');
    expect(await payserv.stop('SIGTERM', EXIT_MS)).toBe(0);
  }, 120_000);

  it('[keys] store missing or not a store, [keys] manager off loopback: exit 2 naming the key (and the path), before the port and any key request', async () => {
    const l = await processLedger(SEED);
    const manager = await countingManager();
    await writeFile(join(l.stateDir, 'notes.txt'), 'not a store');
    const port = await freePort();
    const [missing, junk, remote] = await Promise.all([
      lockedPayserv(l, { port, manager: manager.port, store: 'storage.missing', name: 'missing.toml' }),
      lockedPayserv(l, { port, manager: manager.port, store: 'notes.txt', name: 'junk.toml' }),
      lockedPayserv(l, { port, manager: '192.0.2.2:7444', name: 'remote.toml' }),
    ]);
    for (const p of [missing, junk, remote]) {
      expect(await p.waitExit(EXIT_MS), p.stderr()).toBe(2);
      expect(p.stderr()).not.toContain('RPC port bound');
      expect(p.stderr()).not.toContain('waiting for the key');
    }
    const at = (name: string) => join(l.stateDir, name);
    expect(missing.stderr()).toContain(
      `payserv: [unreadable] [keys] store = "storage.missing": store ${at('storage.missing')} cannot be read: ENOENT (no key was requested)\n`,
    );
    expect(junk.stderr()).toContain(
      `payserv: [damaged_file] [keys] store = "notes.txt": ${at('notes.txt')} is not an esman store (no key was requested)\n`,
    );
    expect(remote.stderr()).toMatch(
      /^payserv: \[not_loopback\] \[keys\] manager 192\.0\.2\.2:7444: the key is handed over on loopback only \(127\.0\.0\.1 or ::1\) \(no key was requested\)$/m,
    );
    expect(manager.asked()).toBe(0);
  }, 120_000);

  it('a store without an item the configuration needs: exit 2 naming the items, before the port and any key request', async () => {
    const l = await processLedger(SEED);
    const manager = await countingManager();
    // The store holds payserv's own items only; [keys] admin = true needs the admin role's too.
    const p = await lockedPayserv(l, { port: await freePort(), manager: manager.port, keys: 'admin = true\n' });
    expect(await p.waitExit(EXIT_MS), p.stderr()).toBe(2);
    expect(p.stderr()).toContain(
      'payserv: [missing_item] [keys] store = "storage.prod" holds no admin.SIGN.CRT, admin.SIGN.KEY, which this configuration needs (no key was requested)\n',
    );
    expect(p.stderr()).not.toContain('RPC port bound');
    expect(manager.asked()).toBe(0);
  }, 120_000);

  it('[dashboard] listen with a store without the dashboard key (payserv.DASH.KEY): exit 2 naming it, before the port and any key request', async () => {
    const l = await processLedger(SEED);
    const manager = await countingManager();
    const p = await lockedPayserv(l, { port: await freePort(), manager: manager.port, extra: '[dashboard]\nlisten = "127.0.0.1:0"\n' });
    expect(await p.waitExit(EXIT_MS), p.stderr()).toBe(2);
    expect(p.stderr()).toContain('holds no payserv.DASH.KEY, which this configuration needs (no key was requested)\n');
    expect(manager.asked()).toBe(0);
  }, 120_000);

  it('no database named anywhere (no url, no [dbgw], no DB.JSON, not embedded): exit 2 before the port and any key request, nothing created', async () => {
    const l = await processLedger(SEED);
    const manager = await countingManager();
    // A store without DB.JSON (on PostgreSQL storeFor would add one), and no DATABASE_URL in the environment.
    await storeFor({ ...l, databaseUrl: undefined }, newMasterKey());
    await rm(join(l.stateDir, 'db'), { recursive: true, force: true });
    const p = await lockedPayserv(l, { port: await freePort(), manager: manager.port, embedded: false });
    expect(await p.waitExit(EXIT_MS), p.stderr()).toBe(2);
    expect(p.stderr()).toContain(
      'payserv: no database configured: set [database] url, [dbgw], a DB.JSON item in the store, or [database] embedded = true for development (no key was requested)\n',
    );
    expect(p.stderr()).not.toContain('RPC port bound');
    expect(manager.asked()).toBe(0);
    expect(existsSync(join(l.stateDir, 'db'))).toBe(false);
  }, 120_000);

  it('a state directory without its pinned root: exit 2 naming the file and where the directory comes from', async () => {
    const l = await processLedger(SEED);
    const config = writeConfig(join(l.stateDir, 'payserv.toml'));
    const missing = join(l.stateDir, 'nonexistent', 'x');
    const p = spawnNode(['bin/payserv.mjs', '--config', config], { PAYSERV_STATE_DIR: missing, DATABASE_URL: l.databaseUrl });
    expect(await p.waitExit(EXIT_MS), p.stderr()).toBe(2);
    expect(p.stderr()).toContain(`payserv: pinned root ${join(missing, 'pki', 'root.crt')}: `);
    expect(p.stderr()).toContain(
      `payserv reads it from its state directory ${missing} (state_dir in ${config}, --state-dir or $PAYSERV_STATE_DIR)`,
    );
    expect(existsSync(missing)).toBe(false);
  }, 120_000);

  it('a taken RPC port: exit 3 naming host:port, before any key request', async () => {
    const l = await processLedger(SEED);
    const manager = await countingManager();
    const port = await listening(createServer());
    const payserv = await lockedPayserv(l, { port, manager: manager.port });
    expect(await payserv.waitExit(EXIT_MS), payserv.stderr()).toBe(3);
    expect(payserv.stderr()).toContain(`payserv: cannot listen on 127.0.0.1:${port}: the port is in use (another payserv running?)`);
    expect(manager.asked()).toBe(0);
  }, 120_000);

  it('locked: each connection gets exactly the locked line and is closed; unlocked, the same port serves TLS', async () => {
    const l = await processLedger(SEED);
    const master = newMasterKey();
    await storeFor(l, master);
    const [port, managerPort] = [await freePort(), await freePort()];
    const payserv = await lockedPayserv(l, { port, manager: managerPort });
    await until('payserv waits for the key', () => payserv.stderr().includes('waiting for the key from esman manager'), EXIT_MS);
    expect(await Promise.all([readAll(port), readAll(port)])).toEqual([LOCKED_LINE, LOCKED_LINE]);
    expect(LOCKED_LINE).toBe('{"service":"payserv","state":"locked","waiting_for":"esman manager"}\n');

    const manager = await startManager({
      master,
      host: '127.0.0.1',
      port: managerPort,
      count: 1,
      say: () => undefined,
      ask: async () => true,
    });
    await manager.done;
    await payserv.waitForLine(new RegExp(`^payserv listening on 127\\.0\\.0\\.1:${port}$`), EXIT_MS);
    const client = new RpcClient({ host: '127.0.0.1', port, tls: tlsOf(l.stateDir, 'pscli'), timeoutMs: 30_000 });
    try {
      expect((await client.call<{ enabled: boolean }>('Utils.Status')).enabled).toBe(false);
    } finally {
      client.close();
    }
    expect(await payserv.stop('SIGTERM', EXIT_MS)).toBe(0);
  }, 120_000);
});

const WAITING = 'dbgw or the database is unreachable: payserv keeps its key and tries again';

/** payserv with [dbgw] on a port nobody listens on, handed its key by a manager (which succeeds); once it retries dbgw. */
async function keyHeldDbgwDown(
  l: ProcessLedger,
): Promise<{ payserv: Awaited<ReturnType<typeof lockedPayserv>>; port: number; dbgwPort: number }> {
  const master = newMasterKey();
  await storeFor(l, master);
  const [port, managerPort, dbgwPort] = [await freePort(), await freePort(), await freePort()];
  const payserv = await lockedPayserv(l, { port, manager: managerPort, extra: `[dbgw]\nport = ${dbgwPort}\ntimeout_ms = 5000\n` });
  await until('payserv waits for the key', () => payserv.stderr().includes('waiting for the key from esman manager'), EXIT_MS);
  const manager = await startManager({
    master,
    host: '127.0.0.1',
    port: managerPort,
    count: 1,
    say: () => undefined,
    ask: async () => true,
  });
  // The hand-over succeeds: payserv took the key, whatever dbgw's state.
  await manager.done;
  await until('payserv retries dbgw', () => payserv.stderr().includes(WAITING), EXIT_MS);
  return { payserv, port, dbgwPort };
}

describe('payserv holding its key, dbgw down', () => {
  it('SIGTERM ends the wait for dbgw: exit 0, saying the key was received and the data access never answered', async () => {
    const { payserv } = await keyHeldDbgwDown(await processLedger(SEED));
    expect(await payserv.stop('SIGTERM', EXIT_MS)).toBe(0);
    expect(payserv.stderr()).toContain('stopped before start: the key was received, the data access never answered');
  }, 120_000);

  it.runIf(backend() === 'postgres')(
    'waits for dbgw (a warning per attempt, no password), then comes up with no second key ceremony',
    async () => {
      const l = await processLedger(SEED);
      const { payserv, port, dbgwPort } = await keyHeldDbgwDown(l);
      await until('payserv retries dbgw again', () => payserv.stderr().split(WAITING).length > 2, EXIT_MS);
      expect(payserv.exit()).toBeNull();
      expect(payserv.stdout()).not.toMatch(/listening/);
      const gw = await startTestDbgw(l.stateDir, (c) => void (c.rpc.port = dbgwPort));
      try {
        await payserv.waitForLine(new RegExp(`^payserv listening on 127\\.0\\.0\\.1:${port}$`), EXIT_MS);
        const client = new RpcClient({ host: '127.0.0.1', port, tls: tlsOf(l.stateDir, 'pscli'), timeoutMs: 30_000 });
        try {
          expect((await client.call<{ clean: boolean }>('Check.BalanceErrors')).clean).toBe(true);
        } finally {
          client.close();
        }
        const attempts = payserv
          .stderr()
          .split('\n')
          .filter((s) => s.includes(WAITING))
          .map((s) => JSON.parse(s) as { level: number; attempt: number; err: string });
        expect(attempts[0]).toMatchObject({ level: 40, attempt: 1, err: expect.stringMatching(/connection refused/) });
        const password = new URL(l.databaseUrl as string).password;
        if (password) expect(payserv.stderr()).not.toContain(password);
        expect(await payserv.stop('SIGTERM', EXIT_MS)).toBe(0);
      } finally {
        await gw.stop();
      }
    },
    180_000,
  );
});

describe('dbgw start', () => {
  it('a taken port: exit 3 naming host:port', async () => {
    const l = await processLedger(SEED);
    const port = await listening(createServer());
    const config = join(l.stateDir, 'dbgw.toml');
    await writeFile(config, `[rpc]\nhost = "127.0.0.1"\nport = ${port}\n`);
    const dbgw = spawnNode(['bin/dbgw.mjs', '--config', config], { PAYSERV_STATE_DIR: l.stateDir });
    expect(await dbgw.waitExit(EXIT_MS), dbgw.stderr()).toBe(3);
    expect(dbgw.stderr()).toContain(`dbgw: cannot listen on 127.0.0.1:${port}: the port is in use (another dbgw running?)`);
  }, 120_000);
});

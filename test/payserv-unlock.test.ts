// payserv in production mode: [keys] store set, so it starts locked, asks esman manager for the master
// key on loopback (retrying while none answers or an operator refuses), and takes its signing key, TLS
// pair and (on PostgreSQL) the database URL from the store; its plain key files are gone.
import { randomBytes } from 'node:crypto';
import { privateKeyToAddress } from 'viem/accounts';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { coinItem, encodeCoinItem } from '../src/esman/items.js';
import { startManager, type Manager } from '../src/esman/manager.js';
import { newMasterKey } from '../src/esman/master-key.js';
import { KeyStore } from '../src/esman/store-file.js';
import { backend } from './support/backend.js';
import { processLedger, spawnNode, tlsOf, until, writeConfig, type ProcessLedger } from './support/spawn.js';
import { freePort } from './support/ports.js';
import { storeFor } from './support/keystore.js';
import { RpcClient } from '../src/rpc/client.js';

const SEED = { users: 4, blocks: 2, withdrawals: 2, coins: ['ETH'] };

function startLocked(l: ProcessLedger, port: number, metricsPort?: number) {
  const config = writeConfig(join(l.stateDir, 'payserv.toml'), {
    extra:
      `[keys]\nstore = "storage.prod"\nmanager = "127.0.0.1:${port}"\nretry_ms = 100\n` +
      (metricsPort ? `[metrics]\nlisten = "127.0.0.1:${metricsPort}"\n` : ''),
  });
  // No DATABASE_URL: on PostgreSQL the URL comes from the store.
  return spawnNode(['bin/payserv.mjs', '--config', config], { PAYSERV_STATE_DIR: l.stateDir });
}

const messages = (stderr: string) =>
  stderr
    .split('\n')
    .filter((s) => s.startsWith('{'))
    .map((s) => JSON.parse(s) as { msg: string; reason?: string });

describe('payserv unlocked by esman manager', () => {
  it('waits for the manager, is refused once, then opens the store and serves with the keys from it', async () => {
    const l = await processLedger(SEED);
    const master = newMasterKey();
    await storeFor(l, master);
    const port = await freePort();
    const metricsPort = await freePort();
    const payserv = startLocked(l, port, metricsPort);
    const health = async () => {
      const r = await fetch(`http://127.0.0.1:${metricsPort}/health`);
      return { http: r.status, ...((await r.json()) as { status: string }) };
    };
    // No manager yet: payserv keeps asking and does not listen.
    await until('payserv says it waits', () => messages(payserv.stderr()).some((m) => /ECONNREFUSED/.test(m.reason ?? '')), 30_000);
    expect(payserv.stdout()).not.toMatch(/listening/);
    // Its health listener does, before the key: locked.
    expect(await health()).toMatchObject({ http: 503, status: 'locked' });

    const answers = [false, true];
    const asked: string[] = [];
    let manager: Manager | undefined;
    try {
      manager = await startManager({
        master,
        host: '127.0.0.1',
        port,
        count: 1,
        say: () => undefined,
        ask: async (peer, fp) => (asked.push(fp), answers.shift() ?? false),
      });
      const [, host, p] = await payserv.waitForLine(/^payserv listening on (\S+):(\d+)$/, 30_000);
      await manager.done;
      expect(asked).toHaveLength(2);
      const log = messages(payserv.stderr());
      expect(log.some((m) => m.reason === 'the manager refused: refused by the operator')).toBe(true);
      // The fingerprint the operator was shown is the one payserv logged for the request that was allowed.
      expect(payserv.stderr()).toContain(asked[1]);
      expect(log.some((m) => m.msg.startsWith('key received from esman manager'))).toBe(true);
      expect(log.some((m) => /plain files/.test(m.msg))).toBe(false);

      // Its TLS key (server side) and database came from the store: an operator's call works.
      const client = new RpcClient({ host: host!, port: Number(p), tls: tlsOf(l.stateDir, 'pscli'), timeoutMs: 30_000 });
      try {
        const status = await client.call<{ enabled: boolean }>('Utils.Status');
        expect(status.enabled).toBe(false);
        // Unlocked, and disabled until an operator enables it; enabled, ready.
        expect(await health()).toMatchObject({ http: 503, status: 'disabled' });
        await client.call('Utils.Enable');
        expect(await health()).toMatchObject({ http: 200, status: 'ready' });
        const scraped = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
        expect(scraped).toMatch(/^payserv_withdrawals\{coin="ETH",status="\w+"\} \d+$/m);
        expect(scraped).toMatch(/^payserv_enabled 1$/m);
        expect((await client.call<{ clean: boolean }>('Check.BalanceErrors')).clean).toBe(true);
      } finally {
        client.close();
      }
    } finally {
      await manager?.close();
    }
    expect(await payserv.stop()).toBe(0);
  }, 120_000);

  it('refuses a key that does not open its store, tells the manager why, keeps asking, and stops cleanly while locked', async () => {
    const l = await processLedger(SEED);
    await storeFor(l, newMasterKey());
    const port = await freePort();
    const payserv = startLocked(l, port);
    // An impostor on the manager's port: a well-formed hand-over of another key.
    const impostor = await startManager({
      master: newMasterKey(),
      host: '127.0.0.1',
      port,
      count: 1,
      say: () => undefined,
      ask: async () => true,
    });
    // The manager is told, with payserv's code and reason, instead of counting the key as handed over.
    await expect(impostor.done).rejects.toThrow(
      /^payserv at 127\.0\.0\.1:\d+ refused the key: \[wrong_key\] .*storage\.prod is sealed under key [0-9a-f]{16}, not under this key/,
    );
    await until(
      'payserv refuses the key',
      () => messages(payserv.stderr()).some((m) => /was refused: .*sealed under key/.test(m.reason ?? '')),
      30_000,
    );
    expect(payserv.stdout()).not.toMatch(/listening/);
    expect(await payserv.stop('SIGTERM', 30_000)).toBe(0);
    expect(messages(payserv.stderr()).some((m) => m.msg === 'stopped before start: no key was received')).toBe(true);
  }, 120_000);

  it('refuses node credentials named from a store when no store is configured', async () => {
    const l = await processLedger(SEED);
    const config = writeConfig(join(l.stateDir, 'payserv.toml'), {
      extra: '[coins.ZEC]\nchain = "zcash"\nnode_url = "http://127.0.0.1:1/"\nnode_auth_item = "ZEC.RPC.JSON"\n',
    });
    const payserv = spawnNode(['bin/payserv.mjs', '--config', config], { PAYSERV_STATE_DIR: l.stateDir, DATABASE_URL: l.databaseUrl });
    expect(await payserv.waitExit(60_000)).not.toBe(0);
    expect(payserv.stderr()).toMatch(/\[coins\.ZEC\] node_auth_item names a store item, but \[keys\] store is not set/);
    expect(payserv.stdout()).not.toMatch(/listening/);
  }, 120_000);

  it("refuses a store whose hot-wallet item names another address than its key's", async () => {
    const l = await processLedger(SEED);
    const master = newMasterKey();
    await storeFor(l, master);
    const store = await KeyStore.open(join(l.stateDir, 'storage.prod'), master);
    // The key of one wallet beside the address of another: paying from it would not be what the operator funded.
    store.set(
      coinItem('ETH'),
      encodeCoinItem({ coin: 'ETH', privateKey: randomBytes(32), address: privateKeyToAddress(`0x${randomBytes(32).toString('hex')}`) }),
    );
    await store.save(master);
    store.close();
    const port = await freePort();
    const config = writeConfig(join(l.stateDir, 'payserv.toml'), {
      extra: `[keys]\nstore = "storage.prod"\nmanager = "127.0.0.1:${port}"\nretry_ms = 100\n[coins.ETH]\nchain = "evm"\nnode_url = "http://127.0.0.1:1/"\nchain_id = 1\n`,
    });
    const payserv = spawnNode(['bin/payserv.mjs', '--config', config], { PAYSERV_STATE_DIR: l.stateDir });
    const manager = await startManager({ master, host: '127.0.0.1', port, count: 1, say: () => undefined, ask: async () => true });
    await expect(manager.done).rejects.toThrow(
      /refused the key: \[bad_item\] store item Coin\.ETH\.JSON: its address 0x[0-9a-fA-F]{40} is not its key's/,
    );
    await until(
      'payserv refuses the store',
      () => messages(payserv.stderr()).some((m) => /Coin\.ETH\.JSON: its address 0x[0-9a-fA-F]{40} is not its key's/.test(m.reason ?? '')),
      30_000,
    );
    expect(payserv.stdout()).not.toMatch(/listening/);
    expect(await payserv.stop('SIGTERM', 30_000)).toBe(0);
  }, 120_000);

  it.runIf(backend() === 'postgres')(
    'refuses a database named both in its configuration and in the store before asking for the key (exit 2), and changes nothing',
    async () => {
      const l = await processLedger(SEED);
      const master = newMasterKey();
      const storePath = await storeFor(l, master);
      const before = await readFile(storePath);
      const port = await freePort();
      const config = writeConfig(join(l.stateDir, 'payserv.toml'), {
        extra: `[keys]\nstore = "storage.prod"\nmanager = "127.0.0.1:${port}"\nretry_ms = 100\n`,
      });
      const payserv = spawnNode(['bin/payserv.mjs', '--config', config], { PAYSERV_STATE_DIR: l.stateDir, DATABASE_URL: l.databaseUrl });
      expect(await payserv.waitExit(60_000)).toBe(2);
      expect(payserv.stderr()).toMatch(
        /the database is named twice, in \[database\] url \(or DATABASE_URL\) and in the store's DB\.JSON: keep one \(no key was requested\)/,
      );
      expect(payserv.stdout()).not.toMatch(/listening/);
      expect(await readFile(storePath)).toEqual(before);
    },
    120_000,
  );
});

// The intake executable: `node bin/intake.mjs --config FILE` on a development state directory starts,
// says its keys are plain files, and answers the pool's back end over mutual TLS; with [keys] store it
// starts locked and runs on the keys esman manager's key opens; a bad configuration exits 2 naming the key.
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { INTAKE_VERSION } from '../src/api/intake.js';
import { DATABASE_ITEM, signerItems, tlsItems } from '../src/esman/items.js';
import { startManager } from '../src/esman/manager.js';
import { newMasterKey } from '../src/esman/master-key.js';
import { pkiPaths } from '../src/esman/pki-files.js';
import { KeyStore } from '../src/esman/store-file.js';
import { RpcClient } from '../src/rpc/client.js';
import { zcashAddress } from './support/chains.js';
import { freePort } from './support/ports.js';
import { tmpStateDir } from './support/tmp.js';
import { processLedger, spawnNode, tlsOf, type ProcessLedger } from './support/spawn.js';

const SEED = { users: 2, blocks: 1, withdrawals: 1, coins: ['ETH'] };
const READY = /^intake listening on (\S+):(\d+)$/;

function intakeConfig(l: ProcessLedger, extra = ''): string {
  const file = join(l.stateDir, 'intake.toml');
  // On PGlite no url names the database: the development opt-in (on PostgreSQL DATABASE_URL or DB.JSON does).
  writeFileSync(file, `[rpc]\nport = 0\n[database]\nembedded = true\n${extra}`);
  return file;
}

async function version(l: ProcessLedger, port: number) {
  const client = new RpcClient({ host: '127.0.0.1', port, tls: tlsOf(l.stateDir, 'backend'), serverIdentity: 'intake', timeoutMs: 30_000 });
  try {
    return await client.call('Utils.Version');
  } finally {
    client.close();
  }
}

/** The intake's store: the admin and autopay signers, its TLS pair, the database; the plain key files then removed. */
async function intakeStore(l: ProcessLedger, master: Uint8Array): Promise<void> {
  const p = pkiPaths(l.stateDir);
  const store = KeyStore.empty(join(l.stateDir, 'intake.store'));
  for (const role of ['admin', 'autopay'] as const) {
    store.set(signerItems(role).cert, await readFile(p.signerCert(role)));
    store.set(signerItems(role).key, await readFile(p.signerKey(role)));
  }
  store.set(tlsItems('intake').cert, await readFile(p.tlsCert('intake')));
  store.set(tlsItems('intake').key, await readFile(p.tlsKey('intake')));
  if (l.databaseUrl) store.set(DATABASE_ITEM, Buffer.from(JSON.stringify({ url: l.databaseUrl })));
  await store.save(master);
  for (const f of [p.signerKey('admin'), p.signerKey('autopay'), p.tlsKey('intake')]) rmSync(f);
}

/** Each test builds a ledger and starts a process: on a busy shared machine that outlasts the default 30 s. */
const SLOW_MS = 120_000;

describe('the intake executable', () => {
  it(
    'starts on a development state directory, warns of its plain key files, and answers Utils.Version over mutual TLS',
    async () => {
      const l = await processLedger(SEED);
      const child = spawnNode(['bin/intake.mjs', '--config', intakeConfig(l)], {
        PAYSERV_STATE_DIR: l.stateDir,
        DATABASE_URL: l.databaseUrl,
      });
      const [, , port] = await child.waitForLine(READY, 30_000);
      expect(await version(l, Number(port))).toEqual(INTAKE_VERSION);
      expect(child.stderr()).toMatch(/keys read from plain files/);
      expect(await child.stop('SIGTERM', 30_000)).toBe(0);
    },
    SLOW_MS,
  );

  it(
    'with [keys] store, starts locked and runs on the keys esman manager hands over',
    async () => {
      const l = await processLedger(SEED);
      const master = newMasterKey();
      await intakeStore(l, master);
      const port = await freePort();
      const config = intakeConfig(l, `[keys]\nstore = "intake.store"\nmanager = "127.0.0.1:${port}"\nretry_ms = 100\n`);
      // No DATABASE_URL: on PostgreSQL the database comes from the store's DB.JSON.
      const child = spawnNode(['bin/intake.mjs', '--config', config], { PAYSERV_STATE_DIR: l.stateDir });
      const manager = await startManager({ master, host: '127.0.0.1', port, count: 1, say: () => undefined, ask: async () => true });
      const [, , rpcPort] = await child.waitForLine(READY, 30_000);
      await manager.done;
      expect(await version(l, Number(rpcPort))).toEqual(INTAKE_VERSION);
      expect(child.stderr()).toMatch(/the intake is locked: waiting for the key from esman manager/);
      expect(child.stderr()).not.toMatch(/plain files/);
      expect(await child.stop('SIGTERM', 30_000)).toBe(0);
    },
    SLOW_MS,
  );

  it(
    'exits 2 on a bad configuration, naming the key: a review word, a zcash pool address of the other network',
    async () => {
      const l = await processLedger(SEED);
      const bad = spawnNode(['bin/intake.mjs', '--config', intakeConfig(l, '[wallets]\nreview = "sometimes"\n')], {
        PAYSERV_STATE_DIR: l.stateDir,
      });
      expect(await bad.waitExit(30_000)).toBe(2);
      expect(bad.stderr()).toMatch(/wallets\.review: expected "auto" or "manual"/);
      // A pool address of the other network: found before any key is asked for.
      const coin = `[coins.ZEC]\nchain = "zcash"\nfirst_height = 0\nnode_url = "http://127.0.0.1:1"\nnetwork = "testnet"\npool_address = "${zcashAddress()}"\n`;
      const zcash = spawnNode(['bin/intake.mjs', '--config', intakeConfig(l, coin)], { PAYSERV_STATE_DIR: l.stateDir });
      expect(await zcash.waitExit(30_000)).toBe(2);
      expect(zcash.stderr()).toMatch(/coins\.ZEC: .*not a transparent testnet address/);
      // No database named and no development opt-in: refused, and no embedded database made.
      const file = join(l.stateDir, 'nodb.toml');
      writeFileSync(file, '[rpc]\nport = 0\n');
      const before = readdirSync(l.stateDir, { recursive: true }).sort();
      const nodb = spawnNode(['bin/intake.mjs', '--config', file], { PAYSERV_STATE_DIR: l.stateDir });
      expect(await nodb.waitExit(30_000)).toBe(2);
      expect(nodb.stderr()).toContain('no database configured: set [database] url, a DB.JSON item in the store');
      expect(readdirSync(l.stateDir, { recursive: true }).sort()).toEqual(before);
      // A state directory without its pinned root: a deployment step not done, named (exit 2).
      const bare = await tmpStateDir();
      writeFileSync(join(bare, 'intake.toml'), '[rpc]\nport = 0\n[database]\nembedded = true\n');
      const noRoot = spawnNode(['bin/intake.mjs', '--config', join(bare, 'intake.toml')], { PAYSERV_STATE_DIR: bare });
      expect(await noRoot.waitExit(30_000)).toBe(2);
      expect(noRoot.stderr()).toMatch(/^intake: pinned root .*root\.crt.*; intake reads it from its state directory /m);
    },
    SLOW_MS,
  );
});

// pscli hotwallet rotate: the new key made inside esman's store (or a development key file), only its
// address printed (a Bitcoin-family coin's in the network payserv's configuration gives it); refused with no
// store, for an unknown coin, a coin paid by hand, and while a rotation is pending; --finish only once
// payserv's host record says the sweep to it is final.
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { expect, it } from 'vitest';
import { DEMO_MARKER } from '../src/demo/state-dir.js';
import { coinItem, encodeCoinItem, nextCoinItem, parseCoinItem } from '../src/esman/items.js';
import { newMasterKey } from '../src/esman/master-key.js';
import { unlockShares, writeShares } from '../src/esman/shares.js';
import { KeyStore } from '../src/esman/store-file.js';
import { hotKeyPath, hotWalletAddress, loadHotKey, nextHotKeyPath } from '../src/keys/hot-wallet.js';
import { rotationPath } from '../src/payserv/rotation.js';
import { btcWalletAddress } from '../src/chains/btc/driver.js';
import { preset } from '../src/chains/btc/network.js';
import { describeOncePerSuite } from './support/backend.js';
import { runPscli } from './support/pscli.js';
import { tmpStateDir } from './support/tmp.js';

const PASS = ['rotate-phrase-0001', 'rotate-phrase-0002'];
const KDF = { log2N: 10, r: 8, p: 1 };

/** payserv's host record of a final sweep to `to` (what payserv writes once the chain made it final). */
function finalRecord(stateDir: string, to: string, coin = 'ETH'): void {
  const path = rotationPath(stateDir, coin);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify({ phase: 'final', to, attempt: { hash: `0x${'ab'.repeat(32)}` } }));
}

/** Shares (2 of 2) and a store of `items`, in `root`. */
async function shareStore(root: string, items: Record<string, Buffer>): Promise<{ dir: string; storage: string }> {
  const dir = join(root, 'shares');
  const storage = join(root, 'store.esm');
  const master = newMasterKey();
  await writeShares(dir, master, { shares: 2, threshold: 2, kdf: KDF }, async (i) => Buffer.from(PASS[i - 1]!, 'utf8'));
  const store = KeyStore.empty(storage);
  for (const [name, value] of Object.entries(items)) store.set(name, value);
  await store.save(master);
  store.close();
  master.fill(0);
  return { dir, storage };
}

async function openStore(dir: string, storage: string): Promise<KeyStore> {
  const answers = [...PASS];
  const u = await unlockShares(dir, async () => answers.shift() ?? null);
  try {
    return await KeyStore.open(storage, u.master);
  } finally {
    u.master.fill(0);
  }
}

/** The passphrases on a file descriptor, as an automation passes them. */
function passFd(root: string): string {
  const file = join(root, `pass-${randomBytes(4).toString('hex')}`);
  writeFileSync(file, PASS.map((p) => `${p}\n`).join(''), { mode: 0o600 });
  return String(openSync(file, 'r'));
}

describeOncePerSuite('pscli hotwallet rotate', () => {
  it('development state directory: the next key file, pending refused, finish only on a final sweep', async () => {
    const dir = await tmpStateDir();
    writeFileSync(join(dir, DEMO_MARKER), 'made by the demo\n');
    const env = { PAYSERV_STATE_DIR: dir };
    const none = await runPscli(['hotwallet', 'rotate', '--coin', 'ETH'], env);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/ETH has no hot wallet/);
    expect((await runPscli(['hotwallet', 'init', '--coin', 'ETH'], env)).code).toBe(0);
    const oldKey = readFileSync(hotKeyPath(dir, 'ETH'), 'utf8');

    const made = await runPscli(['hotwallet', 'rotate', '--coin', 'ETH', '--json'], env);
    expect(made.code).toBe(0);
    const next = hotWalletAddress('ETH', await loadHotKey(dir, 'ETH', nextHotKeyPath(dir, 'ETH')));
    expect(JSON.parse(made.stdout)).toMatchObject({ coin: 'ETH', address: next, finished: false });
    expect(statSync(nextHotKeyPath(dir, 'ETH')).mode & 0o777).toBe(0o600);
    const nextHex = (JSON.parse(readFileSync(nextHotKeyPath(dir, 'ETH'), 'utf8')) as { privateKey: string }).privateKey;
    expect(made.stdout + made.stderr).not.toContain(nextHex);

    const again = await runPscli(['hotwallet', 'rotate', '--coin', 'ETH'], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/a rotation of ETH is already pending/);
    const early = await runPscli(['hotwallet', 'rotate', '--coin', 'ETH', '--finish'], env);
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(/is not final in .*\(no sweep recorded\)/);
    expect(readFileSync(hotKeyPath(dir, 'ETH'), 'utf8')).toBe(oldKey);

    finalRecord(dir, next);
    const done = await runPscli(['hotwallet', 'rotate', '--coin', 'ETH', '--finish'], env);
    expect(done.code).toBe(0);
    expect(hotWalletAddress('ETH', await loadHotKey(dir, 'ETH'))).toBe(next);
    expect(existsSync(nextHotKeyPath(dir, 'ETH'))).toBe(false);
    const retired = readdirSync(join(dir, 'wallets')).filter((f) => /^ETH\.retired-\d{8}T\d{6}\.key$/.test(f));
    expect(retired).toHaveLength(1);
    expect(readFileSync(join(dir, 'wallets', retired[0]!), 'utf8')).toBe(oldKey);
    expect(existsSync(rotationPath(dir, 'ETH'))).toBe(false);
  });

  it('Zcash and a Bitcoin-family coin (LTC, as payserv.toml configures it): the next key and its address, finish on a final sweep', async () => {
    const dir = await tmpStateDir();
    writeFileSync(join(dir, DEMO_MARKER), 'made by the demo\n');
    const env = { PAYSERV_STATE_DIR: dir };
    expect((await runPscli(['hotwallet', 'init', '--coin', 'ZEC'], env)).code).toBe(0);
    const zec = await runPscli(['hotwallet', 'rotate', '--coin', 'ZEC', '--json'], env);
    expect(zec.code, zec.stderr).toBe(0);
    const zecNext = hotWalletAddress('ZEC', await loadHotKey(dir, 'ZEC', nextHotKeyPath(dir, 'ZEC')));
    expect(JSON.parse(zec.stdout)).toMatchObject({ coin: 'ZEC', address: zecNext, finished: false });
    expect(zecNext).toMatch(/^t1/);

    // LTC has no family by its tag: without payserv's [coins.LTC] it is paid by hand.
    const manual = await runPscli(['hotwallet', 'rotate', '--coin', 'LTC'], env);
    expect(manual.code).toBe(2);
    expect(manual.stderr).toMatch(/paid by an operator/);
    writeFileSync(
      join(dir, 'payserv.toml'),
      ['[coins.LTC]', 'chain = "btc"', 'node_url = "http://127.0.0.1:1"', '[coins.LTC.network]', 'preset = "LTC-regtest"', ''].join('\n'),
    );
    writeFileSync(hotKeyPath(dir, 'LTC'), JSON.stringify({ coin: 'LTC', privateKey: randomBytes(32).toString('hex') }), { mode: 0o600 });
    const ltc = await runPscli(['hotwallet', 'rotate', '--coin', 'LTC', '--json'], env);
    expect(ltc.code, ltc.stderr).toBe(0);
    const key = await loadHotKey(dir, 'LTC', nextHotKeyPath(dir, 'LTC'));
    const ltcNext = btcWalletAddress(preset('LTC-regtest'), 'p2wpkh', key);
    expect(JSON.parse(ltc.stdout)).toMatchObject({ coin: 'LTC', address: ltcNext, finished: false });
    expect(ltcNext).toMatch(/^rltc1/);
    finalRecord(dir, ltcNext, 'LTC');
    const done = await runPscli(['hotwallet', 'rotate', '--coin', 'LTC', '--finish'], env);
    expect(done.code, done.stderr).toBe(0);
    expect(Buffer.from(await loadHotKey(dir, 'LTC')).equals(Buffer.from(key))).toBe(true);
  });

  it('refused: a coin paid by hand, a production state directory without the store', async () => {
    const dir = await tmpStateDir();
    const env = { PAYSERV_STATE_DIR: dir };
    const manual = await runPscli(['hotwallet', 'rotate', '--coin', 'BTC'], env);
    expect(manual.code).toBe(2);
    expect(manual.stderr).toMatch(/paid by an operator/);
    const noStore = await runPscli(['hotwallet', 'rotate', '--coin', 'ETH'], env);
    expect(noStore.code).toBe(2);
    expect(noStore.stderr).toMatch(/made inside the key store: pscli hotwallet rotate --coin ETH --dir D --storage FILE/);
    expect(existsSync(join(dir, 'wallets'))).toBe(false);
  });

  it('in the store: Coin.ETH.NEXT.JSON made inside, its key never printed; pending and unknown refused; finish swaps and keeps the old', async () => {
    const root = await tmpStateDir();
    const env = { PAYSERV_STATE_DIR: root };
    const oldKey = new Uint8Array(randomBytes(32));
    const oldAddress = hotWalletAddress('ETH', oldKey);
    const { dir, storage } = await shareStore(root, {
      [coinItem('ETH')]: encodeCoinItem({ coin: 'ETH', privateKey: oldKey, address: oldAddress }),
    });
    const args = ['hotwallet', 'rotate', '--coin', 'ETH', '--dir', dir, '--storage', storage, '--json'];
    const made = await runPscli([...args, '--passphrase-fd', passFd(root)], env);
    expect(made.code, made.stderr).toBe(0);
    const { address } = JSON.parse(made.stdout) as { address: string };
    let store = await openStore(dir, storage);
    const item = parseCoinItem(store.get(nextCoinItem('ETH')), nextCoinItem('ETH'), 'ETH');
    store.close();
    expect(hotWalletAddress('ETH', item.privateKey)).toBe(address);
    expect(item.address).toBe(address);
    expect(made.stdout + made.stderr).not.toContain(Buffer.from(item.privateKey).toString('hex'));

    const before = readFileSync(storage);
    const pending = await runPscli([...args, '--passphrase-fd', passFd(root)], env);
    expect(pending.code).toBe(1);
    expect(pending.stderr).toMatch(/already pending \(Coin\.ETH\.NEXT\.JSON/);
    const unknown = await runPscli(['hotwallet', 'rotate', '--coin', 'ETC', '--dir', dir, '--storage', storage], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/has no Coin\.ETC\.JSON: nothing to rotate/);
    expect(readFileSync(storage).equals(before)).toBe(true);

    finalRecord(root, address);
    const done = await runPscli([...args, '--finish', '--passphrase-fd', passFd(root)], env);
    expect(done.code, done.stderr).toBe(0);
    store = await openStore(dir, storage);
    try {
      const names = store.list().map((i) => i.name);
      expect(names).not.toContain(nextCoinItem('ETH'));
      const now = parseCoinItem(store.get(coinItem('ETH')), coinItem('ETH'), 'ETH');
      expect(hotWalletAddress('ETH', now.privateKey)).toBe(address);
      const retired = names.filter((n) => /^Coin\.ETH\.RETIRED\.\d{8}T\d{6}\.JSON$/.test(n));
      expect(retired).toHaveLength(1);
      expect(parseCoinItem(store.get(retired[0]!), retired[0]!, 'ETH').address).toBe(oldAddress);
    } finally {
      store.close();
    }

    // A --finish cut after the store's save, before the record's move: the record is still there, final, to the hot
    // wallet of now. Run again, --finish moves it aside (nothing else changes); a record to any other address is not that case.
    const saved = readFileSync(storage);
    finalRecord(root, oldAddress);
    const other = await runPscli([...args, '--finish', '--passphrase-fd', passFd(root)], env);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/no rotation of ETH is pending/);
    expect(existsSync(rotationPath(root, 'ETH'))).toBe(true);
    finalRecord(root, address);
    const resumed = await runPscli([...args, '--finish', '--passphrase-fd', passFd(root)], env);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ address, finished: true });
    expect(existsSync(rotationPath(root, 'ETH'))).toBe(false);
    expect(readFileSync(storage).equals(saved)).toBe(true);
  });
});

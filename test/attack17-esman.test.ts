// Attack (issue 17): `esman delete` of a funded hot wallet.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startAnvil, setBalance, type Anvil } from '../src/devnet/anvil.js';
import { startZcashStandin, type ZcashStandin } from '../src/devnet/zcash-standin.js';
import { encodeCoinItem } from '../src/esman/items.js';
import { newMasterKey } from '../src/esman/master-key.js';
import { writeShares } from '../src/esman/shares.js';
import { KeyStore } from '../src/esman/store-file.js';
import { hotWalletAddress } from '../src/keys/hot-wallet.js';
import { describeOncePerSuite } from './support/db.js';
import { killAllChildren, spawnNode } from './support/spawn.js';
import { tmpStateDir } from './support/tmp.js';

const PASS = ['pass-phrase-0001', 'pass-phrase-0002', 'pass-phrase-0003'];
const OPEN = PASS.slice(0, 2);
const KDF = { log2N: 10, r: 8, p: 1 };
const SLOW = 120_000;
const ETH = 10n ** 18n;

async function esman(args: string[], o: { pass?: string[]; stdin?: string } = {}) {
  const child = spawnNode(['bin/esman.mjs', ...args, ...(o.pass ? ['--passphrase-fd', '3'] : [])], {}, { pipes: true });
  (child.proc.stdio[3] as Writable).end(o.pass ? o.pass.map((l) => `${l}\n`).join('') : '');
  child.proc.stdin!.end(o.stdin ?? '');
  const code = await child.waitExit(30_000);
  return { code, stdout: child.stdout(), stderr: child.stderr() };
}

function wallet(tag: string, network: 'mainnet' | 'testnet' = 'mainnet', withAddress = true) {
  const privateKey = new Uint8Array(randomBytes(32));
  const address = hotWalletAddress(tag, privateKey, network);
  return { address, value: encodeCoinItem({ coin: tag, privateKey, ...(withAddress ? { address } : {}) }) };
}

async function fixture(items: Record<string, Buffer>) {
  const root = await tmpStateDir('att17-esman-');
  const dir = join(root, 'shares');
  const storage = join(root, 'store.esm');
  const master = newMasterKey();
  await writeShares(dir, master, { shares: 3, threshold: 2, kdf: KDF }, async (i) => Buffer.from(PASS[i - 1]!, 'utf8'));
  const store = KeyStore.empty(storage);
  for (const [name, value] of Object.entries(items)) store.set(name, value);
  await store.save(master);
  store.close();
  return { root, dir, storage };
}

describeOncePerSuite('attack17 esman delete', () => {
  let anvilEtc: Anvil; // "the ETC chain": chain id 61, where the hot wallet is funded
  let anvilOther: Anvil; // another EVM chain where the same address is empty
  let zcash: ZcashStandin;
  beforeAll(async () => {
    [anvilEtc, anvilOther, zcash] = await Promise.all([
      startAnvil({ chainId: 61 }),
      startAnvil({ chainId: 31337 }),
      startZcashStandin({ network: 'testnet', mode: 'zcashd' }),
    ]);
  }, SLOW);
  afterAll(async () => {
    await killAllChildren();
    await Promise.all([anvilEtc?.stop(), anvilOther?.stop(), zcash?.stop()]);
  });

  it('A: a hot wallet under payserv\'s [coins.ETH] key_item (not Coin.ETH.JSON) is deleted while funded, no question asked', async () => {
    const eth = wallet('ETH');
    const { root, dir, storage } = await fixture({ 'HOT.ETH': eth.value });
    await setBalance(anvilOther.url, eth.address, 5n * ETH);
    const config = join(root, 'payserv.toml');
    writeFileSync(config, `[coins.ETH]\nchain = "evm"\nchain_id = 31337\nnode_url = "${anvilOther.url}"\nkey_item = "HOT.ETH"\n`);
    const r = await esman(['delete', 'HOT.ETH', '--dir', dir, '--storage', storage, '--config', config], { pass: OPEN });
    // Expected: wallet_funded, exit 1. Actual:
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('deleted HOT.ETH');
  }, SLOW);

  it("B: the ETC key is deleted while funded when payserv's config names a node on another chain (chain_id not checked)", async () => {
    const etc = wallet('ETC');
    const { root, dir, storage } = await fixture({ 'Coin.ETC.JSON': etc.value });
    await setBalance(anvilEtc.url, etc.address, 7n * ETH);
    const config = join(root, 'payserv.toml');
    // chain_id = 61 is ETC's; the node at node_url is on chain 31337 (payserv itself would refuse to start on it).
    writeFileSync(config, `[coins.ETC]\nchain = "evm"\nchain_id = 61\neip1559 = false\nnode_url = "${anvilOther.url}"\n`);
    const r = await esman(['delete', 'Coin.ETC.JSON', '--dir', dir, '--storage', storage, '--config', config, '--yes'], { pass: OPEN });
    expect(r.stdout + r.stderr).toBeTruthy();
    console.log('B', r.code, r.stdout, r.stderr);
    expect(r.code).toBe(0);
  }, SLOW);


  it('D: ZEC item without a stored address, config says testnet, no --network', async () => {
    const zec = wallet('ZEC', 'testnet', false);
    const { root, dir, storage } = await fixture({ 'Coin.ZEC.JSON': zec.value });
    await zcash.fund(zec.address, 900_000n);
    await zcash.mine();
    const config = join(root, 'payserv.toml');
    writeFileSync(config, `[coins.ZEC]\nchain = "zcash"\nnetwork = "testnet"\nnode_url = "${zcash.url}"\n`);
    const before = readFileSync(storage);
    const r = await esman(['delete', 'Coin.ZEC.JSON', '--dir', dir, '--storage', storage, '--config', config, '--yes'], { pass: OPEN });
    console.log('D', r.code, r.stdout, r.stderr);
    expect(r.code).not.toBe(0);
    expect(readFileSync(storage).equals(before)).toBe(true);
  }, SLOW);

  it('E: `esman add --replace Coin.ETH.JSON` overwrites a funded hot wallet\'s only key: no balance check, no question', async () => {
    const eth = wallet('ETH');
    const other = wallet('ETH');
    const { root, dir, storage } = await fixture({ 'Coin.ETH.JSON': eth.value });
    await setBalance(anvilOther.url, eth.address, 9n * ETH);
    const file = join(root, 'new.json');
    writeFileSync(file, other.value);
    const r = await esman(['add', 'Coin.ETH.JSON', file, '--replace', '--dir', dir, '--storage', storage], { pass: OPEN });
    console.log('E', r.code, r.stdout, r.stderr);
    // Expected: wallet_funded as for delete. Actual: replaced; the 9 ETH address's key is gone.
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('added Coin.ETH.JSON');
  }, SLOW);
});

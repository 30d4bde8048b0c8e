// The key tooling of a Bitcoin-family coin on a real litecoind regtest node, as an operator runs it
// (bin/esman.mjs): `esman wallet` makes Coin.LTC.JSON with the address of the network payserv's
// configuration names (the node itself takes it); `esman delete` of the funded wallet is refused (its
// UTXOs read by scantxoutset, the node's chain checked), with the store byte for byte as it was; the same
// wallet swept empty is deleted; `esman add --replace` never overwrites it with another key.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { createBase58check } from '@scure/base';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { describeOncePerSuite } from './support/backend.js';
import { OPEN, esman, fixture, names, wallet } from './support/esman-wallets.js';
import { fromSat, litecoindForFile, type Litecoind } from './support/litecoind.js';
import { killAllChildren } from './support/spawn.js';
import { tmpStateDir } from './support/tmp.js';

const SLOW = 180_000;
/** Regtest's WIF version: the key handed to the node only to sweep the wallet in this test. */
const wif = (key: string) => createBase58check(sha256).encode(Uint8Array.from([0xef, ...Buffer.from(key, 'hex'), 0x01]));

describeOncePerSuite('esman and a Bitcoin-family hot wallet (litecoind regtest)', () => {
  const node = litecoindForFile();
  let ltc: Litecoind;
  beforeAll(async () => {
    ltc = await node();
  }, SLOW);
  afterAll(async () => {
    await killAllChildren();
  });

  /** payserv.toml of one LTC coin on the regtest node; its state directory (the chain pin esman reads) under root. */
  async function payservToml(root: string, preset = 'LTC-regtest'): Promise<string> {
    const path = join(root, 'payserv.toml');
    writeFileSync(
      path,
      `state_dir = "${join(root, 'payserv')}"\n[coins.LTC]\nchain = "btc"\nnode_url = "${ltc.url}"\nmin_peers = 0\n[coins.LTC.network]\npreset = "${preset}"\n`,
    );
    return path;
  }

  it(
    'esman wallet --coin LTC: the address of the configured network, taken by the node; without --config refused before any passphrase',
    async () => {
      const { root, dir, storage } = await fixture({ 'DB.JSON': Buffer.from('{"url":"postgres://x@h/db"}') });
      const before = readFileSync(storage);
      const bare = await esman(['wallet', '--coin', 'LTC', '--dir', dir, '--storage', storage]);
      expect(bare.code).toBe(2);
      expect(bare.stderr).toMatch(
        /^esman: \[bad_option\] --coin LTC: payserv holds hot wallets for ETH, ETC, ZEC and the Bitcoin-family coins/m,
      );
      expect(readFileSync(storage).equals(before)).toBe(true);

      const config = await payservToml(root);
      const made = await esman(['wallet', '--coin', 'LTC', '--config', config, '--dir', dir, '--storage', storage], { pass: OPEN });
      expect(made.code, made.stderr).toBe(0);
      const address = /Coin\.LTC\.JSON: hot wallet (\S+) \(fund this address\)/.exec(made.stdout)?.[1];
      expect(address).toMatch(/^rltc1q/);
      const v = (await ltc.rpc('validateaddress', [address])) as { isvalid: boolean; iswitness: boolean; witness_version: number };
      expect(v).toMatchObject({ isvalid: true, iswitness: true, witness_version: 0 });
      expect(await names(dir, storage)).toEqual(['Coin.LTC.JSON', 'DB.JSON']);
    },
    SLOW,
  );

  it(
    'delete: funded refused (store unchanged), --replace refused, a bare --node-url refused; swept empty: deleted',
    async () => {
      const root = await tmpStateDir('esman-btc-');
      const config = await payservToml(root);
      const coins = (await loadConfig('payserv', config)).coins;
      const hot = wallet('LTC', 'testnet', true, coins);
      const store = await fixture({ 'Coin.LTC.JSON': hot.value });
      const del = () =>
        esman(['delete', 'Coin.LTC.JSON', '--dir', store.dir, '--storage', store.storage, '--config', config, '--yes'], { pass: OPEN });

      const funding = await ltc.fund(hot.address, 150_000_000n);
      const before = readFileSync(store.storage);
      const funded = await del();
      expect(funded.code).toBe(1);
      expect(funded.stderr).toMatch(
        new RegExp(
          `^esman: \\[wallet_funded\\] Coin\\.LTC\\.JSON: hot wallet ${hot.address} holds 150000000 base units \\(dust is at most \\d+\\): nothing deleted; check its balance on the node and sweep it`,
          'm',
        ),
      );
      expect(funded.stdout + funded.stderr).not.toContain(hot.hexKey);
      expect(readFileSync(store.storage).equals(before)).toBe(true);

      // Another key over it: refused whatever the balance; the node is never asked.
      const other = join(root, 'other.json');
      writeFileSync(other, wallet('LTC', 'testnet', true, coins).value);
      const replace = await esman(['add', 'Coin.LTC.JSON', other, '--replace', '--dir', store.dir, '--storage', store.storage], {
        pass: OPEN,
      });
      expect(replace.code).toBe(1);
      expect(replace.stderr).toMatch(/^esman: \[hot_wallet\] Coin\.LTC\.JSON is a hot-wallet key: --replace never overwrites one/m);
      expect(readFileSync(store.storage).equals(before)).toBe(true);

      // A bare node URL says nothing of a Bitcoin-family coin's network: refused before any passphrase.
      const bare = await esman(['delete', 'Coin.LTC.JSON', '--dir', store.dir, '--storage', store.storage, '--node-url', ltc.url, '--yes']);
      expect(bare.code).toBe(2);
      expect(bare.stderr).toMatch(
        /^esman: \[bad_option\] Coin\.LTC\.JSON is a key of LTC, which is not ETH, ETC or ZEC: .* give --config payserv\.toml/m,
      );
      expect(bare.stderr).not.toContain(ltc.url);
      expect(readFileSync(store.storage).equals(before)).toBe(true);

      // Configured on another network (the node is regtest): the item's address is not that network's: refused.
      const mainnet = await payservToml(await tmpStateDir('esman-btc-main-'), 'LTC-mainnet');
      const wrong = await esman(['delete', 'Coin.LTC.JSON', '--dir', store.dir, '--storage', store.storage, '--config', mainnet, '--yes'], {
        pass: OPEN,
      });
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toMatch(/^esman: \[bad_item\] store item Coin\.LTC\.JSON: its address is not the address of its key/m);
      expect(readFileSync(store.storage).equals(before)).toBe(true);

      // A key stored without its address, configured on mainnet: the regtest node is another chain, no proof of anything.
      const keyOnly = await fixture({ 'Coin.LTC.JSON': wallet('LTC', 'testnet', false, coins).value });
      const onMain = await esman(
        ['delete', 'Coin.LTC.JSON', '--dir', keyOnly.dir, '--storage', keyOnly.storage, '--config', mainnet, '--yes'],
        { pass: OPEN },
      );
      expect(onMain.code).toBe(1);
      expect(onMain.stderr).toMatch(
        /^esman: \[wrong_chain\] Coin\.LTC\.JSON: coin LTC: the node is on chain regtest, payserv pays on mainnet: .*nothing deleted/m,
      );
      expect(await names(keyOnly.dir, keyOnly.storage)).toEqual(['Coin.LTC.JSON']);

      // Swept to the node's wallet, every base unit of it, and mined: the wallet is empty, its key may go.
      const prev = (await ltc.rpc('getrawtransaction', [funding.txid, true])) as {
        vout: Array<{ n: number; scriptPubKey: { hex: string } }>;
      };
      const script = prev.vout.find((o) => o.n === funding.vout)!.scriptPubKey.hex;
      const raw = await ltc.rpc('createrawtransaction', [
        [{ txid: funding.txid, vout: funding.vout }],
        { [await ltc.minerAddress()]: fromSat(150_000_000n - 20_000n) },
      ]);
      const signed = (await ltc.rpc('signrawtransactionwithkey', [
        raw,
        [wif(hot.hexKey)],
        [{ txid: funding.txid, vout: funding.vout, scriptPubKey: script, amount: fromSat(150_000_000n) }],
      ])) as { hex: string; complete: boolean };
      expect(signed.complete).toBe(true);
      await ltc.rpc('sendrawtransaction', [signed.hex]);
      await ltc.mine(1);
      const emptied = await del();
      expect(emptied.code, emptied.stderr).toBe(0);
      expect(emptied.stdout).toContain(`Coin.LTC.JSON: hot wallet ${hot.address} holds 0 base units`);
      expect(emptied.stdout + emptied.stderr).not.toContain(hot.hexKey);
      expect(await names(store.dir, store.storage)).toEqual([]);
    },
    SLOW,
  );
});

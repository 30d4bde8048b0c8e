// `esman delete Coin.<TAG>.JSON` as an operator runs it (bin/esman.mjs), against a real anvil and the Zcash
// stand-in: a funded hot wallet's key is refused and the store stays byte for byte as it was; an emptied one is
// deleted once its name is typed back; a node that does not answer is refused like a funded wallet.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startAnvil, setBalance, type Anvil } from '../src/devnet/anvil.js';
import { startZcashStandin, type ZcashStandin } from '../src/devnet/zcash-standin.js';
import { describeOncePerSuite } from './support/db.js';
import { ETH, OPEN, esman, fixture, names, wallet } from './support/esman-wallets.js';
import { killAllChildren } from './support/spawn.js';
import { freePort } from './support/ports.js';

const SLOW = 120_000;

describeOncePerSuite('esman delete of a hot wallet', () => {
  let anvil: Anvil;
  let zcash: ZcashStandin;
  beforeAll(async () => {
    [anvil, zcash] = await Promise.all([startAnvil(), startZcashStandin({ network: 'testnet', mode: 'zcashd' })]);
  }, SLOW);
  afterAll(async () => {
    await killAllChildren();
    await Promise.all([anvil?.stop(), zcash?.stop()]);
  });

  it(
    'ETH: funded refused (with --yes too), store unchanged; emptied: a wrong answer refused, the name typed back deletes',
    async () => {
      const eth = wallet('ETH');
      const { dir, storage } = await fixture({ 'Coin.ETH.JSON': eth.value, 'DB.JSON': Buffer.from('{"url":"postgres://x@h/db"}') });
      const del = (extra: string[], stdin?: string) =>
        esman(['delete', 'Coin.ETH.JSON', '--dir', dir, '--storage', storage, '--node-url', anvil.url, '--chain-id', '31337', ...extra], {
          pass: OPEN,
          stdin,
        });
      await setBalance(anvil.url, eth.address, 3n * ETH);
      const before = readFileSync(storage);

      for (const [extra, stdin] of [[['--yes']], [[], 'Coin.ETH.JSON\n']] as Array<[string[], string?]>) {
        const funded = await del(extra, stdin);
        expect(funded.code).toBe(1);
        expect(funded.stderr).toMatch(
          new RegExp(
            `^esman: \\[wallet_funded\\] Coin\\.ETH\\.JSON: hot wallet ${eth.address} holds 3000000000000000000 wei \\(dust is at most \\d+\\): nothing deleted; check its balance on the node and sweep it`,
            'm',
          ),
        );
        expect(funded.stderr).not.toContain('type Coin.ETH.JSON');
        expect(readFileSync(storage).equals(before)).toBe(true);
      }

      // Dust (a transfer's gas at the node's gas price, less one wei) is no balance to keep the key for.
      const gasPrice = BigInt(
        (
          (await (
            await fetch(anvil.url, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_gasPrice', params: [] }),
            })
          ).json()) as { result: string }
        ).result,
      );
      await setBalance(anvil.url, eth.address, 21_000n * gasPrice - 1n);
      for (const stdin of ['y\n', 'Coin.ETH\n', '']) {
        const no = await del([], stdin);
        expect(no.code).toBe(1);
        expect(no.stderr).toContain(
          `Coin.ETH.JSON is the key of hot wallet ${eth.address}, which holds ${21_000n * gasPrice - 1n} wei; type Coin.ETH.JSON to delete it: `,
        );
        expect(no.stderr).toMatch(/esman: \[not_confirmed\] Coin\.ETH\.JSON: (the answer is not the item name|no answer): nothing deleted/);
        expect(readFileSync(storage).equals(before)).toBe(true);
      }

      await setBalance(anvil.url, eth.address, 0n);
      const yes = await del([], 'Coin.ETH.JSON\n');
      expect(yes.code).toBe(0);
      expect(yes.stdout).toContain('deleted Coin.ETH.JSON from');
      expect(yes.stdout + yes.stderr).not.toContain(eth.hexKey);
      expect(await names(dir, storage)).toEqual(['DB.JSON']);
    },
    SLOW,
  );

  it(
    'a node that does not answer: balance_unknown, refused, store unchanged; no node named: bad_option before any passphrase',
    async () => {
      const eth = wallet('ETH');
      const { dir, storage } = await fixture({ 'Coin.ETH.JSON': eth.value });
      const before = readFileSync(storage);
      const down = `http://rpc:NODE-PASSWORD-31@127.0.0.1:${await freePort()}/`;
      const r = await esman(
        ['delete', 'Coin.ETH.JSON', '--dir', dir, '--storage', storage, '--node-url', down, '--chain-id', '1', '--yes'],
        { pass: OPEN },
      );
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        new RegExp(
          `^esman: \\[balance_unknown\\] Coin\\.ETH\\.JSON: the balance of hot wallet ${eth.address} cannot be read \\(.+\\): nothing deleted; an unanswered node is no proof the wallet is empty`,
          'm',
        ),
      );
      expect(r.stderr).not.toContain('NODE-PASSWORD-31');
      expect(readFileSync(storage).equals(before)).toBe(true);

      const none = await esman(['delete', 'Coin.ETH.JSON', '--dir', dir, '--storage', storage, '--yes']);
      expect(none.code).toBe(2);
      expect(none.stderr).toMatch(
        /^esman: \[bad_option\] Coin\.ETH\.JSON is a hot-wallet key: name the coin's node with --node-url URL or --config payserv\.toml/m,
      );
      expect(none.stderr).not.toContain('passphrase');
      expect(readFileSync(storage).equals(before)).toBe(true);

      const absent = await esman(['delete', 'Coin.ETC.JSON', '--dir', dir, '--storage', storage, '--node-url', anvil.url]);
      expect(absent.code).toBe(1);
      expect(absent.stderr).toMatch(/^esman: \[missing_item\] store \S+ has no item Coin\.ETC\.JSON$/m);
    },
    SLOW,
  );

  it(
    "ZEC through payserv's configuration: funded UTXOs refused, an emptied wallet deleted with --yes; other items delete as before",
    async () => {
      const zec = wallet('ZEC', 'testnet');
      const { root, dir, storage } = await fixture({ 'Coin.ZEC.JSON': zec.value, 'DB.JSON': Buffer.from('{"url":"postgres://x@h/db"}') });
      const config = join(root, 'payserv.toml');
      writeFileSync(config, `[coins.ZEC]\nchain = "zcash"\nnetwork = "testnet"\nnode_url = "${zcash.url}"\n`);
      const del = () => esman(['delete', 'Coin.ZEC.JSON', '--dir', dir, '--storage', storage, '--config', config, '--yes'], { pass: OPEN });
      const before = readFileSync(storage);

      await zcash.fund(zec.address, 250_000n);
      await zcash.mine();
      const funded = await del();
      expect(funded.code).toBe(1);
      expect(funded.stderr).toMatch(/^esman: \[wallet_funded\] Coin\.ZEC\.JSON: hot wallet \S+ holds 250000 zatoshi/m);
      expect(readFileSync(storage).equals(before)).toBe(true);

      // An emptied wallet: the same key, its address on a fresh chain holding nothing.
      zcash.restart({ network: 'testnet', genesisSeed: 'emptied', chainName: 'test' });
      const emptied = await del();
      expect(emptied.code).toBe(0);
      expect(emptied.stdout).toContain(`Coin.ZEC.JSON: hot wallet ${zec.address} holds 0 zatoshi`);
      expect(await names(dir, storage)).toEqual(['DB.JSON']);

      const db = await esman(['delete', 'DB.JSON', '--dir', dir, '--storage', storage], { pass: OPEN });
      expect(db.code).toBe(0);
      expect(await names(dir, storage)).toEqual([]);
    },
    SLOW,
  );
});

// Attack (issue 17), now regressions: a funded hot wallet's key must survive `esman delete` and `esman add --replace`
// whatever the item is called (F1), over a node on another chain (F3), and a Zcash key without a stored
// address is read on the configured network (F11). Every refusal leaves the store byte for byte as it was.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startAnvil, setBalance, type Anvil } from '../src/devnet/anvil.js';
import { startZcashStandin, type ZcashStandin } from '../src/devnet/zcash-standin.js';
import { describeOncePerSuite } from './support/db.js';
import { ETH, OPEN, esman, fixture as storeOf, names, wallet } from './support/esman-wallets.js';
import { killAllChildren } from './support/spawn.js';

const SLOW = 120_000;

/** The store, and payserv's state directory of the configuration: its chain pins are read, never written, by esman. */
async function fixture(items: Record<string, Buffer>) {
  const f = await storeOf(items);
  const state = join(f.root, 'payserv-state');
  return { ...f, state, stateLine: `state_dir = "${state}"\n` };
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

  it(
    "A: a funded hot wallet under payserv's key_item, or under any name by its content, is refused; emptied, it goes",
    async () => {
      const eth = wallet('ETH');
      const { root, dir, storage, state, stateLine } = await fixture({ 'HOT.ETH': eth.value, 'backup-7': eth.value });
      await setBalance(anvilOther.url, eth.address, 5n * ETH);
      const config = join(root, 'payserv.toml');
      writeFileSync(
        config,
        `${stateLine}[coins.ETH]\nchain = "evm"\nchain_id = 31337\nnode_url = "${anvilOther.url}"\nkey_item = "HOT.ETH"\n`,
      );
      const before = readFileSync(storage);
      const funded = new RegExp(
        `^esman: \\[wallet_funded\\] (HOT\\.ETH|backup-7): hot wallet ${eth.address} holds 5000000000000000000 wei`,
        'm',
      );

      // By payserv's key_item, before any passphrase the node is known; --yes never skips the balance.
      const byConfig = await esman(['delete', 'HOT.ETH', '--dir', dir, '--storage', storage, '--config', config, '--yes'], { pass: OPEN });
      expect(byConfig.code).toBe(1);
      expect(byConfig.stderr).toMatch(funded);
      expect(readFileSync(storage).equals(before)).toBe(true);

      // Without the configuration: the content (a coin and a key) makes it a hot wallet, whatever the name.
      const noNode = await esman(['delete', 'backup-7', '--dir', dir, '--storage', storage], { pass: OPEN });
      expect(noNode.code).toBe(2);
      expect(noNode.stderr).toMatch(
        /^esman: \[bad_option\] backup-7 is a hot-wallet key: name the coin's node with --node-url URL or --config/m,
      );
      expect(readFileSync(storage).equals(before)).toBe(true);
      const byContent = await esman(
        ['delete', 'backup-7', '--dir', dir, '--storage', storage, '--node-url', anvilOther.url, '--chain-id', '31337', '--yes'],
        { pass: OPEN },
      );
      expect(byContent.code).toBe(1);
      expect(byContent.stderr).toMatch(funded);
      expect(readFileSync(storage).equals(before)).toBe(true);
      expect(await names(dir, storage)).toEqual(['HOT.ETH', 'backup-7']);

      // The guard is a check, not a wall: emptied, the key_item goes once its name is typed back; no pin is written.
      await setBalance(anvilOther.url, eth.address, 0n);
      const emptied = await esman(['delete', 'HOT.ETH', '--dir', dir, '--storage', storage, '--config', config], {
        stdin: 'HOT.ETH\n',
        pass: OPEN,
      });
      expect(emptied.code).toBe(0);
      expect(emptied.stdout).toContain(`HOT.ETH: hot wallet ${eth.address} holds 0 wei`);
      expect(await names(dir, storage)).toEqual(['backup-7']);
      expect(existsSync(join(state, 'chains'))).toBe(false);
    },
    SLOW,
  );

  it(
    'B: a node on another chain than the configured one (or than --chain-id) is wrong_chain; a bare --node-url needs --chain-id',
    async () => {
      const etc = wallet('ETC');
      const { root, dir, storage, state, stateLine } = await fixture({ 'Coin.ETC.JSON': etc.value });
      await setBalance(anvilEtc.url, etc.address, 7n * ETH);
      const before = readFileSync(storage);
      const del = (extra: string[]) =>
        esman(['delete', 'Coin.ETC.JSON', '--dir', dir, '--storage', storage, '--yes', ...extra], { pass: OPEN });

      // chain_id = 61 is ETC's; the node at node_url is on chain 31337, where the address is empty.
      const config = join(root, 'payserv.toml');
      writeFileSync(config, `${stateLine}[coins.ETC]\nchain = "evm"\nchain_id = 61\neip1559 = false\nnode_url = "${anvilOther.url}"\n`);
      const viaConfig = await del(['--config', config]);
      expect(viaConfig.code).toBe(1);
      expect(viaConfig.stderr).toMatch(
        /^esman: \[wrong_chain\] Coin\.ETC\.JSON: coin ETC: the node is on chain 31337, payserv pays on 61: .*nothing deleted/m,
      );
      expect(viaConfig.stdout).not.toContain('holds');
      expect(readFileSync(storage).equals(before)).toBe(true);

      const bare = await del(['--node-url', anvilOther.url]);
      expect(bare.code).toBe(2);
      expect(bare.stderr).toMatch(/^esman: \[bad_option\] Coin\.ETC\.JSON is a key of ETC: with --node-url give --chain-id N/m);
      expect(bare.stderr).not.toContain('passphrase');
      const wrongId = await del(['--node-url', anvilOther.url, '--chain-id', '61']);
      expect(wrongId.code).toBe(1);
      expect(wrongId.stderr).toMatch(/^esman: \[wrong_chain\] Coin\.ETC\.JSON: coin ETC: the node is on chain 31337, payserv pays on 61/m);
      expect(readFileSync(storage).equals(before)).toBe(true);

      // The right chain id, but not the genesis payserv pinned on its host: another chain all the same. The pin stays as it was.
      const pin = join(state, 'chains', 'ETC-61.json');
      writeFileSync(config, `${stateLine}[coins.ETC]\nchain = "evm"\nchain_id = 61\neip1559 = false\nnode_url = "${anvilEtc.url}"\n`);
      mkdirSync(join(state, 'chains'), { recursive: true });
      writeFileSync(pin, JSON.stringify({ chain: '61', genesis: 'ab'.repeat(32), head: 1 }));
      const pinned = await del(['--config', config]);
      expect(pinned.code).toBe(1);
      expect(pinned.stderr).toMatch(
        /^esman: \[wrong_chain\] Coin\.ETC\.JSON: coin ETC: the node's genesis block is [0-9a-f]{64}, not (ab){32} \(the genesis pinned in /m,
      );
      expect(readFileSync(pin, 'utf8')).toBe(JSON.stringify({ chain: '61', genesis: 'ab'.repeat(32), head: 1 }));
      expect(readFileSync(storage).equals(before)).toBe(true);

      // The wallet's own chain: its funds are seen.
      const own = await del(['--node-url', anvilEtc.url, '--chain-id', '61']);
      expect(own.code).toBe(1);
      expect(own.stderr).toMatch(
        new RegExp(`^esman: \\[wallet_funded\\] Coin\\.ETC\\.JSON: hot wallet ${etc.address} holds 7000000000000000000 wei`, 'm'),
      );
      expect(readFileSync(storage).equals(before)).toBe(true);
    },
    SLOW,
  );

  it(
    "D: a ZEC item without a stored address is read on the configuration's network: its funded testnet address is refused",
    async () => {
      const zec = wallet('ZEC', 'testnet', false);
      const { root, dir, storage, stateLine } = await fixture({ 'Coin.ZEC.JSON': zec.value });
      await zcash.fund(zec.address, 900_000n);
      await zcash.mine();
      const config = join(root, 'payserv.toml');
      writeFileSync(config, `${stateLine}[coins.ZEC]\nchain = "zcash"\nnetwork = "testnet"\nnode_url = "${zcash.url}"\n`);
      const before = readFileSync(storage);
      const r = await esman(['delete', 'Coin.ZEC.JSON', '--dir', dir, '--storage', storage, '--config', config, '--yes'], { pass: OPEN });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        new RegExp(`^esman: \\[wallet_funded\\] Coin\\.ZEC\\.JSON: hot wallet ${zec.address} holds 900000 zatoshi`, 'm'),
      );
      expect(readFileSync(storage).equals(before)).toBe(true);

      // --network that contradicts the configuration is a command line to fix; a mainnet node for a testnet wallet is wrong_chain.
      const contra = await esman(
        ['delete', 'Coin.ZEC.JSON', '--dir', dir, '--storage', storage, '--config', config, '--network', 'mainnet', '--yes'],
        { pass: OPEN },
      );
      expect(contra.code).toBe(2);
      expect(contra.stderr).toMatch(/^esman: \[bad_option\] --network mainnet: --config \S+ says \[coins\.ZEC\] network = "testnet"/m);
      const mainnet = await esman(
        ['delete', 'Coin.ZEC.JSON', '--dir', dir, '--storage', storage, '--node-url', zcash.url, '--network', 'mainnet', '--yes'],
        {
          pass: OPEN,
        },
      );
      expect(mainnet.code).toBe(1);
      expect(mainnet.stderr).toMatch(
        /^esman: \[wrong_chain\] Coin\.ZEC\.JSON: coin ZEC: the node is on chain testnet, payserv pays on mainnet/m,
      );
      expect(readFileSync(storage).equals(before)).toBe(true);
    },
    SLOW,
  );

  it(
    'E: `esman add --replace` never overwrites a hot-wallet key (by name or by content); other items are replaced as before',
    async () => {
      const eth = wallet('ETH');
      const other = wallet('ETH');
      const { root, dir, storage } = await fixture({
        'Coin.ETH.JSON': eth.value,
        'HOT.ETH': Buffer.from(JSON.stringify({ coin: 'ETH', privateKey: eth.hexKey, address: other.address })),
        'notes.txt': Buffer.from('old'),
      });
      await setBalance(anvilOther.url, eth.address, 9n * ETH);
      const file = join(root, 'new.json');
      writeFileSync(file, other.value);
      const before = readFileSync(storage);
      for (const name of ['Coin.ETH.JSON', 'HOT.ETH']) {
        const r = await esman(['add', name, file, '--replace', '--dir', dir, '--storage', storage], { pass: OPEN });
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(
          new RegExp(
            `^esman: \\[hot_wallet\\] ${name.replace(/\./g, '\\.')} is a hot-wallet key: --replace never overwrites one with another value.*esman delete ${name.replace(/\./g, '\\.')}`,
            'm',
          ),
        );
        expect(r.stdout).not.toContain('added');
        expect(readFileSync(storage).equals(before)).toBe(true);
      }
      // The same key again, its wrong address put right: nothing is lost, it is taken.
      const same = join(root, 'same.json');
      writeFileSync(same, eth.value);
      const fixed = await esman(['add', 'HOT.ETH', same, '--replace', '--dir', dir, '--storage', storage], { pass: OPEN });
      expect(fixed.code).toBe(0);
      expect(fixed.stdout).toContain('added HOT.ETH');
      const text = join(root, 'notes-new.txt');
      writeFileSync(text, 'new');
      const plain = await esman(['add', 'notes.txt', text, '--replace', '--dir', dir, '--storage', storage], { pass: OPEN });
      expect(plain.code).toBe(0);
      expect(plain.stdout).toContain('added notes.txt');
    },
    SLOW,
  );
});

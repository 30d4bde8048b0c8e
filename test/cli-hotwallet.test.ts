// pscli hotwallet: creates a coin's hot-wallet key readable by its owner only, prints the address to
// fund and never the key, and refuses to overwrite a key or to make one for a coin paid by hand. A plain key file only in a
// development state directory (the demo's marker, or [database] embedded = true): production makes it inside esman's store.
import { chmodSync, existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { privateKeyToAddress } from 'viem/accounts';
import { validateAddress } from '../src/chains/address.js';
import { DEMO_MARKER } from '../src/demo/state-dir.js';
import { loadConfig } from '../src/config/load.js';
import { hotKeyPath, hotWalletAddress } from '../src/keys/hot-wallet.js';
import { describeOncePerSuite } from './support/backend.js';
import { EMBEDDED, runPscli } from './support/pscli.js';
import { tmpStateDir } from './support/tmp.js';

/** A state directory the demo made: development, where a plain hot-wallet key file is allowed. */
async function demoStateDir(): Promise<string> {
  const dir = await tmpStateDir();
  writeFileSync(join(dir, DEMO_MARKER), 'made by the demo\n');
  return dir;
}

describeOncePerSuite('pscli hotwallet', () => {
  it('init: a 0600 key file, the address printed, the key nowhere in the output; a second init is refused', async () => {
    const dir = await demoStateDir();
    const env = { PAYSERV_STATE_DIR: dir };
    const made = await runPscli(['hotwallet', 'init', '--coin', 'ETH'], env);
    expect(made.code).toBe(0);
    const key = (JSON.parse(readFileSync(hotKeyPath(dir, 'ETH'), 'utf8')) as { privateKey: string }).privateKey;
    expect(statSync(hotKeyPath(dir, 'ETH')).mode & 0o777).toBe(0o600);
    const address = privateKeyToAddress(`0x${key}`);
    expect(made.stdout).toContain(address);
    expect(made.stdout + made.stderr).not.toContain(key);
    const shown = await runPscli(['hotwallet', 'address', '--coin', 'ETH'], env);
    expect(shown.stdout.trim()).toBe(address);
    const again = await runPscli(['hotwallet', 'init', '--coin', 'ETH'], env);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already exists; it is never overwritten/);
    expect(readFileSync(hotKeyPath(dir, 'ETH'), 'utf8')).toContain(key);
  });

  it('Zcash: a transparent address of the network asked for; a coin paid by hand and a bad network are refused', async () => {
    const dir = await demoStateDir();
    const env = { PAYSERV_STATE_DIR: dir };
    const made = await runPscli(['hotwallet', 'init', '--coin', 'ZEC', '--network', 'testnet', '--json'], env);
    expect(made.code).toBe(0);
    const { address } = JSON.parse(made.stdout) as { address: string };
    expect(address).toMatch(/^tm/);
    expect(validateAddress({ tag: 'ZEC', network: 'testnet' }, address)).toBeNull();
    expect((await runPscli(['hotwallet', 'init', '--coin', 'ZEC', '--network', 'moon'], env)).stderr).toMatch(
      /--network: expected mainnet or testnet/,
    );
    const manual = await runPscli(['hotwallet', 'init', '--coin', 'BTC'], env);
    expect(manual.code).not.toBe(0);
    expect(manual.stderr).toMatch(/paid by an operator/);
    expect(existsSync(hotKeyPath(dir, 'BTC'))).toBe(false);
  });

  it("a Bitcoin-family coin by payserv's configuration: LTC P2WPKH and BCH CashAddr in the configured network; unconfigured refused", async () => {
    const dir = await demoStateDir();
    const env = { PAYSERV_STATE_DIR: dir };
    const none = await runPscli(['hotwallet', 'init', '--coin', 'LTC'], env);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/coin LTC is paid by an operator: .*\[coins\.LTC\] chain = "btc" in payserv\.toml/);
    expect(existsSync(hotKeyPath(dir, 'LTC'))).toBe(false);

    const btc = (tag: string, preset: string, type: string) =>
      `[coins.${tag}]\nchain = "btc"\nnode_url = "http://127.0.0.1:1"\nwallet_type = "${type}"\n[coins.${tag}.network]\npreset = "${preset}"\n`;
    writeFileSync(join(dir, 'payserv.toml'), btc('LTC', 'LTC-regtest', 'p2wpkh') + btc('BCH', 'BCH-regtest', 'p2pkh'));
    const coins = (await loadConfig('payserv', join(dir, 'payserv.toml'))).coins;
    for (const [tag, shape] of [
      ['LTC', /^rltc1q[02-9ac-hj-np-z]{38}$/],
      ['BCH', /^bchreg:q[02-9ac-hj-np-z]{41}$/],
    ] as const) {
      const made = await runPscli(['hotwallet', 'init', '--coin', tag, '--json'], env);
      expect(made.code, made.stderr).toBe(0);
      const { address } = JSON.parse(made.stdout) as { address: string };
      expect(address).toMatch(shape);
      const key = (JSON.parse(readFileSync(hotKeyPath(dir, tag), 'utf8')) as { privateKey: string }).privateKey;
      expect(address).toBe(hotWalletAddress(tag, Buffer.from(key, 'hex'), 'mainnet', coins));
      expect(made.stdout + made.stderr).not.toContain(key);
      expect(validateAddress({ tag, network: 'testnet' }, address, coins)).toBeNull();
      expect((await runPscli(['hotwallet', 'address', '--coin', tag], env)).stdout.trim()).toBe(address);
    }
    // Another payserv configuration, named: the same key in that network.
    const main = join(dir, 'main.toml');
    writeFileSync(main, btc('LTC', 'LTC-mainnet', 'p2pkh'));
    const other = await runPscli(['hotwallet', 'address', '--coin', 'LTC', '--payserv-config', main], env);
    expect(other.stdout.trim()).toMatch(/^L[1-9A-HJ-NP-Za-km-z]{33}$/);
    const missing = await runPscli(['hotwallet', 'address', '--coin', 'LTC', '--payserv-config', join(dir, 'none.toml')], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--payserv-config \S+none\.toml: /);
  });

  it('a key file others can read is refused, naming the file', async () => {
    const dir = await demoStateDir();
    const env = { PAYSERV_STATE_DIR: dir };
    expect((await runPscli(['hotwallet', 'init', '--coin', 'ETH'], env)).code).toBe(0);
    chmodSync(hotKeyPath(dir, 'ETH'), 0o644);
    const r = await runPscli(['hotwallet', 'address', '--coin', 'ETH'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(hotKeyPath(dir, 'ETH'));
    expect(r.stderr).toMatch(/readable by others/);
  });

  it('a production state directory is refused, exit 2, naming esman wallet, nothing written; [database] embedded = true allows it', async () => {
    const dir = await tmpStateDir();
    const r = await runPscli(['hotwallet', 'init', '--coin', 'ETH'], { PAYSERV_STATE_DIR: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/a hot-wallet key is made inside the key store in production: esman wallet --coin ETH /);
    expect(readdirSync(dir)).toEqual([]);
    const trial = await runPscli(['hotwallet', 'init', '--coin', 'ETH'], { ...EMBEDDED, PAYSERV_STATE_DIR: dir });
    expect(trial.code, trial.stderr).toBe(0);
    expect(existsSync(hotKeyPath(dir, 'ETH'))).toBe(true);
  });
});

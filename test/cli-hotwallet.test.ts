// pscli hotwallet: creates a coin's hot-wallet key readable by its owner only, prints the address to
// fund and never the key, and refuses to overwrite a key or to make one for a coin paid by hand. A plain key file only in a
// development state directory (the demo's marker, or [database] embedded = true): production makes it inside esman's store.
import { chmodSync, existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { privateKeyToAddress } from 'viem/accounts';
import { validateAddress } from '../src/chains/address.js';
import { DEMO_MARKER } from '../src/demo/state-dir.js';
import { hotKeyPath } from '../src/keys/hot-wallet.js';
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

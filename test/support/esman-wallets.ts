// `esman` run as an operator runs it (bin/esman.mjs) over a store of hot-wallet keys made in this process:
// the fixtures of the hot-wallet deletion tests.
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { encodeCoinItem } from '../../src/esman/items.js';
import { newMasterKey } from '../../src/esman/master-key.js';
import { unlockShares, writeShares } from '../../src/esman/shares.js';
import { KeyStore } from '../../src/esman/store-file.js';
import { hotWalletAddress } from '../../src/keys/hot-wallet.js';
import type { CoinChains } from '../../src/chains/coin-chain.js';
import { spawnNode } from './spawn.js';
import { tmpStateDir } from './tmp.js';

export const PASS = ['pass-phrase-0001', 'pass-phrase-0002', 'pass-phrase-0003'];
/** Two of the three shares' passphrases: enough to open. */
export const OPEN = PASS.slice(0, 2);
const KDF = { log2N: 10, r: 8, p: 1 };
const EXIT_TIMEOUT_MS = 30_000;
export const ETH = 10n ** 18n;

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `esman ...args`, the passphrases on fd 3, `stdin` written and closed; no passphrase ever in its output. */
export async function esman(args: string[], o: { pass?: string[]; stdin?: string } = {}): Promise<Run> {
  const child = spawnNode(['bin/esman.mjs', ...args, ...(o.pass ? ['--passphrase-fd', '3'] : [])], {}, { pipes: true });
  (child.proc.stdio[3] as Writable).end(o.pass ? o.pass.map((l) => `${l}\n`).join('') : '');
  child.proc.stdin!.end(o.stdin ?? '');
  const code = await child.waitExit(EXIT_TIMEOUT_MS);
  const run = { code, stdout: child.stdout(), stderr: child.stderr() };
  for (const p of PASS) expect(run.stdout + run.stderr).not.toContain(p);
  return run;
}

/**
 * A hot-wallet key as `esman wallet` stores it (`withAddress` false: as an older store may hold it, the key alone);
 * `coins`: payserv's [coins] for a Bitcoin-family coin.
 */
export function wallet(tag: string, network: 'mainnet' | 'testnet' = 'mainnet', withAddress = true, coins: CoinChains = {}) {
  const privateKey = new Uint8Array(randomBytes(32));
  const address = hotWalletAddress(tag, privateKey, network, coins);
  return {
    address,
    value: encodeCoinItem({ coin: tag, privateKey, ...(withAddress ? { address } : {}) }),
    hexKey: Buffer.from(privateKey).toString('hex'),
  };
}

/** Shares (3, 2 needed) and a store of `items`, made in this process. */
export async function fixture(items: Record<string, Buffer>): Promise<{ root: string; dir: string; storage: string }> {
  const root = await tmpStateDir('esman-del-');
  const dir = join(root, 'shares');
  const storage = join(root, 'store.esm');
  const master = newMasterKey();
  await writeShares(dir, master, { shares: 3, threshold: 2, kdf: KDF }, async (i) => Buffer.from(PASS[i - 1]!, 'utf8'));
  const store = KeyStore.empty(storage);
  for (const [name, value] of Object.entries(items)) store.set(name, value);
  await store.save(master);
  store.close();
  master.fill(0);
  return { root, dir, storage };
}

/** The store's item names, read with its key. */
export async function names(dir: string, storage: string): Promise<string[]> {
  const answers = [...OPEN];
  const u = await unlockShares(dir, async () => answers.shift() ?? null);
  const store = await KeyStore.open(storage, u.master);
  u.master.fill(0);
  try {
    return store.list().map((i) => i.name);
  } finally {
    store.close();
  }
}

// pscli hotwallet rotate --coin C: a new hot-wallet key made inside esman's store (item
// Coin.<TAG>.NEXT.JSON; in a development state directory STATE/wallets/<TAG>.next.key), only its address
// printed. payserv, restarted, sweeps the old wallet to it (src/payserv/rotation.ts). `--finish`, once
// payserv's host record says the sweep is final: the new key becomes Coin.<TAG>.JSON, the old one is
// kept as Coin.<TAG>.RETIRED.<time>.JSON (never paid from again).
import { randomBytes } from 'node:crypto';
import { access, readdir, readFile, rename } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { sameAddress } from '../../chains/address.js';
import { EsmanError, wipe } from '../../esman/errors.js';
import { coinItem, encodeCoinItem, nextCoinItem, parseCoinItem, retiredCoinItem } from '../../esman/items.js';
import { readIndex, type KeyStore } from '../../esman/store-file.js';
import { createHotKey, hotKeyPath, hotWalletAddress, loadHotKey, nextHotKeyPath } from '../../keys/hot-wallet.js';
import { rotationPath } from '../../payserv/rotation.js';
import type { CoinChains } from '../../chains/coin-chain.js';
import { fsyncPath, readJson, writeFileAtomic } from '../../state/atomic-file.js';
import { passphrases } from '../esman/input.js';
import { withStore } from '../esman/unlock.js';
import { isDevelopmentStateDir, type Context } from '../context.js';
import { CliError, EXIT } from '../exit.js';

export interface RotateOptions {
  coin: string;
  network: 'mainnet' | 'testnet';
  finish: boolean;
  dir?: string | undefined;
  storage?: string | undefined;
  passphraseFd?: number | undefined;
  /** Bitcoin-family coins of payserv's configuration (their address depends on network and wallet type). */
  coins?: CoinChains | undefined;
}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

const stamp = (d: Date) => d.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');

/** The host's sweep record, final and to `next`: the only proof `--finish` accepts. */
async function finalSweep(ctx: Context, coin: string, next: string): Promise<string> {
  const path = rotationPath(ctx.stateDir, coin);
  const r = (await readJson(path).catch(() => null)) as { phase?: unknown; to?: unknown; attempt?: { hash?: unknown } | null } | null;
  if (!r || r.phase !== 'final' || typeof r.to !== 'string' || !sameAddress(coin, r.to, next))
    throw new CliError(
      `the sweep of ${coin} to ${next} is not final in ${path} (${r ? `phase ${String(r.phase)}` : 'no sweep recorded'}): payserv decides that from the chain; nothing changed`,
      EXIT.PROBLEMS,
    );
  return r.attempt?.hash ? String(r.attempt.hash) : 'none: nothing to sweep';
}

/** The rotation's host record is kept beside, out of the way of the next rotation. */
async function archiveSweep(ctx: Context, coin: string, when: string): Promise<void> {
  const path = rotationPath(ctx.stateDir, coin);
  await rename(path, `${path}.done-${when}`);
  await fsyncPath(dirname(path));
}

/**
 * A `--finish` cut after the key switch and before its record was moved aside: the record is final and sweeps to the
 * hot wallet of now. Left there, the next rotation's payserv would refuse it (another rotation's record): moved aside
 * now. The sweep's transaction, or null when this is not that case.
 */
async function finishedBefore(ctx: Context, coin: string, hot: string): Promise<string | null> {
  const r = (await readJson(rotationPath(ctx.stateDir, coin)).catch(() => null)) as { phase?: unknown; to?: unknown } | null;
  if (!r || r.phase !== 'final' || typeof r.to !== 'string' || !sameAddress(coin, r.to, hot)) return null;
  const tx = await finalSweep(ctx, coin, hot);
  await archiveSweep(ctx, coin, stamp(new Date()));
  ctx.log.warn({ coin, address: hot, tx }, 'hot wallet rotation: an interrupted --finish completed (the sweep record moved aside)');
  return tx;
}

/** The old key kept as retired: a copy (exclusive, fsynced) before the new key replaces it; one copy per key. */
async function keepRetired(current: string, when: string): Promise<void> {
  const key = await readFile(current);
  const dir = dirname(current);
  const name = basename(current).replace(/\.key$/, '');
  for (const f of await readdir(dir))
    if (f.startsWith(`${name}.retired-`) && f.endsWith('.key') && (await readFile(join(dir, f))).equals(key)) return;
  await writeFileAtomic(join(dir, `${name}.retired-${when}.key`), key, 0o600);
}

export async function rotate(ctx: Context, o: RotateOptions): Promise<void> {
  if (o.storage)
    return o.dir ? inStore(ctx, o, o.dir, o.storage) : Promise.reject(new CliError('--storage needs --dir (the shares)', EXIT.USAGE));
  if (!isDevelopmentStateDir(ctx))
    throw new CliError(
      `a rotation's new key is made inside the key store: pscli hotwallet rotate --coin ${o.coin} --dir D --storage FILE; nothing written`,
      EXIT.USAGE,
    );
  return inFiles(ctx, o);
}

async function inFiles(ctx: Context, o: RotateOptions): Promise<void> {
  const current = hotKeyPath(ctx.stateDir, o.coin);
  const nextPath = nextHotKeyPath(ctx.stateDir, o.coin);
  if (!(await exists(current))) throw new CliError(`${o.coin} has no hot wallet (${current}): nothing to rotate`, EXIT.USAGE);
  const hasNext = await exists(nextPath);
  if (!o.finish) {
    if (hasNext) throw new CliError(`a rotation of ${o.coin} is already pending (${nextPath}); nothing written`, EXIT.PROBLEMS);
    await createHotKey(ctx.stateDir, o.coin, nextPath);
    return said(ctx, o.coin, hotWalletAddress(o.coin, await loadHotKey(ctx.stateDir, o.coin, nextPath), o.network, o.coins), false);
  }
  if (!hasNext) {
    const hot = hotWalletAddress(o.coin, await loadHotKey(ctx.stateDir, o.coin), o.network, o.coins);
    const tx = await finishedBefore(ctx, o.coin, hot);
    if (tx === null) throw new CliError(`no rotation of ${o.coin} is pending; nothing changed`, EXIT.PROBLEMS);
    return said(ctx, o.coin, hot, true, tx);
  }
  const next = hotWalletAddress(o.coin, await loadHotKey(ctx.stateDir, o.coin, nextPath), o.network, o.coins);
  const tx = await finalSweep(ctx, o.coin, next);
  const when = stamp(new Date());
  // Each step leaves a state a rerun completes: the old key copied aside, then replaced at once, then the record moved.
  await keepRetired(current, when);
  await rename(nextPath, current);
  await fsyncPath(dirname(current));
  await archiveSweep(ctx, o.coin, when);
  return said(ctx, o.coin, next, true, tx);
}

async function inStore(ctx: Context, o: RotateOptions, dir: string, storage: string): Promise<void> {
  const index = await readIndex(storage).catch((e: Error) => {
    throw new CliError(e.message, EXIT.USAGE);
  });
  const names = new Set(index.items.map((i) => i.name));
  if (!names.has(coinItem(o.coin))) throw new CliError(`store ${storage} has no ${coinItem(o.coin)}: nothing to rotate`, EXIT.USAGE);
  if (!o.finish && names.has(nextCoinItem(o.coin)))
    throw new CliError(
      `a rotation of ${o.coin} is already pending (${nextCoinItem(o.coin)} in ${storage}); nothing written`,
      EXIT.PROBLEMS,
    );
  const resume = o.finish && !names.has(nextCoinItem(o.coin));
  if (resume && (await readJson(rotationPath(ctx.stateDir, o.coin)).catch(() => null)) === null)
    throw new CliError(`no rotation of ${o.coin} is pending; nothing changed`, EXIT.PROBLEMS);
  const say = (s: string) => ctx.log.info({ coin: o.coin }, s);
  const input = passphrases(o.passphraseFd, process.stdin, process.stderr);
  const run = resume
    ? (s: KeyStore) => resumeInStore(ctx, o, s)
    : o.finish
      ? (s: KeyStore, m: Uint8Array) => finishInStore(ctx, o, s, m)
      : (s: KeyStore, m: Uint8Array) => newInStore(o, s, m);
  const r = await withStore(dir, storage, input, say, run).catch((e: unknown) => {
    if (e instanceof EsmanError) throw new CliError(`[${e.code}] ${e.message}`, EXIT.PROBLEMS);
    throw e;
  });
  return said(ctx, o.coin, r.address, o.finish, r.tx);
}

/** The new key, made here and sealed into the store; only its address leaves. */
async function newInStore(o: RotateOptions, store: KeyStore, master: Uint8Array): Promise<{ address: string; tx?: string }> {
  const key = new Uint8Array(randomBytes(32));
  try {
    const address = hotWalletAddress(o.coin, key, o.network, o.coins);
    const value = encodeCoinItem({ coin: o.coin, privateKey: key, address });
    store.set(nextCoinItem(o.coin), value);
    wipe(value);
    await store.save(master);
    return { address };
  } finally {
    wipe(key);
  }
}

/** The address of a store item's key (the key wiped at once). */
function itemAddress(o: RotateOptions, value: Uint8Array, name: string): string {
  const item = parseCoinItem(value, name, o.coin);
  try {
    return hotWalletAddress(o.coin, item.privateKey, o.network, o.coins);
  } finally {
    wipe(item.privateKey);
  }
}

async function finishInStore(
  ctx: Context,
  o: RotateOptions,
  store: KeyStore,
  master: Uint8Array,
): Promise<{ address: string; tx: string }> {
  const nextValue = store.get(nextCoinItem(o.coin));
  const oldValue = store.get(coinItem(o.coin));
  try {
    const address = itemAddress(o, nextValue, nextCoinItem(o.coin));
    const tx = await finalSweep(ctx, o.coin, address);
    const when = stamp(new Date());
    store.set(retiredCoinItem(o.coin, when), oldValue);
    store.set(coinItem(o.coin), nextValue);
    store.delete(nextCoinItem(o.coin));
    await store.save(master);
    await archiveSweep(ctx, o.coin, when);
    return { address, tx };
  } finally {
    wipe(nextValue, oldValue);
  }
}

/** `--finish` again after one cut between the store's save and the record's move: completes it, or nothing is pending. */
async function resumeInStore(ctx: Context, o: RotateOptions, store: KeyStore): Promise<{ address: string; tx: string }> {
  const value = store.get(coinItem(o.coin));
  try {
    const address = itemAddress(o, value, coinItem(o.coin));
    const tx = await finishedBefore(ctx, o.coin, address);
    if (tx === null) throw new CliError(`no rotation of ${o.coin} is pending; nothing changed`, EXIT.PROBLEMS);
    return { address, tx };
  } finally {
    wipe(value);
  }
}

function said(ctx: Context, coin: string, address: string, finished: boolean, tx?: string): void {
  ctx.log.info({ coin, address, finished, tx }, finished ? 'hot wallet rotation finished' : 'hot wallet rotation started');
  if (ctx.json) return ctx.printJson({ coin, address, finished, ...(tx ? { sweep: tx } : {}) });
  ctx.print(
    finished
      ? `${coin}: ${address} is now the hot wallet (sweep ${tx}); the old key is kept as retired. Restart payserv.`
      : `${coin}: new hot wallet ${address} made; restart payserv: payouts wait, the old wallet is swept to it, then paid from it`,
  );
}

// pscli hotwallet rotate --coin C (Ethereum, Zcash, a Bitcoin-family coin): a new hot-wallet key made inside esman's store (item
// Coin.<TAG>.NEXT.JSON; in a development state directory STATE/wallets/<TAG>.next.key), only its address
// printed. payserv, restarted, sweeps the old wallet to it (src/payserv/rotation.ts). `--finish`, once
// payserv's host record says the sweep is final: the new key becomes Coin.<TAG>.JSON, the old one is
// kept as Coin.<TAG>.RETIRED.<time>.JSON (never paid from again).
import { randomBytes } from 'node:crypto';
import { access, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { btcWalletAddress } from '../../chains/btc/driver.js';
import { resolveNetwork } from '../../chains/btc/network.js';
import { familyOf, sameAddress } from '../../chains/address.js';
import { EsmanError, wipe } from '../../esman/errors.js';
import { coinItem, encodeCoinItem, nextCoinItem, parseCoinItem, retiredCoinItem } from '../../esman/items.js';
import { readIndex, type KeyStore } from '../../esman/store-file.js';
import { createHotKey, hotKeyPath, hotWalletAddress, loadHotKey, nextHotKeyPath } from '../../keys/hot-wallet.js';
import { rotationPath } from '../../payserv/rotation.js';
import { readJson } from '../../state/atomic-file.js';
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
  /** payserv's configuration, for a Bitcoin-family coin's network; default STATE/payserv.toml. */
  payservConfig?: string | undefined;
}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

const stamp = (d: Date) => d.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');

/** A key's address: the coin's, by tag (Ethereum, Zcash), or as payserv's [coins.TAG] on this host configures a Bitcoin-family coin. */
type AddressOf = (key: Uint8Array) => string;

/**
 * How the coin's keys become addresses. A Bitcoin-family coin has no family by tag: its network and wallet
 * type are payserv's configuration (`--payserv-config`, default STATE/payserv.toml: the host payserv runs on).
 */
async function addressOf(ctx: Context, o: RotateOptions): Promise<AddressOf> {
  if (familyOf(o.coin) !== 'manual') return (key) => hotWalletAddress(o.coin, key, o.network);
  const file = o.payservConfig ?? join(ctx.stateDir, 'payserv.toml');
  const manual = `coin ${o.coin} is paid by an operator: payserv holds no hot wallet for it (${file} pays it on no chain)`;
  if (!o.payservConfig && !(await exists(file))) throw new CliError(manual, EXIT.USAGE);
  const { loadConfig } = await import('../../config/load.js');
  const config = await loadConfig('payserv', file, { stateDir: ctx.stateDir }).catch((e: Error) => {
    throw new CliError(`coin ${o.coin}: payserv's configuration ${file} cannot be read (${e.message}); nothing written`, EXIT.USAGE);
  });
  const s = config.coins[o.coin];
  if (s?.chain !== 'btc' || !s.auto) throw new CliError(manual, EXIT.USAGE);
  const net = resolveNetwork(s.network);
  return (key) => btcWalletAddress(net, s.wallet_type, key);
}

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
}

export async function rotate(ctx: Context, o: RotateOptions): Promise<void> {
  const address = await addressOf(ctx, o);
  if (o.storage)
    return o.dir
      ? inStore(ctx, o, address, o.dir, o.storage)
      : Promise.reject(new CliError('--storage needs --dir (the shares)', EXIT.USAGE));
  if (!isDevelopmentStateDir(ctx))
    throw new CliError(
      `a rotation's new key is made inside the key store: pscli hotwallet rotate --coin ${o.coin} --dir D --storage FILE; nothing written`,
      EXIT.USAGE,
    );
  return inFiles(ctx, o, address);
}

async function inFiles(ctx: Context, o: RotateOptions, addressOf: AddressOf): Promise<void> {
  const current = hotKeyPath(ctx.stateDir, o.coin);
  const nextPath = nextHotKeyPath(ctx.stateDir, o.coin);
  if (!(await exists(current))) throw new CliError(`${o.coin} has no hot wallet (${current}): nothing to rotate`, EXIT.USAGE);
  const hasNext = await exists(nextPath);
  if (!o.finish) {
    if (hasNext) throw new CliError(`a rotation of ${o.coin} is already pending (${nextPath}); nothing written`, EXIT.PROBLEMS);
    await createHotKey(ctx.stateDir, o.coin, nextPath);
    return said(ctx, o.coin, addressOf(await loadHotKey(ctx.stateDir, o.coin, nextPath)), false);
  }
  if (!hasNext) throw new CliError(`no rotation of ${o.coin} is pending; nothing changed`, EXIT.PROBLEMS);
  const next = addressOf(await loadHotKey(ctx.stateDir, o.coin, nextPath));
  const tx = await finalSweep(ctx, o.coin, next);
  const when = stamp(new Date());
  await rename(current, current.replace(/\.key$/, `.retired-${when}.key`));
  await rename(nextPath, current);
  await archiveSweep(ctx, o.coin, when);
  return said(ctx, o.coin, next, true, tx);
}

async function inStore(ctx: Context, o: RotateOptions, addressOf: AddressOf, dir: string, storage: string): Promise<void> {
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
  if (o.finish && !names.has(nextCoinItem(o.coin)))
    throw new CliError(`no rotation of ${o.coin} is pending; nothing changed`, EXIT.PROBLEMS);
  const say = (s: string) => ctx.log.info({ coin: o.coin }, s);
  const input = passphrases(o.passphraseFd, process.stdin, process.stderr);
  const run = o.finish
    ? (s: KeyStore, m: Uint8Array) => finishInStore(ctx, o, addressOf, s, m)
    : (s: KeyStore, m: Uint8Array) => newInStore(o, addressOf, s, m);
  const r = await withStore(dir, storage, input, say, run).catch((e: unknown) => {
    if (e instanceof EsmanError) throw new CliError(`[${e.code}] ${e.message}`, EXIT.PROBLEMS);
    throw e;
  });
  return said(ctx, o.coin, r.address, o.finish, r.tx);
}

/** The new key, made here and sealed into the store; only its address leaves. */
async function newInStore(
  o: RotateOptions,
  addressOf: AddressOf,
  store: KeyStore,
  master: Uint8Array,
): Promise<{ address: string; tx?: string }> {
  const key = new Uint8Array(randomBytes(32));
  try {
    const address = addressOf(key);
    const value = encodeCoinItem({ coin: o.coin, privateKey: key, address });
    store.set(nextCoinItem(o.coin), value);
    wipe(value);
    await store.save(master);
    return { address };
  } finally {
    wipe(key);
  }
}

async function finishInStore(
  ctx: Context,
  o: RotateOptions,
  addressOf: AddressOf,
  store: KeyStore,
  master: Uint8Array,
): Promise<{ address: string; tx: string }> {
  const nextValue = store.get(nextCoinItem(o.coin));
  const oldValue = store.get(coinItem(o.coin));
  try {
    const item = parseCoinItem(nextValue, nextCoinItem(o.coin), o.coin);
    const address = addressOf(item.privateKey);
    wipe(item.privateKey);
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

function said(ctx: Context, coin: string, address: string, finished: boolean, tx?: string): void {
  ctx.log.info({ coin, address, finished, tx }, finished ? 'hot wallet rotation finished' : 'hot wallet rotation started');
  if (ctx.json) return ctx.printJson({ coin, address, finished, ...(tx ? { sweep: tx } : {}) });
  ctx.print(
    finished
      ? `${coin}: ${address} is now the hot wallet (sweep ${tx}); the old key is kept as retired. Restart payserv.`
      : `${coin}: new hot wallet ${address} made; restart payserv: payouts wait, the old wallet is swept to it, then paid from it`,
  );
}

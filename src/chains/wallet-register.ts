// Every hot wallet a coin was ever paid from on this host (STATE/hotwallets/<TAG>.json), written by payserv
// at a driver's start, before anything is signed. A rotation leaves the old wallet behind: its payments after
// an older backup are on the chain under an address the current key no longer names, so the unknown-spends
// check (README "Unknown spends from the hot wallet") must look at every wallet here, not only the current one.
// It lives on the host, beside the journal, and is backed up with it: the database cannot edit it.
import { join } from 'node:path';
import { readJson, writeJsonAtomic } from '../state/atomic-file.js';
import { sameAddress } from './address.js';

const MAX_WALLETS = 64;
const ADDRESS = /^[0-9A-Za-z:]{20,120}$/;

export const walletRegisterPath = (stateDir: string, tag: string) => join(stateDir, 'hotwallets', `${tag}.json`);

/** The coin's registered addresses (empty when none); a damaged file is an error naming it, never read as "none". */
export async function readWalletRegister(stateDir: string, tag: string): Promise<string[]> {
  const path = walletRegisterPath(stateDir, tag);
  const v = (await readJson(path)) as { coin?: unknown; addresses?: unknown } | null;
  if (v === null) return [];
  const list = v.addresses;
  if (v.coin !== tag || !Array.isArray(list) || list.length > MAX_WALLETS || list.some((a) => typeof a !== 'string' || !ADDRESS.test(a)))
    throw new Error(`hot-wallet register ${path} is damaged (coin ${tag}, up to ${MAX_WALLETS} addresses): restore it from a backup`);
  return list as string[];
}

/** Adds `address` to the coin's register (fsynced before it returns); returns the other addresses it holds. */
export async function registerWallet(stateDir: string, tag: string, address: string): Promise<string[]> {
  const known = await readWalletRegister(stateDir, tag);
  const same = (a: string) => sameAddress(tag, a, address);
  if (!known.some(same)) await writeJsonAtomic(walletRegisterPath(stateDir, tag), { coin: tag, addresses: [...known, address] });
  return known.filter((a) => !same(a));
}

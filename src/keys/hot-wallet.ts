import { randomBytes } from 'node:crypto';
import { chmod, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { secp256k1 } from '@noble/curves/secp256k1';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { checksumEvmAddress, zcashP2pkhAddress } from '../chains/address.js';
import { walletAddress } from '../chains/btc/address.js';
import { coinChain, type CoinChains } from '../chains/coin-chain.js';
import { reasonOf } from '../esman/errors.js';
import { pubkeyHash } from '../chains/zcash/script.js';
import type { Coin } from '../ledger/records.js';
import { writeJsonAtomic } from '../state/atomic-file.js';

// Hot-wallet keys: 32 random bytes per coin, only ever in this process's memory once read. In
// production they live in esman's store (`esman wallet`, item Coin.<TAG>.JSON); in a development state
// directory each is a file STATE/wallets/<TAG>.key readable by its owner only (others' access: refused).

export class HotKeyError extends Error {
  override name = 'HotKeyError';
}

export const hotKeyPath = (stateDir: string, tag: string) => join(stateDir, 'wallets', `${tag}.key`);
/** A rotation's new key in a development state directory (`pscli hotwallet rotate`). */
export const nextHotKeyPath = (stateDir: string, tag: string) => join(stateDir, 'wallets', `${tag}.next.key`);

/** The coin's hot-wallet private key; errors name the file and what is wrong, never the key. */
export async function loadHotKey(stateDir: string, tag: string, path = hotKeyPath(stateDir, tag)): Promise<Uint8Array> {
  let text: string;
  try {
    const st = await stat(path);
    if ((st.mode & 0o077) !== 0)
      throw new HotKeyError(`hot-wallet key ${path} is readable by others (mode ${(st.mode & 0o777).toString(8)}): chmod 600 it`);
    text = await readFile(path, 'utf8');
  } catch (e) {
    if (e instanceof HotKeyError) throw e;
    throw new HotKeyError(`hot-wallet key for ${tag} cannot be read from ${path}: ${reasonOf(e)}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new HotKeyError(`hot-wallet key ${path} is not JSON`);
  }
  const hex = (parsed as { privateKey?: unknown } | null)?.privateKey;
  if (typeof hex !== 'string' || !/^[0-9a-f]{64}$/.test(hex))
    throw new HotKeyError(`hot-wallet key ${path} has no 64-hex-digit "privateKey"`);
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

/** Creates a coin's hot-wallet key (refusing to overwrite one); returns nothing secret. */
export async function createHotKey(stateDir: string, tag: string, path = hotKeyPath(stateDir, tag)): Promise<string> {
  const exists = await stat(path).then(
    () => true,
    () => false,
  );
  if (exists) throw new HotKeyError(`hot-wallet key ${path} already exists; it is never overwritten`);
  await writeJsonAtomic(path, { coin: tag, privateKey: Buffer.from(randomBytes(32)).toString('hex') }, 0o600);
  await chmod(path, 0o600);
  return path;
}

/**
 * The address a hot-wallet key pays from: the EVM address; the Zcash transparent P2PKH address of its compressed
 * public key (on the configured network, else `network`); a Bitcoin-family coin's, as `coins` configures it
 * (P2WPKH or P2PKH per wallet_type, CashAddr on Bitcoin Cash).
 */
export function hotWalletAddress(tag: string, key: Uint8Array, network: Coin['network'] = 'mainnet', coins: CoinChains = {}): string {
  const c = coinChain(tag, coins);
  switch (c.family) {
    case 'evm':
      // The last 20 bytes of keccak-256 of the uncompressed public key without its 04 prefix (as viem's
      // privateKeyToAddress, without loading viem at pscli's start-up).
      return checksumEvmAddress(bytesToHex(keccak_256(secp256k1.getPublicKey(key, false).subarray(1)).subarray(-20)));
    case 'zcash':
      return zcashP2pkhAddress(c.network ?? network, pubkeyHash(secp256k1.getPublicKey(key, true)));
    case 'btc':
      return walletAddress(c.net, c.wallet, secp256k1.getPublicKey(key, true));
    case 'manual':
      throw new HotKeyError(
        `coin ${tag} is paid by an operator: payserv holds no hot wallet for it (a Bitcoin-family coin needs its [coins.${tag}] chain = "btc" in payserv.toml)`,
      );
  }
}

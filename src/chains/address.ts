import { createBase58check } from '@scure/base';
import { sha256 } from '@noble/hashes/sha2.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import type { Coin } from '../ledger/records.js';
import { decodeAddress, type DeclineCode } from './btc/address.js';
import { coinChain, type AddressChains } from './coin-chain.js';
import { equalBytes } from './zcash/bytes.js';
import { p2pkhHashOf, p2pkhScript, p2shHashOf, p2shScript } from './zcash/script.js';

// Address validity per coin family (src/chains/coin-chain.ts says which). A wrong-network or mistyped
// address is a business failure (the request is declined), never a payment into the void. `coins`:
// payserv's [coins.TAG] tables where the caller has them (the intake: its chain = "btc" ones); without,
// a Bitcoin-family coin is unknown (paid by an operator, its address checked as printable text only).

export { familyOf, type Family } from './coin-chain.js';

/**
 * One address in two spellings: EVM addresses ignore case (EIP-55 is a checksum, not a different address);
 * Bitcoin-family addresses are the script they pay (bech32 in either case, Litecoin's old P2SH versions); base58 otherwise exact.
 */
export function sameAddress(tag: string, a: string, b: string, coins: AddressChains = {}): boolean {
  const c = coinChain(tag, coins);
  if (c.family === 'evm') return a.toLowerCase() === b.toLowerCase();
  if (c.family === 'btc') {
    const [x, y] = [decodeAddress(c.net, a), decodeAddress(c.net, b)];
    if (x.ok && y.ok) return equalBytes(x.script, y.script);
  }
  return a === b;
}

const base58check = createBase58check(sha256);

/** Transparent address prefixes (two bytes before the 20-byte hash). */
const ZCASH_PREFIXES: Record<Coin['network'], Record<string, string>> = {
  mainnet: { '1cb8': 'P2PKH (t1)', '1cbd': 'P2SH (t3)' },
  testnet: { '1d25': 'P2PKH (tm)', '1cba': 'P2SH (t2)' },
};

const PRINTABLE = /^[\x21-\x7e]{1,128}$/;

/** The EIP-55 spelling of 40 lowercase hex digits: a letter is uppercase where keccak-256 of the digits has a nibble of 8 or more. */
export function checksumEvmAddress(lowerHex: string): string {
  const hash = bytesToHex(keccak_256(new TextEncoder().encode(lowerHex)));
  return `0x${[...lowerHex].map((c, i) => (parseInt(hash[i]!, 16) >= 8 ? c.toUpperCase() : c)).join('')}`;
}

/** viem's isAddress(a, { strict: true }) without loading viem (pscli's start-up): all lowercase, or exactly the EIP-55 spelling. */
function isEvmAddress(address: string): boolean {
  if (!/^0x[0-9a-fA-F]{40}$/.test(address)) return false;
  const lower = address.slice(2).toLowerCase();
  return address.slice(2) === lower || address === checksumEvmAddress(lower);
}

/** Why an address is declined: the reason, and for a Bitcoin-family coin the driver's code (src/chains/btc/address.ts). */
export interface AddressDecline {
  code?: DeclineCode;
  reason: string;
}

/** Null when the address is valid for the coin and its network, else why not. */
export function validateAddress(coin: Pick<Coin, 'tag' | 'network'>, address: string, coins: AddressChains = {}): string | null {
  return addressDecline(coin, address, coins)?.reason ?? null;
}

/** validateAddress with the Bitcoin-family driver's decline code beside the reason. */
export function addressDecline(coin: Pick<Coin, 'tag' | 'network'>, address: string, coins: AddressChains = {}): AddressDecline | null {
  const c = coinChain(coin.tag, coins);
  if (c.family === 'btc') {
    // The network is the configuration's: the ledger's coin record says only mainnet or testnet (used by Zcash).
    const d = decodeAddress(c.net, address);
    return d.ok ? null : { code: d.code, reason: d.reason };
  }
  const reason = otherFamilyProblem(coin, c.family, address);
  return reason === null ? null : { reason };
}

/** An Ethereum-family, Zcash or operator-paid coin's address: why it is refused, or null. */
function otherFamilyProblem(coin: Pick<Coin, 'tag' | 'network'>, family: 'evm' | 'zcash' | 'manual', address: string): string | null {
  switch (family) {
    case 'evm':
      return isEvmAddress(address) ? null : `not a valid ${coin.tag} address (0x + 40 hex digits, EIP-55 checksum if mixed case)`;
    case 'zcash': {
      let raw: Uint8Array;
      try {
        raw = base58check.decode(address);
      } catch {
        return `not a valid ${coin.tag} transparent address (base58check)`;
      }
      if (raw.length !== 22) return `not a valid ${coin.tag} transparent address (wrong length)`;
      const prefix = Buffer.from(raw.subarray(0, 2)).toString('hex');
      if (ZCASH_PREFIXES[coin.network][prefix]) return null;
      const other = coin.network === 'mainnet' ? 'testnet' : 'mainnet';
      return ZCASH_PREFIXES[other][prefix]
        ? `a ${other} address for a ${coin.network} coin`
        : `not a ${coin.tag} transparent address (unknown prefix)`;
    }
    case 'manual':
      return PRINTABLE.test(address) ? null : 'address is empty, too long or not printable';
  }
}

/** Encodes a transparent P2PKH address from a 20-byte public key hash (used by the seed and, later, the Zcash driver). */
export function zcashP2pkhAddress(network: Coin['network'], pubkeyHash: Uint8Array): string {
  if (pubkeyHash.length !== 20) throw new Error('a P2PKH hash is 20 bytes');
  const prefix = network === 'mainnet' ? [0x1c, 0xb8] : [0x1d, 0x25];
  return base58check.encode(Uint8Array.from([...prefix, ...pubkeyHash]));
}

/** The scriptPubKey paying a transparent address of this network (P2PKH or P2SH); throws for any address validateAddress refuses. */
export function zcashAddressScript(network: Coin['network'], address: string): Uint8Array {
  const problem = validateAddress({ tag: 'ZEC', network }, address);
  if (problem) throw new Error(`cannot pay ${JSON.stringify(address.slice(0, 60))}: ${problem}`);
  const raw = base58check.decode(address);
  const hash = raw.slice(2);
  const kind = ZCASH_PREFIXES[network][Buffer.from(raw.subarray(0, 2)).toString('hex')];
  if (kind?.startsWith('P2PKH')) return p2pkhScript(hash);
  if (kind?.startsWith('P2SH')) return p2shScript(hash);
  throw new Error(`unreachable: ${address} passed validation with prefix kind ${String(kind)}`);
}

/** The address a transparent output script pays (P2PKH or P2SH), or null for any other script. */
export function zcashScriptAddress(network: Coin['network'], script: Uint8Array): string | null {
  const pkh = p2pkhHashOf(script);
  if (pkh) return zcashP2pkhAddress(network, pkh);
  const sh = p2shHashOf(script);
  if (!sh) return null;
  const prefix = network === 'mainnet' ? [0x1c, 0xbd] : [0x1c, 0xba];
  return base58check.encode(Uint8Array.from([...prefix, ...sh]));
}

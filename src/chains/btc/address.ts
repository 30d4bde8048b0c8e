// Addresses of a Bitcoin-family network, to the scriptPubKey they pay: base58check P2PKH and P2SH,
// bech32 (BIP173) P2WPKH and P2WSH, bech32m (BIP350) P2TR, and Bitcoin Cash's CashAddr. Anything else
// is declined with a code and a reason an operator can act on: the wrong network (a testnet address on
// mainnet, another coin's address), a bad checksum, a script type payserv does not pay, a segwit
// address on a coin without segwit, a Litecoin MWEB address (no transparent output can pay it).
// Payments compare scripts, never spellings: Litecoin shows an old-version P2SH address in its new form.

import { bech32, bech32m, createBase58check } from '@scure/base';
import { sha256 } from '@noble/hashes/sha2.js';
import { hash160, p2pkhHashOf, p2pkhScript, p2shHashOf, p2shScript } from '../zcash/script.js';
import { CashAddrError, decodeCashAddr, encodeCashAddr } from './cashaddr.js';
import { PRESETS, type BtcNetwork, type PresetName } from './network.js';

export type ScriptKind = 'p2pkh' | 'p2sh' | 'p2wpkh' | 'p2wsh' | 'p2tr';

export type DeclineCode = 'malformed' | 'checksum' | 'wrong_network' | 'unsupported' | 'no_segwit' | 'mweb';

export type DecodedAddress = { ok: true; kind: ScriptKind; script: Uint8Array } | { ok: false; code: DeclineCode; reason: string };

const base58check = createBase58check(sha256);
const BASE58 = /^[1-9A-HJ-NP-Za-km-z]+$/;
/** BIP173's limit; MWEB addresses are longer, and are recognised by their prefix before any decoding. */
const BECH32_MAX = 90;
const MAX_ADDRESS = 128;

const decline = (code: DeclineCode, reason: string): DecodedAddress => ({ ok: false, code, reason });

/** The scriptPubKey `address` pays on `net`, or why it is declined. */
export function decodeAddress(net: BtcNetwork, address: string): DecodedAddress {
  if (typeof address !== 'string' || address.length === 0 || address.length > MAX_ADDRESS || !/^[\x21-\x7e]+$/.test(address))
    return decline('malformed', 'address is empty, too long or not printable');
  return decodeSegwit(net, address) ?? decodeCash(net, address) ?? decodeBase58(net, address);
}

/** The script of an address already validated; throws with the reason otherwise. */
export function addressScript(net: BtcNetwork, address: string): Uint8Array {
  const d = decodeAddress(net, address);
  if (!d.ok) throw new Error(`cannot pay ${JSON.stringify(address.slice(0, 60))}: ${d.reason}`);
  return d.script;
}

// ---- bech32 / bech32m -------------------------------------------------------------------------

const ALL_HRPS = new Set(
  Object.values(PRESETS)
    .flatMap((p) => [p.bech32Hrp, p.mwebHrp])
    .filter((h): h is string => h !== null),
);

/** Presets (other than `net`) whose field equals `value`: names a wrong-network address. */
function othersWith(net: BtcNetwork, pick: (p: (typeof PRESETS)[PresetName]) => unknown, value: unknown): string[] {
  return (Object.keys(PRESETS) as PresetName[]).filter((n) => n !== net.name && pick(PRESETS[n]) === value);
}

function wrongNetwork(net: BtcNetwork, others: string[]): DecodedAddress {
  return decline('wrong_network', `an address of ${others.join(' or ')}, not of ${net.name}`);
}

/** Null when the address is not bech32-shaped with a prefix any preset (or `net`) uses. */
function decodeSegwit(net: BtcNetwork, address: string): DecodedAddress | null {
  const lower = address.toLowerCase();
  const sep = lower.lastIndexOf('1');
  if (sep < 1) return null;
  const hrp = lower.slice(0, sep);
  const mweb = hrp === net.mwebHrp || (ALL_HRPS.has(hrp) && hrp.endsWith('mweb'));
  if (mweb) return decline('mweb', 'an MWEB (MimbleWimble) address: not payable by a transparent transaction');
  if (hrp !== net.bech32Hrp && !ALL_HRPS.has(hrp)) return null;
  if (address.length > BECH32_MAX) return decline('malformed', 'longer than a segwit address');
  const v0 = bech32.decodeUnsafe(address, BECH32_MAX);
  const v1 = v0 ? undefined : bech32m.decodeUnsafe(address, BECH32_MAX);
  const decoded = v0 ?? v1;
  if (!decoded) {
    const shape = address === lower || address === address.toUpperCase();
    return shape && /^[qpzry9x8gf2tvdw0s3jn54khce6mua7l]+$/.test(lower.slice(sep + 1))
      ? decline('checksum', 'bad bech32 checksum (a mistyped address)')
      : decline('malformed', 'not a valid bech32 address');
  }
  if (!net.segwit) return decline('no_segwit', `a segwit address: ${net.name} has no segwit outputs`);
  if (hrp !== net.bech32Hrp)
    return wrongNetwork(
      net,
      othersWith(net, (p) => p.bech32Hrp, hrp),
    );
  const [version, ...rest] = decoded.words;
  const program = bech32.fromWordsUnsafe(rest);
  if (version === undefined || !program || program.length < 2 || program.length > 40)
    return decline('malformed', 'not a valid witness program');
  // BIP350: version 0 is bech32, every later version bech32m; the other encoding is a wrong checksum.
  if ((version === 0) !== Boolean(v0)) return decline('checksum', `witness version ${version} with the wrong checksum variant`);
  return segwitScript(version, program);
}

function segwitScript(version: number, program: Uint8Array): DecodedAddress {
  if (version === 0 && program.length === 20) return { ok: true, kind: 'p2wpkh', script: Uint8Array.from([0x00, 0x14, ...program]) };
  if (version === 0 && program.length === 32) return { ok: true, kind: 'p2wsh', script: Uint8Array.from([0x00, 0x20, ...program]) };
  if (version === 0) return decline('malformed', `a version 0 witness program of ${program.length} bytes`);
  if (version === 1 && program.length === 32) return { ok: true, kind: 'p2tr', script: Uint8Array.from([0x51, 0x20, ...program]) };
  return decline('unsupported', `witness version ${version} (${program.length} bytes): not a script type payserv pays`);
}

// ---- CashAddr ---------------------------------------------------------------------------------

const CASH_PREFIXES = new Set(Object.values(PRESETS).flatMap((p) => (p.cashAddrPrefix ? [p.cashAddrPrefix] : [])));

/** Null when the address is not CashAddr-shaped (a known prefix, or a bare payload on a CashAddr network). */
function decodeCash(net: BtcNetwork, address: string): DecodedAddress | null {
  const lower = address.toLowerCase();
  const colon = lower.indexOf(':');
  const prefix = colon < 0 ? null : lower.slice(0, colon);
  const bare = colon < 0 && net.cashAddrPrefix !== null && /^[qpzr][qpzry9x8gf2tvdw0s3jn54khce6mua7l]{41,}$/.test(lower);
  if (!bare && !(prefix && (CASH_PREFIXES.has(prefix) || prefix === net.cashAddrPrefix))) return null;
  if (!net.cashAddrPrefix)
    return wrongNetwork(
      net,
      othersWith(net, (p) => p.cashAddrPrefix, prefix),
    );
  let d;
  try {
    d = decodeCashAddr(address, net.cashAddrPrefix);
  } catch (e) {
    const err = e as CashAddrError;
    return decline(err.code, `not a valid CashAddr address: ${err.message}`);
  }
  if (d.prefix !== net.cashAddrPrefix)
    return wrongNetwork(
      net,
      othersWith(net, (p) => p.cashAddrPrefix, d.prefix),
    );
  if (d.type === 'p2pkh') return { ok: true, kind: 'p2pkh', script: p2pkhScript(d.hash) };
  const script = d.hash.length === 20 ? p2shScript(d.hash) : Uint8Array.from([0xaa, 0x20, ...d.hash, 0x87]); // P2SH32: OP_HASH256
  return { ok: true, kind: 'p2sh', script };
}

// ---- base58check ------------------------------------------------------------------------------

function decodeBase58(net: BtcNetwork, address: string): DecodedAddress {
  if (!BASE58.test(address)) return decline('malformed', 'not a base58, bech32 or CashAddr address');
  let raw: Uint8Array;
  try {
    raw = base58check.decode(address);
  } catch {
    return decline('checksum', 'bad base58check checksum (a mistyped address)');
  }
  if (raw.length !== 21) return decline('malformed', `${raw.length - 1} bytes after the version: not a P2PKH or P2SH address`);
  const version = raw[0] as number;
  const hash = raw.slice(1);
  if (version === net.p2pkh) return { ok: true, kind: 'p2pkh', script: p2pkhScript(hash) };
  if (net.p2sh.includes(version)) return { ok: true, kind: 'p2sh', script: p2shScript(hash) };
  const others = othersWith(net, (p) => p.p2pkh, version).concat(
    othersWith(net, (p) => (p.p2sh as readonly number[]).includes(version), true),
  );
  return others.length > 0
    ? wrongNetwork(net, [...new Set(others)])
    : decline('wrong_network', `unknown address version ${version} for ${net.name}`);
}

// ---- Encoding (the hot wallet's own address, and outputs shown back) -------------------------

function base58Address(version: number, hash: Uint8Array): string {
  return base58check.encode(Uint8Array.from([version, ...hash]));
}

/** The P2PKH address of a compressed public key (CashAddr on Bitcoin Cash). */
export function p2pkhAddress(net: BtcNetwork, publicKey: Uint8Array): string {
  const h = hash160(publicKey);
  return net.cashAddrPrefix ? encodeCashAddr(net.cashAddrPrefix, 'p2pkh', h) : base58Address(net.p2pkh, h);
}

/** The P2WPKH address of a compressed public key; throws on a coin without segwit. */
export function p2wpkhAddress(net: BtcNetwork, publicKey: Uint8Array): string {
  if (!net.segwit || !net.bech32Hrp) throw new Error(`${net.name} has no segwit`);
  if (publicKey.length !== 33) throw new Error('P2WPKH needs a compressed public key');
  return bech32.encode(net.bech32Hrp, [0, ...bech32.toWords(hash160(publicKey))]);
}

/** A hot wallet's address of its compressed public key: P2WPKH (bech32), or P2PKH (CashAddr on Bitcoin Cash). */
export function walletAddress(net: BtcNetwork, kind: 'p2wpkh' | 'p2pkh', publicKey: Uint8Array): string {
  return kind === 'p2wpkh' ? p2wpkhAddress(net, publicKey) : p2pkhAddress(net, publicKey);
}

/** The address a scriptPubKey pays on `net` (its canonical spelling), or null for a script with none. */
export function scriptAddress(net: BtcNetwork, script: Uint8Array): string | null {
  const pkh = p2pkhHashOf(script);
  if (pkh) return net.cashAddrPrefix ? encodeCashAddr(net.cashAddrPrefix, 'p2pkh', pkh) : base58Address(net.p2pkh, pkh);
  const sh = p2shHashOf(script);
  if (sh) return net.cashAddrPrefix ? encodeCashAddr(net.cashAddrPrefix, 'p2sh', sh) : base58Address(net.p2sh[0] as number, sh);
  if (net.cashAddrPrefix && script.length === 35 && script[0] === 0xaa && script[1] === 0x20 && script[34] === 0x87)
    return encodeCashAddr(net.cashAddrPrefix, 'p2sh', script.slice(2, 34));
  if (!net.segwit || !net.bech32Hrp) return null;
  const v0 = script[0] === 0x00 && (script.length === 22 || script.length === 34) && script[1] === script.length - 2;
  if (v0) return bech32.encode(net.bech32Hrp, [0, ...bech32.toWords(script.slice(2))]);
  if (script.length === 34 && script[0] === 0x51 && script[1] === 0x20)
    return bech32m.encode(net.bech32Hrp, [1, ...bech32m.toWords(script.slice(2))]);
  return null;
}

/** A compressed-key WIF of this network (a node's dumpprivkey) to its 32-byte secret; throws naming what is wrong, never the key. */
export function decodeWif(net: BtcNetwork, wif: string): Uint8Array {
  let raw: Uint8Array;
  try {
    raw = base58check.decode(wif);
  } catch {
    throw new Error('not a WIF key (base58check)');
  }
  if (raw[0] !== net.wif) throw new Error(`a WIF key of version ${String(raw[0])}, ${net.name} uses ${net.wif}`);
  if (raw.length !== 34 || raw[33] !== 0x01) throw new Error('not a compressed-key WIF (payserv signs with compressed keys only)');
  return raw.slice(1, 33);
}

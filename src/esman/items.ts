// What the store holds, by name, in the original's style (DBGW.TLS.KEY, Coin.ETH.JSON). Configuration
// files name these items; the values (keys, passwords) live only in the store and in process memory.
import { z } from 'zod';
import { TLS_IDENTITIES, type SignerRole, type TlsIdentity } from '../pki/roles.js';
import { EsmanError } from './errors.js';

const ITEM_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export function checkItemName(name: string): void {
  if (!ITEM_NAME.test(name))
    throw new EsmanError(
      'bad_option',
      `item name ${JSON.stringify(name)}: expected letters, digits, '.', '_' or '-' (at most 100), e.g. Coin.ETH.JSON`,
    );
}

export const signerItems = (role: SignerRole) => ({ cert: `${role}.SIGN.CRT`, key: `${role}.SIGN.KEY` });
export const tlsItems = (identity: TlsIdentity) => ({ cert: `${identity}.TLS.CRT`, key: `${identity}.TLS.KEY` });
/**
 * Items `esman export` may write to a file: the TLS pairs of the processes that never unlock from the
 * store (dbgw, pscli, the pool's back end) and read their pair from their state directory. payserv's
 * and the intake's pairs (both unlock from their store), every signing key, hot wallet and password stay in the store.
 */
export function checkExportable(name: string): void {
  const exportable = TLS_IDENTITIES.filter((i) => i !== 'payserv' && i !== 'intake').flatMap((i) => Object.values(tlsItems(i)));
  if (!exportable.includes(name))
    throw new EsmanError('not_exportable', `${name} never leaves the store as a file: only ${exportable.join(', ')} may be exported`);
}
export const coinItem = (tag: string) => `Coin.${tag}.JSON`;
/** A rotation's new key (`pscli hotwallet rotate`), beside the current one until the sweep to it is final. */
export const nextCoinItem = (tag: string) => `Coin.${tag}.NEXT.JSON`;
/** The old key once a rotation is finished: kept, never paid from again. */
export const retiredCoinItem = (tag: string, stamp: string) => `Coin.${tag}.RETIRED.${stamp}.JSON`;
/** The database parameters dbgw is given once the store is open. */
export const DATABASE_ITEM = 'DB.JSON';
/** The intake's MiningCore adapter: MiningCore's own PostgreSQL, {"url": "postgres://…"} like DB.JSON. */
export const MININGCORE_ITEM = 'MININGCORE.JSON';

const coinSchema = z.strictObject({
  coin: z.string(),
  privateKey: z.string().regex(/^[0-9a-f]{64}$/),
  /** The address the key pays from, as the operator funded it: checked against the key on load. */
  address: z.string().optional(),
});

export interface CoinItem {
  coin: string;
  privateKey: Uint8Array;
  address?: string;
}

/** A coin's hot-wallet item; errors name the item and the field, never the value. */
export function parseCoinItem(value: Uint8Array, name: string, tag: string): CoinItem {
  let parsed: z.infer<typeof coinSchema>;
  try {
    parsed = coinSchema.parse(JSON.parse(Buffer.from(value).toString('utf8')));
  } catch {
    throw new EsmanError('bad_item', `store item ${name} is not {"coin", "privateKey": 64 hex digits, "address"?}`);
  }
  if (parsed.coin !== tag) throw new EsmanError('bad_item', `store item ${name} is the key of coin ${parsed.coin}, not ${tag}`);
  return {
    coin: parsed.coin,
    privateKey: Uint8Array.from(Buffer.from(parsed.privateKey, 'hex')),
    ...(parsed.address ? { address: parsed.address } : {}),
  };
}

export const encodeCoinItem = (c: CoinItem): Buffer =>
  Buffer.from(
    JSON.stringify({ coin: c.coin, privateKey: Buffer.from(c.privateKey).toString('hex'), ...(c.address ? { address: c.address } : {}) }),
    'utf8',
  );

const nodeAuthSchema = z.strictObject({ user: z.string().min(1), password: z.string().min(1) });

/** A node's RPC credentials; errors name the item, never the password. */
export function parseNodeAuthItem(value: Uint8Array, name: string): { user: string; password: string } {
  try {
    return nodeAuthSchema.parse(JSON.parse(Buffer.from(value).toString('utf8')));
  } catch {
    throw new EsmanError('bad_item', `store item ${name} is not {"user": "…", "password": "…"}`);
  }
}

/** node_url with the credentials of a node-auth item, as HTTP basic auth in the URL the RPC client reads. */
export function withCredentials(nodeUrl: string, auth: { user: string; password: string }): string {
  const u = new URL(nodeUrl);
  u.username = encodeURIComponent(auth.user);
  u.password = encodeURIComponent(auth.password);
  return u.toString();
}

const databaseSchema = z.strictObject({ url: z.string().regex(/^postgres(ql)?:\/\//) });

export function parseDatabaseItem(value: Uint8Array, name = DATABASE_ITEM): { url: string } {
  try {
    return databaseSchema.parse(JSON.parse(Buffer.from(value).toString('utf8')));
  } catch {
    throw new EsmanError('bad_item', `store item ${name} is not {"url": "postgres://…"}`);
  }
}

/** PEM text of an item, checked to look like PEM so a swapped item fails here with its name. */
export function pemItem(value: Uint8Array, name: string): string {
  const text = Buffer.from(value).toString('utf8');
  if (!/^-----BEGIN [A-Z0-9 ]+-----/.test(text.trimStart())) throw new EsmanError('bad_item', `store item ${name} is not PEM`);
  return text;
}

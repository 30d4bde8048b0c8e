// Whether an item's value is what its name says, checked before a store is written: a DB.JSON that is
// not JSON or a SIGN.KEY that is not a key would otherwise be found only by payserv, after the key
// ceremony. Messages name the item and what is wrong, never quote the value.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { SIGNER_ROLES, TLS_IDENTITIES } from '../pki/roles.js';
import { EsmanError } from './errors.js';
import { DATABASE_ITEM, MININGCORE_ITEM, parseCoinItem, parseDatabaseItem, parseNodeAuthItem, signerItems, tlsItems } from './items.js';

const COIN_ITEM = /^Coin\.([A-Z0-9]{2,10})\.JSON$/;
/** A node's RPC credentials, named by [coins.T] node_auth_item: by convention <TAG>.RPC.JSON. */
const NODE_AUTH_ITEM = /^[A-Za-z0-9]+\.RPC\.JSON$/;

const pairs = [...SIGNER_ROLES.map((r) => signerItems(r)), ...TLS_IDENTITIES.map((i) => tlsItems(i))];
const CERTS = new Set(pairs.map((p) => p.cert));
const KEYS = new Set(pairs.map((p) => p.key));

/** The names `esman create` takes from a directory, for the operator told a file is not one. */
export const KNOWN_ITEMS = `<role>.SIGN.{CRT,KEY}, <identity>.TLS.{CRT,KEY}, Coin.<TAG>.JSON, ${DATABASE_ITEM}, ${MININGCORE_ITEM}, <TAG>.RPC.JSON`;

export const isKnownItem = (name: string): boolean =>
  CERTS.has(name) ||
  KEYS.has(name) ||
  name === DATABASE_ITEM ||
  name === MININGCORE_ITEM ||
  COIN_ITEM.test(name) ||
  NODE_AUTH_ITEM.test(name);

/** The parsers' own messages start "store item NAME "; here the item is named once, in front. */
const reasonOf = (e: unknown, name: string): string => (e as Error).message.replace(`store item ${name} `, '');

function certProblem(value: Uint8Array): string | null {
  try {
    // X509Certificate takes DER too; payserv reads PEM.
    if (!Buffer.from(value).toString('utf8').trimStart().startsWith('-----BEGIN CERTIFICATE-----')) throw new Error('not PEM');
    new X509Certificate(Buffer.from(value));
    return null;
  } catch {
    return 'is not a PEM certificate';
  }
}

function keyProblem(value: Uint8Array): string | null {
  try {
    createPrivateKey({ key: Buffer.from(value), format: 'pem' });
    return null;
  } catch {
    return 'is not a PEM private key';
  }
}

/** What is wrong with a known item's value, or null; an unknown name is not judged here. */
function valueProblem(name: string, value: Uint8Array): string | null {
  if (CERTS.has(name)) return certProblem(value);
  if (KEYS.has(name)) return keyProblem(value);
  try {
    const coin = COIN_ITEM.exec(name);
    if (coin) parseCoinItem(value, name, coin[1]!);
    else if (name === DATABASE_ITEM || name === MININGCORE_ITEM) parseDatabaseItem(value, name);
    else if (NODE_AUTH_ITEM.test(name)) parseNodeAuthItem(value, name);
    return null;
  } catch (e) {
    return reasonOf(e, name);
  }
}

/** An item whose name esman knows must hold what the name says (`esman add` takes other names as they are). */
export function checkItemValue(name: string, value: Uint8Array): void {
  const problem = valueProblem(name, value);
  if (problem) throw new EsmanError('bad_item', `${name}: ${problem}`);
}

/** A certificate and its key given together must be one pair: a swapped file would fail only at payserv's start. */
function checkPairs(items: ReadonlyMap<string, Uint8Array>): void {
  for (const { cert, key } of pairs) {
    const c = items.get(cert);
    const k = items.get(key);
    if (!c || !k) continue;
    if (!new X509Certificate(Buffer.from(c)).checkPrivateKey(createPrivateKey({ key: Buffer.from(k), format: 'pem' })))
      throw new EsmanError('bad_item', `${key}: is not the key of ${cert}`);
  }
}

/** Every item of a new store: a known name, a value that is what the name says, pairs that match. Throws on the first wrong one. */
export function checkNewItems(items: ReadonlyArray<readonly [string, Uint8Array]>): void {
  for (const [name, value] of items) {
    if (!isKnownItem(name)) throw new EsmanError('bad_item', `${name}: not an item payserv uses (expected ${KNOWN_ITEMS})`);
    checkItemValue(name, value);
  }
  checkPairs(new Map(items));
}

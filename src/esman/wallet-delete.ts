// The rules of deleting a hot-wallet item: its key is the only way to the address's funds, so it goes
// only once the node says the address holds no more than dust, and once the operator typed its name.
// A hot-wallet item is known by its name (Coin.<TAG>.JSON, or a [coins.TAG] key_item of payserv's
// configuration) or by its content (a coin and a key), whatever it is called.
import { EsmanError } from './errors.js';

/** Coin.<TAG>.JSON, and a rotation's keys: the next (Coin.<TAG>.NEXT.JSON, swept to) and the retired (Coin.<TAG>.RETIRED.<time>.JSON). */
const COIN_ITEM = /^Coin\.([A-Z0-9]{2,10})\.(?:NEXT\.|RETIRED\.\d{8}T\d{6}\.)?JSON$/;

/** The coin of a hot-wallet item's name, or null for any other item. */
export function hotWalletTag(name: string): string | null {
  return COIN_ITEM.exec(name)?.[1] ?? null;
}

/**
 * What a value says of itself when it looks like a hot-wallet key (a JSON object with a `coin` or a
 * `privateKey`): its coin, or null when it names none. Null for any other value.
 */
export function hotWalletContent(value: Uint8Array): { coin: string | null } | null {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(value).toString('utf8'));
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v) || !('coin' in v || 'privateKey' in v)) return null;
  const coin = (v as { coin?: unknown }).coin;
  return { coin: typeof coin === 'string' && /^[A-Z0-9]{2,10}$/.test(coin) ? coin : null };
}

/**
 * The coin of a hot-wallet item, from everything that names it (its name, payserv's key_item, its
 * content): they must agree, and one must name it; otherwise the item cannot be judged and stays.
 */
export function hotWalletCoin(name: string, said: ReadonlyArray<string | null>): string {
  const coins = [...new Set(said.filter((c): c is string => c !== null))];
  if (coins.length === 1) return coins[0]!;
  throw new EsmanError(
    'bad_item',
    coins.length
      ? `${name} looks like a hot-wallet key, named the key of ${coins.join(' and ')}: it cannot be judged, nothing deleted`
      : `${name} looks like a hot-wallet key of no coin esman can read: its balance cannot be checked, nothing deleted`,
  );
}

/** The coin and key of a value shaped like a hot-wallet item, or null. */
function coinAndKey(value: Uint8Array): string | null {
  try {
    const v = JSON.parse(Buffer.from(value).toString('utf8')) as { coin?: unknown; privateKey?: unknown };
    return typeof v.coin === 'string' && typeof v.privateKey === 'string' && /^[0-9a-fA-F]{64}$/.test(v.privateKey)
      ? `${v.coin}:${v.privateKey.toLowerCase()}`
      : null;
  } catch {
    return null;
  }
}

/**
 * `esman add --replace` never overwrites a hot-wallet key with another (the way to retire one is to empty it and
 * delete it); the same coin and key again (a corrected address) loses nothing and is taken.
 */
export function refuseReplaceHotWallet(name: string, old: Uint8Array, next: Uint8Array): void {
  const kept = coinAndKey(old);
  if (kept !== null && kept === coinAndKey(next)) return;
  throw new EsmanError(
    'hot_wallet',
    `${name} is a hot-wallet key: --replace never overwrites one with another value, the key is the only way to its address's funds; ` +
      `sweep the wallet, then esman delete ${name} (it checks the wallet is empty) and add the new key`,
  );
}

/** What the node says the address holds, in base units, and the most that counts as dust (less than the fee to sweep it). */
export interface WalletFunds {
  address: string;
  held: bigint;
  dust: bigint;
  unit: string;
}

/** How the operator checks and empties the wallet first: said with every refusal, so the way out is in the message. */
const SWEEP_FIRST = 'check its balance on the node and sweep it to another wallet first; the key is the only way to those funds';

export function refuseFunded(name: string, f: WalletFunds): void {
  if (f.held > f.dust)
    throw new EsmanError(
      'wallet_funded',
      `${name}: hot wallet ${f.address} holds ${f.held} ${f.unit} (dust is at most ${f.dust}): nothing deleted; ${SWEEP_FIRST}`,
    );
}

export function balanceUnknown(name: string, address: string, why: string): EsmanError {
  return new EsmanError(
    'balance_unknown',
    `${name}: the balance of hot wallet ${address} cannot be read (${why}): nothing deleted; an unanswered node is no proof the wallet is empty: ${SWEEP_FIRST}`,
  );
}

export const confirmPrompt = (name: string, f: WalletFunds) =>
  `${name} is the key of hot wallet ${f.address}, which holds ${f.held} ${f.unit}; type ${name} to delete it: `;

/** The operator's answer: the item's name typed back (surrounding spaces aside); anything else, or none, deletes nothing. */
export function checkConfirmation(name: string, answer: string | null): void {
  if (answer?.trim() !== name)
    throw new EsmanError(
      'not_confirmed',
      `${name}: ${answer === null ? 'no answer' : 'the answer is not the item name'}: nothing deleted (type the name back, or --yes in a script)`,
    );
}

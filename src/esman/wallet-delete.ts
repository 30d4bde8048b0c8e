// The rules of deleting a hot-wallet item (Coin.<TAG>.JSON): its key is the only way to the address's funds,
// so it goes only once the node says the address holds no more than dust, and once the operator typed its name.
import { EsmanError } from './errors.js';

/** Coin.<TAG>.JSON, and a rotation's keys: the next (Coin.<TAG>.NEXT.JSON, swept to) and the retired (Coin.<TAG>.RETIRED.<time>.JSON). */
const COIN_ITEM = /^Coin\.([A-Z0-9]{2,10})\.(?:NEXT\.|RETIRED\.\d{8}T\d{6}\.)?JSON$/;

/** The coin of a hot-wallet item's name, or null for any other item. */
export function hotWalletTag(name: string): string | null {
  return COIN_ITEM.exec(name)?.[1] ?? null;
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

// Exact amounts. The ledger stores NUMERIC(50,20) (as the original did), so an amount is a bigint
// counting 10^-20 units of its coin. Amounts cross every boundary (SQL, JSON, CLI) as decimal
// strings; a JS number never carries money.

/** An exact amount in units of 10^-SCALE of a coin. */
export type Amount = bigint & { readonly __amount: unique symbol };

export const SCALE = 20;
const UNIT = 10n ** BigInt(SCALE);
/** NUMERIC(50,20) holds at most 30 integer digits. */
const INTEGER_DIGITS_MAX = 30;
const LIMIT = 10n ** BigInt(INTEGER_DIGITS_MAX + SCALE);
const DECIMAL = /^(-)?(\d+)(?:\.(\d+))?$/;

export class AmountError extends Error {
  override name = 'AmountError';
}

export const ZERO = 0n as Amount;

/** Parses a decimal string ("12", "-0.5", "1.50000000000000000000"); rejects anything inexact. */
export function parseAmount(text: string, what = 'amount'): Amount {
  const m = DECIMAL.exec(text);
  if (!m) throw new AmountError(`${what}: not a decimal number: ${JSON.stringify(text.slice(0, 60))}`);
  const [, sign, whole = '', frac = ''] = m;
  const fracTrimmed = frac.replace(/0+$/, '');
  if (fracTrimmed.length > SCALE) throw new AmountError(`${what}: more than ${SCALE} decimal places: ${text}`);
  const units = BigInt(whole) * UNIT + BigInt(fracTrimmed.padEnd(SCALE, '0') || '0');
  return checked(sign ? -units : units, what);
}

/** Canonical decimal string: no trailing fractional zeros, no "-0". */
export function formatAmount(a: Amount): string {
  const neg = a < 0n;
  const abs = neg ? -a : a;
  const whole = abs / UNIT;
  const frac = (abs % UNIT).toString().padStart(SCALE, '0').replace(/0+$/, '');
  return `${neg ? '-' : ''}${whole}${frac ? `.${frac}` : ''}`;
}

export function fromUnits(units: bigint, what = 'amount'): Amount {
  return checked(units, what);
}

export function add(a: Amount, b: Amount): Amount {
  return checked(a + b, 'sum');
}

export function sub(a: Amount, b: Amount): Amount {
  return checked(a - b, 'difference');
}

export function neg(a: Amount): Amount {
  return -a as Amount;
}

export function sum(xs: Iterable<Amount>): Amount {
  let s = 0n;
  for (const x of xs) s += x;
  return checked(s, 'sum');
}

/** Converts to a coin's base units (wei, zatoshi); refuses an amount finer than the coin allows. */
export function toBaseUnits(a: Amount, decimals: number): bigint {
  if (!Number.isInteger(decimals) || decimals < 0 || decimals > SCALE) throw new AmountError(`decimals out of range: ${decimals}`);
  const step = 10n ** BigInt(SCALE - decimals);
  if (a % step !== 0n) throw new AmountError(`amount ${formatAmount(a)} has more than ${decimals} decimal places`);
  return a / step;
}

export function fromBaseUnits(units: bigint, decimals: number): Amount {
  if (!Number.isInteger(decimals) || decimals < 0 || decimals > SCALE) throw new AmountError(`decimals out of range: ${decimals}`);
  return checked(units * 10n ** BigInt(SCALE - decimals), 'amount');
}

function checked(units: bigint, what: string): Amount {
  if (units >= LIMIT || units <= -LIMIT) throw new AmountError(`${what} exceeds NUMERIC(50,${SCALE})`);
  return units as Amount;
}

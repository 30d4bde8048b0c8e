// MiningCore keeps amounts in decimal(28,12) columns (whole coins, 12 places, at most 16 integer digits); payserv
// keeps base units (wei, zatoshi). Reading is exact for coins with 12 or more decimals. Writing a payment back
// rounds DOWN to 12 places (for Ethereum, up to 10^6 - 1 wei are not shown): what MiningCore shows as paid never
// exceeds what was paid on the chain, and the remainder is returned so the adapter can log and reconcile it.

import { PoolFormatError } from '../errors.js';

export const DECIMAL_SCALE = 12;
const INTEGER_DIGITS = 16;
/** |value| < 10^16 whole coins, in 10^-12 units. */
const LIMIT = 10n ** BigInt(INTEGER_DIGITS + DECIMAL_SCALE);
const DECIMAL = /^(-)?(\d{1,16})(?:\.(\d{1,12}))?$/;

/** A decimal(28,12) text (as PostgreSQL returns it, e.g. "1.500000000000") to 10^-12 units. */
export function parseDecimal28(text: string, what: string): bigint {
  const m = DECIMAL.exec(text);
  if (!m) throw new PoolFormatError(what, text, 'not a decimal(28,12) number');
  const [, sign, whole = '', frac = ''] = m;
  const units = BigInt(whole) * 10n ** BigInt(DECIMAL_SCALE) + BigInt(frac.padEnd(DECIMAL_SCALE, '0'));
  return sign ? -units : units;
}

/** 10^-12 units to the fixed 12-place text PostgreSQL itself prints for decimal(28,12). */
export function formatDecimal28(units: bigint): string {
  if (units >= LIMIT || units <= -LIMIT) throw new PoolFormatError('decimal(28,12) amount', units.toString(), 'exceeds 16 integer digits');
  const abs = units < 0n ? -units : units;
  const step = 10n ** BigInt(DECIMAL_SCALE);
  const text = `${abs / step}.${(abs % step).toString().padStart(DECIMAL_SCALE, '0')}`;
  return units < 0n ? `-${text}` : text;
}

/** A payment in base units to decimal(28,12), rounded down; the base units it leaves out are returned. */
export function baseUnitsToDecimal28(baseUnits: bigint, decimals: number): { text: string; remainderBaseUnits: bigint } {
  checkDecimals(decimals);
  if (baseUnits < 0n) throw new PoolFormatError('base units', baseUnits.toString(), 'negative (write the positive payment and negate it)');
  if (decimals <= DECIMAL_SCALE) {
    return { text: formatDecimal28(baseUnits * 10n ** BigInt(DECIMAL_SCALE - decimals)), remainderBaseUnits: 0n };
  }
  const step = 10n ** BigInt(decimals - DECIMAL_SCALE);
  return { text: formatDecimal28(baseUnits / step), remainderBaseUnits: baseUnits % step };
}

/**
 * A decimal(28,12) amount (10^-12 units, parseDecimal28) to base units. Exact when the coin has 12 or more
 * decimals; for a coin with fewer (Zcash's 8) MiningCore's PPLNS shares are finer than the coin's unit, so the
 * amount is rounded toward zero and the dust (in 10^-12 units) returned.
 */
export function decimal28UnitsToBaseUnits(units: bigint, decimals: number): { baseUnits: bigint; dust: bigint } {
  checkDecimals(decimals);
  if (decimals >= DECIMAL_SCALE) return { baseUnits: units * 10n ** BigInt(decimals - DECIMAL_SCALE), dust: 0n };
  const step = 10n ** BigInt(DECIMAL_SCALE - decimals);
  return { baseUnits: units / step, dust: units % step };
}

function checkDecimals(decimals: number): void {
  if (!Number.isInteger(decimals) || decimals < 0 || decimals > 30)
    throw new PoolFormatError('coin decimals', String(decimals), 'not 0 to 30');
}

// JSON read without losing a digit. Bitcoin Core writes amounts as JSON numbers with 8 decimals
// ("value": 0.00000001, 21000000.00000000); JSON.parse would turn them into floats, and a float is not
// money. Here every number that is not a safe integer (a fraction, an exponent, or a large integer) is
// kept as its source text in a JsonDecimal, and amounts are converted from that text to satoshis exactly.
// Node 20 has no JSON.parse source access (a V8 11.4+ feature), hence this small parser.

/** A JSON number kept as written. */
export class JsonDecimal {
  constructor(readonly text: string) {}
}

export class JsonSyntaxError extends Error {
  override readonly name = 'JsonSyntaxError';
}

/** Deeper nesting than any node reply has: a hostile reply must not exhaust the stack. */
const DEPTH_MAX = 64;
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
// eslint-disable-next-line no-control-regex -- JSON forbids raw control characters in a string: matched to refuse them.
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const SPACE = /[ \t\n\r]*/y;

/** Parses JSON text; numbers that are safe integers become numbers, every other number a JsonDecimal. */
export function parseJsonLossless(text: string): unknown {
  const p = { text, at: 0 };
  const v = value(p, 0);
  skip(p);
  if (p.at !== text.length) throw fail(p, 'trailing characters');
  return v;
}

type Cursor = { text: string; at: number };

function value(p: Cursor, depth: number): unknown {
  if (depth > DEPTH_MAX) throw fail(p, `nested deeper than ${DEPTH_MAX}`);
  skip(p);
  const c = p.text[p.at];
  if (c === '{') return object(p, depth);
  if (c === '[') return array(p, depth);
  if (c === '"') return string(p);
  for (const [word, v] of [
    ['true', true],
    ['false', false],
    ['null', null],
  ] as const) {
    if (p.text.startsWith(word, p.at)) {
      p.at += word.length;
      return v;
    }
  }
  NUMBER.lastIndex = p.at;
  const m = NUMBER.exec(p.text);
  if (!m) throw fail(p, 'a value expected');
  p.at += m[0].length;
  const n = Number(m[0]);
  return /^-?\d+$/.test(m[0]) && Number.isSafeInteger(n) ? n : new JsonDecimal(m[0]);
}

function object(p: Cursor, depth: number): Record<string, unknown> {
  p.at++;
  // No prototype: a key "__proto__" is an ordinary key, never a prototype change.
  const o = Object.create(null) as Record<string, unknown>;
  skip(p);
  if (p.text[p.at] === '}') return (p.at++, o);
  for (;;) {
    skip(p);
    if (p.text[p.at] !== '"') throw fail(p, 'a key expected');
    const k = string(p);
    skip(p);
    if (p.text[p.at++] !== ':') throw fail(p, "':' expected");
    o[k] = value(p, depth + 1);
    skip(p);
    const c = p.text[p.at++];
    if (c === '}') return o;
    if (c !== ',') throw fail(p, "',' or '}' expected");
  }
}

function array(p: Cursor, depth: number): unknown[] {
  p.at++;
  const a: unknown[] = [];
  skip(p);
  if (p.text[p.at] === ']') return (p.at++, a);
  for (;;) {
    a.push(value(p, depth + 1));
    skip(p);
    const c = p.text[p.at++];
    if (c === ']') return a;
    if (c !== ',') throw fail(p, "',' or ']' expected");
  }
}

function string(p: Cursor): string {
  STRING.lastIndex = p.at;
  const m = STRING.exec(p.text);
  if (!m) throw fail(p, 'a bad string');
  p.at += m[0].length;
  return JSON.parse(m[0]) as string;
}

function skip(p: Cursor): void {
  SPACE.lastIndex = p.at;
  p.at += (SPACE.exec(p.text) as RegExpExecArray)[0].length;
}

function fail(p: Cursor, why: string): JsonSyntaxError {
  return new JsonSyntaxError(`not JSON at character ${p.at}: ${why}`);
}

/** A coin amount as a node writes it (at most 8 decimals, no exponent) to satoshis; null when it is not one. */
export function satoshisOf(v: unknown): bigint | null {
  const text = v instanceof JsonDecimal ? v.text : typeof v === 'number' && Number.isSafeInteger(v) ? String(v) : null;
  if (text === null) return null;
  const m = /^(\d+)(?:\.(\d{1,8}))?$/.exec(text);
  if (!m) return null;
  return BigInt(m[1] as string) * 100_000_000n + BigInt((m[2] ?? '').padEnd(8, '0'));
}

/** A non-money number (a fee rate's float, verification progress) as a JS number. */
export function numberOf(v: unknown): number | null {
  if (typeof v === 'number') return v;
  return v instanceof JsonDecimal && Number.isFinite(Number(v.text)) ? Number(v.text) : null;
}

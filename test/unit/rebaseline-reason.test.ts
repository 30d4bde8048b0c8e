// L5: an operator's rebaseline reason is one line of plain text, checked by payserv itself (not only by pscli).
import { describe, expect, it } from 'vitest';
import { METHODS } from '../../src/api/payserv.js';

const parse = (reason: string) => METHODS['Utils.Rebaseline'].safeParse({ reason });

describe('Utils.Rebaseline reason', () => {
  it('refuses control characters, line breaks, bidi controls; bounded length', () => {
    for (const bad of [
      '\u001b[2J fake',
      'ok\nREPLY: [REBASELINED] x',
      'a\rb c',
      'abc\u202edef',
      'abc\u061cdef',
      'x'.repeat(501),
      '  ',
      'ab',
    ])
      expect(parse(bad).success, JSON.stringify(bad.slice(0, 20))).toBe(false);
    expect(parse("payserv-1's disk died 2026-12-04, no backup; ticket 4411").success).toBe(true);
  });
});

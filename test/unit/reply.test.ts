// The REPLY line pscli prints and the demo shows: a refusal always with its code.
import { describe, expect, it } from 'vitest';
import { refusalLine, replyLine } from '../../src/api/reply.js';

describe('REPLY lines', () => {
  it('a refusal names its code before the reason, as pscli prints it', () => {
    const r = { reply: 'ERROR', code: 'disabled', message: 'payouts are disabled: an operator enables them' };
    expect(refusalLine(r)).toBe('REPLY: [ERROR] disabled: payouts are disabled: an operator enables them');
    expect(replyLine(r)).toBe(refusalLine(r));
    expect(replyLine({ reply: 'DECLINED', code: 'coin_inactive' })).toBe('REPLY: [DECLINED] coin_inactive');
  });

  it('any other reply: the word and its message, no code', () => {
    expect(replyLine({ reply: 'APPROVED' })).toBe('REPLY: [APPROVED]');
    expect(replyLine({ reply: 'SENT', message: '2 sent' })).toBe('REPLY: [SENT] 2 sent');
  });
});

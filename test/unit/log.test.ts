import { describe, expect, it } from 'vitest';
import { createLogger, REDACTED, SECRET_FIELDS } from '../../src/log/index.js';

function capture() {
  const lines: string[] = [];
  return {
    lines,
    stream: { write: (s: string) => void lines.push(s) },
    parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

const SECRET = 'correct-horse-battery-staple';

describe('createLogger', () => {
  it('writes JSON lines with service and pid', () => {
    const out = capture();
    createLogger('pscli', 'info', out.stream).info({ n: 1 }, 'hello');
    const [line] = out.parsed();
    expect(line).toMatchObject({ service: 'pscli', pid: process.pid, n: 1, msg: 'hello', level: 30 });
  });

  it('respects the level', () => {
    const out = capture();
    const log = createLogger('pscli', 'warn', out.stream);
    log.info('hidden');
    log.warn('shown');
    expect(out.parsed().map((l) => l.msg)).toEqual(['shown']);
  });

  it.each(SECRET_FIELDS)('never writes a secret field %s, at depth 0, 1 or 2', (field) => {
    const out = capture();
    const log = createLogger('payserv', 'trace', out.stream);
    log.info({ [field]: SECRET }, 'top');
    log.info({ wallet: { [field]: SECRET } }, 'nested');
    log.info({ coin: { wallet: { [field]: SECRET } } }, 'deeper');
    log.info({ items: [{ [field]: SECRET }] }, 'in an array');
    expect(out.lines).toHaveLength(4);
    const all = out.lines.join('');
    expect(all).not.toContain(SECRET);
    expect(all).toContain(REDACTED);
    // The rest of the record survives.
    expect(out.parsed()[1]).toMatchObject({ wallet: { [field]: REDACTED } });
  });
});

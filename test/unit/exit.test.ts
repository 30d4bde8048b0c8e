import { describe, expect, it } from 'vitest';
import { CliError, errorLine, EXIT, exitCodeOf, refusalExit, scrubSecrets } from '../../src/cli/exit.js';
import { redactUrl } from '../../src/db/db.js';
import { ConfigError } from '../../src/config/load.js';

describe('exit codes and error lines', () => {
  it('maps errors to codes', () => {
    expect(exitCodeOf(new ConfigError('x'))).toBe(EXIT.USAGE);
    expect(exitCodeOf(new CliError('x', EXIT.PROBLEMS))).toBe(EXIT.PROBLEMS);
    expect(exitCodeOf(new Error('x'))).toBe(EXIT.RUNTIME);
    expect(exitCodeOf('thrown string')).toBe(EXIT.RUNTIME);
  });

  it("maps payserv's refusals: naming what does not exist is usage (2), its data out of reach or its own failure runtime (3), any other refusal 1", () => {
    for (const code of ['database_unavailable', 'internal', 'shutting_down', 'overloaded', 'timeout'])
      expect(refusalExit(code), code).toBe(EXIT.RUNTIME);
    for (const code of ['unknown_id', 'unknown_coin', 'unknown_wallet', 'invalid_correction'])
      expect(refusalExit(code), code).toBe(EXIT.USAGE);
    for (const code of ['busy', 'disabled', 'wrong_status', 'balance_short', 'no_autopay', null, undefined])
      expect(refusalExit(code)).toBe(EXIT.PROBLEMS);
  });

  it('prints one line, no stack, no password', () => {
    const e = new Error('failed\n  at postgresql://admin:s3cret@db.example:5432/pay\nmore');
    const line = errorLine('pscli', e);
    expect(line).toBe('pscli: failed at postgresql://admin:***@db.example:5432/pay more');
    expect(errorLine('pscli', new TypeError('x is undefined'))).toBe('pscli: internal error (TypeError): x is undefined');
    expect(errorLine('pscli', 42)).toBe('pscli: unexpected failure: 42');
    expect(scrubSecrets('postgres://u@h/db and postgres://:pw@h')).toBe('postgres://u@h/db and postgres://:***@h');
    // libpq's password query parameter (found by an outsider: printed in clear).
    expect(scrubSecrets('at postgres://u@h/db?sslmode=x&password=TOP&a=1 and ?pass=TOP')).toBe(
      'at postgres://u@h/db?sslmode=x&password=***&a=1 and ?pass=***',
    );
    expect(redactUrl('postgres://u:pw@h:5432/db?password=TOP&sslmode=require')).not.toMatch(/pw|TOP/);
  });

  it('scrubs a message of megabytes (a long run of letters once made the scan quadratic: minutes, a hung log line)', () => {
    const long = `${'a'.repeat(2_000_000)} postgres://u:secret@h/db ${'b1+.'.repeat(250_000)}`;
    const out = scrubSecrets(long);
    expect(out).toContain(' postgres://u:***@h/db ');
    expect(out).not.toContain('secret');
    expect(out.length).toBe(long.length - 'secret'.length + 3);
  });
});

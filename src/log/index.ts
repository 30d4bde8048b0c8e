// Structured logs: JSON lines on stderr, because stdout carries command output that scripts parse.
import pino from 'pino';
import type { LogLevel, Service } from '../config/schema.js';

export type Logger = pino.Logger;
export type LogDestination = pino.DestinationStream;

/** Field names that hold key material in this codebase; a log line must never carry their values. */
export const SECRET_FIELDS = ['key', 'privateKey', 'passphrase', 'password', 'secret', 'seed', 'mnemonic'] as const;

// pino's redaction is path based and compiled once per logger, so the depth is spelt out:
// `{password}`, `{db: {password}}` and `{req: {auth: {password}}}` are all censored.
export const REDACT_PATHS = SECRET_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`]);

export const REDACTED = '[redacted]';

/**
 * A logger for `service`. `destination` is for tests that capture lines; by default stderr, written
 * synchronously so the last line before an exit is not lost in a buffer.
 */
export function createLogger(service: Service | string, level: LogLevel, destination?: LogDestination): Logger {
  return pino(
    {
      level,
      base: { service, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: REDACTED },
    },
    destination ?? pino.destination({ dest: 2, sync: true }),
  );
}

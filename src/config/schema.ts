// The shape of every service's configuration file. Strict objects everywhere: a misspelt key must stop
// the service at start, not silently fall back to a default that pays out differently.
import { z } from 'zod';

export const SERVICES = ['pscli', 'payserv', 'dbgw', 'esman'] as const;
export type Service = (typeof SERVICES)[number];

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

// Messages are phrased for the operator who edits the TOML file, not in zod's terms.
export const positiveInt = () =>
  z.int({ error: 'expected a positive integer' }).positive({ error: 'expected a positive integer' });

export const nonEmptyString = () =>
  z.string({ error: 'expected a string' }).min(1, { error: 'expected a non-empty string' });

/** A TOML table: strict, so unknown keys are refused, and named as a table when given a scalar. */
export function table<S extends z.ZodRawShape>(shape: S) {
  return z.strictObject(shape, {
    error: (issue) => (issue.code === 'invalid_type' ? 'expected a table' : undefined),
  });
}

const database = table({
  // A URL may carry a password (fine to read, never to log: see redactUrl). Absent = embedded PGlite.
  url: nonEmptyString()
    .refine((u) => /^postgres(ql)?:\/\//.test(u), { error: 'expected a postgres:// or postgresql:// URL' })
    .optional(),
  pool_size: positiveInt().default(10),
  statement_timeout_ms: positiveInt().default(60_000),
});

const log = table({
  // No default here: it depends on the service (see DEFAULT_LOG_LEVEL).
  level: z.enum(LOG_LEVELS, { error: `expected one of ${LOG_LEVELS.join(', ')}` }).optional(),
});

/**
 * pscli reports on stdout and its checks mean "clean" by saying nothing, so it logs only warnings by
 * default; the services log every event.
 */
export const DEFAULT_LOG_LEVEL: Record<Service, LogLevel> = { pscli: 'warn', payserv: 'info', dbgw: 'info', esman: 'info' };

/** Settings every service shares. `prefault` (not `default`) so an absent table still gets its inner defaults. */
export const baseShape = {
  state_dir: nonEmptyString().optional(),
  database: database.prefault({}),
  log: log.prefault({}),
};

/**
 * What each service adds to the base, as extra top-level tables. Later issues fill these in
 * (payserv: [rpc], [coins.ETH], ...); each key here becomes a key of that service's resolved config.
 */
export const serviceShapes = {
  pscli: {},
  payserv: {},
  dbgw: {},
  esman: {},
} satisfies Record<Service, z.ZodRawShape>;

export type ServiceShapes = typeof serviceShapes;

export function fileSchema<S extends Service>(service: S) {
  return table({ ...baseShape, ...serviceShapes[service] });
}

/** The parsed file, before environment overrides and path resolution. */
export type FileConfig<S extends Service> = z.output<ReturnType<typeof fileSchema<S>>>;

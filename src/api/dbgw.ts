// dbgw's contract: a fixed set of methods, and Dbgw.Query runs one of a fixed set of named operations
// (src/data/catalog.ts) with bound parameters. No caller ever sends SQL text, a table or a column name.
import { z } from 'zod';
import { wireValueSchema } from '../data/wire.js';
import type { TlsIdentity } from '../pki/roles.js';

/** What a payserv checks before it trusts a gateway: the same project, component and protocol, and the same release. */
export const DBGW_VERSION = { project: 'payserv', component: 'dbgw', version: '0.1.0', protocol: 2 } as const;
/** `catalog`: the digest of the operations served (src/data/catalog.ts). */
export type DbgwVersion = { project: string; component: string; version: string; protocol: number; catalog?: string | undefined };

const SESSION = z.string().regex(/^[0-9a-f]{32}$/, 'a session id');

const NoParams = z.union([z.tuple([]), z.strictObject({})]).optional();

export const DBGW_METHODS = {
  'Dbgw.Version': NoParams,
  'Dbgw.Status': NoParams,
  /** The database parameters, from payserv's key store once it is open (as in the original). */
  'Dbgw.Connect': z.strictObject({
    url: z
      .string()
      .max(2048)
      .regex(/^postgres(ql)?:\/\//, 'a postgres:// URL'),
    pool_size: z.int().min(2).max(200).optional(),
    statement_timeout_ms: z.int().positive().max(3_600_000).optional(),
  }),
  /** One named operation, alone (its own transaction) or inside a session opened by Dbgw.Begin. */
  'Dbgw.Query': z.strictObject({
    op: z.string().max(100),
    params: z.array(wireValueSchema).max(100),
    session: SESSION.optional(),
  }),
  /** Holds one connection for the caller: a transaction (committed or rolled back by Dbgw.End), or a plain session (advisory locks). */
  'Dbgw.Begin': z.strictObject({ mode: z.enum(['transaction', 'session']) }),
  'Dbgw.End': z.strictObject({ session: SESSION, commit: z.boolean() }),
  /** Keeps a quiet session from being rolled back as abandoned. */
  'Dbgw.Touch': z.strictObject({ session: SESSION }),
} as const;

export type DbgwMethod = keyof typeof DBGW_METHODS;

/**
 * Who may call what: payserv all; pscli the version, the status, and read-only operations outside any
 * session (its checks: the service checks the operation); nobody else anything.
 */
export const DBGW_ACL: Record<TlsIdentity, (m: DbgwMethod) => boolean> = {
  payserv: () => true,
  pscli: (m) => m === 'Dbgw.Version' || m === 'Dbgw.Status' || m === 'Dbgw.Query',
  backend: () => false,
  dbgw: () => false,
  intake: () => false,
};

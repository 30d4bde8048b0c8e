// dbgw's contract: a fixed set of named operations; no caller ever sends SQL text, a table or a column
// name. This is the gateway's first part (issue 6, in progress): the version handshake and the hand-over
// of the database parameters. The ledger's read and write operations join this table as payserv's
// data-access interface moves behind it.
import { z } from 'zod';
import type { TlsIdentity } from '../pki/roles.js';

/** What a payserv checks before it trusts a gateway: the same project, component and protocol, and the same release. */
export const DBGW_VERSION = { project: 'payserv', component: 'dbgw', version: '0.1.0', protocol: 1 } as const;
export type DbgwVersion = { project: string; component: string; version: string; protocol: number };

const NoParams = z.union([z.tuple([]), z.strictObject({})]).optional();

export const DBGW_METHODS = {
  'Dbgw.Version': NoParams,
  'Dbgw.Status': NoParams,
  /** The database parameters, from payserv's key store once it is open (as in the original). */
  'Dbgw.Connect': z.strictObject({
    url: z.string().max(2048).regex(/^postgres(ql)?:\/\//, 'a postgres:// URL'),
    pool_size: z.int().min(2).max(200).optional(),
    statement_timeout_ms: z.int().positive().max(3_600_000).optional(),
  }),
} as const;

export type DbgwMethod = keyof typeof DBGW_METHODS;

/** Who may call what: payserv all; pscli the version and status; nobody else anything. */
export const DBGW_ACL: Record<TlsIdentity, (m: DbgwMethod) => boolean> = {
  payserv: () => true,
  pscli: (m) => m === 'Dbgw.Version' || m === 'Dbgw.Status',
  backend: () => false,
  dbgw: () => false,
};

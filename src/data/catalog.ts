import { createHash } from 'node:crypto';
import { ALERTS } from './ops/alerts.js';
import { AUDIT } from './ops/audit.js';
import { AUTOPAY } from './ops/autopay.js';
import { BACKUP } from './ops/backup.js';
import { CHAINS } from './ops/chains.js';
import { CHECKPOINTS } from './ops/checkpoints.js';
import { DASHBOARD } from './ops/dashboard.js';
import { LEDGER } from './ops/ledger.js';
import { LOCKS } from './ops/locks.js';
import { METRICS } from './ops/metrics.js';
import { MONITOR } from './ops/monitor.js';
import { PAYMENTS } from './ops/payments.js';
import { PAYOUTS } from './ops/payouts.js';
import { WRITES } from './ops/writes.js';
import { isOp, type Op } from '../db/op.js';

// Every operation payserv runs, by name: what dbgw serves, and nothing else. A name declared twice is
// a build error, not a silent shadowing.

const AREAS = {
  ALERTS,
  AUDIT,
  AUTOPAY,
  BACKUP,
  CHAINS,
  CHECKPOINTS,
  DASHBOARD,
  LEDGER,
  LOCKS,
  METRICS,
  MONITOR,
  PAYMENTS,
  PAYOUTS,
  WRITES,
};

function build(): ReadonlyMap<string, Op> {
  const all = new Map<string, Op>();
  for (const [area, ops] of Object.entries(AREAS)) {
    for (const o of Object.values(ops)) {
      if (!isOp(o)) throw new Error(`${area} holds something that is not an operation`);
      if (all.has(o.name)) throw new Error(`operation ${o.name} is declared twice`);
      all.set(o.name, o);
    }
  }
  return all;
}

export const CATALOG = build();

/**
 * A digest of every name and statement: payserv and dbgw of one release agree on it, and a gateway
 * built from other statements is refused at the handshake even if it claims the same release.
 */
export const CATALOG_DIGEST = createHash('sha256')
  .update(JSON.stringify([...CATALOG.values()].map((o) => [o.name, o.sql]).sort()))
  .digest('hex')
  .slice(0, 16);

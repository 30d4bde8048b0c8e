// pscli against a database or a running payserv, for the DB test projects (test/support/pscli.ts stays light for unit tests).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { startPayserv, type RunningPayserv } from '../../src/app/service.js';
import { loadConfig, type Env } from '../../src/config/load.js';
import { EXIT } from '../../src/cli/exit.js';
import { pkiPaths } from '../../src/esman/pki-files.js';
import { createLogger } from '../../src/log/index.js';
import { backend, createPgDatabase, type TestDatabase } from './db.js';
import { payservData } from './dbgw.js';
import type { TestLedger } from './ledger.js';
import { EMBEDDED, runPscli } from './pscli.js';
import { tmpStateDir } from './tmp.js';

/**
 * A state directory where `pscli db` works in this project, and pscli's environment for it: the embedded
 * database under pglite, a fresh database on the test server under postgres (pushed to `dropLater`).
 */
export async function pscliWorkspace(dropLater: TestDatabase[]): Promise<{ stateDir: string; env: Env }> {
  const stateDir = await tmpStateDir();
  let env: Env = { PAYSERV_STATE_DIR: stateDir, ...(backend() === 'pglite' ? EMBEDDED : {}) };
  if (backend() === 'postgres') {
    const t = await createPgDatabase();
    dropLater.push(t);
    env = { ...env, DATABASE_URL: t.url };
  }
  return { stateDir, env };
}

/**
 * The backup at `from` restored onto a fresh host (a pscliWorkspace), as README "Backup and restore" says: `pscli
 * restore` naming the lost host's pinned root (in `lostStateDir`), which must succeed. The workspace restored to.
 */
export async function restoreOntoFreshHost(
  dropLater: TestDatabase[],
  from: string,
  lostStateDir: string,
): Promise<{ stateDir: string; env: Env }> {
  const ws = await pscliWorkspace(dropLater);
  const r = await runPscli(['restore', '--from', from, '--payserv-state-dir', ws.stateDir, '--root', pkiPaths(lostStateDir).root], {
    ...ws.env,
    PAYSERV_STATE_DIR: ws.stateDir,
  });
  expect(r.code, r.stderr).toBe(EXIT.OK);
  return ws;
}

/** A payserv serving a test ledger over mutual TLS (the admin key loaded), and pscli.toml in its state directory pointing at it. */
export async function payservForPscli(l: TestLedger): Promise<RunningPayserv> {
  const config = await loadConfig('payserv', undefined, { stateDir: l.stateDir, env: {} });
  config.rpc.port = 0;
  config.keys.admin = true;
  const running = await startPayserv(config, createLogger('payserv', 'silent'), await payservData(l.db, l.stateDir));
  writeFileSync(join(l.stateDir, 'pscli.toml'), `[payserv]\nport = ${running.server.port}\n`);
  return running;
}

// The ledger intake as a service: the pinned root, its keys (esman's store or development files), the
// database, each coin's block-reward check (or a Bitcoin-family coin's network), and the JSON-RPC server over mutual TLS that only the pool's
// back end may call. Every call is logged with what it did to which block, wallet or request.
import { INTAKE_ACL, INTAKE_METHODS, type IntakeMethod } from '../api/intake.js';
import { refusalCodeOf, RpcError } from '../api/jsonrpc.js';
import type { Config } from '../config/load.js';
import type { Db } from '../db/db.js';
import { requireCurrentSchema } from '../db/migrate.js';
import { openDatabase } from '../db/open.js';
import { ConfigError } from '../config/error.js';
import { stateDirFile } from '../config/state-file.js';
import { AccountHeads } from './heads.js';
import { DATABASE_ITEM, MININGCORE_ITEM } from '../esman/items.js';
import { loadTrust, pkiPaths } from '../esman/pki-files.js';
import type { Logger } from '../log/index.js';
import type { RpcContract } from '../rpc/params.js';
import { startRpcServer, type RestRoute, type RpcServer } from '../rpc/server.js';
import { alertHookOf, Alerts } from '../alerts/alerts.js';
import { IntakeAlerts } from './alerts.js';
import { addressChains, rewardCheckers, type NodeAuth } from './checkers.js';
import type { Intake } from './context.js';
import { dispatchIntake } from './handlers.js';
import { loadIntakeKeys } from './keys.js';

export const INTAKE_CONTRACT: RpcContract<IntakeMethod> = { methods: INTAKE_METHODS, allowed: (identity, m) => INTAKE_ACL[identity](m) };

/** Read-only methods served beside the intake's own on its listener (the miners' API, src/miners), with GET paths for them. */
export interface IntakeExtension<E extends string> {
  contract: RpcContract<E>;
  routes(url: URL): RestRoute<E> | null;
  handle(method: E, params: unknown): Promise<unknown>;
}

/** Builds the extension once the intake and its nodes' credentials are loaded. */
export type Extend<E extends string> = (intake: Intake, nodeAuth: NodeAuth) => IntakeExtension<E>;

/** The intake's contract and an extension's, as one: a method is the extension's when its contract names it. */
function withExtension<E extends string>(ext: IntakeExtension<E> | null): RpcContract<IntakeMethod | E> {
  if (!ext) return INTAKE_CONTRACT as RpcContract<IntakeMethod | E>;
  const isExt = (m: string): m is E => Object.hasOwn(ext.contract.methods, m);
  return {
    methods: { ...INTAKE_METHODS, ...ext.contract.methods },
    allowed: (identity, m) => (isExt(m) ? ext.contract.allowed(identity, m) : INTAKE_ACL[identity](m)),
  };
}

export interface RunningIntake {
  intake: Intake;
  server: RpcServer;
  /** [pools.miningcore]: MiningCore's database, from the configuration or the store (the adapter runs in src/cli/intake.ts). */
  miningcoreUrl: string | null;
  stop(): Promise<void>;
}

/** MiningCore's database, named in [pools.miningcore] database_url or the store's MININGCORE.JSON, once. */
function miningcoreUrl(config: Config<'intake'>, fromStore: string | undefined): string {
  const named = config.pools.miningcore?.database_url;
  if (named && fromStore)
    throw new ConfigError(
      `MiningCore's database is named twice, in [pools.miningcore] database_url and in the store's ${MININGCORE_ITEM}: keep one`,
    );
  const url = named ?? fromStore;
  if (!url) throw new ConfigError(`[pools.miningcore] needs MiningCore's database: database_url, or ${MININGCORE_ITEM} in the store`);
  return url;
}

async function openDb(database: Config<'intake'>['database'], stateDir: string): Promise<Db> {
  // An empty ledger of its own is never what a production intake missing its database wants.
  if (!database.url && !database.embedded)
    throw new ConfigError(
      'no database configured: set [database] url, a DB.JSON item in the store, or [database] embedded = true for development',
    );
  const db = await openDatabase(database, stateDir);
  try {
    await requireCurrentSchema(db);
    return db;
  } catch (e) {
    await db.close().catch(() => undefined);
    throw e;
  }
}

/** `opened`: a migrated database the caller holds (tests), left open by stop(). `signal` ends the wait for esman manager's key. */
export async function startIntake<E extends string = never>(
  config: Config<'intake'>,
  log: Logger,
  opened?: Db,
  signal?: AbortSignal,
  extend?: Extend<E>,
): Promise<RunningIntake> {
  const trust = stateDirFile(config, 'intake', () => loadTrust(config.stateDir));
  // Before the key ceremony: a configuration that cannot work fails now (then again with the nodes' credentials).
  rewardCheckers(config);
  const chains = addressChains(config);
  const keys = await loadIntakeKeys(config, trust, log, signal);
  const checkers = rewardCheckers(config, keys.nodeAuth);
  if (keys.databaseUrl && config.database.url)
    throw new ConfigError(`the database is named twice, in [database] url (or DATABASE_URL) and in the store's ${DATABASE_ITEM}: keep one`);
  const mcUrl = config.pools.miningcore ? miningcoreUrl(config, keys.miningcoreUrl) : null;
  const db = opened ?? (await openDb({ ...config.database, url: config.database.url ?? keys.databaseUrl }, config.stateDir));
  const intake: Intake = {
    db,
    stateDir: config.stateDir,
    trust,
    signers: keys.signers,
    checkers,
    chains,
    creditsPerBlockMax: config.intake.credits_per_block_max,
    review: config.wallets.review,
    log,
    alerts: new IntakeAlerts(new Alerts({ db, log, hook: alertHookOf(config.alerts) })),
    heads: new AccountHeads(config.stateDir),
  };
  try {
    const ext = extend ? extend(intake, keys.nodeAuth) : null;
    const contract = withExtension(ext);
    const server = await startRpcServer<IntakeMethod | E>({
      contract,
      ...(ext ? { routes: (url: URL) => ext.routes(url) } : {}),
      host: config.rpc.host,
      port: config.rpc.port,
      tls: { ...keys.tls, caPem: trust.root.toString() },
      certReload: { file: pkiPaths(config.stateDir).tlsCert('intake'), identity: 'intake' },
      log,
      who: 'intake',
      limits: {
        bodyBytesMax: config.rpc.body_bytes_max,
        requestTimeoutMs: config.rpc.request_timeout_ms,
        inFlightMax: config.rpc.in_flight_max,
      },
      handle: async (method, params, ctx) => {
        try {
          if (ext && Object.hasOwn(ext.contract.methods, method)) return await ext.handle(method as E, params);
          return await dispatchIntake(intake, method as IntakeMethod, params);
        } catch (e) {
          if (e instanceof RpcError)
            log.warn({ method, caller: ctx.commonName, requestId: ctx.requestId, ...refusalFacts(e) }, 'call refused');
          throw e;
        }
      },
    });
    log.warn(
      {
        address: server.address,
        port: server.port,
        database: db.where,
        keys: keys.source,
        review: intake.review,
        coins: [...checkers.keys()],
        addressNetworks: Object.keys(chains),
      },
      'intake started',
    );
    return {
      intake,
      server,
      miningcoreUrl: mcUrl,
      async stop() {
        await server.close(config.rpc.shutdown_grace_ms);
        // Alerts raised meanwhile reach their hook (each bounded by its timeout) before the database closes.
        await intake.alerts.settled();
        if (!opened) await db.close();
        log.warn({}, 'intake stopped');
      },
    };
  } catch (e) {
    if (!opened) await db.close().catch(() => undefined);
    throw e;
  }
}

function refusalFacts(e: RpcError): Record<string, unknown> {
  const code = refusalCodeOf(e);
  return { rpcCode: e.code, ...(code ? { code } : {}), reason: e.message };
}

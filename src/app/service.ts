import { stat } from 'node:fs/promises';
import { stopsPayouts } from '../payserv/invariant.js';
import { performance } from 'node:perf_hooks';
import { LocalCheckpointStore } from '../checkpoints/local-store.js';
import { journalDir, PaymentJournal } from '../journal/journal.js';
import { ConfigError, type Config } from '../config/load.js';
import type { Data } from '../data/data.js';
import { LockKeys } from '../data/lock-keys.js';
import type { Logger } from '../log/index.js';
import { parseAmount } from '../money/amount.js';
import { loadTrust, pkiPaths, revocationCheck } from '../esman/pki-files.js';
import type { Trust } from '../pki/trust.js';
import { bindLockedPort, type LockedPort } from './locked-port.js';
import { checkDatabaseBeforeKeys, checkKeysBeforeKeys, checkNodesBeforeKeys } from './preflight.js';
import { DATABASE_ITEM } from '../esman/items.js';
import { loadPayservKeys } from './keys.js';
import { stateDirFile } from '../config/state-file.js';
import { startDrivers } from './drivers.js';
import { openData } from './open-data.js';
import { outageRefusal } from './outage.js';
import { scrubSecrets } from '../log/scrub.js';
import { RpcError } from '../api/jsonrpc.js';
import { startRpcServer, type RpcContext, type RpcServer } from '../rpc/server.js';
import { startDashboard, type DashboardServer } from '../dashboard/server.js';
import { dashboardCa, dashboardTls } from '../esman/pki-dashboard.js';
import { coinOfParams, idOf, type Method, type RefusalCode } from '../api/payserv.js';
import { Alerts } from '../alerts/alerts.js';
import { AUDIT_LOCK_NAME, auditCodeOf, AuditError, AuditTrail } from '../payserv/audit.js';
import type { Payserv } from '../payserv/context.js';
import { callerOf, dispatch } from './handlers.js';
import { coinLocks, LockWatch } from '../payserv/lock-watch.js';
import { Locks } from '../payserv/locks.js';
import type { AutopaySettings, CoinPolicy } from '../payserv/policy.js';
import { Monitor, type MonitorSettings } from '../payserv/monitor.js';
import { ServiceState } from '../payserv/state.js';
import { detectLostState, journalFile, Rebaseline, type RebaselineSettings } from '../payserv/rebaseline.js';
import { startAutopay } from '../autopay/service.js';
import type { Notifier } from '../notify/notifier.js';
import { hotWalletLevels, noticeWaitingForKey, startNotifier, storeChannels } from './notify.js';
import { startObservation, type Observation } from '../metrics/start.js';
import { Hold } from '../payserv/hold.js';
import { isAbsolute, join } from 'node:path';
import { VERSION } from '../payserv/admin.js';

// payserv as a service: the pinned root from the state directory, the keys from esman's store (or a
// development state directory), the database, the state machine, and the RPC server whose every call is audited.

export interface RunningPayserv {
  ps: Payserv;
  server: RpcServer;
  /** The operator dashboard's listener ([dashboard] listen), null when off. */
  dashboard: DashboardServer | null;
  /** Stops accepting calls, lets in-flight ones finish (bounded), closes the database. */
  stop(): Promise<void>;
}

/** [autopay.coins.*]: only coins paid on-chain ([coins.*]) can be paid automatically. */
function autopayOf(config: Config<'payserv'>): Map<string, AutopaySettings> {
  const a = config.autopay;
  return new Map(
    Object.entries(a.coins).map(([tag, c]) => {
      if (!config.coins[tag])
        throw new Error(
          `[autopay.coins.${tag}]: ${tag} has no [coins.${tag}] chain settings; autopay pays only coins payserv pays on-chain`,
        );
      return [
        tag,
        { threshold: parseAmount(c.threshold, `autopay.coins.${tag}.threshold`), requirePeers: a.require_peers, maxPerRun: a.max_per_run },
      ];
    }),
  );
}

function monitorSettings(config: Config<'payserv'>): MonitorSettings {
  const m = config.monitor;
  return {
    intervalMs: m.interval_s * 1000,
    stuckAfterMs: m.stuck_after_s * 1000,
    nodeUnhealthyAfterMs: m.node_unhealthy_after_s * 1000,
    finality: new Map(Object.entries(config.coins).map(([tag, c]) => [tag, c.finality_depth])),
    hotWalletLow: hotWalletLevels(config),
  };
}

function policiesOf(config: Config<'payserv'>): Map<string, CoinPolicy> {
  return new Map(
    Object.entries(config.policy).map(([tag, p]) => [
      tag,
      {
        amountMax: parseAmount(p.amount_max, `policy.${tag}.amount_max`),
        userDailyMax: parseAmount(p.user_daily_max, `policy.${tag}.user_daily_max`),
        coinDailyMax: parseAmount(p.coin_daily_max, `policy.${tag}.coin_daily_max`),
        walletAgeHoursMin: p.wallet_age_hours_min,
      },
    ]),
  );
}

/** What an audit row says the call was about. */
function targetOf(method: Method, params: unknown): string {
  if (params === undefined) return '';
  if (method === 'PayServ.SendCoin' || method === 'Check.ProxyPool') return coinOfParams(params as [string]);
  if (method === 'Check.Balance' || method === 'Corrections.Apply') {
    const p = params as { user: number; coin: string };
    return `user=${p.user} coin=${p.coin}`;
  }
  try {
    const id = idOf(params as [number]);
    return typeof id === 'number' ? String(id) : '';
  } catch {
    return '';
  }
}

function replyOf(result: unknown): string {
  const r = (result as { reply?: unknown } | null)?.reply;
  return typeof r === 'string' ? r : 'OK';
}

/**
 * A host whose local state is gone while the database shows payserv worked here: payouts are refused until operators
 * rebaseline (src/payserv/rebaseline.ts); nothing is re-created from the database meanwhile, and the operators hear of it.
 */
async function guardLostState(ps: Payserv, settings: RebaselineSettings, journalExisted: boolean): Promise<void> {
  const lost = await detectLostState(ps.db, ps.local, journalExisted);
  ps.rebaseline = new Rebaseline(lost, settings);
  const { confirmations } = settings;
  const why = ps.rebaseline.required;
  if (!why) return;
  ps.state.disable('start', why);
  ps.log.error({ reasons: lost.reasons, confirmations }, 'local state lost: payouts refused until `pscli rebaseline`');
  await ps.state.alertOnce('local_state_lost', 'host', 'start', why, { reasons: lost.reasons, confirmations });
}

/**
 * `opened`: a database the caller already holds and has migrated (the demo, tests), which stop() then leaves open.
 * `signal` (SIGTERM) aborts the wait for esman manager's key, and then for dbgw or the database.
 */
export async function startPayserv(config: Config<'payserv'>, log: Logger, opened?: Data, signal?: AbortSignal): Promise<RunningPayserv> {
  // Before the key ceremony, what can fail without a key: [keys] itself, the pinned root, a database named somewhere,
  // the port (a second payserv), the nodes' chains.
  const held = await checkKeysBeforeKeys(config);
  const trust = stateDirFile(config, 'payserv', () => loadTrust(config.stateDir));
  // The dashboard's CA under the root, before the key is asked for (its server pair is checked once the key is in).
  if (config.dashboard.listen) dashboardCa(config.stateDir, trust);
  if (!opened) checkDatabaseBeforeKeys(config, held);
  hotWalletLevels(config); // a level for a coin without a hot wallet is refused before the key ceremony
  const notifier = startNotifier(config, log);
  const port = await bindLockedPort(config.rpc.host, config.rpc.port).catch(async (e: unknown) => {
    await notifier.stop(0);
    throw e;
  });
  let observation: Observation | null = null;
  try {
    // Before the key: /health answers "locked" meanwhile.
    observation = await startObservation(config.metrics, log, config.stateDir);
    log.info(
      { address: config.rpc.host, port: (port.server.address() as { port: number }).port },
      'RPC port bound: each connection is told payserv is locked until the key arrives',
    );
    await checkNodesBeforeKeys(config.coins, log);
    return await startUnlocked(config, log, { trust, port, opened, signal, notifier, observation });
  } catch (e) {
    await observation?.server.close();
    await port.close();
    await notifier.stop(config.alerts.drain_ms);
    throw e;
  }
}

async function startUnlocked(
  config: Config<'payserv'>,
  log: Logger,
  o: {
    trust: Trust;
    port: LockedPort;
    opened: Data | undefined;
    signal: AbortSignal | undefined;
    notifier: Notifier;
    observation: Observation | null;
  },
): Promise<RunningPayserv> {
  const { trust, opened, signal, notifier } = o;
  const stateDir = config.stateDir;
  if (config.keys.store) noticeWaitingForKey(notifier, config);
  const keys = await loadPayservKeys(config, trust, log, signal);
  storeChannels(notifier, config, keys.notifySecrets, keys.databaseUrl);
  const { signers } = keys;
  const tls = { ...keys.tls, caPem: trust.root.toString() };
  const dashTls = config.dashboard.listen ? dashboardTls(stateDir, trust, keys.dashboardKey as string) : null;
  if (keys.databaseUrl && config.database.url)
    throw new ConfigError(`the database is named twice, in [database] url (or DATABASE_URL) and in the store's ${DATABASE_ITEM}: keep one`);
  const database = { ...config.database, url: config.database.url ?? keys.databaseUrl };
  const own = opened ? null : await openData(config, database, { tls, log, signal });
  const db: Data = own ?? (opened as Data);
  const closeDb = () => (own ? own.close() : Promise.resolve());
  try {
    const alerts = new Alerts({ db, log, notifier });
    // Before the open creates it: a journal the local-state anchor records but the state directory lost is a lost state.
    const journalExisted = await stat(journalFile(stateDir)).then(
      () => true,
      () => false,
    );
    const journal = await PaymentJournal.open(journalDir(stateDir));
    log.info({ journal: journal.path, attempts: journal.size }, 'payment journal open');
    const drivers = await startDrivers(keys.coins, {
      db,
      trust,
      stateDir,
      log,
      journal,
      ...(keys.hotKey ? { hotKey: keys.hotKey } : {}),
      nextHotKey: keys.nextHotKey,
    });
    // Lock keys from payserv's own signing key: every payserv with this key takes the same locks, nobody else can name them.
    const locks = new Locks(db, LockKeys.of(signers.payserv), { log });
    const ps: Payserv = {
      db,
      trust,
      local: new LocalCheckpointStore(stateDir),
      journal,
      signers,
      drivers,
      coins: config.coins,
      policies: policiesOf(config),
      autopay: config.autopay.enabled ? autopayOf(config) : new Map(),
      state: new ServiceState(log, alerts),
      locks,
      lockWatch: new LockWatch({ locks, alerts, log, heldMaxMs: config.locks.held_max_ms }),
      log,
      now: () => new Date(),
      hold: new Hold(),
      backup: {
        stateDir,
        dir: isAbsolute(config.backup.dir) ? config.backup.dir : join(stateDir, config.backup.dir),
        waitMs: config.backup.wait_ms,
        holdMs: config.backup.hold_ms,
        version: VERSION.version,
      },
    };
    const hold = ps.hold as Hold;
    o.observation?.metrics.attach(ps);
    const audit = new AuditTrail({ db, stateDir, log, lockKey: LockKeys.of(signers.payserv).key(AUDIT_LOCK_NAME) });
    const operatorRefusal = revocationCheck(stateDir, (message, reason) => log.error({ reason }, message));
    await guardLostState(ps, { confirmations: config.rebaseline.confirmations, audit, operatorRefusal }, journalExisted);
    const record = (
      method: Method,
      r: { client: string; target: string; reply: string; code: RefusalCode | undefined; t0: number },
    ): Promise<void> =>
      audit
        .record({
          client: r.client,
          method,
          target: r.target,
          reply: r.reply,
          ...(r.code ? { code: r.code } : {}),
          durationMs: Math.round(performance.now() - r.t0),
        })
        .catch(async (e: Error) => {
          log.error({ err: e.message, method }, 'audit record failed');
          // A trail that no longer holds its local head was rolled back or replaced: that is tampering.
          if (e instanceof AuditError) await ps.state.failStop(`audit trail: ${e.message}`, { method });
        });
    // One handler for every call, over JSON-RPC or from the dashboard: verified, and audited.
    const handle = async (method: Method, params: unknown, ctx: RpcContext): Promise<unknown> => {
      const t0 = performance.now();
      let reply = 'ERROR';
      let code: RefusalCode | undefined;
      try {
        const result = await dispatch(ps, method, params, ctx);
        reply = replyOf(result);
        code = auditCodeOf({ result });
        return result;
      } catch (e) {
        // A broken invariant anywhere under a call stops payouts; it never leaves them on behind an "internal error".
        if (stopsPayouts(e)) await ps.state.failStop(`${method}: ${e.message}`, { method });
        // Only the caller's answer changes: dbgw or the database out of reach is said so, not "internal error".
        const answer = (await outageRefusal(db, e)) ?? e;
        if (answer !== e) log.warn({ method, err: scrubSecrets((e as Error).message) }, 'call refused: the data access is unreachable');
        reply = answer instanceof RpcError ? `ERROR ${answer.code}` : 'ERROR internal';
        code = auditCodeOf({ error: answer });
        throw answer;
      } finally {
        await record(method, { client: callerOf(ctx), target: targetOf(method, params), reply, code, t0 });
      }
    };
    // Every call, its audit row with it, is one piece of the backup's work; Backup.Take holds them all.
    const held = (method: Method, params: unknown, ctx: RpcContext): Promise<unknown> =>
      method === 'Backup.Take' ? handle(method, params, ctx) : hold.work(() => handle(method, params, ctx));
    const server = await startRpcServer({
      host: config.rpc.host,
      port: config.rpc.port,
      tls,
      certReload: { file: pkiPaths(stateDir).tlsCert('payserv'), identity: 'payserv' },
      log,
      listener: o.port.unlock(),
      limits: {
        bodyBytesMax: config.rpc.body_bytes_max,
        requestTimeoutMs: config.rpc.request_timeout_ms,
        inFlightMax: config.rpc.in_flight_max,
      },
      handle: held,
      // Refused before any work (a caller the method is not for, params that do not fit): in the trail all the same.
      refused: (method, code, rpcCode, ctx) =>
        hold.work(() => record(method, { client: callerOf(ctx), target: '', reply: `ERROR ${rpcCode}`, code, t0: performance.now() })),
      operatorRefusal,
    });
    log.warn(
      { address: server.address, port: server.port, database: db.where, enabled: false },
      'payserv started: payouts are disabled until an operator enables them',
    );
    const lockWatch = ps.lockWatch.start(() => coinLocks(ps));
    // Watching and alerting are observation: the monitor runs whether payouts are enabled or not.
    const monitor = new Monitor(ps, monitorSettings(config)).start();
    const autopay = ps.autopay.size ? startAutopay(ps, config.autopay.interval_s * 1000) : null;
    const d = config.dashboard;
    const dashboard =
      d.listen && dashTls
        ? await startDashboard({
            ...d.listen,
            tls: dashTls,
            ps,
            monitor,
            log,
            actions: d.actions,
            rows: d.rows,
            explorers: d.coins,
            call: held,
            operatorRefusal,
          }).catch(async (e: unknown) => {
            await Promise.all([autopay?.stop(), monitor.stop(), server.close(0)]);
            lockWatch.stop();
            throw e;
          })
        : null;
    if (autopay)
      log.warn(
        {
          component: 'autopay',
          coins: [...ps.autopay.keys()],
          interval_s: config.autopay.interval_s,
          require_peers: config.autopay.require_peers,
          max_per_run: config.autopay.max_per_run,
        },
        'autopay runs every interval once payouts are enabled',
      );
    return {
      ps,
      server,
      dashboard,
      async stop() {
        // First: no scrape or page reads a database about to close.
        await o.observation?.server.close();
        await dashboard?.close();
        lockWatch.stop();
        await server.close(config.rpc.shutdown_grace_ms);
        // A run in progress finishes (its payment is written ahead either way) before the database closes.
        await autopay?.stop();
        await monitor.stop();
        // Before the database closes: a notice given up at the end still leaves its hook_failed row.
        await notifier.stop(config.alerts.drain_ms);
        await journal.close().catch((e: Error) => log.error({ err: e.message }, 'payment journal close failed'));
        await closeDb();
        log.warn({}, 'payserv stopped');
      },
    };
  } catch (e) {
    await closeDb().catch(() => undefined);
    throw e;
  }
}

// intake: the ledger intake, in the foreground (systemd runs it: deploy/intake.service). The pool's back
// end writes the signed ledger through it; with [keys] store it is locked until esman manager hands it
// the key. SIGTERM stops taking calls and lets the ones in flight finish (bounded). With [pools.oep] or
// [pools.miningcore] it also runs that pool's adapter on the same keys (README "open-ethereum-pool",
// "MiningCore"): the adapters write through the intake, so they start here, above it.
import type { Config } from '../config/load.js';
import type { Db } from '../db/db.js';
import { startIntake, type RunningIntake } from '../intake/service.js';
import type { Logger } from '../log/index.js';
import { minersApi } from '../miners/api.js';
import { startMiningcoreAdapter, type MiningcoreAdapter } from '../pools/miningcore/adapter.js';
import { startOep } from '../pools/oep/adapter.js';
import { runService, startUnlessSignalled } from './serve.js';

export interface RunningIntakeWithPools extends RunningIntake {
  /** [pools.miningcore]: the MiningCore adapter's loop. */
  miningcore: MiningcoreAdapter | null;
}

/**
 * The intake and, when configured, its pool adapters: stopped adapters first, so no interval outlives the
 * database. `opened`: a migrated database the caller holds (tests).
 */
export async function startIntakeWithPools(
  config: Config<'intake'>,
  log: Logger,
  signal?: AbortSignal,
  opened?: Db,
): Promise<RunningIntakeWithPools> {
  const running = await startIntake(config, log, opened, signal, minersApi(config));
  const mc = config.pools.miningcore;
  const miningcore = mc && running.miningcoreUrl ? startMiningcoreAdapter(running.intake, mc, running.miningcoreUrl, log) : null;
  const oep = config.pools.oep
    ? await startOep(running.intake, config.pools.oep, log).catch(async (e: unknown) => {
        await miningcore?.stop();
        await running.stop();
        throw e;
      })
    : null;
  return {
    ...running,
    miningcore,
    async stop() {
      await oep?.stop();
      await miningcore?.stop();
      await running.stop();
    },
  };
}

export const main = (argv: string[]): Promise<number> =>
  runService(argv, 'intake', "intake: the pool back end's writer of the signed ledger (JSON-RPC over mutual TLS)", (config, log) =>
    startUnlessSignalled(log, (signal) => startIntakeWithPools(config, log, signal)),
  );

// intake: the ledger intake, in the foreground (systemd runs it: deploy/intake.service). The pool's back
// end writes the signed ledger through it; with [keys] store it is locked until esman manager hands it
// the key. SIGTERM stops taking calls and lets the ones in flight finish (bounded). With [pools.oep] it
// also runs the open-ethereum-pool adapter on the same keys (README "open-ethereum-pool").
import type { Config } from '../config/load.js';
import { startIntake, type RunningIntake } from '../intake/service.js';
import type { Logger } from '../log/index.js';
import { startOep } from '../pools/oep/adapter.js';
import { runService, startUnlessSignalled } from './serve.js';

/** The intake and, when configured, its pool adapter: stopped adapter first, so no interval outlives the database. */
export async function startIntakeWithPools(config: Config<'intake'>, log: Logger, signal?: AbortSignal): Promise<RunningIntake> {
  const running = await startIntake(config, log, undefined, signal);
  if (!config.pools.oep) return running;
  const oep = await startOep(running.intake, config.pools.oep, log).catch(async (e: unknown) => {
    await running.stop();
    throw e;
  });
  return {
    ...running,
    async stop() {
      await oep.stop();
      await running.stop();
    },
  };
}

export const main = (argv: string[]): Promise<number> =>
  runService(argv, 'intake', "intake: the pool back end's writer of the signed ledger (JSON-RPC over mutual TLS)", (config, log) =>
    startUnlessSignalled(log, (signal) => startIntakeWithPools(config, log, signal)),
  );

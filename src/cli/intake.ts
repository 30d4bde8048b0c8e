// intake: the ledger intake, in the foreground (systemd runs it: deploy/intake.service). The pool's back
// end writes the signed ledger through it; with [keys] store it is locked until esman manager hands it
// the key. SIGTERM stops taking calls and lets the ones in flight finish (bounded).
import { startIntake } from '../intake/service.js';
import { runService, startUnlessSignalled } from './serve.js';

export const main = (argv: string[]): Promise<number> =>
  runService(argv, 'intake', "intake: the pool back end's writer of the signed ledger (JSON-RPC over mutual TLS)", (config, log) =>
    startUnlessSignalled(log, (signal) => startIntake(config, log, undefined, signal)),
  );

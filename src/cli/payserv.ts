// payserv: the payment service, in the foreground (systemd runs it: deploy/payserv.service). It starts
// locked until esman manager hands it the key (or on development key files), with payouts disabled;
// SIGTERM stops taking calls and lets the ones in flight finish (bounded).
import { startPayserv } from '../app/service.js';
import { isDemoDir } from '../demo/state-dir.js';
import { runService, startUnlessSignalled } from './serve.js';

export const main = (argv: string[]): Promise<number> =>
  runService(argv, 'payserv', 'payserv: verifies withdrawals against the signed ledger and pays them exactly once', (config, log) => {
    // A state directory the demo made is its licence for the embedded database, as it is pscli's.
    if (isDemoDir(config.stateDir)) config.database.embedded = true;
    return startUnlessSignalled(log, (signal) => startPayserv(config, log, undefined, signal));
  });

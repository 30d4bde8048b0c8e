// payserv: the payment service, in the foreground (systemd runs it: deploy/payserv.service). It starts
// locked until esman manager hands it the key (or on development key files), with payouts disabled;
// SIGTERM stops taking calls and lets the ones in flight finish (bounded).
import { StoppedBeforeStart } from '../app/open-data.js';
import { startPayserv } from '../app/service.js';
import { isDemoDir } from '../demo/state-dir.js';
import { runService } from './serve.js';

export const main = (argv: string[]): Promise<number> =>
  runService(argv, 'payserv', 'payserv: verifies withdrawals against the signed ledger and pays them exactly once', async (config, log) => {
    // Until it runs, a signal only ends the wait for esman manager's key.
    // A state directory the demo made is its licence for the embedded database, as it is pscli's.
    if (isDemoDir(config.stateDir)) config.database.embedded = true;
    const locked = new AbortController();
    const abort = () => locked.abort();
    process.once('SIGTERM', abort).once('SIGINT', abort);
    try {
      return await startPayserv(config, log, undefined, locked.signal);
    } catch (e) {
      if (!locked.signal.aborted) throw e;
      log.warn({}, e instanceof StoppedBeforeStart ? e.message : 'stopped before start: no key was received');
      return null;
    } finally {
      process.off('SIGTERM', abort).off('SIGINT', abort);
    }
  });

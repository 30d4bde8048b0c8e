// intake: the ledger intake, in the foreground (systemd runs it: deploy/intake.service). The pool's back
// end writes the signed ledger through it; with [keys] store it is locked until esman manager hands it
// the key. SIGTERM stops taking calls and lets the ones in flight finish (bounded).
import { startIntake } from '../intake/service.js';
import { runService } from './serve.js';

export const main = (argv: string[]): Promise<number> =>
  runService(argv, 'intake', "intake: the pool back end's writer of the signed ledger (JSON-RPC over mutual TLS)", async (config, log) => {
    // Until it runs, a signal only ends the wait for esman manager's key.
    const locked = new AbortController();
    const abort = () => locked.abort();
    process.once('SIGTERM', abort).once('SIGINT', abort);
    try {
      return await startIntake(config, log, undefined, locked.signal);
    } catch (e) {
      if (!locked.signal.aborted) throw e;
      log.warn({}, 'stopped before start: no key was received');
      return null;
    } finally {
      process.off('SIGTERM', abort).off('SIGINT', abort);
    }
  });

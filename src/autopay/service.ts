// Autopay as a mode of payserv ([autopay] enabled): every interval, one run per configured coin, one
// coin after another; a run asked for by pscli (Autopay.Run) waits for the timer's run of that coin
// rather than racing it. The database lock still keeps two payserv processes from running one coin.
import { stopsPayouts } from '../payserv/invariant.js';
import type { Payserv } from '../payserv/context.js';
import { RPC } from '../api/jsonrpc.js';
import { refusal } from '../api/payserv.js';
import type { AutopaySettings } from '../payserv/policy.js';
import { runAutopay, type RunReport } from './run.js';
import { tell } from '../payserv/events.js';

export interface Autopay {
  /** One run of `tag` now, after any run of it in progress. */
  runNow(tag: string, by: string): Promise<RunReport>;
  /** The last report of each coin since start. */
  last(): ReadonlyMap<string, RunReport>;
  stop(): Promise<void>;
}

const running = new WeakMap<Payserv, Autopay>();

/** The autopay of this payserv: the one its start made, or one without a timer (runs only when asked). */
export function autopayFor(ps: Payserv): Autopay {
  return running.get(ps) ?? startAutopay(ps, null);
}

export function startAutopay(ps: Payserv, intervalMs: number | null): Autopay {
  const existing = running.get(ps);
  if (existing) return existing;
  const tails = new Map<string, Promise<unknown>>();
  const last = new Map<string, RunReport>();
  let runs = 0;
  let stopping = false;
  const settingsOf = (tag: string): AutopaySettings => {
    const s = ps.autopay.get(tag);
    if (!s) throw refusal('no_autopay', `coin ${tag} has no [autopay.coins.${tag}] threshold: autopay does not pay it`, RPC.INVALID_PARAMS);
    return s;
  };
  const runNow = (tag: string, by: string): Promise<RunReport> => {
    const s = settingsOf(tag);
    const job = (tails.get(tag) ?? Promise.resolve()).then(async () => {
      const run = () => runAutopay(ps, tag, s, `payserv pid ${process.pid} run ${++runs} (${by})`, () => stopping);
      // A whole run is one piece of the backup's work: a backup waits for it, and a run waits for a backup.
      const report = await (ps.hold ? ps.hold.work(run) : run()).catch((e: unknown) => {
        tell(ps, (m) => m.autopayRun(tag, 'error'));
        throw e;
      });
      last.set(tag, report);
      tell(ps, (m) => m.autopayRun(tag, report.outcome));
      return report;
    });
    tails.set(
      tag,
      job.catch(() => undefined),
    );
    return job;
  };
  const tick = async () => {
    for (const tag of ps.autopay.keys()) {
      await runNow(tag, 'interval').catch(async (e: Error) => {
        ps.log.error({ component: 'autopay', coin: tag, err: e.message }, 'autopay run failed: the coin stays locked until resolve');
        if (stopsPayouts(e)) await ps.state.failStop(`autopay ${tag}: ${e.message}`, { coin: tag });
      });
    }
  };
  const timer = intervalMs ? setInterval(() => void tick(), intervalMs) : null;
  timer?.unref();
  const autopay: Autopay = {
    runNow,
    last: () => last,
    async stop() {
      if (timer) clearInterval(timer);
      stopping = true;
      running.delete(ps);
      await Promise.all([...tails.values()]);
    },
  };
  running.set(ps, autopay);
  return autopay;
}

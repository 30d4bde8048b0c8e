import type { Logger } from '../log/index.js';
import { healthOf } from './health.js';
import { PayservMetrics } from './metrics.js';
import { startMetricsServer, type MetricsServer } from './server.js';

// payserv's [metrics] at start: the counters and the listener, bound before the key ceremony so that
// /health says "locked" while payserv waits for its key.

export interface Observation {
  metrics: PayservMetrics;
  server: MetricsServer;
}

export async function startObservation(
  settings: { listen?: { host: string; port: number } | undefined; scrape_timeout_ms: number },
  log: Logger,
  stateDir?: string,
): Promise<Observation | null> {
  if (!settings.listen) return null;
  const metrics = new PayservMetrics({ scrapeTimeoutMs: settings.scrape_timeout_ms, log, ...(stateDir !== undefined ? { stateDir } : {}) });
  const server = await startMetricsServer({
    ...settings.listen,
    log,
    endpoints: {
      metrics: async () => ({ body: await metrics.scrape(), contentType: metrics.contentType }),
      health: () => healthOf(metrics.state),
    },
  });
  return { metrics, server };
}

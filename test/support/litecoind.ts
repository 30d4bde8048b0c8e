// One real litecoind regtest node per test file (the node itself: ./litecoind-node.ts, free of vitest so
// that the bench can start one too).
import { afterAll } from 'vitest';
import { startLitecoind, type Litecoind, type LitecoindOptions } from './litecoind-node.js';

export * from './litecoind-node.js';

/** One litecoind for the calling test file, stopped (and its data removed) after it. */
export function litecoindForFile(opts: LitecoindOptions = {}): () => Promise<Litecoind> {
  let started: Promise<Litecoind> | null = null;
  afterAll(async () => {
    if (started) await (await started).stop();
  });
  return () => (started ??= startLitecoind(opts));
}

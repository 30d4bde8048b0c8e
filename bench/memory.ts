// Peak memory of a phase: RSS and V8 heap used, sampled every ~50 ms, minus a baseline taken after a GC.
// A timer alone can miss stretches where the event loop never reaches the timer phase (an in-process
// database resolves many awaits without real I/O), so the phase may also call sample() itself; it is
// throttled to the same interval.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export interface MemoryReport {
  samples: number;
  baseline: { rss: number; heapUsed: number; external: number };
  peak: { rss: number; heapUsed: number; external: number };
  /** Peak minus baseline. */
  delta: { rss: number; heapUsed: number; external: number };
  /** Heap used after a full GC at the end, minus the baseline: what the phase kept (a leak shows here, lazy collection does not). */
  retainedHeapUsed: number;
}

let gcFn: (() => void) | null | undefined;

/** A full GC, when the runtime lets us have one (node started without --expose-gc: enabled here). */
export function collectGarbage(): boolean {
  if (gcFn === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      gcFn = runInNewContext('gc') as () => void;
    } catch {
      gcFn = null;
    }
  }
  if (!gcFn) return false;
  gcFn();
  gcFn();
  return true;
}

export class MemorySampler {
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | null = null;
  #last = 0;
  #samples = 0;
  #baseline = { rss: 0, heapUsed: 0, external: 0 };
  #peak = { rss: 0, heapUsed: 0, external: 0 };

  constructor(intervalMs = 50) {
    this.#intervalMs = intervalMs;
  }

  start(): void {
    collectGarbage();
    const m = process.memoryUsage();
    this.#baseline = { rss: m.rss, heapUsed: m.heapUsed, external: m.external };
    this.#peak = { ...this.#baseline };
    this.#samples = 0;
    this.#take();
    this.#timer = setInterval(() => this.#take(), this.#intervalMs);
  }

  /** Opportunistic sample from inside the measured work; a no-op if the last one is recent. */
  sample(): void {
    if (this.#timer && Date.now() - this.#last >= this.#intervalMs) this.#take();
  }

  stop(): MemoryReport {
    if (this.#timer) clearInterval(this.#timer);
    this.#take();
    this.#timer = null;
    const b = this.#baseline;
    const p = this.#peak;
    collectGarbage();
    const retainedHeapUsed = process.memoryUsage().heapUsed - b.heapUsed;
    return {
      retainedHeapUsed,
      samples: this.#samples,
      baseline: { ...b },
      peak: { ...p },
      delta: { rss: p.rss - b.rss, heapUsed: p.heapUsed - b.heapUsed, external: p.external - b.external },
    };
  }

  #take(): void {
    this.#last = Date.now();
    const m = process.memoryUsage();
    this.#samples++;
    this.#peak.rss = Math.max(this.#peak.rss, m.rss);
    this.#peak.heapUsed = Math.max(this.#peak.heapUsed, m.heapUsed);
    this.#peak.external = Math.max(this.#peak.external, m.external);
  }
}

// A seed from start to end: a world of its own (database, state directory, node stand-in, proxies),
// its schedule, and the world taken down whatever happened. The suite, the soak and the bench call this.
import type { Db } from '../../src/db/db.js';
import { runSchedule, type ScheduleOptions, type ScheduleReport } from './schedule.js';
import { World } from './world.js';

export interface SeedDeps {
  /** A fresh, migrated database (closed here). */
  db(): Promise<Db>;
  /** A fresh, empty directory (its removal is the caller's). */
  stateDir(): Promise<string>;
  /** An anvil mining on demand only. */
  anvilUrl: string;
  /** Another anvil, the same chain id on a fresh chain (the 'foreign-chain' fault); optional. */
  foreignUrl?: string | undefined;
}

export async function runSeed(seed: number, deps: SeedDeps, o: ScheduleOptions): Promise<ScheduleReport> {
  const db = await deps.db();
  let world: World | null = null;
  try {
    world = await World.create({ db, stateDir: await deps.stateDir(), anvilUrl: deps.anvilUrl, foreignUrl: deps.foreignUrl });
    return await runSchedule(world, seed, o);
  } finally {
    await world?.close().catch(() => undefined);
    await db.close().catch(() => undefined);
  }
}

/** What a set of schedules explored, summed. */
export interface Tally {
  schedules: number;
  steps: number;
  ops: Record<string, number>;
  faults: Record<string, number>;
  boundaries: Record<string, number>;
  restarts: number;
  tampers: number;
  detected: number;
  /** Tampers neither caught nor of any effect (the invariants held with payserv running on). */
  harmless: number;
  ms: number;
}

export const emptyTally = (): Tally => ({
  schedules: 0,
  steps: 0,
  ops: {},
  faults: {},
  boundaries: {},
  restarts: 0,
  tampers: 0,
  detected: 0,
  harmless: 0,
  ms: 0,
});

const addTo = (into: Record<string, number>, from: Record<string, number>) => {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
};

export function tally(t: Tally, r: ScheduleReport): Tally {
  t.schedules++;
  t.steps += r.steps;
  addTo(t.ops, r.ops);
  addTo(t.faults, r.faults);
  addTo(t.boundaries, r.boundaries);
  t.restarts += r.restarts;
  if (r.tamper) {
    t.tampers++;
    if (r.detected || r.repaired) t.detected++;
    else t.harmless++;
  }
  t.ms += r.ms;
  return t;
}

const sorted = (r: Record<string, number>) =>
  Object.entries(r)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');

export function describeTally(t: Tally, wallMs: number): string[] {
  const faults = Object.values(t.faults).reduce((a, b) => a + b, 0);
  return [
    `${t.schedules} schedules, ${t.steps} operations, ${faults} faults injected, ${t.restarts} restarts, in ${(wallMs / 1000).toFixed(1)} s (${(t.schedules / (wallMs / 1000)).toFixed(2)} schedules/s)`,
    `faults by kind: ${sorted(t.faults) || 'none'}`,
    `tampers: ${t.tampers} (${t.detected} caught: fail-stop, or the operator's checks, then repaired or not; ${t.harmless} of no effect)`,
    `fault points reached: ${sorted(t.boundaries) || 'none'}`,
    `operations: ${sorted(t.ops)}`,
  ];
}

// Global setup of the pglite project: one migrated snapshot for the whole run, handed to workers by path.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { makeSnapshot } from './pglite-snapshot.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = await mkdtemp(join(tmpdir(), 'payserv-pglite-'));
  const file = join(dir, 'migrated.tar');
  await writeFile(file, new Uint8Array(await (await makeSnapshot()).arrayBuffer()));
  project.provide('pgliteSnapshot', file);
  return () => rm(dir, { recursive: true, force: true });
}

// Temporary state directories, removed when the test that asked for one finishes (pass or fail).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';

/** Call inside a test (not in beforeAll): the directory lives until that test finishes. */
export async function tmpStateDir(prefix = 'payserv-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

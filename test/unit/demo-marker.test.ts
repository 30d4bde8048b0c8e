// Issue 15: only a regular file named .payserv-demo marks a directory as the demo's to delete (and as one
// where pscli may open the embedded database); a symlink, dangling or not, or a directory of that name is
// no marker.
import { describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEMO_MARKER, freshDemoDir, isDemoDir } from '../../src/demo/state-dir.js';
import { tmpStateDir } from '../support/tmp.js';

/** A directory with a precious file, and `plant` doing something at its marker's path. */
async function withPlantedMarker(plant: (marker: string) => Promise<void> | void): Promise<string> {
  const dir = await tmpStateDir('payserv-demo-marker-');
  writeFileSync(join(dir, 'payserv.toml'), '# production\n');
  await plant(join(dir, DEMO_MARKER));
  return dir;
}

describe('the demo marker', () => {
  const plants: Record<string, (marker: string) => Promise<void> | void> = {
    'a symlink to a real marker': async (marker) => {
      const real = join(await tmpStateDir('payserv-demo-marker-real-'), DEMO_MARKER);
      writeFileSync(real, 'x');
      symlinkSync(real, marker);
    },
    'a dangling symlink': (marker) => symlinkSync('/nonexistent/payserv-demo', marker),
    'a directory': (marker) => mkdirSync(marker),
  };
  for (const [what, plant] of Object.entries(plants)) {
    it(`${what} named ${DEMO_MARKER} is no marker: refused, nothing deleted, no embedded database for pscli`, async () => {
      const dir = await withPlantedMarker(plant);
      expect(isDemoDir(dir)).toBe(false);
      expect(freshDemoDir(dir)).toMatch(/is not a demo directory .* refusing to delete it/);
      expect(readFileSync(join(dir, 'payserv.toml'), 'utf8')).toBe('# production\n');
    });
  }

  it('a regular marker file still marks it', async () => {
    const dir = await withPlantedMarker((marker) => writeFileSync(marker, 'x'));
    expect(isDemoDir(dir)).toBe(true);
    expect(freshDemoDir(dir)).toBeNull();
    expect(existsSync(join(dir, 'payserv.toml'))).toBe(false);
  });
});

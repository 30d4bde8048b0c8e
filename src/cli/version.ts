import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The package's version, as installed: read from the package.json found above this file (src/cli in a
// checkout, its compiled copy under dist/), so a release bumps one file. `--version` on every executable prints it.
function packageJson(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
  return join(dir, 'package.json');
}

export const PACKAGE_VERSION = (JSON.parse(readFileSync(packageJson(), 'utf8')) as { version: string }).version;

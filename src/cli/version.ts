import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../config/package-root.js';

// The package's version, as installed (a checkout or its compiled copy under dist/), so a release bumps
// one file. `--version` on every executable prints it.
export const PACKAGE_VERSION = (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;

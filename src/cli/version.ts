import { readFileSync } from 'node:fs';

// The package's version, as `npm i -g .` installed it: read from package.json beside src/ (or dist/),
// so a release bumps one file. `--version` on every executable prints it.
export const PACKAGE_VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

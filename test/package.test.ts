// What `npm pack` puts in the package an operator installs (`npm i -g ./payserv-<version>.tgz`): the
// executables, the compiled code with its migrations, the example configurations and units; no
// TypeScript sources, no build state, no tests, no development tools (the bench, build, demo and soak
// shims; anvil). (The global install itself is in the README: it downloads.)
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { describeOncePerSuite } from './support/backend.js';

const ROOT = join(import.meta.dirname, '..');

function packedFiles(): string[] {
  // --ignore-scripts: list what the current dist/ gives (this project's global setup has just built it),
  // without prepack's clean rebuild under the feet of other tests.
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return (JSON.parse(out) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
}

describeOncePerSuite('the npm package', () => {
  it('holds the executables, the compiled code and migrations, configurations and units; no sources or build state', () => {
    const files = packedFiles();
    for (const bin of ['payserv', 'dbgw', 'pscli', 'esman', 'intake']) {
      expect(files).toContain(`bin/${bin}.mjs`);
      expect(files).toContain(`dist/src/cli/${bin}.js`);
    }
    // Exactly the five executables and their shared runner: the development shims stay in the checkout.
    expect(files.filter((f) => f.startsWith('bin/')).sort()).toEqual(
      ['dbgw', 'esman', 'intake', 'payserv', 'pscli', 'run'].map((name) => `bin/${name}.mjs`),
    );
    expect(files).toContain('dist/src/db/migrations/0001_ledger.sql');
    expect(files).toContain('config/payserv.toml');
    expect(files).toContain('deploy/payserv.service');
    expect(files).toContain('deploy/intake.service');
    expect(files).toContain('config/intake.toml');
    expect(files).toContain('README.md');
    expect(
      files.filter(
        (f) =>
          f.endsWith('.ts') ||
          f.startsWith('src/') ||
          f.startsWith('test/') ||
          f.startsWith('dist/test/') ||
          f.startsWith('dist/bench/') ||
          f.includes('tsbuildinfo') ||
          f.endsWith('.built'),
      ),
    ).toEqual([]);
  }, 60_000);

  it('installs no development tool: anvil is a development dependency, not a run-time or optional one', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>;
    const installed = { ...pkg['dependencies'], ...pkg['optionalDependencies'], ...pkg['peerDependencies'] };
    expect(Object.keys(installed).filter((name) => name.startsWith('@foundry-rs/'))).toEqual([]);
    expect(pkg['devDependencies']).toHaveProperty(['@foundry-rs/anvil-linux-amd64']);
  });
});

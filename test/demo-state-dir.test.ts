// Issue 15, item 1: the demo deletes only a state directory it made itself (its marker inside); a
// production state directory named by PAYSERV_STATE_DIR, or any directory with files, is refused.
import { execFile } from 'node:child_process';
import { expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_MARKER, freshDemoDir } from '../src/demo/state-dir.js';
import { describeOncePerSuite } from './support/backend.js';
import { REPO, spawnNode } from './support/spawn.js';

const scratch = () => mkdtemp(join(tmpdir(), 'payserv-demo-dir-'));

describeOncePerSuite("the demo's state directory", () => {
  it('a new or empty directory is taken and marked; a marked one is emptied and marked again', async () => {
    const base = await scratch();
    const fresh = join(base, 'new');
    expect(freshDemoDir(fresh)).toBeNull();
    expect(existsSync(join(fresh, DEMO_MARKER))).toBe(true);
    writeFileSync(join(fresh, 'left-by-the-last-run'), 'x');
    expect(freshDemoDir(fresh)).toBeNull();
    expect(existsSync(join(fresh, 'left-by-the-last-run'))).toBe(false);
    expect(existsSync(join(fresh, DEMO_MARKER))).toBe(true);
    const empty = join(base, 'empty');
    mkdirSync(empty);
    expect(freshDemoDir(empty)).toBeNull();
  });

  it('a directory with files and no marker is refused, and nothing in it is touched', async () => {
    const prod = await scratch();
    mkdirSync(join(prod, 'journal'));
    writeFileSync(join(prod, 'journal', 'payments.jsonl'), 'precious\n');
    expect(freshDemoDir(prod)).toMatch(/is not a demo directory .* refusing to delete it/);
    expect(readFileSync(join(prod, 'journal', 'payments.jsonl'), 'utf8')).toBe('precious\n');
    // The default ./.demo follows the same rule: a checkout's .demo may hold someone's files too.
    expect(freshDemoDir(prod, false)).toMatch(/is not a demo directory .* refusing to delete it. Move its files away/);
    expect(readFileSync(join(prod, 'journal', 'payments.jsonl'), 'utf8')).toBe('precious\n');
  });

  it('npm run demo in a directory whose ./.demo holds files it did not make exits 2 and keeps them', async () => {
    const cwd = await scratch();
    mkdirSync(join(cwd, '.demo'));
    writeFileSync(join(cwd, '.demo', 'notes.txt'), 'precious\n');
    const env = { ...process.env };
    delete env.PAYSERV_STATE_DIR;
    const code = await new Promise<number | null>((done) =>
      execFile(process.execPath, [join(REPO, 'bin/demo.mjs')], { cwd, env, timeout: 60_000 }, (e) =>
        done(e ? (typeof e.code === 'number' ? e.code : null) : 0),
      ),
    );
    expect(code).toBe(2);
    expect(readFileSync(join(cwd, '.demo', 'notes.txt'), 'utf8')).toBe('precious\n');
  });

  it('npm run demo with PAYSERV_STATE_DIR at a production directory exits 2 naming it, and deletes nothing', async () => {
    const prod = await scratch();
    writeFileSync(join(prod, 'payserv.toml'), '# production\n');
    const demo = spawnNode(['bin/demo.mjs'], { PAYSERV_STATE_DIR: prod }, {});
    expect(await demo.waitExit(60_000)).toBe(2);
    expect(demo.stderr()).toContain(`demo: ${prod} is not a demo directory`);
    expect(readFileSync(join(prod, 'payserv.toml'), 'utf8')).toBe('# production\n');
  });
});

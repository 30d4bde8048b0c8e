// Bad input on the new commands and configuration keys of issue 17: every refusal is a clear error naming
// what is wrong (no stack trace, no internal error), exit 2 (or 1), and nothing in the state directory changed.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { backend } from './support/db.js';
import { testLedger, type TestLedger } from './support/ledger.js';
import { runPscli, type Run } from './support/pscli.js';
import { tmpStateDir } from './support/tmp.js';

let l: TestLedger | undefined;
afterEach(async () => {
  await l?.db.close();
  l = undefined;
});

function snapshot(dir: string): string {
  const h = createHash('sha256');
  const walk = (d: string): void => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      const s = statSync(p);
      if (n === 'db') continue;
      if (s.isDirectory()) walk(p);
      else h.update(p).update(readFileSync(p));
    }
  };
  walk(dir);
  return h.digest('hex');
}

const bad = (r: Run) => !/\n\s+at |TypeError|ReferenceError|internal error|Cannot read|undefined/.test(r.stderr + r.stdout);

describe(`attack17b: bad input on the new commands (${backend()})`, { timeout: 120_000 }, () => {
  it('pki renew, backup, restore, hotwallet rotate, rebaseline: clear refusals, nothing changed', async () => {
    l = await testLedger();
    const dir = l.stateDir;
    const env = { PAYSERV_STATE_DIR: dir };
    const notAFile = join(await tmpStateDir(), 'nope');
    const txt = join(await tmpStateDir(), 'x.txt');
    writeFileSync(txt, 'hello');
    const emptyDir = await tmpStateDir();
    const cases: string[][] = [
      ['pki', 'renew'],
      ['pki', 'renew', '--service', 'nosuch'],
      ['pki', 'renew', '--service', 'operator'],
      ['pki', 'renew', '--service', '../../etc/x'],
      ['pki', 'renew', '--service', 'PAYSERV'],
      ['pki', 'renew', '--service', 'payserv', '--days', '0'],
      ['pki', 'renew', '--service', 'payserv', '--days', '-1'],
      ['pki', 'renew', '--service', 'payserv', '--days', 'abc'],
      ['pki', 'renew', '--service', 'payserv', '--days', '1.5'],
      ['pki', 'renew', '--service', 'payserv', '--days', '1e3'],
      ['pki', 'renew', '--service', 'payserv', '--days', '99999999999'],
      ['pki', 'renew', '--service', 'payserv', '--host', ''],
      ['pki', 'renew', '--service', 'payserv', '--host', 'a b'],
      ['pki', 'renew', '--service', 'payserv', '--host', '-x.example'],
      ['pki', 'renew', '--service', 'payserv', '--signer', 'admin', '--new-key'],
      ['pki', 'renew', '--service', 'payserv', '--operator', 'alice'],
      ['pki', 'renew', '--signer', 'payserv'],
      ['pki', 'renew', '--signer', 'pscli', '--new-key'],
      ['pki', 'renew', '--signer', 'operator', '--new-key'],
      ['pki', 'renew', '--operator', 'nosuch'],
      ['pki', 'renew', '--service', 'payserv', '--keys-dir', notAFile + '/deep/er'],
      ['pki', 'renew', '--service', 'payserv', '--keys-dir', '/proc'],
      ['pki', 'renew', '--service', 'payserv', '--keys-dir', txt],
      ['backup', 'extra'],
      ['backup', '--bogus'],
      ['restore'],
      ['restore', '--from', notAFile, '--payserv-state-dir', join(notAFile, 's')],
      ['restore', '--from', txt, '--payserv-state-dir', join(notAFile, 's')],
      ['restore', '--from', emptyDir, '--payserv-state-dir', join(notAFile, 's')],
      ['restore', '--from', emptyDir],
      ['restore', '--from', emptyDir, '--payserv-state-dir', dir],
      ['restore', '--from', emptyDir, '--payserv-state-dir', join(notAFile, 's'), '--root', txt],
      ['restore', '--from', emptyDir, '--payserv-state-dir', join(notAFile, 's'), '--root', notAFile],
      ['hotwallet', 'rotate'],
      ['hotwallet', 'rotate', '--coin', ''],
      ['hotwallet', 'rotate', '--coin', 'eth'],
      ['hotwallet', 'rotate', '--coin', 'NOPE'],
      ['hotwallet', 'rotate', '--coin', 'ETH', '--finish'],
      ['hotwallet', 'rotate', '--coin', 'ETH', '--storage', notAFile],
      ['hotwallet', 'rotate', '--coin', 'ETH', '--storage', txt, '--dir', emptyDir],
      ['hotwallet', 'rotate', '--coin', 'ZEC'],
    ];
    let before = snapshot(dir);
    const out: string[] = [];
    const problems: string[] = [];
    for (const argv of cases) {
      const r = await runPscli(argv, env);
      const line = `${argv.join(' ').slice(0, 80)} => ${r.code} ${(r.stderr + r.stdout).trim().split('\n')[0]?.slice(0, 160)}`;
      out.push(line);
      if (r.code === 0 || !bad(r)) problems.push(line);
      const now = snapshot(dir);
      if (now !== before) problems.push(`CHANGED STATE: ${line}`);
      before = now;
      if (/ENOTDIR|ENOENT|EISDIR/.test(r.stderr) || r.code === 3) problems.push(`RAW ERROR/EXIT 3: ${line}`);
    }
    console.log(out.join('\n'));
    console.log('PROBLEMS:\n' + problems.join('\n'));
    expect(problems).toEqual([]);
  });

  it('the new configuration keys: a bad value names the key', async () => {
    const dir = await tmpStateDir();
    mkdirSync(join(dir, 'x'), { recursive: true });
    const outs: string[] = [];
    const problems: string[] = [];
    for (const toml of [
      '[dashboard]\nlisten = "127.0.0.1:99999"',
      '[dashboard]\nlisten = "0.0.0.0"',
      '[dashboard]\nlisten = "::1:9447"',
      '[dashboard]\nlisten = ""',
      '[dashboard]\nlisten = 9447',
      '[dashboard]\nlisten = "127.0.0.1:9447"\nrows = 0',
      '[dashboard]\nlisten = "127.0.0.1:9447"\nrows = 501',
      '[dashboard]\nlisten = "127.0.0.1:9447"\nrows = "50"',
      '[dashboard]\nlisten = "127.0.0.1:9447"\nactions = "yes"',
      '[dashboard]\nlisten = "127.0.0.1:9447"\nbogus = 1',
      '[dashboard.coins.ETH]\ntx_link = "javascript:alert(1)/{hash}"',
      '[dashboard.coins.ETH]\ntx_link = "http://etherscan.io/tx/{hash}"',
      '[dashboard.coins.ETH]\ntx_link = "https://etherscan.io/tx/"',
      '[dashboard.coins.ETH]\naddress_link = "https://x/{hash}"',
      '[backup]\nwait_ms = -1',
      '[backup]\nhold_ms = 0',
      '[backup]\nwait_ms = 1.5',
      '[backup]\ndir = ""',
      '[backup]\ndir = 5',
      '[backup]\nwait_ms = 9999999999999',
      '[rebaseline]\nconfirmations = 1',
      '[rebaseline]\nconfirmations = 0',
      '[rebaseline]\nconfirmations = "2"',
      '[rebaseline]\nconfirmations = 2.5',
      '[rebaseline]\nconfirmations = 100000',
      '[rebaseline]\nbogus = true',
    ]) {
      const f = join(dir, 'payserv.toml');
      writeFileSync(f, toml + '\n');
      try {
        await loadConfig('payserv', f, { stateDir: dir, env: {} });
        outs.push(`ACCEPTED: ${JSON.stringify(toml)}`);
        problems.push(JSON.stringify(toml));
      } catch (e) {
        const m = (e as Error).message;
        outs.push(`${JSON.stringify(toml)} => ${m.split('\n')[0]?.slice(0, 200)}`);
        if (!/dashboard|backup|rebaseline/.test(m)) problems.push(`unclear: ${JSON.stringify(toml)} ${m}`);
      }
    }
    console.log(outs.join('\n'));
    console.log('PROBLEMS:\n' + problems.join('\n'));
    expect(problems).toEqual([]);
  });
});

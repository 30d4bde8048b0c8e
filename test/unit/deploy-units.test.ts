// The systemd units in deploy/ as an operator installs them: hardened (systemd-analyze security's
// exposure at most 4, run offline when systemd-analyze is here), Node's JIT left able to run (no
// MemoryDenyWriteExecute), paths of an installed package (/usr/bin, /etc, /var/lib: no checkout in a
// home directory), and the users and directories they run as made by deploy/sysusers.d and tmpfiles.d.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../support/spawn.js';

const UNITS = ['payserv', 'dbgw', 'intake'] as const;
const EXPOSURE_MAX = 4;

/** Every `Key=value` of a unit, a key given twice keeping both values. */
function directives(unit: string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const line of readFileSync(join(REPO, 'deploy', `${unit}.service`), 'utf8').split('\n')) {
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (kv) m.set(kv[1]!, [...(m.get(kv[1]!) ?? []), kv[2]!]);
  }
  return m;
}

const HARDENING: Record<string, string> = {
  CapabilityBoundingSet: '',
  NoNewPrivileges: 'true',
  PrivateTmp: 'true',
  PrivateDevices: 'true',
  DevicePolicy: 'closed',
  PrivateUsers: 'true',
  ProtectSystem: 'strict',
  ProtectHome: 'true',
  ProtectKernelTunables: 'true',
  ProtectKernelModules: 'true',
  ProtectKernelLogs: 'true',
  ProtectControlGroups: 'true',
  ProtectClock: 'true',
  ProtectHostname: 'true',
  ProtectProc: 'invisible',
  ProcSubset: 'pid',
  RestrictAddressFamilies: 'AF_INET AF_INET6 AF_UNIX',
  RestrictNamespaces: 'true',
  RestrictRealtime: 'true',
  RestrictSUIDSGID: 'true',
  LockPersonality: 'true',
  RemoveIPC: 'true',
  SystemCallArchitectures: 'native',
  SystemCallFilter: '@system-service',
  UMask: '0077',
  LimitCORE: '0',
};

const hasAnalyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' }).status === 0;

describe('deploy/: systemd units, users and directories', () => {
  for (const unit of UNITS) {
    it(`${unit}.service: every hardening directive, no W^X (Node's JIT), installed paths`, () => {
      const d = directives(unit);
      for (const [k, v] of Object.entries(HARDENING)) expect(d.get(k), `${unit}.service ${k}`).toEqual([v]);
      expect(d.has('MemoryDenyWriteExecute')).toBe(false);
      expect(d.get('User')).toEqual([unit]);
      expect(d.get('StateDirectory')).toEqual([unit]);
      expect(d.get('ReadWritePaths')).toEqual([`/var/lib/${unit}`]);
      expect(d.get('Environment')).toEqual([`PAYSERV_STATE_DIR=/var/lib/${unit}`]);
      expect(d.get('ExecStart')).toEqual([`/usr/bin/${unit} --config /etc/${unit}/${unit}.toml`]);
    });

    it.runIf(hasAnalyze)(`${unit}.service: systemd-analyze security --offline=true scores it at most ${EXPOSURE_MAX}`, () => {
      const r = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', join(REPO, 'deploy', `${unit}.service`)], {
        encoding: 'utf8',
      });
      const m = /Overall exposure level for \S+: (\d+\.\d+)/.exec(r.stdout + r.stderr);
      expect(m, r.stdout + r.stderr).not.toBeNull();
      expect(Number(m![1])).toBeLessThanOrEqual(EXPOSURE_MAX);
    });
  }

  it("the README's recipe installs the executables where the units start them, and checks it with command -v", () => {
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
    const recipe = readme.slice(readme.indexOf('**Preparing a host.**'), readme.indexOf('## dbgw: the database gateway'));
    const prefix = /npm i -g --prefix (\S+) \.\/payserv-<version>\.tgz/.exec(recipe)?.[1];
    expect(prefix, 'npm i -g --prefix DIR in the recipe').toBeDefined();
    for (const unit of UNITS) expect(directives(unit).get('ExecStart')?.[0]).toMatch(new RegExp(`^${prefix}/bin/${unit} `));
    expect(recipe).toMatch(/command -v payserv dbgw pscli esman/);
    // pscli reads payserv's state directory (0700, payserv's) only as root: the runbook must not promise a group.
    expect(readme).not.toMatch(/member of payserv's group/);
  });

  it("sysusers.d makes the units' users; tmpfiles.d their directories, owned by them, 0700", () => {
    const sysusers = readFileSync(join(REPO, 'deploy/sysusers.d/payserv.conf'), 'utf8');
    const tmpfiles = readFileSync(join(REPO, 'deploy/tmpfiles.d/payserv.conf'), 'utf8');
    for (const unit of UNITS) {
      expect(sysusers).toMatch(new RegExp(`^u\\s+${unit}\\s+-\\s+"[^"]+"\\s+/var/lib/${unit}\\s+/usr/sbin/nologin$`, 'm'));
      expect(tmpfiles).toMatch(new RegExp(`^d\\s+/var/lib/${unit}\\s+0700\\s+${unit}\\s+${unit}\\s+-$`, 'm'));
      expect(tmpfiles).toMatch(new RegExp(`^d\\s+/etc/${unit}\\s+0750\\s+root\\s+${unit}\\s+-$`, 'm'));
    }
    // The operator's pscli state (its TLS key): root's alone.
    expect(tmpfiles).toMatch(/^d\s+\/var\/lib\/pscli\s+0700\s+root\s+root\s+-$/m);
  });
});

// Outside attack on the operator dashboard (README "Operator dashboard"): malformed requests, parameter
// pollution, token replay and revocation, origin variants, hostile database values in every column shown.
// Regression tests for the findings L1 (GET // answered 500), L2 (duplicate parameters accepted, the first
// one winning), L3 (a used token acted again) and L4 (a foreign Referer ignored): each now refused, nothing changed.
import { connect as tlsConnect } from 'node:tls';
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningPayserv } from '../src/app/service.js';
import { loadConfig } from '../src/config/load.js';
import { startPayserv } from '../src/app/service.js';
import { makeDashboardCa } from '../src/esman/pki-dashboard.js';
import { createLogger } from '../src/log/index.js';
import { initPki, issueOperator, operatorTlsPaths, pkiPaths, revokeOperator } from '../src/esman/pki-files.js';
import { processWithdrawal } from '../src/payserv/payouts.js';
import { asAttacker, WITHDRAWALS } from './support/attacker.js';
import { backend } from './support/db.js';
import { payservData } from './support/dbgw.js';
import { testLedger, type TestLedger } from './support/ledger.js';
import { tmpStateDir } from './support/tmp.js';

let l: TestLedger;
let running: RunningPayserv;
let port: number;
const ids = { pending: 0, pending2: 0, other: 0 };
const X = `<script>alert(1)</script>"'><img src=x onerror=alert(2)>`;

afterEach(async () => {
  await running?.stop();
  await l?.db.close();
});

/** A raw HTTP/1.1 request over TLS with an operator's certificate: whatever bytes we like. */
function raw(operator: string, request: string | Buffer): Promise<{ status: number; head: string; body: string }> {
  const pair = operatorTlsPaths(l.stateDir, operator);
  return new Promise((resolve, reject) => {
    const s = tlsConnect({
      host: '127.0.0.1',
      port,
      cert: readFileSync(pair.cert),
      key: readFileSync(pair.key),
      ca: readFileSync(pkiPaths(l.stateDir).dashboardCa),
      checkServerIdentity: () => undefined,
    });
    let out = '';
    s.on('secureConnect', () => s.write(request));
    s.on('data', (d: Buffer) => (out += d.toString()));
    s.on('end', () => {
      const [head, ...rest] = out.split('\r\n\r\n');
      resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(head ?? '')?.[1] ?? 0), head: head ?? '', body: rest.join('\r\n\r\n') });
    });
    s.on('error', (e) => (out ? resolve({ status: -1, head: out, body: '' }) : reject(e)));
    s.setTimeout(8000, () => s.destroy());
  });
}
const get = (op: string, path: string, method = 'GET') =>
  raw(op, `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
const post = (op: string, path: string, body: string, headers: Record<string, string> = {}) =>
  raw(
    op,
    `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${Object.entries(
      headers,
    )
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('')}\r\n${body}`,
  );
const tokenOf = (html: string) => /name="token" value="([^"]+)"/.exec(html)?.[1] as string;
const auditCount = async () => (await l.db.query(`SELECT id FROM payserv_audit`)).length;
const statusOf = async (id: number) =>
  ((await l.db.query<{ status: string }>(`SELECT status FROM ${WITHDRAWALS} WHERE id = $1`, [id]))[0] as { status: string }).status;

async function setUp(actions = true): Promise<void> {
  l = await testLedger();
  await l.checkpointAll();
  for (const name of ['alice', 'mallory']) await issueOperator(l.stateDir, name, { days: 30 });
  await makeDashboardCa(l.stateDir, { days: 30, hosts: ['127.0.0.1'] });
  const config = await loadConfig('payserv', undefined, { stateDir: l.stateDir, env: {} });
  config.rpc.port = 0;
  config.keys.admin = true;
  config.dashboard = {
    listen: { host: '127.0.0.1', port: 0 },
    actions,
    rows: 50,
    coins: { ETH: { tx_link: 'https://etherscan.io/tx/{hash}', address_link: 'https://etherscan.io/address/{address}' } },
  };
  running = await startPayserv(config, createLogger('payserv', 'silent'), await payservData(l.db, l.stateDir));
  port = running.dashboard?.port as number;
  const open = await l.db.query<{ id: number; user_id: number }>(
    `SELECT w.id, w.user_id FROM ${WITHDRAWALS} w JOIN coins_coin c ON c.id = w.coin_id WHERE w.status = 'processing' AND c.tag = 'ETH' ORDER BY w.id`,
  );
  running.ps.state.enable('test');
  const users = new Set<number>();
  const picks: number[] = [];
  for (const r of open)
    if (!users.has(r.user_id) && picks.length < 3) {
      users.add(r.user_id);
      picks.push(r.id);
    }
  ids.pending = picks[0] as number;
  ids.pending2 = picks[1] as number;
  ids.other = picks[2] as number;
  expect(await processWithdrawal(running.ps, ids.pending, 'test')).toMatchObject({ reply: 'PENDING' });
  expect(await processWithdrawal(running.ps, ids.pending2, 'test')).toMatchObject({ reply: 'PENDING' });
}

describe(`attack17b: dashboard (${backend()})`, { timeout: 90_000 }, () => {
  // First in the file: no payserv of an earlier test is left for afterEach.
  it("another PKI's dashboard CA and server pair put in place: payserv does not start, naming the file", async () => {
    l = await testLedger();
    const other = await tmpStateDir();
    await initPki(other, { rootDays: 3650, leafDays: 825 });
    await makeDashboardCa(other, { days: 30, hosts: ['127.0.0.1'] });
    const [from, to] = [pkiPaths(other), pkiPaths(l.stateDir)];
    mkdirSync(dirname(to.dashboardCa), { recursive: true });
    for (const f of ['dashboardCa', 'dashboardCaTie', 'dashboardServer', 'dashboardServerKey'] as const) copyFileSync(from[f], to[f]);
    const config = await loadConfig('payserv', undefined, { stateDir: l.stateDir, env: {} });
    config.rpc.port = 0;
    config.dashboard = { listen: { host: '127.0.0.1', port: 0 }, actions: true, rows: 50, coins: {} };
    await expect(startPayserv(config, createLogger('payserv', 'silent'), await payservData(l.db, l.stateDir))).rejects.toThrow(
      /ca-root\.crt: not signed by the pinned root/,
    );
    // Its own CA with another PKI's tie: refused as well.
    rmSync(dirname(to.dashboardCa), { recursive: true });
    await makeDashboardCa(l.stateDir, { days: 30, hosts: ['127.0.0.1'] });
    copyFileSync(from.dashboardCaTie, to.dashboardCaTie);
    await expect(startPayserv(config, createLogger('payserv', 'silent'), await payservData(l.db, l.stateDir))).rejects.toThrow(
      /ca-root\.crt: not signed by the pinned root/,
    );
  });

  it('malformed requests never crash payserv, change nothing, and get a clear 4xx', async () => {
    await setUp();
    const bad: Array<[string, Promise<{ status: number; head: string; body: string }>]> = [];
    for (const p of [
      '/approve?id=%',
      '/approve?id=%E0%A4%A',
      '/approve?id=-1',
      '/approve?id=1e0',
      '/approve?id=0x1',
      '/approve?id=99999999999999999999999',
      `/approve?id=${ids.pending}&id=${ids.other}`,
      '/approve?id=',
      '/approve',
      '/%',
      '/..%2f..%2fetc%2fpasswd',
      '//',
      `/${'a'.repeat(60_000)}`,
    ])
      bad.push([`GET ${p.slice(0, 60)}`, get('alice', p)]);
    for (const m of ['OPTIONS', 'TRACE', 'PUT', 'DELETE', 'CONNECT']) bad.push([m, get('alice', '/', m)]);
    bad.push(['POST % body', post('alice', '/approve', 'target=%&token=%')]);
    bad.push(['POST big body', post('alice', '/approve', `target=${ids.pending}&token=${'A'.repeat(5000)}`)]);
    bad.push([
      'POST json',
      raw(
        'alice',
        `POST /approve HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`,
      ),
    ]);
    bad.push([
      'POST chunked 2MB',
      raw(
        'alice',
        Buffer.concat([
          Buffer.from(
            `POST /enable HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n200000\r\n`,
          ),
          Buffer.alloc(0x200000, 0x61),
          Buffer.from('\r\n0\r\n\r\n'),
        ]),
      ),
    ]);
    bad.push(['garbage', raw('alice', 'HELLO\r\n\r\n')]);
    bad.push(['header bomb', raw('alice', `GET / HTTP/1.1\r\nHost: x\r\n${'X-A: b\r\n'.repeat(5000)}\r\n`)]);
    const results: Record<string, number> = {};
    for (const [name, p] of bad) results[name] = (await p).status;
    console.log(results);
    // L1: a target that is not a path of this site is no page here, never an internal error.
    for (const p of ['//', '//evil.example/approve?id=1', `//127.0.0.1/approve?id=${ids.pending}`]) {
      const r = await get('alice', p);
      expect(r.status, p).toBe(404);
      expect(r.body, p).toMatch(/no such page/);
    }
    expect((await raw('alice', 'GET https://127.0.0.1/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')).status).toBe(404);
    // L2: a parameter given twice is refused, naming it.
    const twice = await get('alice', `/approve?id=${ids.pending}&id=${ids.other}`);
    expect(twice.status).toBe(400);
    expect(twice.body).toMatch(/the query has the parameter &quot;id&quot; more than once/);
    expect(await statusOf(ids.pending)).toBe('pending');
    expect((await get('alice', '/')).status).toBe(200); // still serving
    // Every one a 4xx; CONNECT alone is closed unanswered by Node's HTTP server (no 'connect' listener).
    expect(results).toMatchObject({ CONNECT: 0 });
    for (const [name, st] of Object.entries(results)) if (name !== 'CONNECT') expect([name, st >= 400 && st < 500]).toEqual([name, true]);
  });

  it('parameter pollution: a token for one withdrawal must never approve another', async () => {
    await setUp();
    const form = await get('alice', `/approve?id=${ids.pending}`);
    const token = tokenOf(form.body);
    expect(token).toBeTruthy();
    const before = await auditCount();
    // L2: a parameter given twice is refused naming it (400), before the token is looked at.
    for (const [body, name] of [
      [`target=${ids.pending}&target=${ids.pending2}&token=${token}`, 'target'],
      [`target=${ids.pending2}&target=${ids.pending}&token=${token}`, 'target'],
      [`target=${ids.pending}&token=${token}&token=${token}`, 'token'],
      [`target=${ids.pending2}&token=${token}&token=${token}`, 'token'],
    ]) {
      const r = await post('alice', '/approve', body as string);
      expect(r.status, body).toBe(400);
      expect(r.body, body).toContain(`the form has the parameter &quot;${name}&quot; more than once`);
    }
    // Other spellings of the target are another target: the token is not theirs.
    for (const body of [
      `target=${ids.pending}%00${ids.pending2}&token=${token}`,
      `target=0${ids.pending}&token=${token}`,
      `target=+${ids.pending}&token=${token}`,
    ]) {
      const r = await post('alice', '/approve', body);
      expect(r.status, body).toBe(403);
      expect(r.body, body).toMatch(/the form has no valid token/);
    }
    expect(await statusOf(ids.pending)).toBe('pending');
    expect(await statusOf(ids.pending2)).toBe('pending');
    expect(await auditCount()).toBe(before);
    // The refusals did not use the token up: the form still acts, once, on its own withdrawal.
    expect((await post('alice', '/approve', `target=${ids.pending}&token=${token}`)).status).toBe(200);
    expect(await statusOf(ids.pending)).toBe('approved');
    expect(await statusOf(ids.pending2)).toBe('pending');
  });

  it("a token taken before the operator's revocation, or another operator's token, acts no more", async () => {
    await setUp();
    const form = await get('mallory', `/approve?id=${ids.pending}`);
    const token = tokenOf(form.body);
    expect(token).toBeTruthy();
    // alice replays mallory's token
    const swap = await post('alice', '/approve', `target=${ids.pending}&token=${token}`);
    expect(swap.status).toBe(403);
    await revokeOperator(l.stateDir, 'mallory', {});
    const r = await post('mallory', '/approve', `target=${ids.pending}&token=${token}`);
    expect(r.status).toBe(403);
    expect(await statusOf(ids.pending)).toBe('pending');
  });

  it('a used token replayed is refused (L3): one confirmation, one call, also when the replays race', async () => {
    await setUp();
    const approvals = () => l.db.query(`SELECT id FROM payserv_audit WHERE method = 'PayServ.Approve'`);
    const form = await get('alice', `/approve?id=${ids.pending}`);
    const token = tokenOf(form.body);
    const first = await post('alice', '/approve', `target=${ids.pending}&token=${token}`);
    expect(first.status).toBe(200);
    expect(await approvals()).toHaveLength(1);
    const second = await post('alice', '/approve', `target=${ids.pending}&token=${token}`);
    expect(second.status).toBe(403);
    expect(second.body).toMatch(/this form was already submitted \(a token acts once\)/);
    expect(await approvals()).toHaveLength(1);
    // Five copies of one form sent at once: one acts, four are refused as used.
    const form2 = await get('alice', `/approve?id=${ids.pending2}`);
    const token2 = tokenOf(form2.body);
    const race = await Promise.all([1, 2, 3, 4, 5].map(() => post('alice', '/approve', `target=${ids.pending2}&token=${token2}`)));
    expect(race.map((r) => r.status).sort()).toEqual([200, 403, 403, 403, 403]);
    expect(await approvals()).toHaveLength(2);
    expect(await statusOf(ids.pending2)).toBe('approved');
    // Enable too: the used form does not enable again after a disable.
    const en = tokenOf((await get('alice', '/enable')).body);
    running.ps.state.disable('test', 'before the enable form');
    expect((await post('alice', '/enable', `target=&token=${en}`)).status).toBe(200);
    running.ps.state.disable('test', 'an operator disabled again');
    expect((await post('alice', '/enable', `target=&token=${en}`)).status).toBe(403);
    expect(running.ps.state.enabled).toBe(false);
  });

  it('origin variants with a valid token: null origin, cross-site fetch metadata, another origin on the same host', async () => {
    await setUp();
    const outs: Record<string, number> = {};
    for (const [name, headers] of [
      ['origin null', { Origin: 'null' }],
      ['sec-fetch-site cross-site, no origin', { 'Sec-Fetch-Site': 'cross-site' }],
      ['other port same host', { Origin: 'https://127.0.0.1:1' }],
      ['same-site fetch metadata', { 'Sec-Fetch-Site': 'same-site' }],
      ['referer only, evil', { Referer: 'https://evil.example/x' }],
      ['referer other port same host', { Referer: 'https://127.0.0.1:1/enable' }],
      ['referer not a URL', { Referer: 'not a url' }],
      ['same origin, foreign referer', { Origin: 'https://127.0.0.1', Referer: 'https://evil.example/x' }],
      ['foreign origin, same referer', { Origin: 'https://evil.example', Referer: 'https://127.0.0.1/enable' }],
    ] as Array<[string, Record<string, string>]>) {
      const form = await get('alice', '/enable');
      const r = await post('alice', '/enable', `target=&token=${tokenOf(form.body)}`, headers);
      outs[name] = r.status;
      if (running.ps.state.enabled) running.ps.state.disable('test', 'reset between variants');
    }
    for (const [name, st] of Object.entries(outs)) expect(st, name).toBe(403);
    expect(running.ps.state.enabled).toBe(false);
    // Accepted: a same-origin Origin without a Referer, with a same-origin Referer, or neither (a non-browser client).
    for (const headers of [
      { Origin: 'https://127.0.0.1' },
      { Origin: 'https://127.0.0.1', Referer: 'https://127.0.0.1/enable', 'Sec-Fetch-Site': 'same-origin' },
      { Referer: 'https://127.0.0.1/enable' },
      {},
    ] as Array<Record<string, string>>) {
      running.ps.state.disable('test', 'reset between variants');
      const form = await get('alice', '/enable');
      const r = await post('alice', '/enable', `target=&token=${tokenOf(form.body)}`, headers);
      expect(r.status, JSON.stringify(headers)).toBe(200);
      expect(running.ps.state.enabled).toBe(true);
    }
  });

  it('hostile values in every column the page shows are text, links stay https to the explorer', async () => {
    await setUp();
    await asAttacker(l.db, [
      [`UPDATE ${WITHDRAWALS} SET status = 'sending', tx_hash = $2, comment = $2, address = $2 WHERE id = $1`, [ids.other, X]],
      [`UPDATE ${WITHDRAWALS} SET comment = $2, address = $2 WHERE id = $1`, [ids.pending, `javascript:alert(1)//${X}`]],
      `ALTER TABLE payserv_audit DISABLE TRIGGER USER`,
      [
        `INSERT INTO payserv_audit (at, client, method, target, reply, duration_ms, hash) VALUES (now(), $1, $1, $1, $1, 1, $2)`,
        [X, Buffer.alloc(32, 1)],
      ],
      `ALTER TABLE payserv_audit ENABLE TRIGGER USER`,
      [`INSERT INTO payserv_alerts (kind, reason, details) VALUES ('fail_stop', $1, '{}')`, [X]],
      [
        `INSERT INTO payserv_autopay (coin_id, state, holder, since, reason) SELECT id, 'halted', $1, now(), $1 FROM coins_coin WHERE tag = 'ZEC'`,
        [X],
      ],
    ]);
    for (const path of ['/', `/approve?id=${ids.pending}`, `/approve?id=${ids.other}`]) {
      const r = await get('alice', path);
      console.log(path, r.status, r.body.length);
      expect(r.body).not.toMatch(/<script>|<img /);
      for (const href of r.body.matchAll(/href="([^"]*)"/g)) expect(href[1]).toMatch(/^(\/|https:\/\/etherscan\.io\/)/);
    }
  });

  it('actions = false: no confirmation page, no token, a POST acts on nothing', async () => {
    await setUp(false);
    const form = await get('alice', `/approve?id=${ids.pending}`);
    const en = await get('alice', '/enable');
    const p1 = await post('alice', '/approve', `target=${ids.pending}&token=1.${'A'.repeat(43)}`);
    const p2 = await post('alice', '/enable', `target=&token=x`);
    console.log('read-only dashboard:', form.status, en.status, p1.status, p2.status, /name="token"/.test(form.body + en.body));
    expect(/name="token"/.test(form.body + en.body)).toBe(false);
    expect(await statusOf(ids.pending)).toBe('pending');
    expect([p1.status, p2.status].every((x) => x >= 400 && x < 500)).toBe(true);
  });

  it('revocation applies on a kept-alive connection opened before it', async () => {
    await setUp();
    const pair = operatorTlsPaths(l.stateDir, 'mallory');
    const sock = tlsConnect({
      host: '127.0.0.1',
      port,
      cert: readFileSync(pair.cert),
      key: readFileSync(pair.key),
      ca: readFileSync(pkiPaths(l.stateDir).dashboardCa),
      checkServerIdentity: () => undefined,
    });
    let out = '';
    sock.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise((r) => sock.on('secureConnect', r));
    sock.write(`GET /approve?id=${ids.pending} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await new Promise((r) => setTimeout(r, 1500));
    const token = tokenOf(out);
    await revokeOperator(l.stateDir, 'mallory', {});
    await new Promise((r) => setTimeout(r, 500));
    const body = `target=${ids.pending}&token=${token}`;
    out = '';
    sock.write(
      `POST /approve HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    await new Promise((r) => setTimeout(r, 2500));
    sock.destroy();
    console.log('kept-alive after revocation:', out.split('\r\n')[0], /id="result"[^>]*>([^<]*)/.exec(out)?.[1]);
    expect(await statusOf(ids.pending)).toBe('pending');
  });
});

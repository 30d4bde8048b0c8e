// Outside attack on the operator dashboard (README "Operator dashboard"): malformed requests, parameter
// pollution, token replay and revocation, origin variants, hostile database values in every column shown.
import { connect as tlsConnect } from 'node:tls';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningPayserv } from '../src/app/service.js';
import { loadConfig } from '../src/config/load.js';
import { startPayserv } from '../src/app/service.js';
import { createLogger } from '../src/log/index.js';
import { issueOperator, operatorTlsPaths, pkiPaths, revokeOperator } from '../src/esman/pki-files.js';
import { processWithdrawal } from '../src/payserv/payouts.js';
import { asAttacker, WITHDRAWALS } from './support/attacker.js';
import { backend } from './support/db.js';
import { payservData } from './support/dbgw.js';
import { testLedger, type TestLedger } from './support/ledger.js';

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
      ca: readFileSync(pkiPaths(l.stateDir).root),
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
const statusOf = async (id: number) =>
  ((await l.db.query<{ status: string }>(`SELECT status FROM ${WITHDRAWALS} WHERE id = $1`, [id]))[0] as { status: string }).status;

async function setUp(actions = true): Promise<void> {
  l = await testLedger();
  await l.checkpointAll();
  for (const name of ['alice', 'mallory']) await issueOperator(l.stateDir, name, { days: 30 });
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
  for (const r of open) if (!users.has(r.user_id) && picks.length < 3) (users.add(r.user_id), picks.push(r.id));
  ids.pending = picks[0] as number;
  ids.pending2 = picks[1] as number;
  ids.other = picks[2] as number;
  expect(await processWithdrawal(running.ps, ids.pending, 'test')).toMatchObject({ reply: 'PENDING' });
  expect(await processWithdrawal(running.ps, ids.pending2, 'test')).toMatchObject({ reply: 'PENDING' });
}

describe(`attack17b: dashboard (${backend()})`, { timeout: 90_000 }, () => {
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
    const slash = await get('alice', '//');
    console.log('GET // ->', slash.status, slash.body.slice(0, 300));
    expect(await statusOf(ids.pending)).toBe('pending');
    expect((await get('alice', '/')).status).toBe(200); // still serving
    expect(results['GET //'], 'GET // answers an internal error').not.toBe(500);
    for (const [name, st] of Object.entries(results)) expect(st, name).not.toBe(200);
  });

  it('parameter pollution: a token for one withdrawal must never approve another', async () => {
    await setUp();
    const form = await get('alice', `/approve?id=${ids.pending}`);
    const token = tokenOf(form.body);
    expect(token).toBeTruthy();
    const outs = [];
    for (const body of [
      `target=${ids.pending}&target=${ids.pending2}&token=${token}`,
      `target=${ids.pending2}&target=${ids.pending}&token=${token}`,
      `target=${ids.pending}%00${ids.pending2}&token=${token}`,
      `target=0${ids.pending}&token=${token}`,
      `target=+${ids.pending}&token=${token}`,
      `target=${ids.pending2}&token=${token}&token=${token}`,
    ]) {
      const r = await post('alice', '/approve', body);
      outs.push([body.slice(0, 40), r.status, /id="result"[^>]*>([^<]*)/.exec(r.body)?.[1]]);
    }
    console.log(outs);
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

  it('a used token replayed acts a second time (one confirmation, two calls)', async () => {
    await setUp();
    const form = await get('alice', `/approve?id=${ids.pending}`);
    const token = tokenOf(form.body);
    const first = await post('alice', '/approve', `target=${ids.pending}&token=${token}`);
    expect(first.status).toBe(200);
    const second = await post('alice', '/approve', `target=${ids.pending}&token=${token}`);
    const audit = await l.db.query<{ client: string; method: string; target: string }>(
      `SELECT client, method, target FROM payserv_audit WHERE method = 'PayServ.Approve' ORDER BY id`,
    );
    console.log('replay status', second.status, /id="result"[^>]*>([^<]*)/.exec(second.body)?.[1], audit);
    expect(audit.length).toBe(1);
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
    ] as Array<[string, Record<string, string>]>) {
      const form = await get('alice', '/enable');
      const r = await post('alice', '/enable', `target=&token=${tokenOf(form.body)}`, headers);
      outs[name] = r.status;
      if (running.ps.state.enabled) running.ps.state.disable('test', 'reset between variants');
    }
    console.log(outs);
    for (const [name, st] of Object.entries(outs)) expect(st, name).toBe(403);
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
      ca: readFileSync(pkiPaths(l.stateDir).root),
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

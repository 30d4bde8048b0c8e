// The operator dashboard in a real headless Chromium (Debian's, driven by playwright-core), talking TLS itself
// (no proxy): its NSS database (in a HOME of its own) trusts the dashboard CA and holds the operator's browser
// certificate, imported from a passphrase-protected .p12 as README "Operator dashboard" says; a managed policy
// (AutoSelectCertificateForUrls, as an operator's browser would have it or a click) picks the certificate.
// Shown: the states at a glance (a pending withdrawal, a payment in flight, a fail-stop reason, a halted coin
// and what to run); refusals of a browser without a certificate, with a certificate of another CA (of the same
// name), with a revoked operator's, and of the back end's certificate; the browser certificate refused by the
// RPC listener; an enable and an approve from the page, each after its confirmation, audited as the operator
// from the dashboard, the withdrawal moved; a forged POST refused with nothing changed; a hostile comment shown
// as text, never run.
import { request as httpsRequest } from 'node:https';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { createDashboardCa, issueBrowserCert } from '../src/pki/issue.js';
import { issueBrowserOperator, makeDashboardCa } from '../src/esman/pki-dashboard.js';
import { loadTrust } from '../src/esman/pki-files.js';
import { tmpStateDir } from './support/tmp.js';
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

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const HOSTILE = `<script>window.__xss=1</script><img src=x onerror="window.__xss=2">"'&`;
const TX = `0x${'ab'.repeat(32)}`;

/**
 * Chromium reads its policies from here only (root's to write); this one auto-selects a certificate of the
 * dashboard CA's name for https://127.0.0.1 and does nothing else. Written the same by every run and left in
 * place: two test projects may run this file at once.
 */
const POLICY = '/etc/chromium/policies/managed/payserv-dashboard-test.json';
const P12_PASS = 'correct horse battery staple';

let l: TestLedger;
let running: RunningPayserv;
let browser: Browser;
const others: Browser[] = [];
let origin: string;
let port: number;
const ids = { pending: 0, inFlight: 0 };

const statusOf = async (id: number): Promise<string> =>
  (
    (await l.db.query<{ status: string }>(`SELECT status FROM finances_withdrawal_transaction WHERE id = $1`, [id]))[0] as {
      status: string;
    }
  ).status;
const auditTail = async () =>
  l.db.query<{ client: string; method: string; target: string; reply: string }>(
    `SELECT client, method, target, reply FROM payserv_audit ORDER BY id DESC LIMIT 5`,
  );

function installPolicy(): void {
  const policy = {
    AutoSelectCertificateForUrls: [JSON.stringify({ pattern: 'https://127.0.0.1:*', filter: { ISSUER: { CN: 'payserv dashboard CA' } } })],
  };
  mkdirSync('/etc/chromium/policies/managed', { recursive: true });
  writeFileSync(`${POLICY}.${process.pid}`, JSON.stringify(policy));
  renameSync(`${POLICY}.${process.pid}`, POLICY);
}

/**
 * A Chromium of its own whose NSS database trusts `ca` for servers and holds the pair (made into a .p12 with
 * a passphrase by openssl, imported by pk12util): an operator's browser set up as the README says.
 */
async function browserWith(ca: string, pair: { cert: string; key: string; name: string } | null): Promise<Browser> {
  const home = await tmpStateDir('payserv-chromium-');
  const db = `sql:${join(home, '.pki', 'nssdb')}`;
  mkdirSync(join(home, '.pki', 'nssdb'), { recursive: true });
  execFileSync('certutil', ['-N', '-d', db, '--empty-password']);
  execFileSync('certutil', ['-A', '-d', db, '-n', 'payserv dashboard CA', '-t', 'C,,', '-i', ca]);
  if (pair) {
    const p12 = join(home, `${pair.name}.p12`);
    execFileSync('openssl', [
      'pkcs12',
      '-export',
      '-in',
      pair.cert,
      '-inkey',
      pair.key,
      '-name',
      pair.name,
      '-out',
      p12,
      '-passout',
      `pass:${P12_PASS}`,
    ]);
    execFileSync('pk12util', ['-i', p12, '-d', db, '-W', P12_PASS]);
  }
  const b = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS, env: { ...process.env, HOME: home } });
  others.push(b);
  return b;
}

/** A browser holding an operator's browser certificate (pki issue --operator NAME --browser). */
const operatorBrowser = (name: string): Promise<Browser> =>
  browserWith(pkiPaths(l.stateDir).dashboardCa, {
    cert: pkiPaths(l.stateDir).browserCert(name),
    key: pkiPaths(l.stateDir).browserKey(name),
    name,
  });

function as(b: Browser = browser, javaScriptEnabled = false): Promise<BrowserContext> {
  return b.newContext({ javaScriptEnabled }).then((c) => (c.setDefaultTimeout(5_000), c));
}

/** A GET over Node's TLS with a pair (`chain` after the leaf), trusting `ca`: the status and text, or the handshake's error. */
function getWith(pair: { cert: string; key: string }, chain: string, at: number, ca: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port: at,
        path: '/',
        cert: `${readFileSync(pair.cert, 'utf8')}\n${chain}`,
        key: readFileSync(pair.key),
        ca: readFileSync(ca),
        checkServerIdentity: () => undefined,
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** A POST straight from Node with an operator's own certificate: what a forged form would need and still lacks (the token). */
function post(operator: string, path: string, body: string | null, origin?: string): Promise<{ status: number; text: string }> {
  const pair = operatorTlsPaths(l.stateDir, operator);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: body === null ? 'GET' : 'POST',
        cert: readFileSync(pair.cert),
        key: readFileSync(pair.key),
        ca: readFileSync(pkiPaths(l.stateDir).dashboardCa),
        checkServerIdentity: () => undefined,
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...(origin ? { origin } : {}) },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(body ?? undefined);
  });
}

async function setUp(): Promise<void> {
  l = await testLedger();
  await l.checkpointAll();
  for (const name of ['alice', 'mallory']) await issueOperator(l.stateDir, name, { days: 30 });
  await makeDashboardCa(l.stateDir, { days: 30, hosts: ['127.0.0.1'] });
  const trust = loadTrust(l.stateDir);
  for (const name of ['alice', 'mallory']) await issueBrowserOperator(l.stateDir, trust, name, { days: 30 });
  const config = await loadConfig('payserv', undefined, { stateDir: l.stateDir, env: {} });
  config.rpc.port = 0;
  config.keys.admin = true;
  config.dashboard = {
    listen: { host: '127.0.0.1', port: 0 },
    actions: true,
    rows: 50,
    coins: { ETH: { tx_link: 'https://etherscan.io/tx/{hash}', address_link: undefined } },
  };
  running = await startPayserv(config, createLogger('payserv', 'silent'), await payservData(l.db, l.stateDir));
  port = running.dashboard?.port as number;
  origin = `https://127.0.0.1:${port}`;
  // Two users' requests: one made PENDING by payserv (no policy approves it), one another's, put "in flight" with a hostile comment.
  const open = await l.db.query<{ id: number; user_id: number }>(
    `SELECT w.id, w.user_id FROM finances_withdrawal_transaction w JOIN coins_coin c ON c.id = w.coin_id
        WHERE w.status = 'processing' AND c.tag = 'ETH' ORDER BY w.id`,
  );
  const first = open[0] as { id: number; user_id: number };
  const other = open.find((r) => r.user_id !== first.user_id) as { id: number };
  running.ps.state.enable('test');
  expect(await processWithdrawal(running.ps, first.id, 'test')).toMatchObject({ reply: 'PENDING' });
  ids.pending = first.id;
  ids.inFlight = other.id;
  // A database attacker's row (the page shows rows as they are; no payment path reads it here).
  await asAttacker(l.db, [
    [`UPDATE ${WITHDRAWALS} SET status = 'sending', tx_hash = $2, comment = $3 WHERE id = $1`, [other.id, TX, HOSTILE]],
  ]);
  // ZEC's autopay halted on an unknown outcome (as autopay writes it), and a fail-stop.
  await l.db.query(
    `INSERT INTO payserv_autopay (coin_id, state, holder, since, reason, withdrawal_id)
        SELECT id, 'halted', 'test', now(), 'unknown outcome: the node did not answer', NULL FROM coins_coin WHERE tag = 'ZEC'`,
  );
  await running.ps.state.failStop('test: an amount changed in the database', {});
  installPolicy();
  browser = await operatorBrowser('alice');
}

afterEach(async () => {
  for (const b of others.splice(0)) await b.close();
  await running?.stop();
  await l?.db.close();
});

/** The states at a glance to an operator, with strict headers and the hostile comment as text. */
async function showsTheStates(): Promise<void> {
  const ctx = await as();
  const page = await ctx.newPage();
  const res = await page.goto(`${origin}/`);
  expect(res?.status()).toBe(200);
  const headers = res?.headers() ?? {};
  expect(headers['content-security-policy']).toMatch(
    /^default-src 'none'; style-src 'sha256-[^']+'; form-action 'self'; frame-ancestors 'none'/,
  );
  expect(headers).toMatchObject({ 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'x-frame-options': 'DENY' });
  expect(await page.textContent('#operator')).toBe('alice');
  expect(await page.textContent('#state')).toMatch(
    /Payouts FAIL-STOPPED since .*: integrity failure: test: an amount changed in the database/,
  );
  const pending = await page.textContent('#pending + table');
  expect(pending).toContain(String(ids.pending));
  expect(await page.locator(`a.approve[href="/approve?id=${ids.pending}"]`).count()).toBe(1);
  const inFlight = page.locator('#in-flight + table tbody tr');
  expect(await inFlight.count()).toBe(1);
  expect(await inFlight.textContent()).toContain('sending');
  expect(await inFlight.locator('a[href^="https://etherscan.io/tx/"]').getAttribute('href')).toBe(`https://etherscan.io/tx/${TX}`);
  // The hostile comment is text: no element came of it, nothing ran.
  expect(await inFlight.textContent()).toContain(HOSTILE);
  expect(await page.locator('body img').count()).toBe(0);
  expect(await page.locator('body script').count()).toBe(0);
  const autopay = await page.textContent('#autopay + table');
  expect(autopay).toMatch(/ZEC\s*halted/);
  expect(await page.textContent('#autopay + table code.run')).toBe('pscli resolve --coin ZEC');
  expect(await page.textContent('#audit + *')).toBe('the audit trail is empty');
  await ctx.close();
  // With JavaScript on too, nothing of it runs (escaped, and the policy allows no script anyway).
  const js = await as(browser, true);
  const p2 = await js.newPage();
  await p2.goto(`${origin}/`);
  expect(await p2.evaluate(() => (globalThis as unknown as { __xss?: number }).__xss)).toBeUndefined();
  await js.close();
}

/**
 * How Chromium reports a handshake the server refused. TLS 1.3: the server's alert comes after the client's Finished,
 * so Chromium may see the connection closed unanswered (or not yet connected) rather than the alert itself.
 */
const HANDSHAKE_REFUSED =
  /ERR_BAD_SSL_CLIENT_AUTH_CERT|ERR_SSL_PROTOCOL_ERROR|ERR_EMPTY_RESPONSE|ERR_SOCKET_NOT_CONNECTED|ERR_CONNECTION_(RESET|CLOSED)/;

/** A browser without a certificate or with another CA's, the back end and a revoked operator are refused; the browser certificate is the dashboard's only. */
async function refusesOthers(): Promise<void> {
  const p = pkiPaths(l.stateDir);
  // No certificate: the handshake itself fails, in Chromium and in Node's client.
  const none = await (await as(await browserWith(p.dashboardCa, null))).newPage();
  await expect(none.goto(`${origin}/`)).rejects.toThrow(HANDSHAKE_REFUSED);
  await expect(
    new Promise((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port, ca: readFileSync(p.dashboardCa), checkServerIdentity: () => undefined });
      s.on('secureConnect', () => s.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n'));
      s.on('data', (d: Buffer) => resolve(d.toString()));
      s.on('error', reject);
    }),
  ).rejects.toThrow(/certificate required|alert number 116/);
  // Another CA of the very same name (not the one the root signed) and its "alice": refused in the handshake.
  const dir = await tmpStateDir('payserv-foreign-ca-');
  const when = { notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 86_400_000) };
  const foreignRoot = await (await import('../src/pki/issue.js')).createRoot('payserv root CA', when);
  const foreignCa = await createDashboardCa(foreignRoot, when);
  const eve = await issueBrowserCert(foreignCa, { purpose: 'operator', name: 'alice' }, when);
  for (const [f, text] of [
    ['ca.crt', foreignCa.certPem],
    ['alice.crt', eve.certPem],
    ['alice.key', eve.keyPem],
  ] as const)
    writeFileSync(join(dir, f), text);
  const foreign = await (
    await as(await browserWith(p.dashboardCa, { cert: join(dir, 'alice.crt'), key: join(dir, 'alice.key'), name: 'alice' }))
  ).newPage();
  await expect(foreign.goto(`${origin}/`)).rejects.toThrow(HANDSHAKE_REFUSED);
  await expect(getWith({ cert: join(dir, 'alice.crt'), key: join(dir, 'alice.key') }, '', port, p.dashboardCa)).rejects.toThrow(
    /socket hang up|ECONNRESET|alert/,
  );
  // The same request with the operator's own browser certificate is answered: what was refused is the certificate.
  expect((await getWith({ cert: p.browserCert('alice'), key: p.browserKey('alice') }, '', port, p.dashboardCa)).status).toBe(200);
  // The back end's certificate (Ed25519, under the root): not an operator's.
  const be = await getWith({ cert: p.tlsCert('backend'), key: p.tlsKey('backend') }, '', port, p.dashboardCa);
  expect(be.status).toBe(403);
  expect(be.text).toMatch(
    /forbidden: the dashboard is for operators&#39;? certificates .*not backend|forbidden: the dashboard is for operators/,
  );
  // The browser certificate at payserv's RPC listener, alone or with the dashboard CA's certificate or the root's tie
  // as its chain: refused in the handshake (the RPC trusts the root only, whose pathlen 0 allows no CA below it).
  const browserPair = { cert: p.browserCert('alice'), key: p.browserKey('alice') };
  for (const chain of ['', readFileSync(p.dashboardCa, 'utf8'), readFileSync(p.dashboardCaTie, 'utf8')])
    await expect(getWith(browserPair, chain, running.server.port, p.root)).rejects.toThrow(/alert|certificate|socket hang up|ECONNRESET/);
  // A revoked operator's browser certificate: 403 from the next request on.
  await revokeOperator(l.stateDir, 'mallory', {});
  const mPage = await (await as(await operatorBrowser('mallory'))).newPage();
  const r2 = await mPage.goto(`${origin}/`);
  expect(r2?.status()).toBe(403);
  expect(await mPage.textContent('#result')).toMatch(/forbidden: the certificate of operator mallory is revoked/);
}

/** A forged POST without a valid token is refused and changes nothing. */
async function refusesForgedPosts(): Promise<void> {
  const before = await auditTail();
  for (const body of [`target=${ids.pending}`, `target=${ids.pending}&token=1.${'A'.repeat(43)}`]) {
    const r = await post('alice', '/approve', body);
    expect(r.status).toBe(403);
    expect(r.text).toMatch(/the form has no valid token/);
  }
  expect((await post('alice', '/enable', 'target=')).status).toBe(403);
  // A real token is for its action and target only: the approve's, replayed for another withdrawal or for enable, is refused.
  const form = await post('alice', `/approve?id=${ids.pending}`, null);
  expect(form.status).toBe(200);
  const token = /name="token" value="([^"]+)"/.exec(form.text)?.[1] as string;
  expect(token).toMatch(/^\d+\./);
  expect((await post('alice', '/approve', `target=${ids.inFlight}&token=${token}`)).status).toBe(403);
  expect((await post('alice', '/enable', `target=${ids.pending}&token=${token}`)).status).toBe(403);
  expect((await post('alice', '/enable', `target=&token=${token}`)).status).toBe(403);
  // A form on another site, even with a valid token: refused by its origin.
  const enableForm = await post('alice', '/enable', null);
  const enableToken = /name="token" value="([^"]+)"/.exec(enableForm.text)?.[1] as string;
  const crossSite = await post('alice', '/enable', `target=&token=${enableToken}`, 'https://evil.example');
  expect(crossSite).toMatchObject({ status: 403 });
  expect(crossSite.text).toMatch(/a form from another site/);
  expect(await statusOf(ids.pending)).toBe('pending');
  expect(running.ps.state.enabled).toBe(false);
  expect(await auditTail()).toEqual(before);
}

/** Enable and approve from the page, each after its confirmation: audited as the operator from the dashboard. */
async function actsAfterConfirmation(): Promise<void> {
  const ctx = await as();
  const page = await ctx.newPage();
  await page.goto(`${origin}/`);
  await page.click('#enable');
  expect(await page.textContent('h2')).toBe('Confirm: enable payouts');
  expect(running.ps.state.enabled).toBe(false);
  await page.click('#confirm');
  expect(await page.textContent('#result')).toMatch(/ENABLED/);
  expect(running.ps.state.enabled).toBe(true);
  await page.goto(`${origin}/`);
  await page.click(`a.approve[href="/approve?id=${ids.pending}"]`);
  expect(await page.textContent('h2')).toBe('Confirm: approve withdrawal');
  expect(await statusOf(ids.pending)).toBe('pending');
  await page.click('#confirm');
  expect(await page.textContent('#result')).toMatch(/^APPROVED/);
  expect(await statusOf(ids.pending)).toBe('approved');
  const tail = await auditTail();
  expect(tail.slice(0, 2).map((r) => [r.client, r.method, r.target, r.reply])).toEqual([
    ['pscli (operator alice via dashboard)', 'PayServ.Approve', String(ids.pending), 'APPROVED'],
    ['pscli (operator alice via dashboard)', 'Utils.Enable', '', 'OK'],
  ]);
  // The trail on the page says so too.
  await page.goto(`${origin}/`);
  expect(await page.textContent('#audit + table tbody tr')).toMatch(/pscli \(operator alice via dashboard\)\s*PayServ\.Approve/);
  // A token is for its certificate, action and target: replaying the approve's form for another id is refused.
  await ctx.close();
}

describe(`the operator dashboard in Chromium (${backend()})`, () => {
  it('shows the states, refuses non-operators and forged forms, acts after a confirmation, audited', { timeout: 120_000 }, async () => {
    await setUp();
    await showsTheStates();
    await refusesOthers();
    await refusesForgedPosts();
    await actsAfterConfirmation();
  });
});

// The RPC layer over real TLS 1.3 on 127.0.0.1: who may call what, every refusal, and shutdown.
// No database: a generated PKI in a temporary directory and a fake handler that records its calls.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { Agent, request, type RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log/index.js';
import type { Method } from '../../src/api/payserv.js';
import { initPki, loadRootPair, pkiPaths } from '../../src/esman/pki-files.js';
import { issueCert } from '../../src/pki/issue.js';
import type { TlsIdentity } from '../../src/pki/roles.js';
import { RpcClient, rpcRoundTrip, RpcTransportError } from '../../src/rpc/client.js';
import { RPC, RpcError } from '../../src/api/jsonrpc.js';
import { startRpcServer, type RpcContext, type RpcHandler, type RpcLimits, type RpcServer } from '../../src/rpc/server.js';
import type { TlsMaterial } from '../../src/rpc/tls.js';

// ---- fixtures: two PKIs (ours, and another with the same names), made once for this file ----

interface Pki {
  dir: string;
  root: string;
  tls(id: TlsIdentity): TlsMaterial;
  /** A ledger signer's pair under our root: a certificate without the clientAuth purpose. */
  signer: { certPem: string; keyPem: string };
}

let temp: string;
let ours: Pki;
let theirs: Pki;

async function makePki(dir: string): Promise<Pki> {
  await initPki(dir, { rootDays: 30, leafDays: 30 });
  const p = pkiPaths(dir);
  const read = (f: string) => readFile(f, 'utf8');
  const root = await read(p.root);
  const pairs = {} as Record<TlsIdentity, TlsMaterial>;
  for (const id of ['payserv', 'dbgw', 'pscli', 'backend'] as const)
    pairs[id] = { certPem: await read(p.tlsCert(id)), keyPem: await read(p.tlsKey(id)), caPem: root };
  return {
    dir,
    root,
    tls: (id) => pairs[id],
    signer: { certPem: await read(p.signerCert('admin')), keyPem: await read(p.signerKey('admin')) },
  };
}

beforeAll(async () => {
  temp = await mkdtemp(join(tmpdir(), 'payserv-rpc-'));
  ours = await makePki(join(temp, 'ours'));
  theirs = await makePki(join(temp, 'theirs'));
});

afterAll(() => rm(temp, { recursive: true, force: true }));

// ---- a server with a recording handler, and its log ----

interface Call {
  method: Method;
  params: unknown;
  ctx: RpcContext;
}

interface Harness {
  server: RpcServer;
  calls: Call[];
  /** What the handler does for the next calls (default: echo). */
  behave(h: RpcHandler | undefined): void;
  logs: Array<Record<string, unknown>>;
  logText(): string;
  client(id: TlsIdentity, extra?: Partial<ConstructorParameters<typeof RpcClient>[0]>): RpcClient;
}

const openClients: RpcClient[] = [];

async function startHarness(limits: Partial<RpcLimits> = {}): Promise<Harness> {
  const calls: Call[] = [];
  const lines: string[] = [];
  let behaviour: RpcHandler | undefined;
  const log = createLogger('payserv', 'trace', { write: (s: string) => void lines.push(s) });
  const server = await startRpcServer({
    port: 0,
    tls: ours.tls('payserv'),
    limits,
    log,
    handle: async (method, params, ctx) => {
      calls.push({ method, params, ctx });
      return behaviour ? behaviour(method, params, ctx) : { echo: method, params };
    },
  });
  return {
    server,
    calls,
    behave: (h) => (behaviour = h),
    get logs() {
      return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    logText: () => lines.join(''),
    client: (id, extra = {}) => {
      const c = new RpcClient({ host: '127.0.0.1', port: server.port, tls: ours.tls(id), timeoutMs: 10_000, ...extra });
      openClients.push(c);
      return c;
    },
  };
}

function closeClients(): void {
  for (const c of openClients.splice(0)) c.close();
}

/** The error a promise rejects with (fails the test if it resolves). */
async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    const v = await p;
    throw new Error(`expected a rejection, got ${JSON.stringify(v)}`);
  } catch (e) {
    return e as Error;
  }
}

async function rpcError(p: Promise<unknown>): Promise<RpcError> {
  const e = await rejection(p);
  expect(e, e.message).toBeInstanceOf(RpcError);
  return e as RpcError;
}

interface RawReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: { jsonrpc?: string; id?: unknown; result?: unknown; error?: { code: number; message: string; data?: unknown } } | null;
}

/**
 * One HTTP request on a connection of its own, body and headers as given: for what RpcClient would
 * never send. `chunks` sends the body in pieces without a Content-Length.
 */
function raw(
  port: number,
  tls: Partial<TlsMaterial>,
  opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer; chunks?: Buffer[]; tlsVersion?: 'TLSv1.2' } = {},
): Promise<RawReply> {
  const ro: RequestOptions = {
    host: '127.0.0.1',
    port,
    path: '/',
    method: opts.method ?? 'POST',
    agent: false,
    rejectUnauthorized: true,
    ...(opts.tlsVersion ? { maxVersion: opts.tlsVersion } : { minVersion: 'TLSv1.3' }),
    ca: tls.caPem ?? ours.root,
    ...(tls.certPem ? { cert: tls.certPem, key: tls.keyPem } : {}),
    headers: {
      'Content-Type': 'application/json',
      ...(opts.body !== undefined ? { 'Content-Length': String(Buffer.byteLength(opts.body)) } : {}),
      ...opts.headers,
    },
  };
  return new Promise((resolve, reject) => {
    const req = request(ro, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: RawReply['json'] = null;
        try {
          json = JSON.parse(text) as RawReply['json'];
        } catch {
          json = null;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    // Errors after the reply arrived (the server closing on an oversized body we are still sending) do not matter.
    req.on('error', reject);
    if (opts.chunks) {
      for (const c of opts.chunks) req.write(c);
      req.end();
    } else {
      req.end(opts.body);
    }
  });
}

const rpcBody = (o: Record<string, unknown>) => JSON.stringify({ jsonrpc: '2.0', ...o });

// ---- the tests ----

describe('RPC: who may call what', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    closeClients();
    await h.server.close(1000);
  });
  beforeEach(() => {
    h.calls.length = 0;
    h.behave(undefined);
  });

  it("pscli and backend call their methods and get the handler's results; the handler sees validated params and the caller", async () => {
    const pscli = h.client('pscli');
    const backend = h.client('backend');
    expect(await pscli.call('Utils.Version')).toEqual({ echo: 'Utils.Version' });
    expect(await pscli.call('Check.Balance', { user: 17, coin: 'ETH' })).toEqual({
      echo: 'Check.Balance',
      params: { user: 17, coin: 'ETH' },
    });
    expect(await pscli.call('PayServ.Approve', [5])).toEqual({ echo: 'PayServ.Approve', params: [5] });
    expect(await backend.call('PayServ.Process', { id: 42 })).toEqual({ echo: 'PayServ.Process', params: { id: 42 } });
    expect(await backend.call('PayServ.Check', [43])).toEqual({ echo: 'PayServ.Check', params: [43] });
    expect(h.calls.map((c) => [c.method, c.ctx.identity, c.ctx.commonName])).toEqual([
      ['Utils.Version', 'pscli', 'pscli tls'],
      ['Check.Balance', 'pscli', 'pscli tls'],
      ['PayServ.Approve', 'pscli', 'pscli tls'],
      ['PayServ.Process', 'backend', 'backend tls'],
      ['PayServ.Check', 'backend', 'backend tls'],
    ]);
    expect(h.calls[0]?.params).toBeUndefined();
    expect(Object.keys(h.calls[0]?.ctx ?? {}).sort()).toEqual(['commonName', 'identity', 'requestId']);
    for (const c of h.calls) expect(c.ctx.requestId).toMatch(/^[0-9a-f]{16}$/);
    expect(new Set(h.calls.map((c) => c.ctx.requestId)).size).toBe(h.calls.length);
    // A handler result of undefined is sent as null (a reply must carry "result").
    h.behave(async () => undefined);
    expect(await pscli.call('Utils.Enable')).toBeNull();
  });

  it('backend may not call Utils.* or Check.*: -32001, and the handler is never called, even with bad params', async () => {
    const backend = h.client('backend');
    for (const [method, params] of [
      ['Utils.Status', undefined],
      ['Utils.Version', []],
      ['Utils.Disable', {}],
      ['Check.Balances', undefined],
      ['Check.Balance', { user: 1, coin: 'ETH' }],
      ['Corrections.Apply', { user: 1, coin: 'ETH', amount: '1' }],
      ['Wallets.SignAll', undefined],
      // The ACL comes before params: a forbidden caller learns nothing about them.
      ['Utils.TransInfo', { id: 'not a number' }],
    ] as const) {
      const e = await rpcError(backend.call(method, params as never));
      expect(e.code, method).toBe(RPC.FORBIDDEN);
      expect(e.message).toBe(`forbidden: backend may not call ${method}`);
      expect(e.data).toEqual({ code: 'forbidden' });
    }
    expect(h.calls).toEqual([]);
    // The services' own identities may call nothing here.
    for (const id of ['payserv', 'dbgw'] as const) {
      expect((await rpcError(h.client(id).call('PayServ.Check', [1]))).code).toBe(RPC.FORBIDDEN);
    }
    expect(h.calls).toEqual([]);
  });

  it('logs one line per request with identity, method, ids, outcome and duration, and never the params', async () => {
    const before = h.logs.length;
    const pscli = h.client('pscli');
    await pscli.call('PayServ.Check', { id: 987654321 });
    await rpcError(h.client('backend').call('Utils.Status'));
    await rpcError(pscli.call('PayServ.Check', { id: 'secret-looking-876543' }));
    const lines = h.logs.slice(before).filter((l) => l.msg === 'rpc request');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatchObject({
      identity: 'pscli',
      cn: 'pscli tls',
      method: 'PayServ.Check',
      rpcId: expect.any(Number),
      code: 0,
      status: 200,
      ms: expect.any(Number),
    });
    expect(lines[1]).toMatchObject({ identity: 'backend', method: 'Utils.Status', code: RPC.FORBIDDEN, status: 403 });
    expect(lines[2]).toMatchObject({ identity: 'pscli', method: 'PayServ.Check', code: RPC.INVALID_PARAMS, status: 400 });
    const text = JSON.stringify(h.logs.slice(before));
    expect(text).not.toContain('987654321');
    expect(text).not.toContain('secret-looking-876543');
  });
});

describe('RPC: TLS refusals', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    closeClients();
    await h.server.close(1000);
  });

  it('no client certificate: refused in the TLS handshake, the handler is not called', async () => {
    const e = await rejection(raw(h.server.port, { caPem: ours.root }, { body: rpcBody({ id: 1, method: 'Utils.Version' }) }));
    expect((e as NodeJS.ErrnoException).code).toBe('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED');
    // The same through RpcClient: a transport error naming the server, and known not to have run.
    const c = h.client('pscli', { tls: { ...ours.tls('pscli'), certPem: '', keyPem: '' } });
    const t = await rejection(c.call('Utils.Version'));
    expect(t).toBeInstanceOf(RpcTransportError);
    expect(t.message).toContain(`127.0.0.1:${h.server.port}`);
    expect(t.message).toMatch(/refused the TLS connection: tlsv13 alert certificate required/);
    expect((t as RpcTransportError).mayHaveRun).toBe(false);
    expect(h.calls).toEqual([]);
  });

  it('a client certificate from another CA, with the same names: refused', async () => {
    const e = await rejection(
      raw(h.server.port, { ...theirs.tls('pscli'), caPem: ours.root }, { body: rpcBody({ id: 1, method: 'Utils.Version' }) }),
    );
    // Node, not OpenSSL, refuses a certificate that fails verification: it drops the connection after
    // the handshake without an alert, so the client only sees a reset.
    expect((e as NodeJS.ErrnoException).code).toBe('ECONNRESET');
    const t = await rejection(h.client('pscli', { tls: { ...theirs.tls('pscli'), caPem: ours.root } }).call('Utils.Version'));
    expect(t).toBeInstanceOf(RpcTransportError);
    expect(t.message).toBe(
      `Utils.Version to 127.0.0.1:${h.server.port}: connection reset by the server before any reply (ECONNRESET); if it refused this client's certificate, its log says why (the request was sent and may have run)`,
    );
    expect(h.calls).toEqual([]);
    await expect
      .poll(() => h.logs.filter((l) => l.msg === 'TLS handshake refused' && l.certificate === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE').length)
      .toBe(2);
  });

  it("a ledger signer's certificate (our root, no clientAuth purpose) as a client certificate: refused", async () => {
    const e = await rejection(
      raw(h.server.port, { ...ours.signer, caPem: ours.root }, { body: rpcBody({ id: 1, method: 'Utils.Version' }) }),
    );
    expect((e as NodeJS.ErrnoException).code).toBe('ECONNRESET');
    expect(h.calls).toEqual([]);
    // The server's log tells the three refusals apart.
    await expect.poll(() => h.logs.filter((l) => l.msg === 'TLS handshake refused' && l.certificate === 'INVALID_PURPOSE').length).toBe(1);
    expect(h.logs.filter((l) => l.reason === 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE').length).toBe(2);
  });

  it('a certificate under our root, fit for TLS, whose OU is no payserv identity: 403 with -32001', async () => {
    const pair = await issueCert(
      loadRootPair(ours.dir),
      { purpose: 'tls', identity: 'stranger' as TlsIdentity },
      { notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 86_400_000) },
    );
    const r = await raw(h.server.port, { ...pair, caPem: ours.root }, { body: rpcBody({ id: 1, method: 'Utils.Version' }) });
    expect(r.status).toBe(403);
    expect(r.json).toEqual({
      jsonrpc: '2.0',
      id: null,
      error: { code: RPC.FORBIDDEN, message: 'forbidden: this client certificate names no payserv identity', data: { code: 'forbidden' } },
    });
    expect(r.headers.connection).toBe('close');
    expect(h.calls).toEqual([]);
    expect(h.logs.find((l) => l.msg === 'rpc request' && l.identity === null)).toMatchObject({
      refused: 'client certificate OU "stranger" is not a TLS identity',
      status: 403,
    });
  });

  it("an operator's certificate (OU=operator): pscli's rights, the name in the context; a malformed name is refused", async () => {
    const root = loadRootPair(ours.dir);
    const validity = { notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 86_400_000) };
    const alice = await issueCert(root, { purpose: 'operator', name: 'alice' }, validity);
    const ok = await raw(h.server.port, { ...alice, caPem: ours.root }, { body: rpcBody({ id: 1, method: 'Utils.Status' }) });
    expect(ok.status).toBe(200);
    expect(h.calls.map((c) => c.ctx)).toEqual([expect.objectContaining({ identity: 'pscli', commonName: 'alice', operator: 'alice' })]);
    expect(h.logs.find((l) => l.msg === 'rpc request' && l.operator === 'alice')).toMatchObject({ identity: 'pscli', cn: 'alice' });
    const odd = await issueCert(root, { purpose: 'operator', name: 'Not A Name' }, validity);
    const r = await raw(h.server.port, { ...odd, caPem: ours.root }, { body: rpcBody({ id: 2, method: 'Utils.Status' }) });
    expect(r.status).toBe(403);
    expect(h.calls).toHaveLength(1);
    // An operator's certificate has no serverAuth: it cannot pose as payserv to a client.
    const fake = await startRpcServer({
      port: 0,
      tls: { ...alice, caPem: ours.root },
      log: createLogger('payserv', 'silent'),
      handle: async () => 1,
    });
    try {
      const c = new RpcClient({ host: '127.0.0.1', port: fake.port, tls: ours.tls('pscli'), timeoutMs: 5_000 });
      openClients.push(c);
      expect((await rejection(c.call('Utils.Version', []))).message).toMatch(/certificate|TLS|handshake/i);
    } finally {
      await fake.close(100);
    }
  });

  it('TLS 1.2 is refused, and no session is ever resumed: every connection has its certificate verified', async () => {
    const e = await rejection(
      raw(h.server.port, ours.tls('pscli'), { body: rpcBody({ id: 1, method: 'Utils.Version' }), tlsVersion: 'TLSv1.2' }),
    );
    expect((e as NodeJS.ErrnoException).code).toBe('EPROTO');
    // An agent that caches sessions and opens a connection per request: it is offered no ticket to resume with.
    const m = ours.tls('pscli');
    const agent = new Agent({
      keepAlive: false,
      cert: m.certPem,
      key: m.keyPem,
      ca: m.caPem,
      minVersion: 'TLSv1.3',
      maxCachedSessions: 10,
    });
    try {
      for (let i = 0; i < 3; i++) {
        const reused = await new Promise<boolean>((resolve, reject) => {
          const req = request(
            { host: '127.0.0.1', port: h.server.port, method: 'POST', agent, headers: { 'Content-Type': 'application/json' } },
            (res) => {
              res.resume();
              res.on('end', () => resolve((req.socket as TLSSocket).isSessionReused()));
            },
          );
          req.on('error', reject);
          req.end(rpcBody({ id: i, method: 'Utils.Version' }));
        });
        expect(reused).toBe(false);
      }
    } finally {
      agent.destroy();
    }
  });

  it("the client refuses a server whose certificate is from another CA, or is not payserv's", async () => {
    const fake = await startRpcServer({
      port: 0,
      tls: theirs.tls('payserv'),
      log: createLogger('payserv', 'silent'),
      handle: async () => 'stolen',
    });
    const impostor = await startRpcServer({
      // A pscli holder's certificate is valid for serverAuth on 127.0.0.1 too: only its OU gives it away.
      port: 0,
      tls: { ...ours.tls('pscli'), caPem: ours.root },
      log: createLogger('payserv', 'silent'),
      handle: async () => 'stolen',
    });
    try {
      const a = await rejection(
        new RpcClient({ host: '127.0.0.1', port: fake.port, tls: ours.tls('pscli'), timeoutMs: 5000 }).call('Utils.Version'),
      );
      expect(a.message).toMatch(/TLS failure: .*(UNABLE_TO_VERIFY_LEAF_SIGNATURE|certificate)/i);
      const b = await rejection(
        new RpcClient({ host: '127.0.0.1', port: impostor.port, tls: ours.tls('pscli'), timeoutMs: 5000 }).call('Utils.Version'),
      );
      expect(b.message).toContain(`the server's certificate is for "pscli", not payserv`);
      expect((b as RpcTransportError).mayHaveRun).toBe(false);
      // Told to expect pscli, the same client accepts it (the check is the identity, not a quirk).
      const c = new RpcClient({
        host: '127.0.0.1',
        port: impostor.port,
        tls: ours.tls('backend'),
        timeoutMs: 5000,
        serverIdentity: 'pscli',
      });
      expect(await c.call('PayServ.Check', [1])).toBe('stolen');
      c.close();
    } finally {
      await fake.close(100);
      await impostor.close(100);
    }
  });

  it('transport failures name host:port: connection refused, and no reply in time', async () => {
    const closed = await startRpcServer({
      port: 0,
      tls: ours.tls('payserv'),
      log: createLogger('payserv', 'silent'),
      handle: async () => null,
    });
    const port = closed.port;
    await closed.close(0);
    const e = await rejection(new RpcClient({ host: '127.0.0.1', port, tls: ours.tls('pscli'), timeoutMs: 5000 }).call('Utils.Version'));
    expect(e).toBeInstanceOf(RpcTransportError);
    expect(e.message).toBe(`Utils.Version to 127.0.0.1:${port}: connection refused (is payserv running and listening there?)`);
    expect((e as RpcTransportError).mayHaveRun).toBe(false);

    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    h.behave(() => gate.then(() => 'late'));
    const t = await rejection(h.client('pscli', { timeoutMs: 200 }).call('PayServ.Send', [9]));
    expect(t.message).toBe(`PayServ.Send to 127.0.0.1:${h.server.port}: no reply within 200 ms (the request was sent and may have run)`);
    expect((t as RpcTransportError).mayHaveRun).toBe(true);
    release();
  });

  it('a port that does not speak TLS: nothing was sent, said in those words; a peer closing before the handshake has not run it either', async () => {
    for (const [answer, expected] of [
      ['HTTP/1.1 400 Bad Request\r\n\r\n', /^payserv at 127\.0\.0\.1:\d+ did not speak TLS \(wrong port\?\): nothing was sent$/],
      ['', /Utils\.Version to 127\.0\.0\.1:\d+: connection reset by the server before any reply/],
    ] as const) {
      const plain = createServer((s) => s.once('data', () => s.end(answer)).on('error', () => {}));
      await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
      const { port } = plain.address() as AddressInfo;
      try {
        const e = await rejection(
          new RpcClient({ host: '127.0.0.1', port, tls: ours.tls('pscli'), timeoutMs: 5000 }).call('Utils.Version'),
        );
        expect(e).toBeInstanceOf(RpcTransportError);
        expect(e.message).toMatch(expected);
        expect(e.message).not.toMatch(/may have run|SSL routines/);
        expect((e as RpcTransportError).mayHaveRun).toBe(false);
      } finally {
        plain.close();
      }
    }
  });

  it('a port that accepts TCP but never speaks: a handshake timeout well before the call timeout, nothing was sent', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((s) => void sockets.push(s.on('error', () => {})));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const { port } = silent.address() as AddressInfo;
    const client = new RpcClient({ host: '127.0.0.1', port, tls: ours.tls('pscli'), timeoutMs: 60_000, handshakeTimeoutMs: 300 });
    try {
      const t0 = performance.now();
      const e = await rejection(client.call('Utils.Version'));
      expect(performance.now() - t0).toBeLessThan(5_000);
      expect(e).toBeInstanceOf(RpcTransportError);
      expect(e.message).toMatch(
        /^payserv at 127\.0\.0\.1:\d+ did not complete a TLS handshake within 0\.3 s \(wrong port\?\): nothing was sent$/,
      );
      expect((e as RpcTransportError).mayHaveRun).toBe(false);
    } finally {
      client.close();
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });
});

describe('RPC: malformed requests', () => {
  let h: Harness;
  let port: number;
  const pscli = () => ours.tls('pscli');
  beforeAll(async () => {
    h = await startHarness({ bodyBytesMax: 4096 });
    port = h.server.port;
  });
  afterAll(async () => {
    closeClients();
    await h.server.close(1000);
  });
  beforeEach(() => {
    h.calls.length = 0;
    h.behave(undefined);
  });

  const good = async () => {
    const r = await raw(port, pscli(), { body: rpcBody({ id: 'after', method: 'Utils.Version' }) });
    expect(r.json).toEqual({ jsonrpc: '2.0', id: 'after', result: { echo: 'Utils.Version' } });
  };

  it('malformed JSON: -32700 (id null), and the server goes on serving', async () => {
    for (const body of ['{"jsonrpc":"2.0",', 'not json', '', Buffer.from([0x7b, 0xff, 0xfe, 0x7d])]) {
      const r = await raw(port, pscli(), { body });
      expect(r.status).toBe(400);
      expect(r.json).toEqual({
        jsonrpc: '2.0',
        id: null,
        error: { code: RPC.PARSE_ERROR, message: expect.stringMatching(/^parse error/), data: { code: 'bad_request' } },
      });
    }
    // Not even on a kept-alive connection does a bad body disturb the next call.
    const c = h.client('pscli');
    await c.call('Utils.Version');
    await good();
    expect(h.calls.map((c) => c.method)).toEqual(['Utils.Version', 'Utils.Version']);
  });

  it('a batch, a non-object, a notification, a wrong jsonrpc, method or params: -32600', async () => {
    const cases: Array<[unknown, unknown, RegExp]> = [
      [[{ jsonrpc: '2.0', id: 1, method: 'Utils.Version' }], null, /batches are not supported/],
      [[], null, /batches/],
      ['"Utils.Version"', null, /expected a JSON object/],
      [{ jsonrpc: '2.0', method: 'Utils.Version' }, null, /notifications are not supported/],
      [{ jsonrpc: '1.0', id: 2, method: 'Utils.Version' }, 2, /"jsonrpc" must be "2.0"/],
      [{ id: 3, method: 'Utils.Version' }, 3, /"jsonrpc"/],
      [{ jsonrpc: '2.0', id: 4, method: 5 }, 4, /"method" must be a non-empty string/],
      [{ jsonrpc: '2.0', id: 5, method: 'PayServ.Check', params: 7 }, 5, /"params" must be an array or an object/],
      [{ jsonrpc: '2.0', id: 6, method: 'PayServ.Check', params: null }, 6, /"params"/],
      [{ jsonrpc: '2.0', id: 7, method: 'PayServ.Check', parmas: [1] }, 7, /unknown member "parmas"/],
    ];
    for (const [req, id, message] of cases) {
      const r = await raw(port, pscli(), { body: typeof req === 'string' ? req : JSON.stringify(req) });
      expect(r.status, JSON.stringify(req)).toBe(400);
      expect(r.json, JSON.stringify(req)).toEqual({
        jsonrpc: '2.0',
        id,
        error: { code: RPC.INVALID_REQUEST, message: expect.stringMatching(message), data: { code: 'bad_request' } },
      });
    }
    expect(h.calls).toEqual([]);
    await good();
  });

  it('a JSON-RPC id of a wrong type: -32600, answered with id null', async () => {
    for (const id of [{}, [1], true, 1.5, 2 ** 53, -(2 ** 60), 'x'.repeat(129)]) {
      const r = await raw(port, pscli(), { body: rpcBody({ id, method: 'Utils.Version' }) });
      expect(r.json, JSON.stringify(id)).toEqual({
        jsonrpc: '2.0',
        id: null,
        error: { code: RPC.INVALID_REQUEST, message: expect.stringMatching(/"id" must be/), data: { code: 'bad_request' } },
      });
    }
    // The ones that are fine: null, 0, negative safe integers, strings up to 128 characters.
    for (const id of [null, 0, -5, Number.MAX_SAFE_INTEGER, '', 'x'.repeat(128)]) {
      const r = await raw(port, pscli(), { body: rpcBody({ id, method: 'Utils.Version' }) });
      expect(r.json, JSON.stringify(id)).toEqual({ jsonrpc: '2.0', id, result: { echo: 'Utils.Version' } });
    }
  });

  it('an unknown method: -32601, for every identity, before the ACL', async () => {
    for (const method of ['PayServ.Steal', 'utils.version', '__proto__', 'toString', 'constructor']) {
      const e = await rpcError(h.client('backend').call(method as Method));
      expect(e.code, method).toBe(RPC.METHOD_NOT_FOUND);
      expect(e.message).toBe(`method not found: ${JSON.stringify(method)}`);
      expect(e.data).toEqual({ code: 'unknown_method' });
    }
    const r = await raw(port, pscli(), { body: rpcBody({ id: 1, method: 'x'.repeat(1000) }) });
    expect(r.status).toBe(404);
    expect(r.json?.error?.message.length).toBeLessThan(100);
    expect(h.calls).toEqual([]);
  });

  it('wrong parameter types: -32602, the message names the parameter and what is wrong', async () => {
    const c = h.client('pscli');
    const cases: Array<[Method, unknown, RegExp]> = [
      ['PayServ.Process', { id: '5' }, /^invalid params for PayServ\.Process: params\.id: .*expected number, received string$/],
      ['PayServ.Process', { id: -1 }, /params\.id: Too small: expected number to be >0/],
      ['PayServ.Process', { id: 0 }, /params\.id: Too small/],
      ['PayServ.Process', { id: 1.5 }, /params\.id: .*expected int/],
      ['PayServ.Process', { id: 2 ** 60 }, /params\.id: Too big: expected int to be <=9007199254740991$/],
      ['PayServ.Process', { id: 1, extra: true }, /params: unknown key "extra"/],
      ['PayServ.Process', ['5'], /params\[0\]: .*expected number, received string/],
      ['PayServ.Process', [1, 2], /params: Too big: expected array to have <=1 items/],
      ['PayServ.Process', undefined, /params: expected an array or an object, received nothing/],
      ['PayServ.Process', {}, /params\.id: .*expected number, received undefined/],
      ['Utils.Status', { verbose: true }, /params: unknown key "verbose"/],
      ['Check.Balance', { user: 1 }, /params\.coin: .*expected string/],
      ['Corrections.Apply', { user: 1, coin: 'ETH', amount: 1.5 }, /params\.amount: .*expected string, received number/],
      ['Corrections.Apply', { user: 1, coin: 'ETH', amount: '1e5' }, /params\.amount: a decimal string/],
      ['PayServ.SendCoin', [''], /params\[0\]: Too small/],
    ];
    for (const [method, params, message] of cases) {
      const e = await rpcError(c.call(method, params as never));
      expect(e.code, `${method} ${JSON.stringify(params)}`).toBe(RPC.INVALID_PARAMS);
      expect(e.message, `${method} ${JSON.stringify(params)}`).toMatch(message);
      expect(e.data).toEqual({
        code: 'bad_params',
        issues: [expect.objectContaining({ path: expect.stringMatching(/^params/), message: expect.any(String) })],
      });
    }
    expect(h.calls).toEqual([]);
  });

  it('a body over the limit: 413 with a JSON-RPC error, declared or chunked, and the server goes on serving', async () => {
    const big = rpcBody({ id: 1, method: 'Utils.Version', params: { pad: 'x'.repeat(5000) } });
    const r = await raw(port, pscli(), { body: big });
    expect(r.status).toBe(413);
    expect(r.json).toEqual({
      jsonrpc: '2.0',
      id: null,
      error: { code: RPC.INVALID_REQUEST, message: 'invalid request: the body exceeds 4096 bytes', data: { code: 'bad_request' } },
    });
    expect(r.headers.connection).toBe('close');
    // Without a Content-Length the server counts, and stops keeping bytes at the limit.
    const chunked = await raw(port, pscli(), { chunks: Array.from({ length: 64 }, () => Buffer.alloc(1024, 0x20)) });
    expect(chunked.status).toBe(413);
    expect(chunked.json?.error?.code).toBe(RPC.INVALID_REQUEST);
    // A body of exactly the limit is fine.
    const exact = rpcBody({ id: 2, method: 'Utils.Version' });
    const padded = exact.slice(0, -1) + ' '.repeat(4096 - exact.length) + '}';
    expect(Buffer.byteLength(padded)).toBe(4096);
    expect((await raw(port, pscli(), { body: padded })).json?.result).toEqual({ echo: 'Utils.Version' });
    // Announced with "Expect: 100-continue": refused before the body is sent at all.
    const expectContinue = await new Promise<{ status: number; continued: boolean }>((resolve, reject) => {
      let continued = false;
      const m = pscli();
      const req = request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          agent: false,
          minVersion: 'TLSv1.3',
          ca: m.caPem,
          cert: m.certPem,
          key: m.keyPem,
          headers: { 'Content-Type': 'application/json', 'Content-Length': '1000000', Expect: '100-continue' },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, continued }));
        },
      );
      req.on('continue', () => (continued = true));
      req.on('error', reject);
      req.flushHeaders();
    });
    expect(expectContinue).toEqual({ status: 413, continued: false });
    // Through RpcClient: an RpcError, and its next call works on a fresh connection.
    const c = h.client('pscli');
    expect((await rpcError(c.call('PayServ.Check', { id: 1, pad: 'x'.repeat(5000) }))).code).toBe(RPC.INVALID_REQUEST);
    expect(await c.call('Utils.Version')).toEqual({ echo: 'Utils.Version' });
    await good();
  });

  it('GET, another content type: 405 and 415 with an error body', async () => {
    const get = await raw(port, pscli(), { method: 'GET' });
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe('POST');
    expect(get.json?.error).toEqual({ code: RPC.INVALID_REQUEST, message: 'invalid request: use POST', data: { code: 'bad_request' } });
    const body = rpcBody({ id: 1, method: 'Utils.Version' });
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1']) {
      const r = await raw(port, pscli(), { body, headers: { 'Content-Type': type } });
      expect(r.status, type).toBe(415);
      expect(r.json?.error).toMatchObject({ code: RPC.INVALID_REQUEST, data: { code: 'bad_request' } });
    }
    expect((await raw(port, pscli(), { body, headers: { 'Content-Type': 'Application/JSON; charset=UTF-8' } })).status).toBe(200);
    expect(h.calls.length).toBe(1);
  });
});

describe('RPC: handler outcomes and load', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ inFlightMax: 60 });
  });
  afterAll(async () => {
    closeClients();
    await h.server.close(1000);
  });
  beforeEach(() => {
    h.calls.length = 0;
    h.behave(undefined);
  });

  it('a handler throwing RpcError chooses the error, data included', async () => {
    h.behave(async () => {
      throw new RpcError(RPC.BUSY, 'busy: the chain lock is held', { retryAfterMs: 500 });
    });
    const e = await rpcError(h.client('backend').call('PayServ.Send', [3]));
    expect({ code: e.code, message: e.message, data: e.data }).toEqual({
      code: RPC.BUSY,
      message: 'busy: the chain lock is held',
      data: { retryAfterMs: 500 },
    });
    h.behave(async () => {
      throw new RpcError(1, 'DECLINED');
    });
    expect((await rpcError(h.client('backend').call('PayServ.Send', [3]))).code).toBe(1);
  });

  it('a handler throwing anything else: -32603 with a generic message; the real one goes to the log only', async () => {
    const secret = 'password=hunter2 at /var/lib/payserv/keys/payserv.key';
    h.behave(async () => {
      throw new Error(secret);
    });
    const before = h.logs.length;
    const e = await rpcError(h.client('pscli').call('Utils.Status'));
    expect(e.code).toBe(RPC.INTERNAL_ERROR);
    expect(e.message).toBe('internal error (see the server log)');
    expect(JSON.stringify(e)).not.toContain('hunter2');
    expect(e.data).toEqual({ code: 'internal' });
    const line = h.logs.slice(before).find((l) => l.msg === 'rpc request');
    expect(line).toMatchObject({ method: 'Utils.Status', code: RPC.INTERNAL_ERROR, status: 500, err: { message: secret } });
    // A synchronous throw, a thrown string, and a result that is not JSON: the same.
    for (const bad of [
      (() => {
        throw new Error(secret);
      }) as unknown as RpcHandler,
      async () => Promise.reject(secret),
      async () => ({ amount: 10n }),
    ]) {
      h.behave(bad);
      const e2 = await rpcError(h.client('pscli').call('Utils.Status'));
      expect(e2.code).toBe(RPC.INTERNAL_ERROR);
      expect(e2.data).toEqual({ code: 'internal' });
      expect(e2.message).not.toContain('hunter2');
    }
  });

  it('50 concurrent calls over one client are all answered, each with its own result', async () => {
    h.behave(async (_m, params) => {
      await new Promise((r) => setTimeout(r, 5));
      return params;
    });
    const c = h.client('backend', { maxSockets: 8 });
    const ids = Array.from({ length: 50 }, (_, i) => i + 1);
    const results = await Promise.all(ids.map((id) => c.call<{ id: number }>('PayServ.Check', { id })));
    expect(results.map((r) => r.id)).toEqual(ids);
    expect(h.calls.length).toBe(50);
    // The round trip the benchmark will measure.
    const ms = await rpcRoundTrip(h.client('pscli'));
    expect(ms).toBeGreaterThan(0);
    expect(ms).toBeLessThan(5000);
  });

  it('more handlers in flight than the limit: -32003 busy, without calling the handler', async () => {
    const small = await startHarness({ inFlightMax: 2 });
    try {
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      small.behave(() => gate.then(() => 'done'));
      const c = small.client('pscli');
      const running = [c.call('Utils.Status'), c.call('Utils.Status')];
      await expect.poll(() => small.calls.length).toBe(2);
      const e = await rpcError(c.call('Utils.Status'));
      expect(e.code).toBe(RPC.BUSY);
      expect(e.data).toEqual({ code: 'overloaded' });
      expect(small.calls.length).toBe(2);
      release();
      expect(await Promise.all(running)).toEqual(['done', 'done']);
      expect(await c.call('Utils.Version')).toBe('done');
    } finally {
      await small.server.close(1000);
    }
  });

  it('a handler slower than the request timeout: -32603 saying the outcome is unknown; its later failure is logged', async () => {
    const slow = await startHarness({ requestTimeoutMs: 300 });
    try {
      let fail!: (e: Error) => void;
      slow.behave(() => new Promise((_, reject) => (fail = reject)));
      const e = await rpcError(slow.client('backend').call('PayServ.Send', [77]));
      expect(e.code).toBe(RPC.INTERNAL_ERROR);
      expect(e.message).toBe('no result within 300 ms; the call may still complete: check its outcome before retrying');
      expect(e.data).toEqual({ code: 'timeout' });
      fail(new Error('node unreachable'));
      await expect.poll(() => slow.logs.some((l) => l.msg === 'handler failed after the request timeout')).toBe(true);
    } finally {
      await slow.server.close(1000);
    }
  });
});

describe('RPC: close', () => {
  afterAll(() => closeClients());

  it('close() while a slow handler runs: the in-flight call completes, new ones are refused, close resolves', async () => {
    const h = await startHarness();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    h.behave((method) => (method === 'PayServ.Send' ? gate.then(() => 'sent') : Promise.resolve('quick')));
    const c = h.client('backend');
    // An idle keep-alive connection, which must not hold close() open.
    const idle = h.client('pscli');
    await idle.call('Utils.Version');
    const inFlight = c.call('PayServ.Send', [1]);
    await expect.poll(() => h.calls.length).toBe(2);

    // A request whose headers are in before close() and whose body comes after: answered -32002.
    const late = lateRequest(h.server.port, ours.tls('pscli'));
    await late.headersSent;

    let closed = false;
    const closing = h.server.close(10_000).then(() => (closed = true));
    late.send(rpcBody({ id: 'late', method: 'Utils.Version' }));
    const lateReply = await late.reply;
    expect(lateReply.status).toBe(503);
    expect(lateReply.json).toEqual({
      jsonrpc: '2.0',
      id: 'late',
      error: { code: RPC.SHUTTING_DOWN, message: 'shutting down: the request was not run', data: { code: 'shutting_down' } },
    });
    expect(lateReply.headers.connection).toBe('close');

    // A new connection: refused (the listener is closed).
    const fresh = await rejection(
      new RpcClient({ host: '127.0.0.1', port: h.server.port, tls: ours.tls('pscli'), timeoutMs: 5000 }).call('Utils.Version'),
    );
    expect(fresh).toBeInstanceOf(RpcTransportError);
    // The idle client's connection was closed: its next call fails one way or the other, and never runs.
    const again = await rejection(idle.call('Utils.Version'));
    expect(again instanceof RpcTransportError || (again instanceof RpcError && again.code === RPC.SHUTTING_DOWN), again.message).toBe(true);

    expect(closed).toBe(false);
    release();
    expect(await inFlight).toBe('sent');
    await closing;
    expect(h.calls.map((c) => c.method)).toEqual(['Utils.Version', 'PayServ.Send']);
  });

  it('close() gives up on a handler that outlives the grace period, drops its connection, and resolves', async () => {
    const h = await startHarness();
    h.behave(() => new Promise(() => undefined));
    const c = h.client('backend');
    const stuck = rejection(c.call('PayServ.Send', [2]));
    await expect.poll(() => h.calls.length).toBe(1);
    const t0 = Date.now();
    await h.server.close(300);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    expect(Date.now() - t0).toBeLessThan(5000);
    const e = await stuck;
    expect(e).toBeInstanceOf(RpcTransportError);
    expect((e as RpcTransportError).mayHaveRun).toBe(true);
    expect(h.logs.some((l) => l.msg === 'rpc server closed with handlers still running' && l.running === 1)).toBe(true);
  });

  it('close() with nothing running resolves at once, even with idle keep-alive connections', async () => {
    const h = await startHarness();
    const c = h.client('pscli');
    await Promise.all([c.call('Utils.Version'), c.call('Utils.Version'), c.call('Utils.Version')]);
    const t0 = Date.now();
    await h.server.close(10_000);
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});

/** A POST whose headers go out now and whose body goes out when told. */
function lateRequest(port: number, tls: TlsMaterial) {
  let sendBody!: (body: string) => void;
  let headersSent!: () => void;
  const sent = new Promise<void>((r) => (headersSent = r));
  const reply = new Promise<RawReply>((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/',
        agent: false,
        minVersion: 'TLSv1.3',
        ca: tls.caPem,
        cert: tls.certPem,
        key: tls.keyPem,
        headers: { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: JSON.parse(text) as RawReply['json'] });
        });
      },
    );
    req.on('error', reject);
    req.flushHeaders();
    // The server has the headers once the TLS connection is up and they are written; a short wait covers the flight.
    req.on('socket', (s) => s.once('secureConnect', () => setTimeout(headersSent, 200)));
    sendBody = (body) => req.end(body);
  });
  return { headersSent: sent, send: (body: string) => sendBody(body), reply };
}

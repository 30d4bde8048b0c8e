// esman as an operator runs it: real processes (bin/esman.mjs), passphrases on fd 3, answers to the
// manager's prompt on stdin. The store's values, the hot-wallet key and the passphrases never reach
// the output; every refusal leaves the files as they were; the key is handed over on loopback only,
// to a request an operator allowed, and only a key that opens the store is taken.
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, expect, it, onTestFinished } from 'vitest';
import { privateKeyToAddress } from 'viem/accounts';
import { parseCoinItem } from '../src/esman/items.js';
import { readLine } from '../src/esman/lines.js';
import { hex, keyIdOf, newMasterKey } from '../src/esman/master-key.js';
import { obtainKey } from '../src/esman/request.js';
import { unlockShares, writeShares } from '../src/esman/shares.js';
import { KeyStore } from '../src/esman/store-file.js';
import {
  LINE_BYTES_MAX,
  fingerprint,
  newRequest,
  openKey,
  replySchema,
  requestSchema,
  sealKey,
  type KeyReply,
  type PendingRequest,
} from '../src/esman/transfer.js';
import { createLogger } from '../src/log/index.js';
import { describeOncePerSuite } from './support/db.js';
import { killAllChildren, sleep, spawnNode, until, type Child } from './support/spawn.js';
import { tmpStateDir } from './support/tmp.js';
import { freePort } from './support/ports.js';

const PASS = ['pass-phrase-0001', 'pass-phrase-0002', 'pass-phrase-0003'];
const NEW_PASS = ['new-pass-phrase-0001', 'new-pass-phrase-0002'];
/** 2^10: the least esman allows, so that tests do not spend 128 MiB and a second per share. */
const KDF_COST = '10';
const KDF = { log2N: 10, r: 8, p: 1 };
const EXIT_TIMEOUT_MS = 30_000;
const SLOW = 120_000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Every esman process of a test (live views of its output), so that its end can check no passphrase was ever printed. */
let runs: Run[] = [];
/** Everything the test's esman processes printed so far. */
const printed = () => runs.map((r) => r.stdout + r.stderr).join('\n');

afterEach(async () => {
  await killAllChildren();
  const all = printed();
  runs = [];
  for (const p of [...PASS, ...NEW_PASS]) expect(all).not.toContain(p);
});

/** `esman ...args` as a process; `pass` (lines) on fd 3 with --passphrase-fd 3, `stdin` written and closed. */
function spawnEsman(args: string[], o: { pass?: string[]; stdin?: string; keepStdin?: boolean } = {}): Child {
  const child = spawnNode(['bin/esman.mjs', ...args, ...(o.pass ? ['--passphrase-fd', '3'] : [])], {}, { pipes: true });
  const fd3 = child.proc.stdio[3] as Writable;
  fd3.end(o.pass ? o.pass.map((l) => `${l}\n`).join('') : '');
  if (o.stdin !== undefined) child.proc.stdin!.write(o.stdin);
  if (!o.keepStdin) child.proc.stdin!.end();
  runs.push({
    code: null,
    get stdout() {
      return child.stdout();
    },
    get stderr() {
      return child.stderr();
    },
  });
  return child;
}

async function esman(args: string[], o: { pass?: string[]; stdin?: string } = {}): Promise<Run> {
  const child = spawnEsman(args, o);
  const code = await child.waitExit(EXIT_TIMEOUT_MS);
  return { code, stdout: child.stdout(), stderr: child.stderr() };
}

const mode = (path: string) => statSync(path).mode & 0o777;

/** The store opened in this process with the shares' passphrases (an empty one skips a share). */
async function openStore(dir: string, storage: string, pass: string[]): Promise<KeyStore> {
  const answers = [...pass];
  const u = await unlockShares(dir, async () => answers.shift() ?? null);
  try {
    return await KeyStore.open(storage, u.master);
  } finally {
    u.master.fill(0);
  }
}

async function itemsOf(dir: string, storage: string, pass: string[]): Promise<Record<string, string>> {
  const store = await openStore(dir, storage, pass);
  try {
    return Object.fromEntries(store.list().map(({ name }) => [name, store.get(name).toString('utf8')]));
  } finally {
    store.close();
  }
}

/** A real private key in PEM (esman create checks that a .KEY item is one), and a line of its body no output may show. */
function pemKey(): { pem: string; secret: string } {
  const { privateKey: pem } = generateKeyPairSync('ec', {
    namedCurve: 'P-256',
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { pem, secret: pem.split('\n')[1]! };
}
const TLS_KEY = pemKey();
const ITEMS = {
  'payserv.TLS.KEY': TLS_KEY.pem,
  'DB.JSON': '{"url":"postgres://payserv:DB-PASSWORD-51c2@127.0.0.1/payserv"}',
};
const SECRETS = [TLS_KEY.secret, 'DB-PASSWORD-51c2'];

/** Shares (3, 2 needed, PASS) and a store of `items`, made in this process: the fixture of the tests not about init and create. */
async function fixture(items: Record<string, string> = ITEMS): Promise<{ root: string; dir: string; storage: string; master: Uint8Array }> {
  const root = await tmpStateDir('esman-');
  const dir = join(root, 'shares');
  const storage = join(root, 'store.esm');
  const master = newMasterKey();
  await writeShares(dir, master, { shares: 3, threshold: 2, kdf: KDF }, async (i) => Buffer.from(PASS[i - 1]!, 'utf8'));
  const store = KeyStore.empty(storage);
  for (const [name, value] of Object.entries(items)) store.set(name, Buffer.from(value, 'utf8'));
  await store.save(master);
  store.close();
  return { root, dir, storage, master };
}

/** `root`/from holding `items` as files, as an operator brings them to `esman create --from`. */
function itemFiles(root: string, items: Record<string, string>): string {
  const from = join(root, 'from');
  mkdirSync(from);
  for (const [name, value] of Object.entries(items)) writeFileSync(join(from, name), value);
  return from;
}

/** The `list` lines of items, name → size. */
function listed(r: Run): Record<string, number> {
  return Object.fromEntries(
    r.stdout.split('\n').flatMap((l) => {
      const m = /^(\S+)\t(\d+) bytes$/.exec(l);
      return m ? [[m[1]!, Number(m[2])]] : [];
    }),
  );
}

// ---- the manager and its peers ---------------------------------------------------------------------

const PROMPT = /key request from (\S+), type "y" if you allow this, anything else if not: /g;
const prompts = (c: Child) => [...c.stdout().matchAll(PROMPT)].map((m) => m[1]!);

interface ManagerChild extends Child {
  port: number;
  answer(line: string): void;
}

/** `esman manager` on loopback, passphrases on fd 3, stdin left open for the answers; resolves once it listens. */
async function startManagerProcess(dir: string, storage: string, extra: string[] = [], listen = '127.0.0.1:0'): Promise<ManagerChild> {
  const child = spawnEsman(['manager', '--dir', dir, '--storage', storage, '--listen', listen, ...extra], {
    pass: PASS.slice(0, 2),
    keepStdin: true,
  });
  const m = await child.waitForLine(/^listening on 127\.0\.0\.1:(\d+) for \d+ key request\(s\)$/, EXIT_TIMEOUT_MS);
  return Object.assign(child, { port: Number(m[1]), answer: (line: string) => void child.proc.stdin!.write(`${line}\n`) });
}

interface Asked {
  /** Everything the manager sent back. */
  raw: string;
  /** The reply, if what came back parses as one. */
  reply: KeyReply | null;
  /** How the connection failed, if it did (ECONNREFUSED, ECONNRESET). */
  error: string | null;
}

interface Asking {
  /** The request sent (its secret opens a reply sealed to it). */
  pending: PendingRequest;
  /** Whether the TCP connection was accepted. */
  connected: Promise<boolean>;
  /** Settles when the connection is closed. */
  done: Promise<Asked>;
}

const TAKEN = { esman: 1, taken: true };

/**
 * A key request as payserv sends it (or `line` instead), on a raw socket; a key that comes back is
 * answered with `ack` (default: taken), as payserv answers once it has opened its store.
 */
function ask(port: number, o: { host?: string; localAddress?: string; line?: string; ack?: unknown } = {}): Asking {
  const pending = newRequest();
  const s = connect({ host: o.host ?? '127.0.0.1', port, ...(o.localAddress ? { localAddress: o.localAddress } : {}) });
  let raw = '';
  let error: string | null = null;
  const connected = new Promise<boolean>((resolve) => {
    s.once('connect', () => resolve(true));
    s.once('error', () => resolve(false));
  });
  s.on('connect', () => s.write(o.line ?? `${JSON.stringify(pending.request)}\n`));
  s.setEncoding('utf8').on('data', (d: string) => {
    raw += d;
    if (raw.endsWith('\n') && raw.includes('"sealed"')) s.end(`${JSON.stringify(o.ack ?? TAKEN)}\n`);
  });
  s.on('error', (e: NodeJS.ErrnoException) => void (error = e.code ?? e.message));
  const done = new Promise<Asked>((resolve) =>
    s.once('close', () => {
      let reply: KeyReply | null = null;
      try {
        reply = replySchema.parse(JSON.parse(raw));
      } catch {
        reply = null;
      }
      resolve({ raw, reply, error });
    }),
  );
  return { pending, connected, done };
}

/** Does anything accept a connection at host:port? */
function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** This machine's first IPv4 address that is not loopback, if it has one. */
const outsideAddress = () =>
  Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;

/** A pino destination that keeps the lines, parsed. */
function captureLog() {
  const lines: Array<Record<string, unknown>> = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { lines, log: createLogger('payserv', 'info', dest) };
}

describeOncePerSuite('esman CLI', () => {
  it(
    'init, create, list, add, delete: names and sizes shown, values never; 0600 files; an item is replaced only with --replace',
    async () => {
      const root = await tmpStateDir('esman-');
      const dir = join(root, 'shares');
      const storage = join(root, 'store.esm');
      const from = itemFiles(root, ITEMS);

      const init = await esman(['init', '--shares', '3', '--threshold', '2', '--dir', dir, '--kdf-cost', KDF_COST], { pass: PASS });
      expect(init.code, init.stderr).toBe(0);
      expect(init.stdout).toMatch(/into 3 shares, 2 needed/);
      expect(readdirSync(dir).sort()).toEqual(['1.ss', '2.ss', '3.ss']);
      for (const f of readdirSync(dir)) expect(mode(join(dir, f))).toBe(0o600);

      // Operator 1 absent: an empty line skips share 1, shares 2 and 3 make the threshold.
      const create = await esman(['create', '--from', from, '--dir', dir, '--storage', storage], { pass: ['', PASS[1]!, PASS[2]!] });
      expect(create.code, create.stderr).toBe(0);
      expect(create.stdout).toMatch(/rebuilt from shares 2, 3 \(2 of 3\)/);
      expect(create.stdout).toMatch(/with 2 items/);
      expect(mode(storage)).toBe(0o600);

      const list = await esman(['list', '--storage', storage]);
      expect(list.code, list.stderr).toBe(0);
      expect(listed(list)).toEqual({
        'DB.JSON': Buffer.byteLength(ITEMS['DB.JSON']),
        'payserv.TLS.KEY': Buffer.byteLength(ITEMS['payserv.TLS.KEY']),
      });

      const newTls = join(root, 'tls2');
      const replacement = pemKey();
      const newValue = replacement.pem;
      writeFileSync(newTls, newValue);
      const before = readFileSync(storage);
      const refused = await esman(['add', 'payserv.TLS.KEY', newTls, '--dir', dir, '--storage', storage], { pass: PASS.slice(0, 2) });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/^esman: \[exists\] /);
      expect(readFileSync(storage).equals(before)).toBe(true);

      const replaced = await esman(['add', 'payserv.TLS.KEY', newTls, '--dir', dir, '--storage', storage, '--replace'], {
        pass: PASS.slice(0, 2),
      });
      expect(replaced.code, replaced.stderr).toBe(0);
      expect(replaced.stdout).toMatch(/added payserv\.TLS\.KEY/);
      expect(mode(storage)).toBe(0o600);
      expect(await itemsOf(dir, storage, PASS.slice(0, 2))).toEqual({ 'DB.JSON': ITEMS['DB.JSON'], 'payserv.TLS.KEY': newValue });

      const del = await esman(['delete', 'DB.JSON', '--dir', dir, '--storage', storage], { pass: [PASS[0]!, '', PASS[2]!] });
      expect(del.code, del.stderr).toBe(0);
      expect(del.stdout).toMatch(/deleted DB\.JSON/);
      expect(mode(storage)).toBe(0o600);
      const again = await esman(['list', '--storage', storage]);
      expect(listed(again)).toEqual({ 'payserv.TLS.KEY': Buffer.byteLength(newValue) });

      const all = printed();
      for (const s of [...SECRETS, replacement.secret]) expect(all).not.toContain(s);
    },
    SLOW,
  );

  it(
    'passphrases: under 12 characters, none from a non-terminal stdin, bad split options: refused, nothing written',
    async () => {
      const root = await tmpStateDir('esman-');
      const dirs = ['short', 'stdin', 'shares-x', 'threshold', 'cost'].map((d) => join(root, d));
      const [short, noFd, sharesX, threshold, cost] = await Promise.all([
        // Share 1's passphrase is fine and share 2's short: the set is refused whole, share 1 not written either.
        esman(['init', '--shares', '2', '--threshold', '2', '--dir', dirs[0]!, '--kdf-cost', KDF_COST], {
          pass: [PASS[0]!, 'eleven-char'],
        }),
        esman(['init', '--shares', '2', '--threshold', '2', '--dir', dirs[1]!, '--kdf-cost', KDF_COST], {
          stdin: `${PASS[0]}\n${PASS[1]}\n`,
        }),
        esman(['init', '--shares', 'x', '--threshold', '2', '--dir', dirs[2]!, '--kdf-cost', KDF_COST], { pass: PASS }),
        esman(['init', '--shares', '3', '--threshold', '5', '--dir', dirs[3]!, '--kdf-cost', KDF_COST], { pass: PASS }),
        esman(['init', '--shares', '3', '--threshold', '2', '--dir', dirs[4]!, '--kdf-cost', '30'], { pass: PASS }),
      ]);
      expect(short!.code).toBe(1);
      expect(short!.stderr).toMatch(/^esman: \[weak_passphrase\] the passphrase for share 2 of 2 is shorter than 12 characters\n$/);
      expect(noFd!.code).toBe(1);
      expect(noFd!.stderr).toMatch(
        /^esman: \[no_passphrase\] passphrases are typed at a terminal or given with --passphrase-fd N; stdin is not a terminal\n$/,
      );
      expect(sharesX!.code).toBe(2);
      expect(sharesX!.stderr).toMatch(/--shares "x": expected a whole number/);
      // A value esman does not accept is a command line to fix: exit 2, like commander's own refusals.
      expect(threshold!.code).toBe(2);
      expect(threshold!.stderr).toMatch(/^esman: \[bad_option\] --threshold 5: expected 1\.\.3/);
      expect(cost!.code).toBe(2);
      expect(cost!.stderr).toMatch(/^esman: \[bad_option\] --kdf-cost 30: expected 10\.\.20/);
      for (const d of dirs) expect(existsSync(d) ? readdirSync(d) : []).toEqual([]);
      expect(printed()).not.toContain('eleven-char');
    },
    SLOW,
  );

  it(
    'create: a wrong passphrase is refused naming the share file, no store; an existing store is never overwritten',
    async () => {
      const { root, dir } = await fixture();
      const from = itemFiles(root, { 'DB.JSON': ITEMS['DB.JSON'] });
      const storage = join(root, 'new.esm');
      const existing = join(root, 'existing.esm');
      writeFileSync(existing, 'not touched');
      const [wrong, over] = await Promise.all([
        esman(['create', '--from', from, '--dir', dir, '--storage', storage], { pass: [PASS[0]!, 'wrong-pass-phrase-02'] }),
        esman(['create', '--from', from, '--dir', dir, '--storage', existing], { pass: PASS.slice(0, 2) }),
      ]);
      expect(wrong!.code).toBe(1);
      expect(wrong!.stderr).toBe(`esman: [wrong_passphrase] ${join(dir, '2.ss')}: wrong passphrase, or the share file was altered\n`);
      expect(existsSync(storage)).toBe(false);
      expect(readdirSync(root).filter((n) => n.startsWith('.'))).toEqual([]);
      expect(over!.code).toBe(1);
      expect(over!.stderr).toMatch(/^esman: \[exists\] .*existing\.esm already exists/);
      expect(readFileSync(existing, 'utf8')).toBe('not touched');
      expect(printed()).not.toContain('wrong-pass-phrase-02');
    },
    SLOW,
  );

  it(
    'create: a malformed item (DB.JSON not JSON, a SIGN.KEY not a key, a stray file) refused as bad_item naming it, before any passphrase; no store',
    async () => {
      const { root, dir } = await fixture();
      const secret = `SECRET-${Date.now()}`;
      const cases: Array<[string, string, string]> = [
        ['DB.JSON', `{"url": "postgres://payserv:${secret}@db/payserv"`, 'DB.JSON: is not {"url": "postgres://…"}'],
        [
          'payserv.SIGN.KEY',
          `-----BEGIN PRIVATE KEY-----\n${secret}\n-----END PRIVATE KEY-----\n`,
          'payserv.SIGN.KEY: is not a PEM private key',
        ],
        ['notes.txt', secret, 'notes.txt: not an item payserv uses (expected '],
      ];
      const results = await Promise.all(
        cases.map(([name, value], i) => {
          const from = join(root, `from${i}`);
          mkdirSync(from);
          writeFileSync(join(from, 'DB.JSON'), ITEMS['DB.JSON']);
          writeFileSync(join(from, name), value);
          return esman(['create', '--from', from, '--dir', dir, '--storage', join(root, `store${i}.esm`)], { pass: PASS.slice(0, 2) });
        }),
      );
      for (const [i, r] of results.entries()) {
        expect(r.code, r.stderr).toBe(1);
        expect(r.stderr.startsWith(`esman: [bad_item] ${cases[i]![2]}`), r.stderr).toBe(true);
        expect(r.stderr.split('\n')).toHaveLength(2);
        expect(r.stdout + r.stderr).not.toContain(secret);
        // Refused before the shares were opened: no share was asked for.
        expect(r.stdout).not.toMatch(/rebuilt from shares/);
        expect(existsSync(join(root, `store${i}.esm`))).toBe(false);
      }
      expect(readdirSync(root).filter((n) => n.startsWith('.'))).toEqual([]);
    },
    SLOW,
  );

  it(
    '--passphrase-fd 0: passphrases from a pipe its writer keeps open (Node makes that fd non-blocking: no EAGAIN crash)',
    async () => {
      const { root, dir } = await fixture();
      const from = itemFiles(root, { 'DB.JSON': ITEMS['DB.JSON'] });
      const storage = join(root, 'new.esm');
      const child = spawnEsman(['create', '--from', from, '--dir', dir, '--storage', storage, '--passphrase-fd', '0'], {
        stdin: `${PASS[0]}\n${PASS[1]}\n`,
        keepStdin: true,
      });
      await child.waitForLine(/^created .* with 1 items/, EXIT_TIMEOUT_MS);
      child.proc.stdin!.end();
      expect(await child.waitExit(EXIT_TIMEOUT_MS), child.stderr()).toBe(0);
      expect(child.stderr()).toBe('');
      expect(await itemsOf(dir, storage, PASS.slice(0, 2))).toEqual({ 'DB.JSON': ITEMS['DB.JSON'] });
    },
    SLOW,
  );

  it(
    "export: a TLS key of dbgw, pscli or the back end to a new 0600 file, never printed; an existing file, payserv's items and a missing item refused by code",
    async () => {
      const dbgwKey = '-----BEGIN PRIVATE KEY-----\nDBGW-TLS-KEY-4e1d\n-----END PRIVATE KEY-----\n';
      const { root, dir, storage } = await fixture({ ...ITEMS, 'dbgw.TLS.KEY': dbgwKey });
      const exportTo = (name: string, to: string) =>
        esman(['export', name, '--to', to, '--dir', dir, '--storage', storage], { pass: PASS.slice(0, 2) });
      const to = join(root, 'dbgw.key');
      const done = await exportTo('dbgw.TLS.KEY', to);
      expect(done.code, done.stderr).toBe(0);
      expect(readFileSync(to, 'utf8')).toBe(dbgwKey);
      expect(mode(to)).toBe(0o600);
      expect(done.stdout).toMatch(/exported dbgw\.TLS\.KEY \(\d+ bytes\) to .*dbgw\.key \(mode 0600\)/);

      const existing = join(root, 'existing.key');
      writeFileSync(existing, 'not touched', { mode: 0o644 });
      const [over, payserv, signer, missing, nope, stdout] = await Promise.all([
        exportTo('dbgw.TLS.KEY', existing),
        exportTo('payserv.TLS.KEY', join(root, 'p.key')),
        exportTo('DB.JSON', join(root, 'db.json')),
        exportTo('pscli.TLS.KEY', join(root, 'pscli.key')),
        exportTo('nope', join(root, 'nope')),
        // A key never goes to stdout (nor into a file named '-').
        exportTo('dbgw.TLS.KEY', '-'),
      ]);
      expect([over!.code, payserv!.code, signer!.code, missing!.code, nope!.code, stdout!.code]).toEqual([1, 1, 1, 1, 1, 2]);
      expect(nope!.stderr).toBe(`esman: [missing_item] store ${storage} has no item nope\n`);
      expect(stdout!.stderr).toBe('esman: [bad_option] --to -: a key is never written to stdout; name the file to create\n');
      expect(stdout!.stdout).toBe('');
      expect(existsSync(join(process.cwd(), '-'))).toBe(false);
      expect(over!.stderr).toMatch(/^esman: \[exists\] /);
      expect(readFileSync(existing, 'utf8')).toBe('not touched');
      expect(mode(existing)).toBe(0o644);
      expect(payserv!.stderr).toMatch(/^esman: \[not_exportable\] /);
      expect(signer!.stderr).toMatch(/^esman: \[not_exportable\] /);
      expect(missing!.stderr).toMatch(/^esman: \[missing_item\] /);
      for (const f of ['p.key', 'db.json', 'pscli.key', 'nope']) expect(existsSync(join(root, f))).toBe(false);
      const all = printed();
      for (const v of ['DBGW-TLS-KEY-4e1d', ...SECRETS]) expect(all).not.toContain(v);
    },
    SLOW,
  );

  it(
    'rekey: the new shares open the store with the same items, the old ones no longer do',
    async () => {
      const { root, dir, storage, master } = await fixture();
      const newDir = join(root, 'shares2');
      const oldKeyId = hex(keyIdOf(master)).slice(0, 16);
      const rekey = await esman(
        ['rekey', '--dir', dir, '--storage', storage, '--new-dir', newDir, '--shares', '2', '--threshold', '2', '--kdf-cost', KDF_COST],
        { pass: [...PASS.slice(0, 2), ...NEW_PASS] },
      );
      expect(rekey.code, rekey.stderr).toBe(0);
      const newKeyId = /resealed under key ([0-9a-f]{16})/.exec(rekey.stdout)?.[1];
      expect(newKeyId).toBeDefined();
      expect(newKeyId).not.toBe(oldKeyId);
      expect(readdirSync(newDir).sort()).toEqual(['1.ss', '2.ss']);
      for (const f of readdirSync(newDir)) expect(mode(join(newDir, f))).toBe(0o600);
      expect(mode(storage)).toBe(0o600);

      const item = join(root, 'item');
      writeFileSync(item, 'a new item');
      const before = readFileSync(storage);
      const [list, old] = await Promise.all([
        esman(['list', '--storage', storage]),
        esman(['add', 'New.ITEM', item, '--dir', dir, '--storage', storage], { pass: PASS.slice(0, 2) }),
      ]);
      expect(list!.stdout).toContain(`key ${newKeyId}`);
      expect(listed(list!)).toEqual(Object.fromEntries(Object.entries(ITEMS).map(([k, v]) => [k, Buffer.byteLength(v)])));
      expect(old!.code).toBe(1);
      expect(old!.stderr).toMatch(/^esman: \[wrong_key\] /);
      expect(old!.stderr).toMatch(
        new RegExp(`is sealed under key ${newKeyId}, not under this key \\(${oldKeyId}\\): wrong shares for this store`),
      );
      expect(readFileSync(storage).equals(before)).toBe(true);
      expect(await itemsOf(newDir, storage, NEW_PASS)).toEqual(ITEMS);

      const add = await esman(['add', 'New.ITEM', item, '--dir', newDir, '--storage', storage], { pass: NEW_PASS });
      expect(add.code, add.stderr).toBe(0);
      const del = await esman(['delete', 'DB.JSON', '--dir', newDir, '--storage', storage], { pass: NEW_PASS });
      expect(del.code, del.stderr).toBe(0);
      expect(await itemsOf(newDir, storage, NEW_PASS)).toEqual({ 'New.ITEM': 'a new item', 'payserv.TLS.KEY': ITEMS['payserv.TLS.KEY'] });
      await expect(openStore(dir, storage, PASS.slice(0, 2))).rejects.toThrow(/sealed under key/);
    },
    SLOW,
  );

  it(
    'wallet --coin ETH: the address printed, the key only in the store, a second wallet refused',
    async () => {
      const { dir, storage } = await fixture();
      const made = await esman(['wallet', '--coin', 'ETH', '--dir', dir, '--storage', storage], { pass: ['', PASS[1]!, PASS[2]!] });
      expect(made.code, made.stderr).toBe(0);
      const address = /^Coin\.ETH\.JSON: hot wallet (0x[0-9a-fA-F]{40}) \(fund this address\)$/m.exec(made.stdout)?.[1];
      expect(address).toBeDefined();
      const store = await openStore(dir, storage, PASS.slice(0, 2));
      const coin = parseCoinItem(store.get('Coin.ETH.JSON'), 'Coin.ETH.JSON', 'ETH');
      store.close();
      const key = Buffer.from(coin.privateKey).toString('hex');
      expect(privateKeyToAddress(`0x${key}`)).toBe(address);
      expect(coin.address).toBe(address);

      const before = readFileSync(storage);
      const [list, again] = await Promise.all([
        esman(['list', '--storage', storage]),
        esman(['wallet', '--coin', 'ETH', '--dir', dir, '--storage', storage], { pass: PASS.slice(0, 2) }),
      ]);
      expect(Object.keys(listed(list!)).sort()).toEqual(['Coin.ETH.JSON', 'DB.JSON', 'payserv.TLS.KEY']);
      expect(again!.code).toBe(1);
      expect(again!.stderr).toMatch(/^esman: \[exists\] .*already has Coin\.ETH\.JSON/);
      expect(readFileSync(storage).equals(before)).toBe(true);
      for (const r of runs) {
        expect(r.stdout + r.stderr).not.toContain(key);
        expect((r.stdout + r.stderr).toLowerCase()).not.toContain(key.toLowerCase());
      }
    },
    SLOW,
  );

  it(
    'manager: a request refused at the prompt gets nothing; one allowed gets a key that opens the store; then it exits, the key wiped',
    async () => {
      const { dir, storage } = await fixture();
      const m = await startManagerProcess(dir, storage, ['--count', '1']);
      expect(m.stdout()).toMatch(/opens with this key: 2 items/);

      const first = ask(m.port);
      await until('a prompt for the first request', () => prompts(m).length === 1, 10_000, 20);
      expect(m.stdout()).toContain(`request fingerprint ${fingerprint(first.pending.request)} (payserv logs the same)`);
      m.answer('n');
      const refused = await first.done;
      expect(refused.reply).toEqual({ esman: 1, refused: 'refused by the operator' });
      expect(() => openKey(first.pending, refused.reply!)).toThrow(/the manager refused/);

      const second = ask(m.port);
      await until('a prompt for the second request', () => prompts(m).length === 2, 10_000, 20);
      expect(m.stdout()).toContain(`request fingerprint ${fingerprint(second.pending.request)}`);
      m.answer('y');
      const allowed = await second.done;
      expect(allowed.reply).toMatchObject({ esman: 1, sealed: expect.any(String) });
      const master = openKey(second.pending, allowed.reply!);
      const store = await KeyStore.open(storage, master);
      expect(Object.fromEntries(store.list().map(({ name }) => [name, store.get(name).toString('utf8')]))).toEqual(ITEMS);
      store.close();

      expect(await m.waitExit(EXIT_TIMEOUT_MS)).toBe(0);
      expect(m.stdout()).toMatch(/refused 127\.0\.0\.1:\d+\n/);
      expect(m.stdout()).toMatch(/key sent to 127\.0\.0\.1:\d+ \(1 of 1\)\n/);
      expect(m.stdout()).toMatch(/done: the key is wiped from memory\n$/);
      expect(m.stdout() + m.stderr()).not.toContain(Buffer.from(master).toString('hex'));
      for (const s of SECRETS) expect(m.stdout() + m.stderr()).not.toContain(s);
    },
    SLOW,
  );

  it(
    "manager: a key payserv refused (wrong key for its store) is reported with payserv's code and reason, exit 1, never as sent",
    async () => {
      const { dir, storage } = await fixture();
      const m = await startManagerProcess(dir, storage, ['--count', '2']);
      const refusal = {
        esman: 1,
        refusedKey: { code: 'wrong_key', message: '/var/lib/payserv/storage.prod is sealed under key 0123456789abcdef' },
      };
      const a = ask(m.port, { ack: refusal });
      await until('a prompt', () => prompts(m).length === 1, 10_000, 20);
      m.answer('y');
      expect((await a.done).reply).toMatchObject({ sealed: expect.any(String) });
      expect(await m.waitExit(EXIT_TIMEOUT_MS)).toBe(1);
      expect(m.stderr()).toMatch(
        /^esman: \[key_refused\] payserv at 127\.0\.0\.1:\d+ refused the key: \[wrong_key\] \/var\/lib\/payserv\/storage\.prod is sealed under key 0123456789abcdef\n$/,
      );
      expect(m.stdout()).not.toMatch(/key sent to|done: /);
      // It stopped although a second key was allowed: the same shares would be refused again.
      expect(await listening('127.0.0.1', m.port)).toBe(false);
    },
    SLOW,
  );

  it(
    'manager --count 1: a request waiting behind the allowed one is refused unasked; after the key, nothing listens',
    async () => {
      const { dir, storage } = await fixture();
      const m = await startManagerProcess(dir, storage, ['--count', '1']);
      const a = ask(m.port);
      const b = ask(m.port);
      expect(await Promise.all([a.connected, b.connected])).toEqual([true, true]);
      await until('a prompt', () => prompts(m).length === 1, 10_000, 20);
      // Let the manager read the other request too: it waits behind the prompt shown.
      await sleep(500);
      m.answer('y');
      const [ra, rb] = await Promise.all([a.done, b.done]);
      const given = [ra, rb].filter((r) => r.reply && 'sealed' in r.reply);
      const other = [ra, rb].filter((r) => !(r.reply && 'sealed' in r.reply));
      expect(given).toHaveLength(1);
      expect(other.map((r) => r.reply)).toEqual([{ esman: 1, refused: 'the manager has handed out its keys' }]);
      expect(prompts(m)).toHaveLength(1);
      // The prompt has no newline: the manager's next line follows it on the same line.
      await m.waitForLine(/key sent to 127\.0\.0\.1:\d+ \(1 of 1\)$/, 10_000);

      const late = ask(m.port);
      expect(await late.connected).toBe(false);
      expect(await late.done).toEqual({ raw: '', reply: null, error: 'ECONNREFUSED' });
      expect(await m.waitExit(EXIT_TIMEOUT_MS)).toBe(0);
      expect(prompts(m)).toHaveLength(1);
    },
    SLOW,
  );

  it(
    'manager: loopback only: a non-loopback --listen is refused; a connection from another address gets nothing and no prompt',
    async () => {
      const { dir, storage } = await fixture();
      const port = await freePort();
      const outside = outsideAddress();
      const [any, eth, fd0] = await Promise.all([
        esman(['manager', '--dir', dir, '--storage', storage, '--listen', `0.0.0.0:${port}`], { pass: PASS.slice(0, 2) }),
        esman(['manager', '--dir', dir, '--storage', storage, '--listen', `192.0.2.2:${port}`], { pass: PASS.slice(0, 2) }),
        // stdin carries the answers: passphrases there would be taken for answers (or answers for passphrases).
        esman(['manager', '--dir', dir, '--storage', storage, '--listen', `127.0.0.1:${port}`, '--passphrase-fd', '0'], {
          stdin: `${PASS[0]}\n${PASS[1]}\ny\n`,
        }),
      ]);
      expect(any!.code).toBe(1);
      expect(any!.stderr).toBe(
        `esman: [not_loopback] --listen 0.0.0.0:${port}: the key is handed over on loopback only (127.0.0.1 or ::1)\n`,
      );
      expect(eth!.code).toBe(1);
      expect(eth!.stderr).toBe(
        `esman: [not_loopback] --listen 192.0.2.2:${port}: the key is handed over on loopback only (127.0.0.1 or ::1)\n`,
      );
      expect(fd0!.code).toBe(2);
      expect(fd0!.stderr).toMatch(/^esman: \[bad_option\] --passphrase-fd 0: stdin carries the answers to key requests/);
      for (const r of [any!, eth!, fd0!]) expect(r.stdout).toBe('');
      expect(await listening('127.0.0.1', port)).toBe(false);
      if (outside) expect(await listening(outside, port)).toBe(false);

      const m = await startManagerProcess(dir, storage, ['--count', '1']);
      if (outside) {
        // The manager's port on this machine's own network address: nothing listens there.
        const there = ask(m.port, { host: outside });
        expect(await there.connected).toBe(false);
        expect((await there.done).raw).toBe('');
        // From that address to the loopback port (as a peer on another interface would appear): dropped unasked.
        const from = ask(m.port, { localAddress: outside });
        const r = await from.done;
        expect(r.raw).toBe('');
        expect(r.reply).toBeNull();
        await m.waitForLine(new RegExp(`^refused ${outside.replace(/\./g, '\\.')}:\\d+: not a loopback address$`), 10_000);
      } else {
        // No non-loopback IPv4 interface on this machine: there is no other address to connect from or to.
      }
      expect(prompts(m)).toHaveLength(0);

      // It still serves a loopback request.
      const ok = ask(m.port);
      await until('a prompt', () => prompts(m).length === 1, 10_000, 20);
      m.answer('y');
      expect((await ok.done).reply).toMatchObject({ sealed: expect.any(String) });
      expect(await m.waitExit(EXIT_TIMEOUT_MS)).toBe(0);
    },
    SLOW,
  );

  it(
    'manager: garbage on the socket is ignored without a prompt; a proper request is served afterwards',
    async () => {
      const { dir, storage } = await fixture();
      const m = await startManagerProcess(dir, storage, ['--count', '1']);
      const garbage = ['this is not json\n', '{"esman":1,"hello":"world"}\n', `${'x'.repeat(LINE_BYTES_MAX + 10)}`];
      for (const [i, line] of garbage.entries()) {
        const r = await ask(m.port, { line }).done;
        expect(r.raw).toBe('');
        await until(`ignored line ${i + 1}`, () => (m.stdout().match(/^ignored 127\.0\.0\.1:\d+: /gm) ?? []).length === i + 1, 10_000, 20);
      }
      expect(m.stdout()).toMatch(
        /ignored 127\.0\.0\.1:\d+: not an esman key request\n[^]*ignored 127\.0\.0\.1:\d+: not an esman key request\n[^]*ignored 127\.0\.0\.1:\d+: message longer than 4096 bytes\n/,
      );
      expect(prompts(m)).toHaveLength(0);

      const ok = ask(m.port);
      await until('a prompt', () => prompts(m).length === 1, 10_000, 20);
      m.answer('y');
      const r = await ok.done;
      const store = await KeyStore.open(storage, openKey(ok.pending, r.reply!));
      expect(
        store
          .list()
          .map((i) => i.name)
          .sort(),
      ).toEqual(Object.keys(ITEMS).sort());
      store.close();
      expect(await m.waitExit(EXIT_TIMEOUT_MS)).toBe(0);
    },
    SLOW,
  );

  it(
    "obtainKey (payserv's side): asks before the manager is up and keeps asking; takes the key an operator allowed",
    async () => {
      const { dir, storage } = await fixture();
      const port = await freePort();
      const { lines, log } = captureLog();
      const ac = new AbortController();
      onTestFinished(() => ac.abort());
      const got = obtainKey({
        manager: `127.0.0.1:${port}`,
        retryMs: 100,
        answerTimeoutMs: 30_000,
        log,
        signal: ac.signal,
        accept: (mk) => KeyStore.open(storage, mk),
      });
      let settled = false;
      void got.then(
        () => (settled = true),
        () => (settled = true),
      );
      await until(
        'a refused connection logged',
        () => lines.some((l) => /is not answering \(ECONNREFUSED\)/.test(String(l.reason))),
        10_000,
        20,
      );
      await sleep(300);
      expect(settled).toBe(false);
      // Each reason once, however many times it asked.
      expect(lines.filter((l) => /ECONNREFUSED/.test(String(l.reason)))).toHaveLength(1);

      const m = await startManagerProcess(dir, storage, ['--count', '1'], `127.0.0.1:${port}`);
      await until('a prompt', () => prompts(m).length === 1, 10_000, 20);
      // The fingerprint the operator is shown is the one payserv logged.
      const asked = lines
        .filter((l) => l.msg === 'key requested from esman manager: an operator must type "y" there (check the fingerprint)')
        .map((l) => l.fingerprint);
      expect(m.stdout()).toContain(`request fingerprint ${String(asked.at(-1))} `);
      m.answer('y');
      const store = await got;
      expect(Object.fromEntries(store.list().map(({ name }) => [name, store.get(name).toString('utf8')]))).toEqual(ITEMS);
      store.close();
      expect(lines.at(-1)).toMatchObject({ msg: 'key received from esman manager; the store is open' });
      expect(await m.waitExit(EXIT_TIMEOUT_MS)).toBe(0);
      for (const secret of SECRETS) expect(JSON.stringify(lines)).not.toContain(secret);
    },
    SLOW,
  );

  it(
    "obtainKey: a fake manager's well-formed key (for another request, or not the store's) is not taken; it keeps asking until aborted",
    async () => {
      const { storage } = await fixture();
      let connections = 0;
      const fake: Server = createServer((s) => {
        s.on('error', () => undefined);
        connections += 1;
        const n = connections;
        void readLine(s, LINE_BYTES_MAX, 5_000).then(
          (line) => {
            const request = requestSchema.parse(JSON.parse(line));
            // First: sealed to a request of its own making; then: to ours, but a key of its own.
            const reply = n === 1 ? sealKey(newRequest().request, newMasterKey()) : sealKey(request, newMasterKey());
            s.end(`${JSON.stringify(reply)}\n`);
          },
          () => s.destroy(),
        );
      });
      await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
      onTestFinished(() => new Promise<void>((r) => fake.close(() => r())));
      const { port } = fake.address() as { port: number };
      const { lines, log } = captureLog();
      const ac = new AbortController();
      let accepted = 0;
      const got = obtainKey({
        manager: `127.0.0.1:${port}`,
        retryMs: 100,
        answerTimeoutMs: 5_000,
        log,
        signal: ac.signal,
        accept: async (mk) => {
          const store = await KeyStore.open(storage, mk);
          accepted += 1;
          return store;
        },
      });
      const failure = got.then(
        () => null,
        (e: Error) => e,
      );
      await until(
        'both refusals logged, and a retry after them',
        () => connections >= 4 && lines.filter((l) => l.retryMs === 100).length >= 2,
        10_000,
        20,
      );
      ac.abort();
      const e = await failure;
      expect(e?.name).toBe('AbortError');
      expect(accepted).toBe(0);
      const reasons = lines
        .map((l) => l.reason)
        .filter((r) => r !== undefined)
        .map(String);
      expect(reasons[0]).toMatch(/does not open with this request's key: it was not sealed for this payserv/);
      // Each later key is another random one, so each refusal names another key id (and is logged again).
      expect(reasons.length).toBeGreaterThanOrEqual(2);
      for (const r of reasons.slice(1))
        expect(r).toMatch(
          new RegExp(`^the key from 127\\.0\\.0\\.1:${port} was refused: .*is sealed under key [0-9a-f]{16}, not under this key`),
        );
      expect(lines.some((l) => /key received/.test(String(l.msg)))).toBe(false);
    },
    SLOW,
  );
});

// esman's key store as a library: Shamir shares of the master key in passphrase-sealed files, the
// encrypted item store, and the pieces of the loopback hand-over. Every way in must either give back
// exactly the key and items that went in, or an EsmanError and nothing: never a wrong key, never a secret
// in a message.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { copyFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EsmanError } from '../../src/esman/errors.js';
import { parseCoinItem, parseDatabaseItem } from '../../src/esman/items.js';
import { DEFAULT_SCRYPT, type ScryptParams } from '../../src/esman/kdf.js';
import { readLine } from '../../src/esman/lines.js';
import { isLoopback, loopbackEndpoint } from '../../src/esman/loopback.js';
import { startManager } from '../../src/esman/manager.js';
import { hex, keyIdOf, newMasterKey } from '../../src/esman/master-key.js';
import { checkSplit, combineShares, splitSecret } from '../../src/esman/shamir.js';
import { SHARE_FILE_BYTES } from '../../src/esman/share-file.js';
import { unlockShares, writeShares, type PassphraseSource } from '../../src/esman/shares.js';
import { KeyStore, readIndex } from '../../src/esman/store-file.js';
import {
  fingerprint,
  LINE_BYTES_MAX,
  newRequest,
  openKey,
  refusalAck,
  replySchema,
  requestSchema,
  sealKey,
  type KeyReply,
} from '../../src/esman/transfer.js';
import { tmpStateDir } from '../support/tmp.js';

const TAKEN = { esman: 1, taken: true };

/** One hand-over with a manager on `port`: the request sent, the manager's line back, then `ack` (none: null) as payserv answers. */
function handOver(port: number, request: unknown, ack: unknown): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.write(`${JSON.stringify(request)}\n`);
      readLine(s, LINE_BYTES_MAX, 5_000)
        .then((line) => {
          if (ack === null) s.destroy();
          else s.end(`${JSON.stringify(ack)}\n`);
          resolve(line);
        }, reject)
        .catch(reject);
    });
    s.on('error', reject);
  });
}

/** The lowest cost a share file may ask for: fast tests, the same code path as the default. */
const FAST: ScryptParams = { log2N: 10, r: 8, p: 1 };

interface ShareSet {
  dir: string;
  master: Uint8Array;
  passphrases: string[];
  paths: string[];
}

/** Distinct passphrases, one with non-ASCII characters: both sides must agree on UTF-8. */
const newPassphrases = (n: number) =>
  Array.from({ length: n }, (_, i) => `${i === 0 ? 'pässwörd-' : ''}${randomBytes(12).toString('base64url')}`);

async function makeSet(dir: string, shares: number, threshold: number, master = newMasterKey(), kdf = FAST): Promise<ShareSet> {
  const passphrases = newPassphrases(shares);
  const kept = Uint8Array.from(master);
  const paths = await writeShares(dir, master, { shares, threshold, kdf }, async (i) => Buffer.from(passphrases[i - 1]!, 'utf8'));
  // writeShares wipes what it owns (the parts, the passphrase buffers), never the caller's key.
  expect(Buffer.from(master)).toEqual(Buffer.from(kept));
  return { dir, master, passphrases, paths };
}

/** A PassphraseSource that answers `pass(index)` for the share the prompt names ('' skips it). */
function answering(pass: (index: number) => string, asked: number[] = []): PassphraseSource {
  return async (prompt) => {
    const m = /^passphrase for share (\d+) of \d+ /.exec(prompt);
    if (!m) throw new Error(`unexpected prompt: ${prompt}`);
    asked.push(Number(m[1]));
    return pass(Number(m[1]));
  };
}

/** The right passphrase for the shares in `subset`, skipping the others. */
const giving = (s: ShareSet, subset: readonly number[]) => answering((i) => (subset.includes(i) ? s.passphrases[i - 1]! : ''));

/** Every k-element subset of 1..n, in order. */
function subsets(n: number, k: number): number[][] {
  if (k === 0) return [[]];
  if (k > n) return [];
  return [...subsets(n - 1, k), ...subsets(n - 1, k - 1).map((s) => [...s, n])];
}

/** The error a promise rejects with; fails the test if it resolves. */
async function failure(p: Promise<unknown>): Promise<EsmanError> {
  const r = await p.then(
    (v) => ({ ok: v }),
    (e: unknown) => ({ e }),
  );
  if ('ok' in r)
    throw new Error(`expected a rejection, got ${JSON.stringify(r.ok, (_, v: unknown) => (v instanceof Uint8Array ? hex(v) : v))}`);
  expect(r.e).toBeInstanceOf(EsmanError);
  return r.e as EsmanError;
}

function caught(fn: () => unknown): EsmanError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(EsmanError);
    return e as EsmanError;
  }
  throw new Error('expected an EsmanError, nothing was thrown');
}

// A key generated here: no key text is committed.
const PEM = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;

/** A store with random bytes, PEM text and an empty item, saved under `master`. */
async function makeStore(path: string, master: Uint8Array): Promise<Map<string, Buffer>> {
  const items = new Map<string, Buffer>([
    ['Random.BIN', randomBytes(256)],
    ['DBGW.TLS.KEY', Buffer.from(PEM, 'utf8')],
    ['Empty', Buffer.alloc(0)],
    ['Coin.ETH.JSON', Buffer.from(JSON.stringify({ coin: 'ETH', privateKey: randomBytes(32).toString('hex') }), 'utf8')],
  ]);
  const store = KeyStore.empty(path);
  for (const [name, value] of items) store.set(name, value);
  await store.save(master);
  store.close();
  return items;
}

async function expectItems(path: string, master: Uint8Array, items: Map<string, Buffer>): Promise<void> {
  const store = await KeyStore.open(path, master);
  expect(store.list()).toEqual([...items].map(([name, v]) => ({ name, size: v.length })).sort((a, b) => (a.name < b.name ? -1 : 1)));
  for (const [name, value] of items) expect(store.get(name)).toEqual(value);
  store.close();
}

const flip = (bytes: Buffer, offset: number, mask: number) => {
  const b = Buffer.from(bytes);
  b[offset]! ^= mask;
  return b;
};

describe('esman shares', () => {
  for (const [n, t] of [
    [1, 1],
    [3, 2],
    [5, 3],
  ] as const) {
    it(`${t} of ${n}: every ${t} shares rebuild the key and open the store; every ${t - 1} give no key`, async () => {
      const root = await tmpStateDir('esman-');
      const set = await makeSet(join(root, 'shares'), n, t);
      expect(await readdir(set.dir)).toEqual(Array.from({ length: n }, (_, i) => `${i + 1}.ss`).sort());
      for (const p of set.paths) {
        const bytes = await readFile(p);
        expect(bytes.length).toBe(SHARE_FILE_BYTES);
        expect((await stat(p)).mode & 0o777).toBe(0o600);
        // Not even a threshold-1 share (the key itself, by the polynomial) is stored in the clear.
        expect(bytes.includes(Buffer.from(set.master))).toBe(false);
      }
      const storePath = join(root, 'store.esm');
      const items = await makeStore(storePath, set.master);

      for (const subset of subsets(n, t)) {
        const asked: number[] = [];
        const u = await unlockShares(
          set.dir,
          answering((i) => (subset.includes(i) ? set.passphrases[i - 1]! : ''), asked),
        );
        expect(Buffer.from(u.master)).toEqual(Buffer.from(set.master));
        expect(u.keyId).toBe(hex(keyIdOf(set.master)));
        expect(u.used).toEqual(subset);
        expect([u.threshold, u.shares]).toEqual([t, n]);
        // Asked in order, and no further once the threshold was met.
        expect(asked).toEqual(Array.from({ length: subset.at(-1)! }, (_, i) => i + 1));
        await expectItems(storePath, u.master, items);
      }
      for (const subset of t > 1 ? subsets(n, t - 1) : []) {
        const e = await failure(unlockShares(set.dir, giving(set, subset)));
        expect(e.code).toBe('too_few_shares');
        expect(e.message).toContain(`${t - 1} of the ${t} shares needed`);
        expect(e.message).toContain('no key');
      }
    });
  }

  it('the default scrypt cost (128 MiB) seals and opens a share', async () => {
    const set = await makeSet(await tmpStateDir('esman-'), 1, 1, newMasterKey(), DEFAULT_SCRYPT);
    const bytes = await readFile(set.paths[0]!);
    // kdf id, log2N, r, p sit after magic, version, set id, key id, index, shares, threshold.
    expect([...bytes.subarray(8 + 1 + 16 + 16 + 3, 8 + 1 + 16 + 16 + 3 + 4)]).toEqual([
      1,
      DEFAULT_SCRYPT.log2N,
      DEFAULT_SCRYPT.r,
      DEFAULT_SCRYPT.p,
    ]);
    const u = await unlockShares(set.dir, giving(set, [1]));
    expect(Buffer.from(u.master)).toEqual(Buffer.from(set.master));
  });

  it('a flipped bit anywhere in a share file gives an EsmanError, never a key', async () => {
    const set = await makeSet(await tmpStateDir('esman-'), 3, 2);
    // The first file (whose header the others are checked against) both ways, and a later one.
    for (const [target, subset, masks] of [
      [1, [1, 2], [0x01, 0x80]],
      [3, [2, 3], [0x01]],
    ] as const) {
      const path = set.paths[target - 1]!;
      const original = await readFile(path);
      expect(original.length).toBe(125);
      const wrong: string[] = [];
      for (const mask of masks) {
        for (let offset = 0; offset < original.length; offset++) {
          await writeFile(path, flip(original, offset, mask));
          const r = await unlockShares(set.dir, giving(set, subset)).then(
            (u) => `returned ${Buffer.from(u.master).equals(Buffer.from(set.master)) ? 'the' : 'a WRONG'} key`,
            (e: unknown) => (e instanceof EsmanError ? null : `threw ${String(e)}`),
          );
          if (r) wrong.push(`share ${target} byte ${offset} ^ 0x${mask.toString(16)}: ${r}`);
        }
      }
      await writeFile(path, original);
      expect(wrong).toEqual([]);
      // Restored, the same shares open: the failures above were the flips.
      const u = await unlockShares(set.dir, giving(set, subset));
      expect(Buffer.from(u.master)).toEqual(Buffer.from(set.master));
    }
  });

  it('a wrong passphrase names the share file and never shows a passphrase', async () => {
    const set = await makeSet(await tmpStateDir('esman-'), 3, 2);
    const wrongPass = `not-it-${randomBytes(8).toString('hex')}`;
    const e = await failure(
      unlockShares(
        set.dir,
        answering((i) => (i === 2 ? wrongPass : set.passphrases[i - 1]!)),
      ),
    );
    expect(e.code).toBe('wrong_passphrase');
    expect(e.message).toContain(join(set.dir, '2.ss'));
    expect(e.message).not.toContain(join(set.dir, '1.ss'));
    for (const p of [wrongPass, ...set.passphrases]) expect(e.message).not.toContain(p);

    // Another share's (real) passphrase is just as wrong.
    const e2 = await failure(
      unlockShares(
        set.dir,
        answering(() => set.passphrases[0]!),
      ),
    );
    expect(e2.code).toBe('wrong_passphrase');
    expect(e2.message).toContain(join(set.dir, '2.ss'));
    for (const p of set.passphrases) expect(e2.message).not.toContain(p);
  });

  it('shares of another init never combine; too few shares and no shares give no key', async () => {
    const root = await tmpStateDir('esman-');
    const a = await makeSet(join(root, 'a'), 3, 2);
    const b = await makeSet(join(root, 'b'), 3, 2);
    await copyFile(join(b.dir, '2.ss'), join(a.dir, '2.ss'));
    const e = await failure(
      unlockShares(
        a.dir,
        answering((i) => (i === 1 ? a.passphrases[0]! : i === 2 ? b.passphrases[1]! : '')),
      ),
    );
    expect(e.code).toBe('mixed_sets');
    expect(e.message).toContain(join(a.dir, '2.ss'));

    // The same key split twice (a rekey): the two sets' shares do not mix either.
    const c = await makeSet(join(root, 'c'), 3, 2, Uint8Array.from(a.master));
    await copyFile(join(c.dir, '3.ss'), join(a.dir, '2.ss'));
    expect(
      (
        await failure(
          unlockShares(
            a.dir,
            answering((i) => (i === 1 ? a.passphrases[0]! : i === 2 ? c.passphrases[2]! : '')),
          ),
        )
      ).code,
    ).toBe('mixed_sets');

    // A share file under another share's name.
    const d = join(root, 'd');
    await makeSet(d, 3, 2).then(async (s) => {
      await copyFile(join(d, '3.ss'), join(d, '2.ss'));
      const e3 = await failure(
        unlockShares(
          d,
          answering((i) => s.passphrases[i === 2 ? 2 : i - 1]!),
        ),
      );
      expect(e3.code).toBe('renamed_share');
      expect(e3.message).toContain('2.ss holds share 3');
    });

    // One of two given, the rest skipped with '' or with null (no more input).
    expect((await failure(unlockShares(b.dir, giving(b, [3])))).code).toBe('too_few_shares');
    expect((await failure(unlockShares(b.dir, async () => null))).code).toBe('too_few_shares');

    const empty = join(root, 'empty');
    await mkdir(empty);
    expect((await failure(unlockShares(empty, giving(b, [1, 2, 3])))).code).toBe('no_shares');
    expect((await failure(unlockShares(join(root, 'missing'), giving(b, [1, 2, 3])))).code).toBe('unreadable');
  });

  it('writeShares refuses a directory that holds shares and leaves them as they were', async () => {
    const set = await makeSet(await tmpStateDir('esman-'), 3, 2);
    const before = await Promise.all(set.paths.map((p) => readFile(p)));
    let asked = 0;
    const e = await failure(
      writeShares(set.dir, newMasterKey(), { shares: 2, threshold: 2, kdf: FAST }, async () => {
        asked += 1;
        return Buffer.from('x');
      }),
    );
    expect(e.code).toBe('exists');
    expect(e.message).toContain(`${set.dir} already holds shares (1.ss, 2.ss, 3.ss)`);
    expect(asked).toBe(0);
    expect(await readdir(set.dir)).toEqual(['1.ss', '2.ss', '3.ss']);
    expect(await Promise.all(set.paths.map((p) => readFile(p)))).toEqual(before);
    const u = await unlockShares(set.dir, giving(set, [1, 3]));
    expect(Buffer.from(u.master)).toEqual(Buffer.from(set.master));
  });
});

describe('esman store', () => {
  it('a flipped bit anywhere in the store file gives an EsmanError', async () => {
    const root = await tmpStateDir('esman-');
    const master = newMasterKey();
    const path = join(root, 'store.esm');
    const items = await makeStore(path, master);
    const original = await readFile(path);
    const wrong: string[] = [];
    for (let offset = 0; offset < original.length; offset++) {
      await writeFile(path, flip(original, offset, 0x01));
      const r = await KeyStore.open(path, master).then(
        () => 'opened',
        // A flipped bit is damage, tampering, or (in the key id) another key: never a usable store.
        (e: unknown) =>
          e instanceof EsmanError && ['altered_file', 'damaged_file', 'wrong_key'].includes(e.code) ? null : `threw ${String(e)}`,
      );
      if (r) wrong.push(`byte ${offset} ^ 0x01: ${r}`);
      // The high bit too, in memory: decode is what open does once the file is read.
      try {
        KeyStore.decode(flip(original, offset, 0x80), master, path);
        wrong.push(`byte ${offset} ^ 0x80: opened`);
      } catch (e) {
        if (!(e instanceof EsmanError)) wrong.push(`byte ${offset} ^ 0x80: threw ${String(e)}`);
      }
    }
    expect(original.length).toBeGreaterThan(600);
    expect(wrong).toEqual([]);
    await writeFile(path, original);
    await expectItems(path, master, items);
    // Cut short: refused too.
    for (const len of [0, 8, 9, 40, original.length - 1]) {
      await writeFile(path, original.subarray(0, len));
      await failure(KeyStore.open(path, master));
    }
  });

  it("each save takes a fresh nonce; another init's key is refused; the index shows names and sizes only", async () => {
    const root = await tmpStateDir('esman-');
    const master = newMasterKey();
    const [p1, p2] = [join(root, 'one.esm'), join(root, 'two.esm')];
    const items = await makeStore(p1, master);
    const store = await KeyStore.open(p1, master);
    await store.save(master, p2);
    store.close();
    const [b1, b2] = [await readFile(p1), await readFile(p2)];
    const nonce = (b: Buffer) => b.subarray(8 + 1 + 16, 8 + 1 + 16 + 12);
    expect(nonce(b1).equals(nonce(b2))).toBe(false);
    expect(b1.equals(b2)).toBe(false);
    expect(b1.length).toBe(b2.length);
    await expectItems(p1, master, items);
    await expectItems(p2, master, items);
    expect((await stat(p2)).mode & 0o777).toBe(0o600);

    const other = newMasterKey();
    const e = await failure(KeyStore.open(p1, other));
    expect(e.code).toBe('wrong_key');
    expect(e.message).toContain(`${p1} is sealed under key ${hex(keyIdOf(master)).slice(0, 16)}, not under this key`);

    const index = await readIndex(p1);
    expect(index.keyId).toBe(hex(keyIdOf(master)));
    expect(index.items).toEqual([...items].map(([name, v]) => ({ name, size: v.length })).sort((a, b) => (a.name < b.name ? -1 : 1)));
    const shown = JSON.stringify(index);
    for (const [name, v] of items) {
      if (!v.length) continue;
      expect(shown).not.toContain(v.toString('utf8'));
      expect(shown).not.toContain(v.toString('hex'));
      expect(shown).not.toContain(v.toString('base64'));
      // Nor is any value in the file in the clear.
      expect(b1.includes(v), name).toBe(false);
    }
    expect(b1.includes(Buffer.from('BEGIN PRIVATE KEY'))).toBe(false);
  });

  it('a store of one item and an empty store survive save and open', async () => {
    const root = await tmpStateDir('esman-');
    const master = newMasterKey();
    const one = KeyStore.empty(join(root, 'one.esm'));
    const value = randomBytes(64);
    one.set('Only.KEY', value);
    await one.save(master);
    // Saving does not wipe the items it sealed.
    expect(one.get('Only.KEY')).toEqual(value);
    await expectItems(join(root, 'one.esm'), master, new Map([['Only.KEY', value]]));

    await KeyStore.empty(join(root, 'none.esm')).save(master);
    expect((await KeyStore.open(join(root, 'none.esm'), master)).list()).toEqual([]);
    expect((await readIndex(join(root, 'none.esm'))).items).toEqual([]);
  });

  it('items: missing ones are named, bad names and missing deletes refused, values are copies', async () => {
    const store = KeyStore.empty('/nonexistent/store.esm');
    const value = Buffer.from('secret value');
    store.set('A.KEY', value);
    value.fill(0x41);
    expect(store.get('A.KEY').toString()).toBe('secret value');
    store.get('A.KEY').fill(0);
    expect(store.get('A.KEY').toString()).toBe('secret value');

    const e = caught(() => store.get('Nope.KEY'));
    expect(e.code).toBe('missing_item');
    expect(e.message).toContain('no item Nope.KEY');
    expect(e.message).toContain('/nonexistent/store.esm');
    expect(e.message).not.toContain('secret value');

    for (const bad of ['../x', '', 'a b', '.hidden', 'a/b', 'x'.repeat(101), 'é']) {
      expect(caught(() => store.set(bad, Buffer.from('v'))).message).toContain(`item name ${JSON.stringify(bad)}`);
      expect(store.has(bad)).toBe(false);
    }
    store.set('x'.repeat(100), Buffer.alloc(0));
    expect(store.has('x'.repeat(100))).toBe(true);

    expect(caught(() => store.delete('Nope.KEY')).code).toBe('missing_item');
    store.delete('A.KEY');
    expect(store.has('A.KEY')).toBe(false);
    expect(caught(() => store.delete('A.KEY')).code).toBe('missing_item');
  });
});

describe('esman key transfer', () => {
  const flipB64 = (s: string, at: number) => {
    const b = Buffer.from(s, 'base64');
    b[at % b.length]! ^= 0x01;
    return b.toString('base64');
  };

  it('sealKey/openKey round-trip only for the request it answers', () => {
    const master = newMasterKey();
    const p = newRequest();
    expect(requestSchema.parse(p.request)).toEqual(p.request);
    const reply = sealKey(p.request, master);
    expect(replySchema.parse(reply)).toEqual(reply);
    expect(JSON.stringify(reply)).not.toContain(hex(master));
    expect(Buffer.from(openKey(p, reply))).toEqual(Buffer.from(master));
    // Two replies to one request differ (fresh ephemeral key and iv) and both open.
    const again = sealKey(p.request, master);
    if ('refused' in reply || 'refused' in again) throw new Error('sealKey never refuses');
    expect(again.sealed).not.toBe(reply.sealed);
    expect(Buffer.from(openKey(p, again))).toEqual(Buffer.from(master));

    const other = newRequest();
    expect(caught(() => openKey(other, reply)).message).toContain('not sealed for this payserv');
    // The same secret with another nonce is another request too.
    expect(caught(() => openKey({ ...p, request: { ...p.request, nonce: other.request.nonce } }, reply)).message).toContain(
      'not sealed for this payserv',
    );

    const damaged: KeyReply[] = [
      ...[0, 5, 31, 32, 47].map((at) => ({ ...reply, sealed: flipB64(reply.sealed, at) })),
      ...[0, 11].map((at) => ({ ...reply, iv: flipB64(reply.iv, at) })),
      { ...reply, pub: other.request.pub },
    ];
    for (const d of damaged) {
      expect(replySchema.safeParse(d).success).toBe(true);
      expect(caught(() => openKey(p, d)).message).toContain('not sealed for this payserv');
    }
  });

  it('a refusal is an error naming it; fingerprints are stable per request', () => {
    const p = newRequest();
    expect(caught(() => openKey(p, { esman: 1, refused: 'refused by the operator' })).code).toBe('request_refused');
    const q = newRequest();
    expect(fingerprint(p.request)).toBe(fingerprint({ ...p.request }));
    expect(fingerprint(p.request)).toMatch(/^[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}$/);
    expect(fingerprint(q.request)).not.toBe(fingerprint(p.request));
    expect(fingerprint({ ...p.request, nonce: q.request.nonce })).not.toBe(fingerprint(p.request));
  });

  it('a low-order public key is an EsmanError on either side', () => {
    const zero = Buffer.alloc(32).toString('base64');
    const p = newRequest();
    expect(requestSchema.safeParse({ ...p.request, pub: zero }).success).toBe(true);
    expect(caught(() => sealKey({ ...p.request, pub: zero }, newMasterKey())).message).toContain('weak public key');
    const reply = sealKey(p.request, newMasterKey());
    expect(caught(() => openKey(p, { ...reply, pub: zero })).message).toContain('weak public key');
  });

  it('the manager keeps serving after a request it cannot answer', async () => {
    const master = newMasterKey();
    const said: string[] = [];
    const m = await startManager({
      master,
      host: '127.0.0.1',
      port: 0,
      count: 1,
      ask: async () => true,
      say: (l) => said.push(l),
      requestTimeoutMs: 5_000,
    });
    try {
      const exchange = (request: unknown) => handOver(m.port, request, TAKEN);
      const weak = { ...newRequest().request, pub: Buffer.alloc(32).toString('base64') };
      await expect(exchange(weak)).rejects.toThrow(EsmanError);
      const p = newRequest();
      const reply = replySchema.parse(JSON.parse(await exchange(p.request)));
      expect(Buffer.from(openKey(p, reply))).toEqual(Buffer.from(master));
      await m.done;
      expect(said.join('\n')).toContain('weak public key');
    } finally {
      await m.close();
    }
  });

  it("the manager reports payserv's refusal of the key with payserv's code and message, and stops", async () => {
    const said: string[] = [];
    const m = await startManager({
      master: newMasterKey(),
      host: '127.0.0.1',
      port: 0,
      count: 2,
      ask: async () => true,
      say: (l) => said.push(l),
    });
    const refusal = refusalAck(new EsmanError('wrong_key', '/var/lib/payserv/storage.prod is sealed under key 0123456789abcdef'));
    const p = newRequest();
    const reply = replySchema.parse(JSON.parse(await handOver(m.port, p.request, refusal)));
    expect('sealed' in reply).toBe(true);
    const e = await failure(m.done);
    expect(e.code).toBe('key_refused');
    expect(e.message).toMatch(
      /^payserv at 127\.0\.0\.1:\d+ refused the key: \[wrong_key\] \/var\/lib\/payserv\/storage\.prod is sealed under key 0123456789abcdef$/,
    );
    expect(said.join('\n')).toContain(e.message);
    expect(said.join('\n')).not.toMatch(/key sent to/);
    // Stopped, although it had a second key to give: the same shares would be refused again.
    await expect(handOver(m.port, newRequest().request, TAKEN)).rejects.toThrow();
    await m.close();
  });

  it('the manager does not count a key payserv did not confirm (closed, or not an answer)', async () => {
    for (const ack of [null, { esman: 1, taken: 'yes' }]) {
      const m = await startManager({
        master: newMasterKey(),
        host: '127.0.0.1',
        port: 0,
        count: 1,
        ask: async () => true,
        say: () => undefined,
      });
      await handOver(m.port, newRequest().request, ack);
      const e = await failure(m.done);
      expect(e.code, JSON.stringify(ack)).toBe('key_refused');
      expect(e.message).toMatch(/^127\.0\.0\.1:\d+ did not confirm it took the key \(.+\): check payserv's log$/);
    }
  });
});

describe('esman loopback', () => {
  it('isLoopback: 127/8, ::1 and mapped 127/8 only', () => {
    for (const a of ['127.0.0.1', '127.5.6.7', '::1', '::ffff:127.0.0.1', '::FFFF:127.0.0.1']) expect(isLoopback(a), a).toBe(true);
    for (const a of [
      '192.0.2.2',
      '::ffff:10.0.0.1',
      '0.0.0.0',
      '',
      undefined,
      'localhost',
      '::',
      '::2',
      '128.0.0.1',
      '127.0.0.1.example',
      '1127.0.0.1',
    ])
      expect(isLoopback(a), String(a)).toBe(false);
  });

  it('loopbackEndpoint: host:port on loopback, or an EsmanError', () => {
    expect(loopbackEndpoint('127.0.0.1:7444', 'x')).toEqual({ host: '127.0.0.1', port: 7444 });
    expect(loopbackEndpoint('localhost:1', 'x')).toEqual({ host: '127.0.0.1', port: 1 });
    expect(loopbackEndpoint('[::1]:7444', 'x')).toEqual({ host: '::1', port: 7444 });
    for (const bad of [
      '0.0.0.0:7444',
      '192.0.2.2:1',
      '127.0.0.1',
      '127.0.0.1:99999',
      '::1:7444',
      '[::ffff:10.0.0.1]:1',
      'example.com:7444',
      '',
    ]) {
      expect(caught(() => loopbackEndpoint(bad, '[keys] manager')).message, bad).toContain('[keys] manager');
    }
  });
});

describe('esman items', () => {
  const key = randomBytes(32).toString('hex');
  const item = (v: unknown) => Buffer.from(JSON.stringify(v), 'utf8');

  it('parseCoinItem: the right coin and a 64-hex-digit key, errors without the key', () => {
    const c = parseCoinItem(item({ coin: 'ETH', privateKey: key, address: '0xabc' }), 'Coin.ETH.JSON', 'ETH');
    expect(hex(c.privateKey)).toBe(key);
    expect(c).toMatchObject({ coin: 'ETH', address: '0xabc' });

    const bad: Array<[Buffer, string]> = [
      [item({ coin: 'ETC', privateKey: key }), 'is the key of coin ETC, not ETH'],
      [item({ coin: 'ETH', privateKey: key.slice(1) }), 'is not {"coin"'],
      [item({ coin: 'ETH', privateKey: key.toUpperCase() }), 'is not {"coin"'],
      [item({ coin: 'ETH', privateKey: `${key}00` }), 'is not {"coin"'],
      [item({ coin: 'ETH', privateKey: key, extra: key }), 'is not {"coin"'],
      [Buffer.from(`{"coin":"ETH","privateKey":"${key}"`, 'utf8'), 'is not {"coin"'],
      [Buffer.from(key, 'utf8'), 'is not {"coin"'],
    ];
    for (const [value, says] of bad) {
      const e = caught(() => parseCoinItem(value, 'Coin.ETH.JSON', 'ETH'));
      expect(e.message).toContain(`store item Coin.ETH.JSON ${says}`);
      expect(e.message.toLowerCase()).not.toContain(key.slice(0, 16));
    }
  });

  it('parseDatabaseItem: {"url": "postgres://…"} only, errors without the value', () => {
    expect(parseDatabaseItem(item({ url: 'postgres://u:pw@db/payserv' }))).toEqual({ url: 'postgres://u:pw@db/payserv' });
    expect(parseDatabaseItem(item({ url: 'postgresql://db/payserv' }))).toEqual({ url: 'postgresql://db/payserv' });
    const secret = `s3cr3t${randomBytes(6).toString('hex')}`;
    for (const v of [
      item({ url: `mysql://u:${secret}@db/x` }),
      item({ url: `postgres://u:${secret}@db/x`, password: secret }),
      item({ uri: `postgres://u:${secret}@db/x` }),
      item(`postgres://u:${secret}@db/x`),
      Buffer.from(`postgres://u:${secret}@db/x`, 'utf8'),
    ]) {
      const e = caught(() => parseDatabaseItem(v));
      expect(e.message).toContain('store item DB.JSON is not {"url": "postgres://…"}');
      expect(e.message).not.toContain(secret);
    }
  });
});

describe('esman shamir', () => {
  it('threshold 1: any single share is the secret', async () => {
    const secret = newMasterKey();
    const shares = await splitSecret(secret, 4, 1);
    expect(shares.map((s) => s.at(-1))).toEqual([1, 2, 3, 4]);
    for (const s of shares) expect(Buffer.from(await combineShares([s], 1))).toEqual(Buffer.from(secret));
    // Decrypted shares are Buffers, wiped once combined: the secret must be a copy, not a view of one.
    const share = Buffer.from(shares[0]!);
    const rebuilt = await combineShares([share], 1);
    share.fill(0);
    expect(Buffer.from(rebuilt)).toEqual(Buffer.from(secret));
    await failure(combineShares([], 1));
  });

  it('threshold 2 and up: any t shares rebuild the secret, fewer or duplicated are refused', async () => {
    const secret = newMasterKey();
    const shares = await splitSecret(secret, 4, 3);
    for (const subset of subsets(4, 3)) {
      expect(
        Buffer.from(
          await combineShares(
            subset.map((i) => shares[i - 1]!),
            3,
          ),
        ),
      ).toEqual(Buffer.from(secret));
    }
    expect((await failure(combineShares(shares.slice(0, 2), 3))).code).toBe('too_few_shares');
    expect((await failure(combineShares([shares[0]!, shares[1]!, shares[0]!], 3))).code).toBe('altered_file');
  });

  it('checkSplit refuses impossible splits', () => {
    for (const [n, t] of [
      [0, 0],
      [3, 4],
      [256, 2],
      [3, 0],
      [2.5, 1],
    ] as const) {
      caught(() => checkSplit(n, t));
    }
    for (const [n, t] of [
      [1, 1],
      [255, 255],
      [5, 3],
    ] as const) {
      expect(() => checkSplit(n, t)).not.toThrow();
    }
  });
});

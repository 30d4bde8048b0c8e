// esman key store: what unlocking costs the operators and a starting payserv, with the KDF parameters on each line.
//  (a) scrypt per share (deriveKey), median of KDF_REPS at log2N 16, 17 (DEFAULT_SCRYPT) and 18, r=8 p=1,
//      with the memory each derivation takes (128·N·r bytes), so an operator can choose the cost;
//  (b) unlock of a (3,2) set at the default parameters: unlockShares with 2 passphrases, then KeyStore.open
//      of a store of realistic items (PEM keys and certificates, two Coin.<TAG>.JSON, DB.JSON; random
//      content of the sizes payserv's Ed25519 PKI issues, never real keys), median of UNLOCK_REPS;
//  (c) hand-over: from obtainKey (payserv's side) to the store open, esman manager in this process on
//      127.0.0.1 port 0 and its operator answering "y" at once: the protocol and the store open, not the human;
//      beside it the key exchange alone in process (newRequest, sealKey, openKey);
//  (d) KeyStore.save of the same store: seal under a fresh nonce, then the atomic write (temp file, fsync,
//      rename, fsync of the directory), on the file system of the temporary directory.
import { randomBytes } from 'node:crypto';
import { mkdir, stat, statfs } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { wipe } from '../src/esman/errors.js';
import { encodeCoinItem, coinItem, DATABASE_ITEM, signerItems, tlsItems } from '../src/esman/items.js';
import { DEFAULT_SCRYPT, SALT_BYTES, deriveKey, describeScrypt, memoryMiB, type ScryptParams } from '../src/esman/kdf.js';
import { startManager } from '../src/esman/manager.js';
import { newMasterKey } from '../src/esman/master-key.js';
import { obtainKey } from '../src/esman/request.js';
import { newRequest, openKey, sealKey } from '../src/esman/transfer.js';
import { unlockShares, writeShares } from '../src/esman/shares.js';
import { KeyStore } from '../src/esman/store-file.js';
import { createLogger } from '../src/log/index.js';
import { failureReporter } from './pay-setup.js';
import { fmt, heading, line, median, progress, quantile, round } from './report.js';

const KDF_REPS = 5;
/** One lower and one higher cost than the default, beside it. */
const KDF_LEVELS: ScryptParams[] = [
  { ...DEFAULT_SCRYPT, log2N: DEFAULT_SCRYPT.log2N - 1 },
  DEFAULT_SCRYPT,
  { ...DEFAULT_SCRYPT, log2N: DEFAULT_SCRYPT.log2N + 1 },
];
const SHARES = 3;
const THRESHOLD = 2;
const UNLOCK_REPS = 3;
const HANDOVER_WARMUPS = 2;
const HANDOVER_REPS = 15;
const SAVE_REPS = 10;

interface KdfFigures {
  log2N: number;
  r: number;
  p: number;
  memoryMiB: number;
  isDefault: boolean;
  runs: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
}

export interface EsmanSummary {
  kdf: KdfFigures[];
  unlock: {
    shares: number;
    threshold: number;
    log2N: number;
    r: number;
    p: number;
    reps: number;
    medianMs: number;
    unlockSharesMedianMs: number;
    storeOpenMedianMs: number;
    maxMs: number;
    items: number;
    storeBytes: number;
  };
  handover: {
    reps: number;
    warmups: number;
    medianMs: number;
    minMs: number;
    p90Ms: number;
    maxMs: number;
    keyExchangeInProcessMedianMs: number;
  };
  save: { reps: number; medianMs: number; encodeMedianMs: number; p90Ms: number; maxMs: number; storeBytes: number; fileSystem: string };
  loadAvgStartEnd: [number, number];
  seconds: number;
}

export interface EsmanOutcome {
  failures: string[];
  summary: EsmanSummary | null;
}

/** PEM armour around `der` random bytes: the size of a real item, the content of none. */
function fakePem(label: string, derBytes: number): Buffer {
  const body = randomBytes(derBytes)
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n');
  return Buffer.from(`-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`, 'utf8');
}

/**
 * What payserv's store holds, at the sizes payserv's PKI issues (an Ed25519 PKCS#8 key is 48 bytes of
 * DER, 119 of PEM; its signer and TLS certificates ~660 and ~710 bytes of PEM), with random content.
 */
function realisticItems(): Map<string, Buffer> {
  const items = new Map<string, Buffer>();
  for (const [names, certDer] of [
    [signerItems('payserv'), 455],
    [tlsItems('payserv'), 490],
    [tlsItems('dbgw'), 490],
  ] as const) {
    items.set(names.key, fakePem('PRIVATE KEY', 48));
    items.set(names.cert, fakePem('CERTIFICATE', certDer));
  }
  items.set(coinItem('ETH'), encodeCoinItem({ coin: 'ETH', privateKey: randomBytes(32), address: `0x${randomBytes(20).toString('hex')}` }));
  items.set(
    coinItem('ZEC'),
    encodeCoinItem({ coin: 'ZEC', privateKey: randomBytes(32), address: `t1${randomBytes(25).toString('base64url').slice(0, 33)}` }),
  );
  items.set(
    DATABASE_ITEM,
    Buffer.from(
      JSON.stringify({ url: `postgres://payserv:${randomBytes(24).toString('base64url')}@127.0.0.1:5432/payserv?sslmode=disable` }),
      'utf8',
    ),
  );
  return items;
}

/** The items of `store` are exactly `items`; a description of the first difference otherwise. */
function differs(store: KeyStore, items: ReadonlyMap<string, Buffer>): string | null {
  const names = store
    .list()
    .map((i) => i.name)
    .sort();
  const want = [...items.keys()].sort();
  if (names.join(',') !== want.join(',')) return `items ${names.join(', ')}, expected ${want.join(', ')}`;
  for (const [name, value] of items) {
    const got = store.get(name);
    const same = got.equals(value);
    wipe(got);
    if (!same) return `item ${name} differs`;
  }
  return null;
}

/** Linux file-system magic numbers of statfs(2), for the few a temporary directory is likely on. */
const FS_TYPES: Record<number, string> = {
  0xef53: 'ext4',
  0x01021994: 'tmpfs',
  0x58465342: 'xfs',
  0x9123683e: 'btrfs',
  0x794c7630: 'overlayfs',
  0x2fc12fc1: 'zfs',
  0x6969: 'nfs',
};

async function fileSystemOf(dir: string): Promise<string> {
  try {
    const t = (await statfs(dir)).type;
    return FS_TYPES[t] ?? `type 0x${t.toString(16)}`;
  } catch {
    return 'unknown';
  }
}

/** A duration: milliseconds below one second, seconds from there. */
const dur = (ms: number) => (ms < 1000 ? fmt.ms(ms) : `${(ms / 1000).toFixed(2)} s`);
const spread = (xs: readonly number[]) => `min ${dur(Math.min(...xs))}, max ${dur(Math.max(...xs))}`;

/** KDF_REPS derivations at each level, the levels taken in turn so that a change in the machine's load falls on all of them. */
async function timeKdf(levels: readonly ScryptParams[]): Promise<number[][]> {
  const pass = Buffer.from(randomBytes(12).toString('base64url'), 'utf8');
  const times = levels.map(() => [] as number[]);
  for (let i = 0; i < KDF_REPS; i++) {
    for (const [j, k] of levels.entries()) {
      const salt = randomBytes(SALT_BYTES);
      const t = performance.now();
      const key = await deriveKey(pass, salt, k);
      times[j]!.push(performance.now() - t);
      wipe(key);
    }
  }
  return times;
}

export async function runEsmanSection(stateDir: string): Promise<EsmanOutcome> {
  const t0 = performance.now();
  const loadStart = loadavg()[0] as number;
  heading(`10. esman key store: scrypt per share, unlock of a (${SHARES},${THRESHOLD}) set, loopback hand-over, store save`);
  const { failures, loud } = failureReporter('esman', line);
  const dir = join(stateDir, 'esman');
  const master = newMasterKey();
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const fileSystem = await fileSystemOf(dir);

    // ── (a) scrypt per share ──
    progress(`esman: scrypt, ${KDF_REPS} derivations at each of log2N ${KDF_LEVELS.map((k) => k.log2N).join(', ')}`);
    wipe(await deriveKey(Buffer.from('warm-up'), randomBytes(SALT_BYTES), { ...DEFAULT_SCRYPT, log2N: 10 }));
    const kdfTimes = await timeKdf(KDF_LEVELS);
    const kdf: KdfFigures[] = [];
    line(
      `(a) scrypt per share (deriveKey), median of ${KDF_REPS}`,
      `per share (spread) | ${THRESHOLD} shares, one after the other | memory per derivation`,
    );
    for (const [j, k] of KDF_LEVELS.entries()) {
      const times = kdfTimes[j]!;
      const isDefault = k.log2N === DEFAULT_SCRYPT.log2N && k.r === DEFAULT_SCRYPT.r && k.p === DEFAULT_SCRYPT.p;
      const m = median(times);
      kdf.push({
        log2N: k.log2N,
        r: k.r,
        p: k.p,
        memoryMiB: memoryMiB(k),
        isDefault,
        runs: KDF_REPS,
        medianMs: round(m, 1),
        minMs: round(Math.min(...times), 1),
        maxMs: round(Math.max(...times), 1),
      });
      line(
        `    N=2^${k.log2N} r=${k.r} p=${k.p}${isDefault ? ' (the default)' : ''}`,
        `${dur(m)} (${spread(times)}) | ~${dur(THRESHOLD * m)} | ${memoryMiB(k)} MiB`,
      );
    }

    // ── the share set and the store, at the default parameters ──
    progress(`esman: writing a (${SHARES},${THRESHOLD}) share set (${describeScrypt(DEFAULT_SCRYPT)}) and a store`);
    const shareDir = join(dir, 'shares');
    const storePath = join(dir, 'payserv.esm');
    const passphrases = Array.from({ length: SHARES }, () => randomBytes(15).toString('base64url'));
    await writeShares(shareDir, master, { shares: SHARES, threshold: THRESHOLD, kdf: DEFAULT_SCRYPT }, async (i) =>
      Buffer.from(passphrases[i - 1]!, 'utf8'),
    );
    const items = realisticItems();
    const built = KeyStore.empty(storePath);
    for (const [name, value] of items) built.set(name, value);
    await built.save(master);
    built.close();
    const storeBytes = (await stat(storePath)).size;
    const itemBytes = [...items.values()].reduce((n, v) => n + v.length, 0);

    // ── (b) unlock: unlockShares with T passphrases, then KeyStore.open ──
    progress(`esman: unlock, ${UNLOCK_REPS} times`);
    const unlockTimes: number[] = [];
    const sharesTimes: number[] = [];
    const openTimes: number[] = [];
    for (let i = 0; i < UNLOCK_REPS; i++) {
      let asked = 0;
      const ask = async (prompt: string) => {
        asked += 1;
        const index = Number(/share (\d+) of/.exec(prompt)?.[1]);
        return passphrases[index - 1] ?? null;
      };
      const t = performance.now();
      const u = await unlockShares(shareDir, ask);
      const tShares = performance.now();
      const store = await KeyStore.open(storePath, u.master);
      const tOpen = performance.now();
      sharesTimes.push(tShares - t);
      openTimes.push(tOpen - tShares);
      unlockTimes.push(tOpen - t);
      if (asked !== THRESHOLD || u.used.join(',') !== '1,2')
        loud(`unlock asked ${asked} passphrases and used shares ${u.used.join(', ')}, expected ${THRESHOLD}: 1, 2`);
      const wrong = differs(store, items);
      if (wrong) loud(`the unlocked store does not hold what was saved: ${wrong}`);
      store.close();
      wipe(u.master);
    }
    const unlockMs = median(unlockTimes);
    const d = DEFAULT_SCRYPT;
    line(
      `(b) unlock (${SHARES},${THRESHOLD}), N=2^${d.log2N} r=${d.r} p=${d.p}, median of ${UNLOCK_REPS}`,
      `${dur(unlockMs)} (${spread(unlockTimes)}): unlockShares + KeyStore.open`,
    );
    line(`    unlockShares, ${THRESHOLD} passphrases`, dur(median(sharesTimes)));
    line(
      `    KeyStore.open, ${items.size} items`,
      `${fmt.ms(median(openTimes))} (${fmt.int(itemBytes)} bytes of items, a ${fmt.int(storeBytes)}-byte store file)`,
    );

    // ── (c) hand-over: obtainKey → the store open, manager in process answering "y" at once ──
    progress(`esman: hand-over, ${HANDOVER_WARMUPS} warm-ups and ${HANDOVER_REPS} timed`);
    const logged: string[] = [];
    const log = createLogger('payserv', 'info', { write: (text: string) => void logged.push(text) });
    const said: string[] = [];
    const total = HANDOVER_WARMUPS + HANDOVER_REPS;
    const manager = await startManager({
      master,
      host: '127.0.0.1',
      port: 0,
      count: total,
      ask: async () => true,
      say: (s) => void said.push(s),
    });
    const handoverTimes: number[] = [];
    try {
      for (let i = 0; i < total; i++) {
        const t = performance.now();
        const store = await obtainKey({
          manager: `${manager.host}:${manager.port}`,
          retryMs: 50,
          answerTimeoutMs: 10_000,
          log,
          accept: (m) => KeyStore.open(storePath, m),
        });
        const ms = performance.now() - t;
        if (i >= HANDOVER_WARMUPS) handoverTimes.push(ms);
        const wrong = differs(store, items);
        if (wrong) loud(`the store opened by the hand-over does not hold what was saved: ${wrong}`);
        store.close();
      }
      await manager.done;
    } finally {
      await manager.close();
    }
    const retries = logged.filter((l) => l.includes('asking again'));
    if (retries.length)
      loud(`obtainKey asked again ${retries.length} time(s), so the figure includes its retry wait: ${retries[0]!.trim()}`);
    const sent = said.filter((s) => s.startsWith('key sent')).length;
    if (sent !== total) loud(`the manager sent ${sent} keys for ${total} requests`);
    const handoverMs = median(handoverTimes);
    // The key exchange alone, in process: payserv's request, the manager's seal, payserv's open (4 X25519 operations).
    const exchangeTimes: number[] = [];
    for (let i = 0; i < HANDOVER_REPS; i++) {
      const t = performance.now();
      const pending = newRequest();
      const got = openKey(pending, sealKey(pending.request, master));
      exchangeTimes.push(performance.now() - t);
      if (!Buffer.from(got).equals(Buffer.from(master))) loud('the key exchange in process does not give back the key');
      wipe(got, pending.secret);
    }
    line(
      `(c) hand-over obtainKey -> store open`,
      `${fmt.ms(handoverMs)}, median of ${HANDOVER_REPS} after ${HANDOVER_WARMUPS} warm-ups (${spread(handoverTimes)}, p90 ${fmt.ms(quantile(handoverTimes, 0.9))})`,
    );
    line(
      '    manager in process, operator "y" at once',
      "one loopback TCP connection per request, JSON lines, payserv's two log lines, the store opened",
    );
    line(
      '    of which the key exchange, in process',
      `${fmt.ms(median(exchangeTimes))} (newRequest + sealKey + openKey: X25519 keys and agreement twice, HKDF-SHA256, AES-256-GCM)`,
    );
    line('    of which KeyStore.open (from (b))', fmt.ms(median(openTimes)));

    // ── (d) KeyStore.save of the same store ──
    progress(`esman: store save, ${SAVE_REPS} times`);
    const store = await KeyStore.open(storePath, master);
    const saveTimes: number[] = [];
    const encodeTimes: number[] = [];
    try {
      for (let i = 0; i < SAVE_REPS; i++) {
        const te = performance.now();
        wipe(store.encode(master));
        encodeTimes.push(performance.now() - te);
        const t = performance.now();
        await store.save(master);
        saveTimes.push(performance.now() - t);
      }
    } finally {
      store.close();
    }
    const reopened = await KeyStore.open(storePath, master);
    const wrong = differs(reopened, items);
    reopened.close();
    if (wrong) loud(`the store saved ${SAVE_REPS} times does not hold what it held: ${wrong}`);
    const saveMs = median(saveTimes);
    line(
      `(d) KeyStore.save, median of ${SAVE_REPS}`,
      `${fmt.ms(saveMs)} (${spread(saveTimes)}, p90 ${fmt.ms(quantile(saveTimes, 0.9))}): ${fmt.int(storeBytes)} bytes on ${fileSystem}, temp file + fsync + rename + fsync of the directory`,
    );
    line('    of which seal alone (encode)', fmt.ms(median(encodeTimes)));
    line(
      'load average (1 min) at the start / end',
      `${loadStart.toFixed(2)} / ${(loadavg()[0] as number).toFixed(2)} on ${cpus().length} CPUs`,
    );

    return {
      failures,
      summary: {
        kdf,
        unlock: {
          shares: SHARES,
          threshold: THRESHOLD,
          log2N: DEFAULT_SCRYPT.log2N,
          r: DEFAULT_SCRYPT.r,
          p: DEFAULT_SCRYPT.p,
          reps: UNLOCK_REPS,
          medianMs: round(unlockMs, 1),
          unlockSharesMedianMs: round(median(sharesTimes), 1),
          storeOpenMedianMs: round(median(openTimes), 3),
          maxMs: round(Math.max(...unlockTimes), 1),
          items: items.size,
          storeBytes,
        },
        handover: {
          reps: HANDOVER_REPS,
          warmups: HANDOVER_WARMUPS,
          medianMs: round(handoverMs, 2),
          minMs: round(Math.min(...handoverTimes), 2),
          p90Ms: round(quantile(handoverTimes, 0.9), 2),
          maxMs: round(Math.max(...handoverTimes), 2),
          keyExchangeInProcessMedianMs: round(median(exchangeTimes), 2),
        },
        save: {
          reps: SAVE_REPS,
          medianMs: round(saveMs, 2),
          encodeMedianMs: round(median(encodeTimes), 3),
          p90Ms: round(quantile(saveTimes, 0.9), 2),
          maxMs: round(Math.max(...saveTimes), 2),
          storeBytes,
          fileSystem,
        },
        loadAvgStartEnd: [round(loadStart, 2), round(loadavg()[0] as number, 2)],
        seconds: round((performance.now() - t0) / 1000),
      },
    };
  } catch (e) {
    loud(`esman section stopped: ${(e as Error).stack ?? (e as Error).message}`);
    return { failures, summary: null };
  } finally {
    wipe(master);
  }
}

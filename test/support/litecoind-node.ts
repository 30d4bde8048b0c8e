// A real litecoind regtest node per test file (Debian's litecoind 0.21: Bitcoin Core 0.21's RPC), on a
// free loopback port, with no network (no listening, no peers, no DNS seeds), its data in a temp dir
// removed afterwards, and RPC credentials made up per run and written only to the node's own config
// file in that dir (never on its command line, where `ps` shows them, nor in any message).
//
// No orphaned node: litecoind runs under a small shell that kills it when its stdin closes, which the
// kernel does when this process dies, however it dies (a SIGKILLed vitest worker included).
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseJsonLossless, satoshisOf, type JsonDecimal } from '../../src/chains/btc/json.js';
import { within } from '../../src/devnet/anvil.js';
import { freePort } from './ports.js';

export const LITECOIND = '/usr/bin/litecoind';
/** Blocks before a coinbase output may be spent (consensus, every Bitcoin-family chain). */
export const COINBASE_MATURITY = 100;

export interface LitecoindOptions {
  /** Litecoin's own policy flag (default 0): BIP125 replacement in the mempool. */
  mempoolReplacement?: boolean;
  /** A transaction index (default on: the driver needs it; off to see a node without it refused). */
  txindex?: boolean;
  /** How long to wait for the RPC to answer (default 30 s: a loaded 2-core machine). */
  readyTimeoutMs?: number;
}

export interface Litecoind {
  /** http://user:password@127.0.0.1:port/ — for the client under test only: never print it. */
  url: string;
  /** The same without credentials. */
  endpoint: string;
  rpcPort: number;
  /** One RPC call; amounts in the reply come back as JsonDecimal (exact). Throws LitecoindError on a node error. */
  rpc(method: string, params?: unknown[], wallet?: string): Promise<unknown>;
  /** A regtest address of the node's own wallet `miner` (created at start). */
  minerAddress(): Promise<string>;
  /** Mines `n` blocks paying their coinbase to `address` (default the miner's); the new block hashes. */
  mine(n: number, address?: string): Promise<string[]>;
  /**
   * Sends `sat` to `address` from the miner's mature coinbase, mined in a block then buried `depth` deep (default
   * FUND_DEPTH: the seeded coin's confirmations, the depth the driver spends from): a non-coinbase UTXO; `block` is its block.
   */
  fund(
    address: string,
    sat: bigint,
    opts?: { confirm?: boolean; depth?: number },
  ): Promise<{ txid: string; vout: number; block: string | null }>;
  /** Mines exactly these raw transactions (and the coinbase) on the tip, mempool or not: a staged conflict. */
  generateBlock(rawTxs: string[], address?: string): Promise<string>;
  invalidateBlock(hash: string): Promise<void>;
  reconsiderBlock(hash: string): Promise<void>;
  height(): Promise<number>;
  stop(): Promise<void>;
  output(): string;
}

/**
 * How deep `fund` buries an output: the seeded coin's confirmations (src/writer/seed.ts), which the driver's
 * input_confirmations defaults to, so that a funded output is spendable at once.
 */
export const FUND_DEPTH = 6;

export class LitecoindError extends Error {
  override name = 'LitecoindError';
  constructor(
    readonly method: string,
    readonly code: number,
    readonly nodeMessage: string,
  ) {
    super(`${method}: ${code} ${nodeMessage}`);
  }
}

export const hasLitecoind = (): boolean => spawnSync(LITECOIND, ['-version'], { stdio: 'ignore' }).status === 0;

// The guard ($1 the data dir): starts litecoind, prints its pid, stops it (TERM) when its stdin closes,
// and when it has exited removes its data and exits with its code. (A background job's stdin is
// /dev/null unless redirected: hence fd 3.)
const GUARD = [
  'd=$1; shift; exec 3<&0',
  'litecoind -datadir="$d" "$@" & p=$!; echo "pid $p"',
  '(cat <&3 >/dev/null; kill -TERM $p 2>/dev/null) & w=$!',
  'wait $p; r=$?; kill $w 2>/dev/null; rm -rf "$d"; exit $r',
].join('; ');

export async function startLitecoind(opts: LitecoindOptions = {}): Promise<Litecoind> {
  if (!hasLitecoind()) throw new Error(`${LITECOIND} is missing: apt-get install litecoind (.ci/run installs it)`);
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts);
    } catch (e) {
      // Another process took the port between freePort() and the bind: pick again, a few times.
      if (!(e instanceof PortTaken) || attempt >= 4) throw e;
    }
  }
}

class PortTaken extends Error {}

async function startOnce(opts: LitecoindOptions): Promise<Litecoind> {
  const dir = await mkdtemp(join(tmpdir(), 'payserv-litecoind-'));
  const user = `u${randomBytes(6).toString('hex')}`;
  const password = randomBytes(24).toString('hex');
  const rpcPort = await freePort();
  const conf = [
    'regtest=1',
    // 0.21 applies network settings to regtest only from its section.
    '[regtest]',
    'server=1',
    `txindex=${opts.txindex === false ? 0 : 1}`,
    'listen=0',
    'connect=0',
    'dnsseed=0',
    'discover=0',
    'upnp=0',
    'printtoconsole=0',
    'fallbackfee=0.0001',
    `mempoolreplacement=${opts.mempoolReplacement ? 1 : 0}`,
    `rpcuser=${user}`,
    `rpcpassword=${password}`,
    'rpcbind=127.0.0.1',
    'rpcallowip=127.0.0.1',
    `rpcport=${rpcPort}`,
  ].join('\n');
  await writeFile(join(dir, 'litecoin.conf'), `${conf}\n`, { mode: 0o600 });

  const proc = spawn('sh', ['-c', GUARD, 'sh', dir], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let pid: number | null = null;
  proc.stdout.setEncoding('utf8').on('data', (s: string) => {
    out = (out + s).slice(-16_384);
    pid ??= Number(/pid (\d+)/.exec(out)?.[1]) || null;
  });
  proc.stderr.setEncoding('utf8').on('data', (s: string) => (out = (out + s).slice(-16_384)));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));

  let stopping: Promise<void> | null = null;
  // Its data is thrown away: no need for a clean shutdown (seconds of flushing), SIGKILL at once.
  const stop = () =>
    (stopping ??= (async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        if (pid !== null) killQuietly(pid);
        proc.stdin.end();
        if (!(await within(exited, 10_000))) proc.kill('SIGKILL');
      }
      await rm(dir, { recursive: true, force: true });
    })());

  const endpoint = `http://127.0.0.1:${rpcPort}/`;
  const url = `http://${user}:${password}@127.0.0.1:${rpcPort}/`;
  const authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  let id = 1;
  const rpc = async (method: string, params: unknown[] = [], wallet?: string): Promise<unknown> => {
    const res = await fetch(wallet ? `${endpoint}wallet/${wallet}` : endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization },
      body: JSON.stringify({ jsonrpc: '1.0', id: id++, method, params }),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    let reply: { result?: unknown; error?: { code: number; message: string } | null };
    try {
      reply = parseJsonLossless(text) as typeof reply;
    } catch {
      throw new LitecoindError(method, res.status, `HTTP ${res.status}: ${text.slice(0, 200)}`);
    }
    if (reply.error) throw new LitecoindError(method, reply.error.code, reply.error.message);
    return reply.result;
  };

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 30_000);
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      await stop();
      const msg = `litecoind exited before answering: ${out.slice(-2_000).trim()}`;
      throw /unable to bind|address already in use/i.test(out) ? new PortTaken(msg) : new Error(msg);
    }
    const ready = await rpc('getblockchaininfo').then(
      () => true,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`litecoind on port ${rpcPort} did not answer within the ready timeout; output: ${out.slice(-2_000).trim()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  await rpc('createwallet', ['miner']);
  let miner: string | null = null;
  const minerAddress = async () => (miner ??= (await rpc('getnewaddress', [], 'miner')) as string);
  const mine = async (n: number, address?: string) => (await rpc('generatetoaddress', [n, address ?? (await minerAddress())])) as string[];
  const height = async () => (await rpc('getblockcount')) as number;

  const fund: Litecoind['fund'] = async (address, sat, o = {}) => {
    const balance = await rpc('getbalance', [], 'miner');
    if (toSat(balance) < sat + 1_000_000n) await mine(COINBASE_MATURITY + 1);
    const txid = (await rpc('sendtoaddress', [address, fromSat(sat)], 'miner')) as string;
    const tx = (await rpc('getrawtransaction', [txid, true])) as { vout: Array<{ n: number; value: JsonDecimal }> };
    const out = tx.vout.find((v) => toSat(v.value) === sat);
    if (!out) throw new Error(`fund: no output of ${sat} in ${txid}`);
    const block = o.confirm === false ? null : ((await mine(o.depth ?? FUND_DEPTH))[0] as string);
    return { txid, vout: out.n, block };
  };

  return {
    url,
    endpoint,
    rpcPort,
    rpc,
    minerAddress,
    mine,
    fund,
    generateBlock: async (rawTxs, address) =>
      ((await rpc('generateblock', [address ?? (await minerAddress()), rawTxs])) as { hash: string }).hash,
    invalidateBlock: async (hash) => void (await rpc('invalidateblock', [hash])),
    reconsiderBlock: async (hash) => void (await rpc('reconsiderblock', [hash])),
    height,
    stop,
    output: () => out,
  };
}

/** Satoshis as the decimal string a node takes for an amount ("0.00000001"): never a float. */
export function fromSat(sat: bigint): string {
  return `${sat / 100_000_000n}.${(sat % 100_000_000n).toString().padStart(8, '0')}`;
}

function toSat(v: unknown): bigint {
  const sat = satoshisOf(v);
  if (sat === null) throw new Error(`not an amount: ${String(v)}`);
  return sat;
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Gone already.
  }
}

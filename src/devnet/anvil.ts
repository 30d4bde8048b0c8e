// anvil (Foundry's local Ethereum node) as a child process, for the tests, the demo and the bench, and
// small JSON-RPC helpers for its cheat methods. The binary comes from npm (@foundry-rs/anvil-<os>-<cpu>);
// it is spawned directly, not through the package's bin.mjs wrapper, so that a SIGKILL reaches anvil
// itself and never leaves an orphaned node holding a port.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';

export interface AnvilOptions {
  /** 0 or absent: a free port picked here. */
  port?: number;
  /** Default 31337 (anvil's own default, passed explicitly all the same). */
  chainId?: number;
  /** Seconds between blocks (interval mining); absent: automine, one block per transaction. */
  blockTime?: number | undefined;
  /** e.g. 'prague', 'cancun', 'london'; absent: anvil's latest. */
  hardfork?: string;
  /**
   * The genesis block's timestamp (Unix seconds; `--timestamp`). Absent: anvil takes the time it starts, so two
   * anvils started within the same second with the same options have the same genesis hash; set it to start
   * "the same chain id, a fresh chain" with a genesis of its own.
   */
  genesisTimestamp?: number;
  /** No automine, no interval: blocks only on `mine()` (transactions wait in the pool). */
  noMining?: boolean;
  /** Extra command-line arguments, appended last. */
  args?: string[];
  /** How long to wait for `eth_chainId` to answer (default 20 s: a loaded 2-core machine). */
  readyTimeoutMs?: number;
}

export interface Anvil {
  /** http://127.0.0.1:<port> */
  url: string;
  port: number;
  chainId: number;
  pid: number;
  /** SIGTERM, then SIGKILL after a short grace; resolves once the process has exited. Idempotent. */
  stop(): Promise<void>;
  /** The last part of what anvil printed (stdout and stderr, interleaved), for error messages. */
  output(): string;
}

/** Bounds on what this module keeps or waits for. */
const OUTPUT_KEEP_CHARS = 16 * 1024;
const START_ATTEMPTS_MAX = 5;
const STOP_GRACE_MS = 2_000;
const STOP_KILL_WAIT_MS = 5_000;
const READY_POLL_MS = 25;
const RPC_TIMEOUT_MS = 10_000;
const RPC_REPLY_BYTES_MAX = 8 * 1024 * 1024;

/** Node's process.arch → the suffix of Foundry's npm package. */
const CPU_SUFFIX: Record<string, string> = { x64: 'amd64', arm64: 'arm64' };
const OS_NAMES = new Set(['linux', 'darwin', 'win32']);

/** The path of the anvil binary installed from npm for this platform; a clear error if there is none. */
export function anvilBinaryPath(): string {
  const cpu = CPU_SUFFIX[process.arch];
  if (!OS_NAMES.has(process.platform) || cpu === undefined) {
    throw new Error(
      `anvil: no npm build of anvil for ${process.platform}/${process.arch} (Foundry publishes linux, darwin and win32 on x64 and arm64)`,
    );
  }
  const pkg = `@foundry-rs/anvil-${process.platform}-${cpu}`;
  let manifest: string;
  try {
    manifest = createRequire(import.meta.url).resolve(`${pkg}/package.json`);
  } catch {
    throw new Error(
      `anvil: the package ${pkg} is not installed (this project pins Foundry's linux x64 build as a development dependency: the registry here serves no other)`,
    );
  }
  const bin = join(dirname(manifest), 'bin', process.platform === 'win32' ? 'anvil.exe' : 'anvil');
  if (!existsSync(bin)) throw new Error(`anvil: ${pkg} is installed but its binary ${bin} is missing`);
  return bin;
}

/** A port that was free a moment ago (the kernel's pick); anvil may still lose it to a race, which startAnvil retries. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') {
        srv.close();
        reject(new Error('freePort: the server has no TCP address'));
        return;
      }
      srv.close((e) => (e ? reject(e) : resolve(addr.port)));
    });
  });
}

// Every anvil started here and still running: a test worker that exits (or is torn down) must not leave one behind.
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of live) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

/** Starts anvil on 127.0.0.1 and resolves once it answers `eth_chainId` with the chain id asked for. */
export async function startAnvil(opts: AnvilOptions = {}): Promise<Anvil> {
  const chainId = opts.chainId ?? 31337;
  if (!Number.isSafeInteger(chainId) || chainId <= 0) throw new Error(`startAnvil: bad chainId ${chainId}`);
  if (opts.blockTime !== undefined && !(opts.blockTime > 0)) throw new Error(`startAnvil: bad blockTime ${opts.blockTime}`);
  if (opts.noMining && opts.blockTime !== undefined) throw new Error('startAnvil: noMining and blockTime exclude each other');
  if (opts.genesisTimestamp !== undefined && (!Number.isSafeInteger(opts.genesisTimestamp) || opts.genesisTimestamp < 0))
    throw new Error(`startAnvil: bad genesisTimestamp ${opts.genesisTimestamp}`);
  if (opts.port !== undefined && (!Number.isSafeInteger(opts.port) || opts.port < 0 || opts.port > 65535))
    throw new Error(`startAnvil: bad port ${opts.port}`);
  const bin = anvilBinaryPath();
  const fixedPort = opts.port !== undefined && opts.port !== 0;
  // A port picked here can be taken by someone else before anvil binds it: then pick another, a bounded number of times.
  for (let attempt = 1; ; attempt++) {
    const port = fixedPort ? (opts.port as number) : await freePort();
    try {
      return await startOnce(bin, port, chainId, opts);
    } catch (e) {
      if (!(e instanceof AddressInUse) || fixedPort || attempt >= START_ATTEMPTS_MAX) throw e;
    }
  }
}

class AddressInUse extends Error {}

async function startOnce(bin: string, port: number, chainId: number, opts: AnvilOptions): Promise<Anvil> {
  const args = ['--host', '127.0.0.1', '--port', String(port), '--chain-id', String(chainId), '--quiet'];
  if (opts.blockTime !== undefined) args.push('--block-time', String(opts.blockTime));
  if (opts.hardfork !== undefined) args.push('--hardfork', opts.hardfork);
  if (opts.genesisTimestamp !== undefined) args.push('--timestamp', String(opts.genesisTimestamp));
  if (opts.noMining) args.push('--no-mining');
  args.push(...(opts.args ?? []));

  const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  let out = '';
  const keep = (s: string) => {
    out = (out + s).slice(-OUTPUT_KEEP_CHARS);
  };
  proc.stdout.setEncoding('utf8').on('data', keep);
  proc.stderr.setEncoding('utf8').on('data', keep);
  let spawnError: Error | null = null;
  const exited = new Promise<void>((resolve) => {
    proc.once('error', (e) => {
      spawnError = e;
      resolve();
    });
    proc.once('exit', () => resolve());
  });
  void exited.then(() => live.delete(proc));
  const hasExited = () => spawnError !== null || proc.exitCode !== null || proc.signalCode !== null;

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      if (hasExited()) return;
      proc.kill('SIGTERM');
      if (await within(exited, STOP_GRACE_MS)) return;
      proc.kill('SIGKILL');
      if (!(await within(exited, STOP_KILL_WAIT_MS)))
        throw new Error(`anvil pid ${proc.pid} did not exit after SIGKILL within ${STOP_KILL_WAIT_MS} ms`);
    })());

  const url = `http://127.0.0.1:${port}`;
  const timeoutMs = opts.readyTimeoutMs ?? 20_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (hasExited()) {
      await within(exited, 1_000);
      const why =
        spawnError !== null
          ? `could not be spawned: ${(spawnError as Error).message}`
          : `exited (code ${proc.exitCode}, signal ${proc.signalCode})`;
      const msg = `anvil on port ${port} ${why} before answering; output: ${out.slice(-2_000).trim()}`;
      throw /address already in use|os error 98|EADDRINUSE/i.test(out) ? new AddressInUse(msg) : new Error(msg);
    }
    const answered = await anvilRpc(url, 'eth_chainId', [], { timeoutMs: 1_000 }).then(
      (r) => r,
      () => undefined,
    );
    if (answered !== undefined) {
      if (answered !== `0x${chainId.toString(16)}`) {
        await stop();
        throw new Error(`anvil on port ${port} answered eth_chainId ${String(answered)}, not ${chainId}: is another node on that port?`);
      }
      break;
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`anvil on port ${port} did not answer eth_chainId within ${timeoutMs} ms; output: ${out.slice(-2_000).trim()}`);
    }
    await sleep(READY_POLL_MS);
  }
  return { url, port, chainId, pid: proc.pid as number, stop, output: () => out };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** True if `p` settled within `ms`. */
export async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
  try {
    return await Promise.race([p.then(() => true as const), t]);
  } finally {
    clearTimeout(timer);
  }
}

// ---- JSON-RPC --------------------------------------------------------------------------------------

/** The node answered a JSON-RPC error (or something that is not JSON-RPC). */
export class AnvilRpcError extends Error {
  override name = 'AnvilRpcError';
  constructor(
    readonly method: string,
    readonly nodeMessage: string,
    readonly code: number | undefined,
    readonly data: unknown,
  ) {
    super(`${method}: ${nodeMessage}${code === undefined ? '' : ` (code ${code})`}`);
  }
}

let nextId = 1;

/**
 * One JSON-RPC 2.0 call by plain fetch (no client library in between, so the tests see the node's own reply).
 * Throws an AnvilRpcError naming the method and the node's message; a transport failure throws as fetch does.
 */
export async function anvilRpc(url: string, method: string, params: unknown[] = [], opts: { timeoutMs?: number } = {}): Promise<unknown> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, params }),
    signal: AbortSignal.timeout(opts.timeoutMs ?? RPC_TIMEOUT_MS),
  });
  const text = await readBounded(
    res,
    RPC_REPLY_BYTES_MAX,
    () => new AnvilRpcError(method, `reply longer than ${RPC_REPLY_BYTES_MAX} bytes`, undefined, undefined),
  );
  let reply: unknown;
  try {
    reply = JSON.parse(text);
  } catch {
    throw new AnvilRpcError(method, `HTTP ${res.status}, not JSON: ${text.slice(0, 200)}`, undefined, undefined);
  }
  if (typeof reply !== 'object' || reply === null)
    throw new AnvilRpcError(method, `not a JSON-RPC reply: ${text.slice(0, 200)}`, undefined, undefined);
  const r = reply as { result?: unknown; error?: { code?: unknown; message?: unknown; data?: unknown } };
  if (r.error !== undefined) {
    const code = typeof r.error.code === 'number' ? r.error.code : undefined;
    throw new AnvilRpcError(method, String(r.error.message ?? JSON.stringify(r.error)), code, r.error.data);
  }
  if (!('result' in r))
    throw new AnvilRpcError(method, `a reply with neither result nor error: ${text.slice(0, 200)}`, undefined, undefined);
  return r.result;
}

/** The body as text, refusing one longer than `max` bytes with `tooLong()` (a node answers small; a runaway reply is a bug). */
export async function readBounded(res: Response, max: number, tooLong: () => Error): Promise<string> {
  if (res.body === null) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      throw tooLong();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

const hex = (n: bigint | number) => `0x${n.toString(16)}`;

/** anvil_setBalance: the account's balance becomes exactly `wei`. */
export async function setBalance(url: string, address: string, wei: bigint): Promise<void> {
  if (wei < 0n) throw new Error(`setBalance: negative balance ${wei}`);
  await anvilRpc(url, 'anvil_setBalance', [address, hex(wei)]);
}

/** anvil_mine: mines `blocks` blocks now (with whatever the pool holds). */
export async function mine(url: string, blocks = 1): Promise<void> {
  if (!Number.isSafeInteger(blocks) || blocks < 1) throw new Error(`mine: bad block count ${blocks}`);
  await anvilRpc(url, 'anvil_mine', [hex(blocks)]);
}

/** anvil_dropTransaction: removes a pending transaction from the pool, as if the network had forgotten it. */
export async function dropTransaction(url: string, hash: string): Promise<void> {
  await anvilRpc(url, 'anvil_dropTransaction', [hash]);
}

/** evm_setAutomine: on, every transaction is mined at once in a block of its own. */
export async function setAutomine(url: string, on: boolean): Promise<void> {
  await anvilRpc(url, 'evm_setAutomine', [on]);
}

/** evm_setIntervalMining: a block every `seconds` (0 turns interval mining off). */
export async function setIntervalMining(url: string, seconds: number): Promise<void> {
  if (!Number.isSafeInteger(seconds) || seconds < 0) throw new Error(`setIntervalMining: bad interval ${seconds}`);
  await anvilRpc(url, 'evm_setIntervalMining', [seconds]);
}

/** anvil_setNextBlockBaseFeePerGas: the base fee of the next block, to test fee choices and caps. */
export async function setNextBlockBaseFee(url: string, wei: bigint): Promise<void> {
  if (wei < 0n) throw new Error(`setNextBlockBaseFee: negative base fee ${wei}`);
  await anvilRpc(url, 'anvil_setNextBlockBaseFeePerGas', [hex(wei)]);
}

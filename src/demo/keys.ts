// The demo's keys, the way an operator makes them: the PKI issued into a staging directory outside the
// state directory, three operators' shares made by `esman init`, the store made by `esman create` from
// the staging directory, hot wallets generated inside the store by `esman wallet`, and the staging
// directory removed. The demo keeps in memory only what the pool's back end and an operator hold
// themselves (their TLS pairs, the ledger writers' signing keys); payserv gets its keys from the store.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../config/package-root.js';
import { signerItems, tlsItems } from '../esman/items.js';
import { KEY_REQUEST_PROMPT } from '../esman/manager.js';
import { initPki } from '../esman/pki-files.js';
import type { SignerRole, TlsIdentity } from '../pki/roles.js';
import { Signer } from '../pki/signer.js';

const ESMAN = join(packageRoot(), 'bin/esman.mjs');
export const SHARES = 3;
export const THRESHOLD = 2;
const PROMPT_START = KEY_REQUEST_PROMPT('').split(' from ')[0]!;

export interface TlsPair {
  certPem: string;
  keyPem: string;
}

export interface DemoKeys {
  sharesDir: string;
  storage: string;
  passphrases: string[];
  signers: Record<SignerRole, Signer>;
  tls: Record<Extract<TlsIdentity, 'backend' | 'pscli'>, TlsPair>;
  /** Hot-wallet addresses, by coin tag, as esman wallet printed them. */
  wallets: Record<string, string>;
  /** The Zcash node's RPC credentials (the demo runs the node too), in the store as ZCASH_RPC_ITEM. */
  zcashRpc: { user: string; password: string };
}

export const ZCASH_RPC_ITEM = 'ZEC.RPC.JSON';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** esman as an operator runs it, passphrases on descriptor 3 (never on the command line). */
function esman(args: string[], passphrases: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [ESMAN, ...args, ...(passphrases.length ? ['--passphrase-fd', '3'] : [])], {
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    (child.stdio[3] as NodeJS.WritableStream).end(passphrases.map((p) => `${p}\n`).join(''));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function esmanOk(args: string[], passphrases: string[]): Promise<string> {
  const r = await esman(args, passphrases);
  if (r.code !== 0) throw new Error(`demo: esman ${args[0]} failed (exit ${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** Passphrases for the demo's operators: from `fd` (one per line; tests pass their own) or generated and never written. */
export function demoPassphrases(fd: number | undefined): string[] {
  if (fd === undefined) return Array.from({ length: SHARES }, () => randomBytes(18).toString('base64url'));
  const lines = readFileSync(fd, 'utf8')
    .split('\n')
    .filter((l) => l);
  if (lines.length < SHARES) throw new Error(`demo: --passphrase-fd ${fd} gave ${lines.length} passphrases, ${SHARES} needed`);
  return lines.slice(0, SHARES);
}

export async function prepareKeys(stateDir: string, passphrases: string[], coins: string[], out: (s: string) => void): Promise<DemoKeys> {
  const staging = mkdtempSync(join(tmpdir(), 'payserv-demo-keys-'));
  const sharesDir = join(stateDir, 'shares');
  const storage = join(stateDir, 'storage.demo');
  // Two of the three operators are present for each command that opens the store.
  const two = [passphrases[0]!, passphrases[1]!];
  try {
    await initPki(stateDir, { rootDays: 3650, leafDays: 825, keysDir: staging });
    const read = (name: string) => readFileSync(join(staging, name), 'utf8');
    const signer = (role: SignerRole) => Signer.fromPem(read(signerItems(role).cert), read(signerItems(role).key));
    const pair = (id: TlsIdentity) => ({ certPem: read(tlsItems(id).cert), keyPem: read(tlsItems(id).key) });
    const keys: DemoKeys = {
      sharesDir,
      storage,
      passphrases,
      signers: { admin: signer('admin'), autopay: signer('autopay'), payserv: signer('payserv') },
      tls: { backend: pair('backend'), pscli: pair('pscli') },
      wallets: {},
      zcashRpc: { user: 'payserv', password: randomBytes(18).toString('base64url') },
    };
    writeFileSync(join(staging, ZCASH_RPC_ITEM), JSON.stringify(keys.zcashRpc), { mode: 0o600 });
    const init = await esmanOk(['init', '--shares', String(SHARES), '--threshold', String(THRESHOLD), '--dir', sharesDir], passphrases);
    out(`   esman init: ${init.split('\n')[0]}`);
    await esmanOk(['create', '--from', staging, '--dir', sharesDir, '--storage', storage], two);
    for (const coin of coins) {
      const said = await esmanOk(['wallet', '--coin', coin, '--dir', sharesDir, '--storage', storage], two);
      const address = /hot wallet (\S+)/.exec(said)?.[1];
      if (!address) throw new Error(`demo: esman wallet --coin ${coin} printed no address`);
      keys.wallets[coin] = address;
    }
    const list = await esmanOk(['list', '--storage', storage], []);
    out(
      `   esman create + wallet: ${list.split('\n')[0]} (${list
        .split('\n')
        .slice(1)
        .filter((l) => l)
        .map((l) => l.split('\t')[0])
        .join(', ')})`,
    );
    return keys;
  } finally {
    // The staging directory held plain keys: it goes as soon as they are in the store.
    rmSync(staging, { recursive: true, force: true });
  }
}

export interface RunningManager {
  /** host:port it listens on. */
  endpoint: string;
  /** Settles with esman's exit code once it has handed out its key. */
  exited: Promise<number | null>;
  stop(): void;
}

/**
 * esman manager with two operators' passphrases; `answer` plays the operator at the prompt.
 * Resolves once it listens.
 */
export function spawnManager(keys: DemoKeys, answer: (prompt: string) => string): Promise<RunningManager> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [ESMAN, 'manager', '--dir', keys.sharesDir, '--storage', keys.storage, '--listen', '127.0.0.1:0', '--passphrase-fd', '3'],
      { stdio: ['pipe', 'pipe', 'pipe', 'pipe'] },
    );
    // Operator 1 is absent (an empty line skips share 1): operators 2 and 3 unlock.
    (child.stdio[3] as NodeJS.WritableStream).end(`\n${keys.passphrases[1]}\n${keys.passphrases[2]}\n`);
    const exited = new Promise<number | null>((r) => child.on('close', r));
    let stdout = '';
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      const listening = /listening on (\S+)/.exec(stdout);
      if (listening) resolve({ endpoint: listening[1]!, exited, stop: () => child.kill() });
      const at = stdout.lastIndexOf(PROMPT_START);
      if (at >= 0 && stdout.endsWith(': ')) {
        const prompt = stdout.slice(at);
        stdout = stdout.slice(0, at);
        child.stdin!.write(`${answer(prompt)}\n`);
      }
    });
    child.on('error', reject);
    void exited.then((code) => reject(new Error(`demo: esman manager exited (${code}) before listening: ${stderr.trim()}`)));
  });
}

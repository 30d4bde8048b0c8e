import { join } from 'node:path';
import { readJson, writeJsonAtomic } from '../../state/atomic-file.js';

// The local nonce cache (the original kept `eth.nonce` on the payserv host): the next nonce of each
// sending address, written after the payment that used it committed. The database copy is never
// behind it unless the database was rolled back; the cache is never the one that decides a nonce alone.

export class NonceCache {
  readonly #path: string;

  constructor(stateDir: string, chainId: number, address: string) {
    this.#path = join(stateDir, 'nonces', `${chainId}-${address.toLowerCase()}.json`);
  }

  get path(): string {
    return this.#path;
  }

  async read(): Promise<bigint | null> {
    const v = (await readJson(this.#path)) as { next?: unknown } | null;
    if (v === null) return null;
    if (typeof v.next !== 'string' || !/^\d{1,20}$/.test(v.next))
      throw new Error(`nonce cache ${this.#path} is corrupt (no decimal "next")`);
    return BigInt(v.next);
  }

  /** Raises the cached next nonce to `next` (never lowers it). */
  async raise(next: bigint): Promise<void> {
    const cur = await this.read();
    if (cur !== null && cur >= next) return;
    await writeJsonAtomic(this.#path, { next: next.toString() });
  }
}

import { createHmac } from 'node:crypto';
import { inspect } from 'node:util';
import type { Signer } from '../pki/signer.js';

// The keys of payserv's PostgreSQL advisory locks. A key computed from the lock's name alone (such as
// hashtextextended('payserv:withdrawal:7')) can be computed by anyone with SQL access, who could then
// hold it and make every call on that withdrawal or coin answer "try again", silently, for as long as
// they like. So each key is an HMAC of the name under a secret derived from payserv's own signing key:
// every payserv process holding that key computes the same keys (and they serialise on them), and
// nobody else can name them.

/** HKDF info of the lock secret: changing it (a v2) changes every key, so every payserv must change at once. */
export const LOCK_KEYS_INFO = 'payserv advisory lock keys v1';
const SECRET_BYTES = 32;
/** Lock names are short (withdrawal:ID, send:TAG, checkpoint:user:U:C); a longer one is a bug. */
const NAME_CHARS_MAX = 200;

/** Each signer's keys, derived on first use; dropped with the signer. */
const OF_SIGNER = new WeakMap<Signer, LockKeys>();

export class LockKeys {
  readonly #secret: Buffer;

  private constructor(secret: Buffer) {
    this.#secret = secret;
  }

  /** The lock keys of this payserv signer: one object per signer, so the secret is derived once. */
  static of(payserv: Signer): LockKeys {
    // Another role's key would give other keys: two processes would silently stop serialising.
    if (payserv.role !== 'payserv') throw new Error(`lock keys are derived from the payserv signer, not ${payserv.role}`);
    let keys = OF_SIGNER.get(payserv);
    if (!keys) {
      keys = new LockKeys(payserv.deriveSecret(LOCK_KEYS_INFO, SECRET_BYTES));
      OF_SIGNER.set(payserv, keys);
    }
    return keys;
  }

  /**
   * The advisory lock key of a named lock, as a decimal string (a bigint parameter). One namespace for
   * every lock payserv takes: Locks' names (withdrawal:ID, send:TAG, autopay:TAG, correction:ID) and
   * checkpoint:… for the checkpoint advance.
   */
  key(name: string): string {
    // PostgreSQL's advisory keys are signed 64-bit: the HMAC-SHA256's first 8 bytes, big-endian.
    if (!name || name.length > NAME_CHARS_MAX) throw new RangeError(`lock name of ${name.length} characters; 1..${NAME_CHARS_MAX}`);
    return createHmac('sha256', this.#secret).update(name, 'utf8').digest().readBigInt64BE(0).toString();
  }

  // Never serialised or printed: a log line or an error carrying it would hand out every key.
  toJSON(): object {
    return { lockKeys: 'derived from the payserv key; not shown' };
  }

  [inspect.custom](): string {
    return 'LockKeys <derived from the payserv key; not shown>';
  }
}

/**
 * Why esman refused, as a stable machine-readable code: scripts and tests branch on it, never on the
 * message. `bad_option` is a command line to fix (exit 2), and so is an error made with `usage` (a passphrase
 * descriptor that cannot be read); every other is a refusal (exit 1).
 */
export const ESMAN_CODES = [
  'bad_option', // a value on the command line or in a configuration is not one esman accepts
  'no_passphrase', // none given, or none can be read (stdin is not a terminal, a descriptor that cannot be read)
  'weak_passphrase', // shorter than the minimum, or the same for two new shares
  'passphrases_differ', // a new passphrase typed twice differently
  'wrong_passphrase', // a share does not open: wrong passphrase or an altered share file
  'altered_file', // a store or share that fails authentication, or shares that do not rebuild their key
  'damaged_file', // not an esman file, another version, truncated, an impossible header
  'unreadable', // a file or directory that cannot be read
  'no_shares', // no share files where they should be
  'too_few_shares', // fewer than the threshold given
  'mixed_sets', // shares of different inits, or that disagree on N and T
  'renamed_share', // a share file under another index's name
  'wrong_key', // a store sealed under another master key
  'missing_item', // the store has no item of that name
  'bad_item', // an item whose value is not what its name says
  'not_exportable', // an item that must never leave the store as a file
  'exists', // a store, item, share set or file that esman never overwrites
  'write_failed', // a file could not be written
  'not_loopback', // the key is handed over on loopback only
  'cannot_listen', // esman manager's port is taken or not allowed
  'unreachable', // esman manager does not answer
  'bad_message', // a hand-over message that is not the protocol's (too long, cut, unparsable, weak key)
  'timeout', // no hand-over message in time
  'request_refused', // the operator did not type "y"
  'key_refused', // payserv's store does not open with the key it was given
  'no_store', // a configuration needs the store, and none is set
  'kdf_failed', // scrypt failed (out of memory)
  'wallet_funded', // a hot-wallet item whose address holds more than dust: sweep it before deleting the key
  'balance_unknown', // the node could not tell a hot wallet's balance: absence of an answer is no proof it is empty
  'not_confirmed', // the operator did not type the item's name back
  'wrong_chain', // the node asked for a hot wallet's balance is not on the configured chain: its answer is no evidence
  'hot_wallet', // `add --replace` over a hot-wallet key: delete it (once emptied) first
] as const;

export type EsmanCode = (typeof ESMAN_CODES)[number];

/** Every refusal of the key store: a code, and a message naming the file and what is wrong, never a secret. */
export class EsmanError extends Error {
  override name = 'EsmanError';
  constructor(
    readonly code: EsmanCode,
    message: string,
    /** The command line is what to fix (exit 2), not the moment. */
    readonly usage = code === 'bad_option',
  ) {
    super(message);
  }
}

/** Why a file or socket operation failed, as an operator can act on it: the errno code (ENOENT), else the message. */
export const reasonOf = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

/** Best effort: JavaScript cannot promise a secret leaves no copy, but buffers we own are zeroed once used. */
export function wipe(...buffers: Array<Uint8Array | undefined>): void {
  for (const b of buffers) b?.fill(0);
}

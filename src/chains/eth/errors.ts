// What the node's refusal of eth_sendRawTransaction means for a payment. JSON-RPC error codes are not
// standardised here (geth says -32000 for everything, anvil -32003, Nethermind -32010), so the decision is
// made on the node's own words, which differ by client and by version. Pure: no I/O.
//
// What the driver must do with each class (DESIGN.md §6):
// - 'known': the node already has exactly these signed bytes. That is success: never re-sign, never re-pay.
// - 'nonce_too_low': the nonce is used on chain. It may be OUR transaction (any of the hashes sent for that
//   nonce) that was mined: look the hashes up; never re-pay on this signal alone.
// - 'underpriced': a replacement that did not raise the fees enough (geth: +10% on both fields), or a fee
//   below what the pool or the next block accepts: bump or wait.
// - 'insufficient_funds': the hot wallet cannot pay value + gas × max fee: the payment waits.
// - 'other': anything else (malformed, wrong chain, gas too low, a transport failure): not a verdict on
//   the payment; treat as unknown and look again later.

export type SendErrorClass = 'known' | 'nonce_too_low' | 'underpriced' | 'insufficient_funds' | 'other';

/**
 * The wordings, lower-cased, by class, in the order they are tried: 'known' first, because viem itself
 * files "already known" and "transaction already imported" under its NonceTooLowError, and a message chain
 * that carries both words means the node has our transaction.
 */
const WORDINGS: ReadonlyArray<readonly [SendErrorClass, readonly RegExp[]]> = [
  [
    'known',
    [
      /\balready known\b/, // geth, reth, Erigon (txpool "already known"), Nethermind since PR 12157 (2026)
      /\bknown transaction\b/, // old geth ("known transaction: <hash>"), Besu ("Known transaction")
      /\balreadyknown\b/, // Nethermind before PR 12157 (the AcceptTxResult enum name "AlreadyKnown")
      /\balready imported\b/, // anvil ("transaction already imported"), OpenEthereum ("... was already imported.")
      /\bexisting txn? with same hash\b/, // Erigon (DuplicateHash, "existing tx(n) with same hash")
    ],
  ],
  [
    'nonce_too_low',
    [
      /\bnonce too low\b/, // geth ("nonce too low: address 0x.., tx: 5 state: 6"), anvil, reth, Erigon, newer Nethermind, Hardhat
      /\boldnonce\b/, // older Nethermind ("OldNonce")
      /\bnonce is too low\b/, // OpenEthereum ("Transaction nonce is too low. Try incrementing the nonce.")
    ],
  ],
  [
    'underpriced',
    [
      /underpriced/, // geth/anvil/reth/Erigon "replacement transaction underpriced", geth "transaction underpriced: tip needed ..."
      /\bfeetoolow(tocompete)?\b/, // Nethermind before PR 12157 ("FeeTooLow", "FeeTooLowToCompete")
      /\breplacementnotallowed\b/, // Nethermind before PR 12157 ("ReplacementNotAllowed")
      /\bfee too low\b/, // Erigon (FeeTooLow)
      /\bcould not replace existing tx\b/, // Erigon (NotReplaced)
      /\bgas price supplied is too low\b/, // OpenEthereum replacement ("Transaction gas price supplied is too low. There is another transaction with same nonce ...")
      /\bmax fee per gas less than block base fee\b/, // anvil (and geth's core error) for a max fee below the pending base fee
    ],
  ],
  [
    'insufficient_funds',
    [
      /\binsufficient funds\b/, // geth/reth "insufficient funds for gas * price + value", anvil "Insufficient funds for gas * price + value", Erigon "insufficient funds"
      /\binsufficientfunds\b/, // Nethermind before PR 12157 ("InsufficientFunds, Account balance: .., cumulative cost: ..")
      /\bupfront cost exceeds account balance\b/, // Besu
    ],
  ],
];

/** How deep to follow `cause` links (viem wraps an RPC error two or three times). */
const CAUSE_DEPTH_MAX = 8;
/** How much of each message to keep (a wrapper may quote the whole signed transaction). */
const TEXT_CHARS_MAX = 4_096;

/** Classifies the node's refusal of eth_sendRawTransaction (an Error of any library, a JSON-RPC error object, or a string). */
export function classifySendError(err: unknown): SendErrorClass {
  const text = sendErrorText(err).toLowerCase();
  for (const [cls, patterns] of WORDINGS) if (patterns.some((re) => re.test(text))) return cls;
  return 'other';
}

/**
 * The words of an error and of everything it wraps (viem's `details`, the message, a JSON-RPC `error.message`),
 * outermost first, the node's own words before a library's paraphrase, deduplicated and bounded: what
 * classifySendError reads; its first line is the reason to log.
 */
export function sendErrorText(err: unknown): string {
  const parts: string[] = [];
  const seen = new Set<unknown>();
  let cur: unknown = err;
  for (let depth = 0; depth < CAUSE_DEPTH_MAX && cur !== undefined && cur !== null && !seen.has(cur); depth++) {
    seen.add(cur);
    if (typeof cur === 'string') {
      parts.push(cur.slice(0, TEXT_CHARS_MAX));
      break;
    }
    if (typeof cur !== 'object') {
      parts.push(String(cur));
      break;
    }
    const o = cur as Record<string, unknown>;
    // The node's own words first (viem keeps them in `details`, AnvilRpcError in `nodeMessage`), so that the
    // first line is the best one-line reason for a log; a library's long `message` after them.
    for (const key of ['details', 'nodeMessage', 'message'] as const) {
      const v = o[key];
      if (typeof v === 'string' && v !== '') parts.push(v.slice(0, TEXT_CHARS_MAX));
    }
    // A raw JSON-RPC reply ({ error: { code, message } }) or a library error that keeps one under `error`.
    const inner = o['error'];
    cur = inner !== undefined && inner !== null && typeof inner === 'object' ? inner : o['cause'];
  }
  return [...new Set(parts)].join('\n');
}

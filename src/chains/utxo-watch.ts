import type { DecodedTx, Placement, StandsBy, Watch } from './driver.js';
import { ChainIdentityError, NodeUnavailable } from './driver.js';
import type { ChainIdentity } from './identity.js';
import { NodeRpcBadReply, NodeRpcError, NodeRpcUnavailable } from './node-http.js';
import { outpointKey, type AttemptStorage, type StorageTx } from './storage.js';

// What the two UTXO drivers (Bitcoin family, src/chains/btc/driver.ts; Zcash, src/chains/zcash/driver.ts)
// do alike with a bitcoind-style node: read its identity, watch a sent payment to finality, and tell
// whether a stored attempt spends an outpoint. What differs is given: the node client (each throws its
// own subclasses of node-http.ts's errors, caught here by the shared base classes), the network a node's
// chain name belongs to, and where a transaction is mined on the best chain.

/** A node call; a transport failure becomes NodeUnavailable. */
export async function ask<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof NodeRpcUnavailable) throw new NodeUnavailable(e.message);
    throw e;
  }
}

/** What getblockchaininfo says that the identity check reads: the chain's name and the head's height. */
interface ChainInfo {
  chain: string;
  blocks: number;
}

/** The node calls the identity check and the watch make. */
export interface UtxoNode<I extends ChainInfo, T> {
  getBlockchainInfo(): Promise<I>;
  /** The best chain's block at a height. */
  getBlockHash(height: number): Promise<string>;
  /** The transaction, or null when the node does not know it. */
  getRawTransaction(txid: string): Promise<T | null>;
}

/**
 * The node's identity checked (network, genesis, head no more than `back` blocks below the highest seen,
 * src/chains/identity.ts): throws ChainIdentityError (unreachable) otherwise. Returns what getblockchaininfo said.
 */
export async function checkNodeIdentity<I extends ChainInfo>(
  c: {
    tag: string;
    node: Pick<UtxoNode<I, unknown>, 'getBlockchainInfo' | 'getBlockHash'>;
    identity: ChainIdentity;
    /** The configured network a node's getblockchaininfo.chain belongs to. */
    networkOf: (nodeChain: string) => string;
  },
  back: number,
): Promise<I> {
  let info: I;
  let genesis: string;
  try {
    [info, genesis] = await Promise.all([c.node.getBlockchainInfo(), c.node.getBlockHash(0)]);
  } catch (e) {
    if (e instanceof NodeRpcUnavailable) throw new NodeUnavailable(e.message);
    // A node that cannot name its genesis block cannot show which chain it is on.
    if (e instanceof NodeRpcError || e instanceof NodeRpcBadReply)
      throw new ChainIdentityError(c.tag, `coin ${c.tag}: cannot read the node's identity (${e.message})`);
    throw e;
  }
  await c.identity.check({ chain: c.networkOf(info.chain), genesis, head: info.blocks }, back);
  return info;
}

/**
 * The bytes of payserv's own attempt `hash` (AttemptStorage.ownAttempt: named by a verified signed `sending`
 * entry; a row alone proves nothing), decoded and hashing to `hash`; null otherwise.
 */
export async function ownStored(
  storage: AttemptStorage,
  decode: (raw: string) => DecodedTx,
  hash: string,
  db?: StorageTx,
): Promise<DecodedTx | null> {
  const raw = await storage.ownAttempt(hash, db);
  if (raw === null) return null;
  try {
    const d = decode(raw);
    return d.hash === hash ? d : null;
  } catch {
    return null;
  }
}

/**
 * Whether payserv stored a transaction `hash` that spends `outpoint` (one signed, committed, and perhaps
 * not yet journaled when payserv died): its own attempt (ownStored) that spends the outpoint.
 */
export async function storedSpends(
  storage: AttemptStorage,
  decode: (raw: string) => DecodedTx,
  db: StorageTx,
  hash: string,
  outpoint: string,
): Promise<boolean> {
  const d = await ownStored(storage, decode, hash, db);
  return d !== null && d.inputs.some((i) => outpointKey(i) === outpoint);
}

/** Where a transaction is mined on the best chain; `unknown`: the node names a block that proves nothing (why). */
export type Mined = { block: Placement; confirmations: number } | { unknown: string };

/**
 * The finality watch of a sent payment `hash`, last seen mined at `seen`, `finality` blocks deep to be final.
 * Final or settling where it is mined on the best chain (`located`: null when it is not), the identity
 * checked after. Where it is not, the payment may still stand by another transaction of it mined instead
 * (`standsBy`: its own replacement, after a reorg that mined the replacement rather than it): final or
 * settling where that one is mined, named in the verdict. Gone only with proof: the block it was last seen in
 * is no longer the node's block at that height, and neither it nor any transaction of the payment is mined
 * on the best chain when read again. Anything else concludes nothing.
 */
export async function watchSent<I extends ChainInfo, T extends { blockhash?: string | undefined }>(
  c: {
    node: UtxoNode<I, T>;
    /** The driver's identity check (checkNodeIdentity), `back` blocks. */
    checkIdentity: (back: number) => Promise<I>;
    located: (t: T | null) => Promise<Mined | null>;
    /** What a gone proof adds about the transaction as read again (default: nothing). */
    goneNote?: (again: T | null) => string;
    /** Another transaction of the payment `hash` mined on the best chain (a driver that never replaces has none). */
    standsBy?: (hash: string, seen: Placement | null) => Promise<(StandsBy & { tx: T }) | null>;
  },
  hash: string,
  seen: Placement | null,
  finality: number,
): Promise<Watch> {
  const depth = Math.max(finality, 1);
  await c.checkIdentity(depth);
  const placed = async (at: Mined, by?: StandsBy): Promise<Watch> => {
    if ('unknown' in at) return { kind: 'unknown', reason: at.unknown };
    await c.checkIdentity(depth);
    const standsBy = by ? { standsBy: { hash: by.hash, feeDelta: by.feeDelta } } : {};
    return at.confirmations >= depth
      ? { kind: 'final', confirmations: at.confirmations, block: at.block, reverted: false, ...standsBy }
      : { kind: 'settling', confirmations: at.confirmations, block: at.block, reverted: false, ...standsBy };
  };
  /** The payment mined as another transaction of it, or null. */
  const other = async (): Promise<Watch | null> => {
    const by = await c.standsBy?.(hash, seen);
    const there = by ? await c.located(by.tx) : null;
    return by && there ? placed(there, by) : null;
  };
  const known = await ask(() => c.node.getRawTransaction(hash));
  const at = await c.located(known);
  if (at) return placed(at);
  const instead = await other();
  if (instead) return instead;
  // Not on the best chain now. Gone only with proof: the block it was in is no longer the block at that height.
  const where = known ? (known.blockhash ? `in block ${known.blockhash}, off the best chain` : 'in the mempool') : 'unknown to the node';
  if (!seen) return { kind: 'unknown', reason: `${hash} is ${where}, and where it was mined is not known: nothing concluded` };
  const info = await c.checkIdentity(depth);
  if (seen.blockNumber > info.blocks)
    return {
      kind: 'unknown',
      reason: `the node's head ${info.blocks} is below block ${seen.blockNumber}, where ${hash} was mined: nothing concluded`,
    };
  const now = await ask(() => c.node.getBlockHash(seen.blockNumber));
  if (now.toLowerCase() === seen.blockHash.toLowerCase().replace(/^0x/, ''))
    return {
      kind: 'unknown',
      reason: `block ${seen.blockHash} at ${seen.blockNumber} is still on the chain, yet the node has ${hash} ${where}: nothing concluded`,
    };
  // Mined again elsewhere between the two reads (it, or another transaction of the payment)?
  const again = await ask(() => c.node.getRawTransaction(hash));
  const there = await c.located(again);
  if (there) return placed(there);
  const late = await other();
  if (late) return late;
  return {
    kind: 'gone',
    proof: `block ${seen.blockHash} at height ${seen.blockNumber}, where the payment ${hash} was last seen mined, is no longer on the chain (that height is now ${now}, head ${info.blocks}), and the transaction is in no block of the best chain${c.standsBy ? ', nor any transaction of the payment (a replacement, or one of the hot wallet paying all its outputs)' : ''}${c.goneNote?.(again) ?? ''}; chain identity checked`,
  };
}

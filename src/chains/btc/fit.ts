// What the Bitcoin-family driver needs of its node, asked once before it pays anything: every RPC it
// calls, in the form it calls it, and a transaction index. A node that lacks one (Dogecoin Core 1.14 has
// neither scantxoutset nor testmempoolaccept) is refused at start with a configuration error naming the
// coin, the node and everything missing, instead of failing at the first missing call in mid-payment.
//
// The methods come from `help` without a command: Bitcoin Core lists every method it serves (hidden ones
// aside) as "== Category ==" headers, each followed by one line per method, the first line of its help
// (its name, then its arguments: `getblock "blockhash" ( verbosity )`), categories apart by an empty line.
// A reply that is not such a listing is a bad reply: inconclusive, never a pass. The transaction index is
// read from `getindexinfo` (Bitcoin Core 0.21+, Bitcoin Cash Node v28+; a node without it is refused,
// naming it: it cannot say whether txindex is on).
//
// What the node needs depends on the coin's fee source (fee_estimate): `estimatesmartfee` in 0.15+'s form,
// Bitcoin Cash Node's `estimatefee` without arguments, or nothing ("floor"). What its testmempoolaccept
// answers is read from that method's form: `maxfeerate` (Bitcoin Core 0.19+; with getindexinfo, 0.21+,
// whose reply carries the fee and vsize the driver checks) or `allowhighfees` (Bitcoin Cash Node, whose
// reply carries neither: the driver then relies on its own fee, and still checks `allowed` and the txid).
import { ConfigError } from '../../config/error.js';
import { NodeUnavailable } from '../driver.js';
import { BTC_RPC_CODE, BtcRpcBadReply, BtcRpcError, BtcRpcUnavailable, type BtcNode, type MempoolFees } from './node.js';

/**
 * Where the fee rate comes from: the node's `estimatesmartfee` (Bitcoin Core 0.15+, Litecoin, Dogecoin), Bitcoin
 * Cash Node's `estimatefee` (its mempool's lowest rate now), or no node at all ("floor": fee_rate_min always).
 */
export type FeeEstimate = 'estimatesmartfee' | 'estimatefee' | 'floor';
export const FEE_ESTIMATES: readonly FeeEstimate[] = ['estimatesmartfee', 'estimatefee', 'floor'];

export interface BtcNodeNeed {
  method: string;
  /** When the form matters: what the method's help line must hold, and what the driver needs of it. */
  form?: { words: RegExp; needs: string };
}

/** Every RPC the driver (driver.ts, utxos.ts, spends.ts) calls on its node whatever its fee source, and getindexinfo for txindex. */
export const BTC_NODE_NEEDS: readonly BtcNodeNeed[] = [
  { method: 'getblockchaininfo' },
  { method: 'getnetworkinfo' },
  { method: 'getblockcount' },
  { method: 'getblockhash' },
  { method: 'getblockheader' },
  // Bitcoin Core 0.14 (Dogecoin Core 1.14): `getblock "blockhash" ( verbose )`, a bool.
  { method: 'getblock', form: { words: /\bverbosity\b/, needs: "verbosity 2, a block's transactions with their inputs (0.15+)" } },
  { method: 'scantxoutset' },
  { method: 'gettxout' },
  { method: 'getrawtransaction' },
  // What its reply carries is read from its form (mempoolFeesOf).
  {
    method: 'testmempoolaccept',
    form: { words: /\b(?:maxfeerate|allowhighfees)\b/, needs: 'maxfeerate (Bitcoin Core 0.19+) or allowhighfees (Bitcoin Cash Node)' },
  },
  { method: 'sendrawtransaction' },
  { method: 'getindexinfo' },
];

/** The fee source's own method, in the form the driver calls it; none for "floor". */
export const FEE_NEEDS: Readonly<Record<FeeEstimate, readonly BtcNodeNeed[]>> = {
  // Bitcoin Core 0.14 (Dogecoin Core 1.14): `estimatesmartfee nblocks`, which refuses a second argument.
  estimatesmartfee: [{ method: 'estimatesmartfee', form: { words: /\bestimate_mode\b/, needs: 'conf_target and estimate_mode (0.15+)' } }],
  // Bitcoin Cash Node: `estimatefee`, no arguments (a call with one is refused). Bitcoin Core 0.14–0.16's `estimatefee nblocks` is another RPC.
  estimatefee: [{ method: 'estimatefee', form: { words: /^estimatefee$/, needs: "no arguments (Bitcoin Cash Node's)" } }],
  floor: [],
};

/** Everything the driver calls on a node with this fee source. */
export const nodeNeeds = (fee: FeeEstimate): readonly BtcNodeNeed[] => [...BTC_NODE_NEEDS, ...FEE_NEEDS[fee]];

/**
 * What the node's testmempoolaccept answers, from its help line: `maxfeerate` (Bitcoin Core 0.19+: with getindexinfo,
 * 0.21+, which answers the fee and vsize) or `allowhighfees` (Bitcoin Cash Node: neither); null for any other form.
 */
export function mempoolFeesOf(line: string): MempoolFees | null {
  if (/\bmaxfeerate\b/.test(line)) return 'answered';
  if (/\ballowhighfees\b/.test(line)) return 'not-answered';
  return null;
}

/** A node fit to serve the driver: what its testmempoolaccept answers. */
export interface BtcNodeFit {
  mempoolFees: MempoolFees;
}

/** The node cannot serve the driver: a configuration to fix (another node, or txindex=1), found at start. */
export class BtcNodeUnfit extends ConfigError {
  override name = 'BtcNodeUnfit';

  constructor(
    readonly coin: string,
    readonly node: string,
    /** The needed methods the node does not serve. */
    readonly missing: readonly string[],
    /** Everything wrong, each in words (missing methods, a method in another form, no txindex). */
    readonly problems: readonly string[],
  ) {
    super(
      `coin ${coin}: the node at ${node} cannot serve the Bitcoin-family driver: ${problems.join('; ')}. ` +
        'It needs Bitcoin Core 0.21\'s RPC (or Bitcoin Cash Node v28+\'s) with txindex=1 (see the README, "The node")',
    );
  }
}

const HEADER = /^== [A-Z][A-Za-z ]{0,40} ==$/;
const METHOD_LINE = /^([a-z][a-z0-9_]{0,63})(?: [\x20-\x7e]*)?$/;

/** The methods a `help` listing names, each with its line; a reply that is not a listing is a bad reply. */
export function helpListing(text: string): Map<string, string> {
  const lines = text.split('\n');
  if (!HEADER.test(lines[0] ?? '')) throw new BtcRpcBadReply('help', 'not a listing of methods (no "== Category ==" first)');
  const methods = new Map<string, string>();
  lines.forEach((line, i) => {
    if (line === '' || HEADER.test(line)) return;
    const m = METHOD_LINE.exec(line);
    if (!m) throw new BtcRpcBadReply('help', `line ${i + 1} names no method`);
    methods.set(m[1] as string, line);
  });
  if (!methods.has('help')) throw new BtcRpcBadReply('help', 'the listing does not name help itself');
  return methods;
}

/**
 * What the node lacks, in words (empty: it serves the driver). Throws NodeUnavailable when it cannot be
 * told now: no answer, a bad answer, the node starting, its transaction index still being built.
 */
export async function nodeFitProblems(
  node: BtcNode,
  fee: FeeEstimate = 'estimatesmartfee',
): Promise<{ missing: string[]; problems: string[]; fit: BtcNodeFit | null }> {
  let listing: Map<string, string>;
  try {
    listing = helpListing(await node.help());
  } catch (e) {
    if (e instanceof BtcRpcError && e.code === BTC_RPC_CODE.METHOD_NOT_FOUND)
      return {
        missing: ['help'],
        problems: ['it does not serve help (the list of its methods): not a Bitcoin-Core-style node'],
        fit: null,
      };
    throw unavailable(e);
  }
  const needs = nodeNeeds(fee);
  const missing = needs.filter((n) => !listing.has(n.method)).map((n) => n.method);
  const problems = missing.length ? [`it does not serve ${missing.join(', ')}`] : [];
  for (const n of needs) {
    const line = listing.get(n.method);
    if (line !== undefined && n.form && !n.form.words.test(line))
      problems.push(`its ${n.method} is \`${line}\`: the driver needs ${n.form.needs}`);
  }
  if (listing.has('getindexinfo')) {
    const indexes = await node.getIndexInfo().catch((e: unknown) => {
      throw unavailable(e);
    });
    const tx = indexes.txindex;
    if (tx === undefined) problems.push('it runs without a transaction index (getindexinfo names no txindex): start it with txindex=1');
    else if (!tx.synced) throw new NodeUnavailable(`the node's transaction index is still being built (at block ${tx.best_block_height})`);
  }
  const mempoolFees = mempoolFeesOf(listing.get('testmempoolaccept') ?? '');
  return { missing, problems, fit: problems.length || mempoolFees === null ? null : { mempoolFees } };
}

/**
 * The node serves the driver with this fee source (what its testmempoolaccept answers), or BtcNodeUnfit naming the
 * coin, the node and what it lacks (see nodeFitProblems for NodeUnavailable).
 */
export async function checkNodeFit(node: BtcNode, coin: string, fee: FeeEstimate = 'estimatesmartfee'): Promise<BtcNodeFit> {
  const { missing, problems, fit } = await nodeFitProblems(node, fee);
  if (!fit) throw new BtcNodeUnfit(coin, node.endpoint, missing, problems);
  return fit;
}

/** No answer (a node starting, -28, is one) or a bad answer: nothing can be told. */
function unavailable(e: unknown): unknown {
  return e instanceof BtcRpcUnavailable || e instanceof BtcRpcBadReply ? new NodeUnavailable(e.message) : e;
}

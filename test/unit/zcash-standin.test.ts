// The Zcash node stand-in and the RPC client payserv talks to it with. The stand-in replaces a real node
// in every Zcash payout test, so it must refuse what the network refuses (here in zcashd's words, its
// zcashd mode; zebrad's dialect is test/unit/zcash-zebrad.test.ts) and change
// nothing when it does; the client must tell a node's refusal from a lost reply, and never show the
// RPC password.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { zcashP2pkhAddress } from '../../src/chains/address.js';
import { buildTransparentTx } from '../../src/chains/zcash/build.js';
import { displayHexToHash, fromHex, toHex } from '../../src/chains/zcash/bytes.js';
import { estimateTransparentFeeZat } from '../../src/chains/zcash/fee.js';
import { SIGHASH_ALL } from '../../src/chains/zcash/hashtype.js';
import { ZcashRpc, ZcashRpcBadReply, ZcashRpcError, ZcashRpcUnavailable, type AddressUtxo } from '../../src/chains/zcash/rpc.js';
import { hash160, p2pkhScript, p2pkhScriptSig } from '../../src/chains/zcash/script.js';
import { sighashV4 } from '../../src/chains/zcash/sighash-v4.js';
import { sighashV5, type SpentOutput } from '../../src/chains/zcash/sighash-v5.js';
import { signTransparentTx } from '../../src/chains/zcash/sign.js';
import { NU6_3_BRANCH_ID, startZcashStandin, type ZcashStandin } from '../../src/devnet/zcash-standin.js';
import { parseTx, serializeTx, type Tx } from '../../src/chains/zcash/tx.js';

const NU6_2 = 0x5437f330;
const NU6 = 0xc8e71055;
const ZEC = 100_000_000n;

/** A key made in the test: its address on testnet, and the script that pays it. */
function wallet(seed: string) {
  const key = sha256(new TextEncoder().encode(`zcash-standin-test ${seed}`));
  const pkh = hash160(secp256k1.getPublicKey(key, true));
  return { key, address: zcashP2pkhAddress('testnet', pkh), script: p2pkhScript(pkh) };
}
const hot = wallet('hot');
const miner = wallet('miner');
const other = wallet('other');

function asInput(u: AddressUtxo) {
  return { txid: u.txid, vout: u.outputIndex, value: u.satoshis, scriptPubKey: fromHex(u.script) };
}

/** A payout as payserv makes it: built, signed and self-verified by src/chains/zcash. */
function payout(
  version: 4 | 5,
  branchId: number,
  inputs: AddressUtxo[],
  outputs: Array<{ script: Uint8Array; value: bigint }>,
  expiryHeight: number,
  key = hot.key,
) {
  const unsigned = buildTransparentTx({
    version,
    branchId,
    inputs: inputs.map(asInput),
    outputs: outputs.map((o) => ({ scriptPubKey: o.script, value: o.value })),
    expiryHeight,
  });
  return signTransparentTx(
    unsigned,
    unsigned.prevouts,
    inputs.map(() => key),
  );
}

/** Pays `amount` to `to` from one UTXO, the rest less the ZIP-317 fee back to the hot wallet. */
function pay(version: 4 | 5, branchId: number, u: AddressUtxo, to: Uint8Array, amount: bigint, expiryHeight: number) {
  const fee = estimateTransparentFeeZat(1, [to, hot.script]);
  return payout(
    version,
    branchId,
    [u],
    [
      { script: to, value: amount },
      { script: hot.script, value: u.satoshis - amount - fee },
    ],
    expiryHeight,
  );
}

/**
 * Signs a transaction the builder would refuse (a fee below ZIP-317, outputs above the inputs), so
 * that only the node stands between it and the chain.
 */
function signAnyway(
  version: 4 | 5,
  branchId: number,
  u: AddressUtxo,
  outputs: Array<{ script: Uint8Array; value: bigint }>,
  expiryHeight: number,
): string {
  const input = { prevout: { txid: displayHexToHash(u.txid), index: u.outputIndex }, scriptSig: new Uint8Array(0), sequence: 0xffffffff };
  const outs = outputs.map((o) => ({ value: o.value, scriptPubKey: o.script }));
  const tx: Tx =
    version === 4
      ? {
          version: 4,
          inputs: [input],
          outputs: outs,
          lockTime: 0,
          expiryHeight,
          valueBalanceSapling: 0n,
          saplingSpends: [],
          saplingOutputs: [],
          joinSplits: [],
          joinSplitPubKey: null,
          joinSplitSig: null,
          bindingSigSapling: null,
        }
      : {
          version: 5,
          consensusBranchId: branchId,
          lockTime: 0,
          expiryHeight,
          inputs: [input],
          outputs: outs,
          sapling: null,
          orchard: null,
        };
  const spent: SpentOutput[] = [{ value: u.satoshis, scriptPubKey: fromHex(u.script) }];
  const digest =
    tx.version === 4
      ? sighashV4(tx, branchId, SIGHASH_ALL, { index: 0, scriptCode: fromHex(u.script), value: u.satoshis })
      : sighashV5(tx, SIGHASH_ALL, { index: 0 }, spent);
  const der = secp256k1.sign(digest, hot.key, { lowS: true, prehash: false }).toDERRawBytes();
  const scriptSig = p2pkhScriptSig(der, SIGHASH_ALL, secp256k1.getPublicKey(hot.key, true));
  return toHex(serializeTx({ ...tx, inputs: [{ ...input, scriptSig }] } as Tx));
}

/** The same transaction with one byte of its first signature's R changed (still strict DER). */
function flipSignature(rawHex: string): string {
  const tx = parseTx(fromHex(rawHex));
  const first = tx.inputs[0];
  if (!first) throw new Error('no input');
  const scriptSig = Uint8Array.from(first.scriptSig);
  const rLength = scriptSig[4] as number; // push, 0x30, length, 0x02, len(R)
  scriptSig[4 + rLength] = (scriptSig[4 + rLength] as number) ^ 0x01; // the last byte of R
  return toHex(serializeTx({ ...tx, inputs: [{ ...first, scriptSig }, ...tx.inputs.slice(1)] } as Tx));
}

async function refusal(p: Promise<unknown>): Promise<ZcashRpcError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e, 'the node should have refused').toBeInstanceOf(ZcashRpcError);
  return e as ZcashRpcError;
}

async function failure(p: Promise<unknown>): Promise<Error> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e, 'the call should have failed').toBeInstanceOf(Error);
  return e as Error;
}

describe('Zcash node stand-in', () => {
  let node: ZcashStandin;
  let rpc: ZcashRpc;

  beforeEach(async () => {
    node = await startZcashStandin({ network: 'testnet', mode: 'zcashd' });
    rpc = new ZcashRpc({ url: node.url, timeoutMs: 5_000 });
  });
  afterEach(async () => {
    rpc.close();
    await node.stop();
  });

  /** Funds the hot wallet and returns its one UTXO and the branch the node says the next block has. */
  async function funded(zat = ZEC) {
    const { txid } = await node.fund(hot.address, zat);
    const u = (await rpc.getAddressUtxos(hot.address)).find((x) => x.txid === txid);
    if (!u) throw new Error('funding not listed');
    const info = await rpc.getBlockchainInfo();
    return { u, branchId: Number.parseInt(info.consensus.nextblock, 16), tip: info.blocks };
  }

  /** Everything a refused transaction must leave as it was. */
  async function state() {
    return {
      mempool: node.mempool(),
      height: node.height(),
      received: node.received().length,
      utxos: await rpc.getAddressUtxos(hot.address),
      paid: node.paidTo(miner.address),
    };
  }

  it('answers getblockchaininfo, getconnectioncount and getblockcount as a synced NU6.3 node', async () => {
    const info = await rpc.getBlockchainInfo();
    expect(info.chain).toBe('test');
    expect(info.consensus).toEqual({ chaintip: '37a5165b', nextblock: '37a5165b' });
    expect(info.blocks).toBe(node.height());
    expect(info.initial_block_download_complete).toBe(true);
    expect(await rpc.getConnectionCount()).toBe(8);
    node.setPeers(0);
    expect(await rpc.getConnectionCount()).toBe(0);
    expect(await rpc.getBlockCount()).toBe(node.height());

    // An upgrade at the next block: the tip keeps its branch until a block is mined under the new one.
    node.setBranchId(NU6_2);
    expect((await rpc.getBlockchainInfo()).consensus).toEqual({ chaintip: '37a5165b', nextblock: '5437f330' });
    await node.mine();
    expect((await rpc.getBlockchainInfo()).consensus).toEqual({ chaintip: '5437f330', nextblock: '5437f330' });
  });

  it('accepts a signed v4 payout, mines it, counts confirmations and credits the outputs', async () => {
    const { u, branchId, tip } = await funded();
    expect(branchId).toBe(NU6_3_BRANCH_ID);
    expect(u).toMatchObject({ address: hot.address, outputIndex: 0, satoshis: ZEC, height: tip, script: toHex(hot.script) });

    const tx = pay(4, branchId, u, miner.script, 30_000_000n, tip + 40);
    expect(await rpc.sendRawTransaction(tx.rawHex)).toEqual({ kind: 'accepted', txid: tx.txid });
    expect(node.mempool()).toEqual([tx.txid]);
    const pending = await rpc.getRawTransaction(tx.txid);
    expect(pending).toMatchObject({ txid: tx.txid, hex: tx.rawHex });
    expect(pending?.confirmations ?? 0).toBe(0);
    expect(pending?.blockhash).toBeUndefined();
    expect(node.paidTo(miner.address)).toBe(0n);

    expect(await node.mine()).toBe(tip + 1);
    expect(node.mempool()).toEqual([]);
    expect(await rpc.getRawTransaction(tx.txid)).toMatchObject({ confirmations: 1, height: tip + 1 });
    await node.mine(2);
    expect(await rpc.getRawTransaction(tx.txid)).toMatchObject({ confirmations: 3, height: tip + 1 });
    expect(node.paidTo(miner.address)).toBe(30_000_000n);
    expect(node.outputsTo(miner.address)).toEqual([{ txid: tx.txid, vout: 0, value: 30_000_000n, height: tip + 1, spentBy: null }]);
    // The hot wallet now holds the change alone; the funding output is gone from its UTXOs.
    expect((await rpc.getAddressUtxos(hot.address)).map((x) => [x.txid, x.outputIndex, x.satoshis])).toEqual([
      [tx.txid, 1, ZEC - 30_000_000n - 10_000n],
    ]);
    expect(node.received().map((r) => [r.txid, r.tx.version])).toEqual([[tx.txid, 4]]);
  });

  it('accepts a signed v5 payout spending the change of a v4 one, and credits both', async () => {
    const { u, branchId, tip } = await funded();
    const first = pay(4, branchId, u, miner.script, 10_000_000n, tip + 40);
    await rpc.sendRawTransaction(first.rawHex);
    await node.mine();
    const [change] = await rpc.getAddressUtxos(hot.address);
    if (!change) throw new Error('no change');
    const second = pay(5, branchId, change, miner.script, 20_000_000n, tip + 41);
    expect(await rpc.sendRawTransaction(second.rawHex)).toEqual({ kind: 'accepted', txid: second.txid });
    await node.mine();
    expect(await rpc.getRawTransaction(second.txid)).toMatchObject({ confirmations: 1, height: tip + 2 });
    expect(await rpc.getRawTransaction(first.txid)).toMatchObject({ confirmations: 2 });
    expect(node.paidTo(miner.address)).toBe(30_000_000n);
    expect(node.received().map((r) => r.tx.version)).toEqual([4, 5]);
  });

  it('refuses a transaction signed for another branch, v4 and v5, naming the branch', async () => {
    const { u, tip } = await funded();
    const before = await state();

    // v4 carries no branch id: a signature for the previous upgrade is what zcashd singles out.
    const stale = await refusal(rpc.sendRawTransaction(pay(4, NU6_2, u, miner.script, ZEC / 2n, tip + 40).rawHex));
    expect([stale.code, stale.nodeMessage]).toEqual([-26, '16: old-consensus-branch-id (Expected 37a5165b, found 5437f330)']);
    const older = await refusal(rpc.sendRawTransaction(pay(4, NU6, u, miner.script, ZEC / 2n, tip + 40).rawHex));
    expect(older.code).toBe(-26);
    expect(older.nodeMessage).toMatch(/^16: mandatory-script-verify-flag-failed/);
    expect(node.rejected().at(-1)?.reason).toMatch(/signed for NU6 \(c8e71055\), the next block's branch is 37a5165b \(NU6\.3\)/);

    // v5 says its branch in the header.
    const v5 = await refusal(rpc.sendRawTransaction(pay(5, NU6_2, u, miner.script, ZEC / 2n, tip + 40).rawHex));
    expect(v5.code).toBe(-26);
    expect(v5.nodeMessage).toMatch(/^16: bad-tx-consensus-branch-id-mismatch/);
    expect(node.rejected().at(-1)?.reason).toMatch(/5437f330 \(NU6\.2\).*37a5165b \(NU6\.3\)/);
    expect(await state()).toEqual(before);
  });

  it('refuses a flipped signature byte, v4 and v5', async () => {
    const { u, branchId, tip } = await funded();
    const before = await state();
    for (const version of [4, 5] as const) {
      const good = pay(version, branchId, u, miner.script, ZEC / 2n, tip + 40);
      const e = await refusal(rpc.sendRawTransaction(flipSignature(good.rawHex)));
      expect([e.code, e.nodeMessage]).toEqual([
        -26,
        '16: mandatory-script-verify-flag-failed (Script evaluated without error but finished with a false/empty top stack element)',
      ]);
      expect(node.rejected().at(-1)?.reason).toMatch(/input 0: the signature does not verify/);
    }
    expect(await state()).toEqual(before);
  });

  it('refuses a double spend: against the mempool, against a block, and of a pruned transaction', async () => {
    const { u, branchId, tip } = await funded();
    // A first payout with two outputs this test can spend: to the miner, change to the hot wallet.
    const first = payout(
      5,
      branchId,
      [u],
      [
        { script: miner.script, value: 40_000_000n },
        { script: hot.script, value: ZEC - 40_000_000n - 10_000n },
      ],
      tip + 40,
    );
    await rpc.sendRawTransaction(first.rawHex);
    const before = await state();

    const conflict = await refusal(rpc.sendRawTransaction(pay(5, branchId, u, other.script, 1_000_000n, tip + 40).rawHex));
    expect([conflict.code, conflict.nodeMessage]).toEqual([-25, 'txn-mempool-conflict']);
    expect(node.rejected().at(-1)?.reason).toBe(`input 0 (${u.txid}:0) is spent by mempool transaction ${first.txid}`);
    expect(await state()).toEqual(before);

    await node.mine();
    // The funding transaction's only output is spent: zcashd has pruned it and says "Missing inputs".
    const pruned = await refusal(rpc.sendRawTransaction(pay(5, branchId, u, other.script, 1_000_000n, tip + 40).rawHex));
    expect([pruned.code, pruned.nodeMessage]).toEqual([-25, 'Missing inputs']);

    // Spend the change, mine it, and spend it again while the payout's other output is unspent.
    const [change] = await rpc.getAddressUtxos(hot.address);
    if (!change) throw new Error('no change');
    const spend = pay(5, branchId, change, other.script, 1_000_000n, tip + 42);
    await rpc.sendRawTransaction(spend.rawHex);
    await node.mine();
    const mined = await state();
    const again = await refusal(rpc.sendRawTransaction(pay(4, branchId, change, miner.script, 2_000_000n, tip + 42).rawHex));
    expect([again.code, again.nodeMessage]).toEqual([-26, '18: bad-txns-inputs-spent']);
    expect(node.rejected().at(-1)?.reason).toBe(`input 0 (${change.txid}:1) is spent by ${spend.txid}`);
    expect(await state()).toEqual(mined);
  });

  it('refuses an expired transaction and one expiring within 3 blocks', async () => {
    const { u, branchId, tip } = await funded();
    const before = await state();
    const expired = await refusal(rpc.sendRawTransaction(pay(5, branchId, u, miner.script, ZEC / 2n, tip).rawHex));
    expect([expired.code, expired.nodeMessage]).toEqual([-26, '16: tx-overwinter-expired']);
    expect(node.rejected().at(-1)?.reason).toBe(`expiry height ${tip}, the next block is ${tip + 1}`);
    const soon = await refusal(rpc.sendRawTransaction(pay(4, branchId, u, miner.script, ZEC / 2n, tip + 3).rawHex));
    expect([soon.code, soon.nodeMessage]).toEqual([-26, '16: tx-expiring-soon']);
    expect(await state()).toEqual(before);
    // tip + 4 is the first expiry the mempool takes.
    const ok = pay(5, branchId, u, miner.script, ZEC / 2n, tip + 4);
    expect((await rpc.sendRawTransaction(ok.rawHex)).kind).toBe('accepted');
  });

  it('refuses a fee below ZIP-317 and outputs above the inputs', async () => {
    const { u, branchId, tip } = await funded();
    const before = await state();
    // One input, two outputs: the conventional fee is 2 × 5,000 zatoshi.
    const cheap = signAnyway(
      5,
      branchId,
      u,
      [
        { script: miner.script, value: ZEC / 2n },
        { script: hot.script, value: ZEC / 2n - 5_000n },
      ],
      tip + 40,
    );
    const fee = await refusal(rpc.sendRawTransaction(cheap));
    expect([fee.code, fee.nodeMessage]).toEqual([-26, '66: tx unpaid action limit exceeded']);
    expect(node.rejected().at(-1)?.reason).toBe('fee 5000 zat, the ZIP-317 conventional fee is 10000 zat');

    const over = signAnyway(
      4,
      branchId,
      u,
      [
        { script: miner.script, value: ZEC / 2n },
        { script: hot.script, value: ZEC / 2n + 1n },
      ],
      tip + 40,
    );
    const unbalanced = await refusal(rpc.sendRawTransaction(over));
    expect([unbalanced.code, unbalanced.nodeMessage]).toEqual([-26, '16: bad-txns-in-belowout']);
    expect(node.rejected().at(-1)?.reason).toBe(`inputs ${ZEC} zat, outputs ${ZEC + 1n} zat`);

    // A fee over zcashd's -maxtxfee (0.1 ZEC) is a mistake unless allowhighfees is passed.
    const lavish = signAnyway(5, branchId, u, [{ script: miner.script, value: ZEC / 2n }], tip + 40);
    const high = await refusal(rpc.sendRawTransaction(lavish));
    expect([high.code, high.nodeMessage]).toEqual([-26, '256: absurdly-high-fee']);
    expect(await state()).toEqual(before);

    // The same signing path with an honest fee is accepted: the refusals above are about the amounts.
    const honest = signAnyway(
      5,
      branchId,
      u,
      [
        { script: miner.script, value: ZEC / 2n },
        { script: hot.script, value: ZEC / 2n - 10_000n },
      ],
      tip + 40,
    );
    expect((await rpc.sendRawTransaction(honest)).kind).toBe('accepted');
  });

  it('refuses bytes that do not decode and inputs that never existed', async () => {
    const { u, branchId, tip } = await funded();
    const before = await state();
    const garbage = await refusal(rpc.sendRawTransaction('0400008085202f89'));
    expect([garbage.code, garbage.nodeMessage]).toEqual([-22, 'TX decode failed']);
    const ghost = { ...u, txid: 'ab'.repeat(32) };
    const missing = await refusal(rpc.sendRawTransaction(pay(5, branchId, ghost, miner.script, ZEC / 2n, tip + 40).rawHex));
    expect([missing.code, missing.nodeMessage]).toEqual([-25, 'Missing inputs']);
    expect(await state()).toEqual(before);
    expect(await rpc.getRawTransaction('cd'.repeat(32))).toBeNull();
  });

  it('answers a resend of a known transaction as zcashd does, and the client reports it as known', async () => {
    const { u, branchId, tip } = await funded();
    const tx = pay(5, branchId, u, miner.script, ZEC / 2n, tip + 40);
    await rpc.sendRawTransaction(tx.rawHex);
    // zcashd answers a resend of a mempool transaction with its txid.
    expect(await rpc.sendRawTransaction(tx.rawHex)).toEqual({ kind: 'accepted', txid: tx.txid });
    expect(node.mempool()).toEqual([tx.txid]);
    await node.mine();
    expect(await rpc.sendRawTransaction(tx.rawHex)).toEqual({
      kind: 'already-known',
      where: 'chain',
      code: -27,
      message: 'transaction already in block chain',
    });

    // Once every output of it is spent, zcashd no longer recognizes it: a resend is refused for its
    // inputs. A payer must ask getrawtransaction, not read this as "never sent".
    const [change] = await rpc.getAddressUtxos(hot.address);
    const paidOut = node.outputsTo(miner.address)[0];
    if (!change || !paidOut) throw new Error('outputs missing');
    await rpc.sendRawTransaction(pay(5, branchId, change, other.script, 1_000_000n, tip + 41).rawHex);
    await node.mine();
    expect((await rpc.sendRawTransaction(tx.rawHex)).kind).toBe('already-known'); // the miner's output is unspent
    expect(await rpc.getRawTransaction(tx.txid)).toMatchObject({ confirmations: 2 });
  });

  it('can refuse a mempool resend as known (as some zcashd forks do), which the client also reports as known', async () => {
    const strict = await startZcashStandin({ network: 'testnet', mode: 'zcashd', mempoolResend: 'txn-already-in-mempool' });
    const client = new ZcashRpc({ url: strict.url, timeoutMs: 5_000 });
    try {
      const { txid } = await strict.fund(hot.address, ZEC);
      const u = (await client.getAddressUtxos(hot.address)).find((x) => x.txid === txid) as AddressUtxo;
      const tx = pay(4, NU6_3_BRANCH_ID, u, miner.script, ZEC / 2n, strict.height() + 40);
      expect((await client.sendRawTransaction(tx.rawHex)).kind).toBe('accepted');
      expect(await client.sendRawTransaction(tx.rawHex)).toEqual({
        kind: 'already-known',
        where: 'mempool',
        code: -26,
        message: '18: txn-already-in-mempool',
      });
      expect(strict.received()).toHaveLength(1);
    } finally {
      client.close();
      await strict.stop();
    }
  });

  it('evicts an expired mempool transaction once a block passes its expiry, and one dropped by hand', async () => {
    const { u, branchId, tip } = await funded();
    const tx = pay(5, branchId, u, miner.script, ZEC / 2n, tip + 4);
    await rpc.sendRawTransaction(tx.rawHex);
    // Blocks of funding only (the mempool is left out) up to the expiry: it stays, though stale at the last.
    for (let i = 0; i < 4; i++) await node.fund(other.address, 1_000n);
    expect(node.height()).toBe(tip + 4);
    expect(node.mempool()).toEqual([tx.txid]);
    await node.fund(other.address, 1_000n);
    expect(node.mempool()).toEqual([]);
    expect(await rpc.getRawTransaction(tx.txid)).toBeNull();
    expect(node.paidTo(miner.address)).toBe(0n);

    // Its input is free again; a payout of it that an operator drops is gone the same way.
    const next = node.height();
    const retry = pay(5, branchId, u, miner.script, ZEC / 2n, next + 40);
    await rpc.sendRawTransaction(retry.rawHex);
    expect(node.dropFromMempool(retry.txid)).toBe(true);
    expect(node.mempool()).toEqual([]);
    expect(await rpc.getRawTransaction(retry.txid)).toBeNull();
    await node.mine();
    expect(node.paidTo(miner.address)).toBe(0n);
  });

  it('evicts what was signed for the old branch when an upgrade activates', async () => {
    const { u, branchId, tip } = await funded();
    const tx = pay(4, branchId, u, miner.script, ZEC / 2n, tip + 40);
    await rpc.sendRawTransaction(tx.rawHex);
    node.setBranchId(NU6_2);
    await node.mine();
    expect(await rpc.getRawTransaction(tx.txid)).toBeNull();
    expect(node.paidTo(miner.address)).toBe(0n);
    const resigned = pay(4, NU6_2, u, miner.script, ZEC / 2n, tip + 40);
    expect((await rpc.sendRawTransaction(resigned.rawHex)).kind).toBe('accepted');
  });

  it('client: a node down, answering 503, silent, or losing the reply is ZcashRpcUnavailable', async () => {
    const { u, branchId, tip } = await funded();
    await node.setDown(true);
    const refused = await failure(rpc.getBlockCount());
    expect(refused).toBeInstanceOf(ZcashRpcUnavailable);
    expect(refused.message).toMatch(/^getblockcount at http:\/\/127\.0\.0\.1:\d+: connection refused/);
    expect((refused as ZcashRpcUnavailable).mayHaveRun).toBe(false);

    await node.setDown('503');
    const busy = await failure(rpc.getBlockchainInfo());
    expect(busy).toBeInstanceOf(ZcashRpcUnavailable);
    expect(busy.message).toMatch(/HTTP 503 without a JSON-RPC reply/);

    await node.setDown('hang');
    const quick = new ZcashRpc({ url: node.url, timeoutMs: 200 });
    const silent = await failure(quick.getConnectionCount());
    quick.close();
    expect(silent).toBeInstanceOf(ZcashRpcUnavailable);
    expect(silent.message).toMatch(/no reply within 200 ms \(the request was sent and may have run\)/);
    expect((silent as ZcashRpcUnavailable).mayHaveRun).toBe(true);

    // The reply to a broadcast is lost: the client cannot know, and indeed the node has taken it.
    await node.setDown('lose-reply');
    const tx = pay(5, branchId, u, miner.script, ZEC / 2n, tip + 40);
    const lost = await failure(rpc.sendRawTransaction(tx.rawHex));
    expect(lost).toBeInstanceOf(ZcashRpcUnavailable);
    expect((lost as ZcashRpcUnavailable).mayHaveRun).toBe(true);
    await node.setDown(false);
    expect(node.mempool()).toEqual([tx.txid]);
    expect(await rpc.getRawTransaction(tx.txid)).toMatchObject({ txid: tx.txid });

    await node.stop();
    expect(await failure(rpc.getBlockCount())).toBeInstanceOf(ZcashRpcUnavailable);
  });

  it('client: a malformed reply is ZcashRpcBadReply naming the method and the field', async () => {
    let result: unknown = null;
    let id: unknown = 'same';
    let raw: string | null = null;
    const liar: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const request = JSON.parse(body) as { id: unknown };
        res
          .writeHead(200, { 'Content-Type': 'application/json' })
          .end(raw ?? JSON.stringify({ result, error: null, id: id === 'same' ? request.id : id }));
      });
    });
    await new Promise<void>((resolve) => liar.listen(0, '127.0.0.1', resolve));
    const client = new ZcashRpc({ url: `http://127.0.0.1:${(liar.address() as AddressInfo).port}/`, timeoutMs: 2_000 });
    try {
      result = { chain: 'main', blocks: -1, bestblockhash: '00'.repeat(32), consensus: { chaintip: '37a5165b', nextblock: '37a5165b' } };
      const blocks = await failure(client.getBlockchainInfo());
      expect(blocks).toBeInstanceOf(ZcashRpcBadReply);
      expect(blocks.message).toMatch(/^getblockchaininfo at http:\/\/127\.0\.0\.1:\d+: unexpected reply: result\.blocks: /);

      result = { chain: 'main', blocks: 1, bestblockhash: '00'.repeat(32), consensus: { chaintip: '37a5165b', nextblock: 'NU6.3' } };
      expect((await failure(client.getBlockchainInfo())).message).toMatch(
        /result\.consensus\.nextblock: a branch id is 8 lowercase hex digits/,
      );

      result = [{ address: hot.address, txid: 'ab'.repeat(32), outputIndex: 0, script: toHex(hot.script), satoshis: 2 ** 60, height: 5 }];
      const rich = await failure(client.getAddressUtxos(hot.address));
      expect(rich).toBeInstanceOf(ZcashRpcBadReply);
      expect(rich.message).toMatch(/getaddressutxos .*result\[0\]\.satoshis/);

      result = [{ address: other.address, txid: 'ab'.repeat(32), outputIndex: 0, script: toHex(other.script), satoshis: 5, height: 5 }];
      expect((await failure(client.getAddressUtxos(hot.address))).message).toMatch(/a UTXO of another address/);

      result = { hex: '00', txid: 'ef'.repeat(32) };
      expect((await failure(client.getRawTransaction('ab'.repeat(32)))).message).toMatch(
        /getrawtransaction .*the reply is for another txid/,
      );

      result = 'not-a-txid';
      expect(await failure(client.sendRawTransaction('00'))).toBeInstanceOf(ZcashRpcBadReply);

      result = 3;
      id = 999;
      expect((await failure(client.getBlockCount())).message).toMatch(/reply for id 999, not \d+/);

      raw = '<html>oops</html>';
      const html = await failure(client.getBlockCount());
      expect(html).toBeInstanceOf(ZcashRpcUnavailable);
      expect(html.message).toMatch(/HTTP 200 without a JSON-RPC reply/);
    } finally {
      client.close();
      await new Promise<void>((resolve) => liar.close(() => resolve()));
    }
  });

  it('client: basic-auth credentials are used and never appear in an error', async () => {
    const password = 'pa55-w0rd-SECRET';
    const guarded = await startZcashStandin({ network: 'testnet', mode: 'zcashd', rpcUser: 'payserv', rpcPassword: password });
    const good = new ZcashRpc({ url: guarded.url, timeoutMs: 2_000 });
    const wrong = new ZcashRpc({ url: guarded.url.replace(password, 'guess'), timeoutMs: 2_000 });
    const anonymous = new ZcashRpc({ url: guarded.endpoint, timeoutMs: 2_000 });
    try {
      expect(guarded.url).toContain(password);
      expect(good.endpoint).not.toContain(password);
      expect(await good.getBlockCount()).toBe(guarded.height());
      const errors: unknown[] = [await failure(wrong.getBlockCount()), await failure(anonymous.getBlockCount())];
      expect(errors[0]).toBeInstanceOf(ZcashRpcUnavailable);
      expect((errors[0] as Error).message).toMatch(/HTTP 401: the node refused the RPC credentials/);
      expect((errors[0] as ZcashRpcUnavailable).mayHaveRun).toBe(false);

      await guarded.setDown('hang');
      const slow = new ZcashRpc({ url: guarded.url, timeoutMs: 100 });
      errors.push(await failure(slow.getBlockCount()));
      slow.close();
      await guarded.setDown(true);
      errors.push(await failure(good.getBlockCount()), await failure(good.sendRawTransaction('00')));
      errors.push(await failure(Promise.resolve().then(() => new ZcashRpc({ url: `http://payserv:${password}@[::1`, timeoutMs: 1 }))));
      for (const e of errors) {
        const shown = `${String(e)} ${inspect(e, { depth: 5 })} ${JSON.stringify(e)}`;
        expect(shown).not.toContain(password);
        expect(shown).not.toContain(Buffer.from(`payserv:${password}`).toString('base64'));
      }
    } finally {
      for (const c of [good, wrong, anonymous]) c.close();
      await guarded.stop();
    }
  });
});

describe('Zcash node stand-in: getblock and coinbase outputs, as zebrad and zcashd serve them', () => {
  const nodes: ZcashStandin[] = [];
  afterEach(async () => {
    for (const n of nodes.splice(0)) await n.stop();
  });

  async function start(mode: 'zebrad' | 'zcashd', o: { miner?: Array<{ address: string; zatoshi: bigint }> } = {}) {
    const node = await startZcashStandin({ network: 'testnet', mode, startHeight: 1_000, ...o });
    nodes.push(node);
    return node;
  }

  /** The raw reply: result, or the node's error code and message. */
  async function getblock(
    node: ZcashStandin,
    params: unknown[],
  ): Promise<{ result?: unknown; error?: { code: number; message: string } | null }> {
    const res = await fetch(node.url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '1.0', id: 1, method: 'getblock', params }),
    });
    return (await res.json()) as { result?: unknown; error?: { code: number; message: string } | null };
  }

  it('serves a block mined to an address at verbosity 0, 1 and 2, its coinbase paying the configured outputs', async () => {
    const node = await start('zebrad');
    const b = await node.mineTo([
      { address: miner.address, zatoshi: 125_000_000n },
      { address: other.address, zatoshi: 31_250_000n },
    ]);
    await node.mine(2);
    const one = (await getblock(node, [b.hash, 1])).result as Record<string, unknown>;
    expect(one).toMatchObject({ hash: b.hash, height: b.height, confirmations: 3, tx: [b.txid], trees: {} });
    expect(one.previousblockhash).toBe(node.blockHash(b.height - 1));
    expect(one.nextblockhash).toBe(node.blockHash(b.height + 1));
    // The default verbosity is 1; a height (as a string) and a negative one (from the tip) find it too.
    expect((await getblock(node, [b.hash])).result).toEqual(one);
    expect((await getblock(node, [String(b.height), 1])).result).toEqual(one);
    expect(((await getblock(node, ['-3', 1])).result as { hash: string }).hash).toBe(b.hash);
    const two = (await getblock(node, [b.hash, 2])).result as { tx: Array<Record<string, unknown>> };
    expect(two.tx).toHaveLength(1);
    expect(two.tx[0]).toMatchObject({ txid: b.txid, height: b.height, confirmations: 3, in_active_chain: true });
    expect(two.tx[0]?.vout).toEqual([
      {
        value: 1.25,
        valueZat: 125_000_000,
        n: 0,
        scriptPubKey: { asm: '', hex: toHex(miner.script), reqSigs: 1, type: 'pubkeyhash', addresses: [miner.address] },
      },
      {
        value: 0.3125,
        valueZat: 31_250_000,
        n: 1,
        scriptPubKey: { asm: '', hex: toHex(other.script), reqSigs: 1, type: 'pubkeyhash', addresses: [other.address] },
      },
    ]);
    const rawHex = (await getblock(node, [b.hash, 0])).result as string;
    const rawTx = ((await new ZcashRpc({ url: node.url, timeoutMs: 5_000 }).getRawTransaction(b.txid)) as { hex: string }).hex;
    expect(rawHex.endsWith(`01${rawTx}`)).toBe(true);
    expect(rawHex.length / 2).toBe((one as { size: number }).size);
  });

  it('puts the miner coinbase in every block mined, and none when no miner is set', async () => {
    const node = await start('zebrad', { miner: [{ address: miner.address, zatoshi: 156_250_000n }] });
    await node.mine(2);
    expect(node.paidTo(miner.address)).toBe(312_500_000n);
    const { txid } = await node.fund(hot.address, ZEC);
    const funded = (await getblock(node, [node.blockHash(node.height()), 1])).result as { tx: string[] };
    expect(funded.tx).toHaveLength(2);
    expect(funded.tx[1]).toBe(txid);
    node.setMiner([]);
    await node.mine(1);
    expect((await getblock(node, [node.blockHash(node.height()), 1])).result).toMatchObject({ tx: [] });
    expect(node.paidTo(miner.address)).toBe(468_750_000n);
  });

  it('zebrad: an unknown or orphaned hash, a height above the tip, bad input, each with its code and text', async () => {
    const node = await start('zebrad');
    const b = await node.mineTo([{ address: miner.address, zatoshi: ZEC }]);
    await node.reorg(1);
    const rpc = new ZcashRpc({ url: node.url, timeoutMs: 5_000 });
    for (const hash of [b.hash, 'cd'.repeat(32)]) {
      expect((await getblock(node, [hash, 1])).error).toEqual({ code: -5, message: 'block height not in best chain' });
      expect((await getblock(node, [hash, 2])).error).toEqual({ code: -5, message: 'block height not in best chain' });
      expect((await getblock(node, [hash, 0])).error).toEqual({ code: -8, message: 'Block not found' });
      expect(await rpc.getBlock(hash)).toBeNull();
    }
    expect((await getblock(node, [String(node.height() + 1), 1])).error).toEqual({ code: -8, message: 'block height not in best chain' });
    // Blocks below the stand-in's start are made up, empty, and on the best chain.
    expect((await getblock(node, ['0', 1])).result).toMatchObject({
      hash: node.genesisHash(),
      height: 0,
      confirmations: node.height() + 1,
      tx: [],
    });
    expect((await getblock(node, [node.genesisHash(), 1])).result).toMatchObject({ height: 0, tx: [] });
    expect((await getblock(node, ['500', 1])).result).toMatchObject({ hash: node.blockHash(500), height: 500 });
    expect((await getblock(node, ['xyz', 1])).error).toEqual({
      code: -8,
      message: 'parse error: could not convert the input string to a hash or height',
    });
    expect((await getblock(node, [node.blockHash(node.height()), 3])).error).toEqual({ code: -8, message: 'invalid verbosity value' });
    expect((await getblock(node, [node.height(), 1])).error).toEqual({ code: -1, message: 'Invalid params' });
    expect((await getblock(node, [node.blockHash(node.height()), true])).error).toEqual({ code: -1, message: 'Invalid params' });
    rpc.close();
  });

  it('zcashd: an orphaned block with confirmations -1 and no next block; an unknown hash and bad input with its code and text', async () => {
    const node = await start('zcashd');
    const b = await node.mineTo([{ address: miner.address, zatoshi: ZEC }]);
    await node.reorg(1);
    const rpc = new ZcashRpc({ url: node.url, timeoutMs: 5_000 });
    const orphan = await rpc.getBlock(b.hash);
    expect(orphan).toMatchObject({ hash: b.hash, height: b.height, confirmations: -1, tx: [b.txid] });
    expect((await getblock(node, [b.hash, 1])).result).not.toHaveProperty('nextblockhash');
    expect(node.blockHash(b.height)).not.toBe(b.hash);
    expect((await getblock(node, ['cd'.repeat(32), 1])).error).toEqual({ code: -5, message: 'Block not found' });
    expect(await rpc.getBlock('cd'.repeat(32))).toBeNull();
    expect((await getblock(node, [String(node.height() + 1)])).error).toEqual({ code: -8, message: 'Block height out of range' });
    expect((await getblock(node, ['-1'])).error).toEqual({ code: -8, message: 'Invalid block height parameter' });
    expect((await getblock(node, [b.hash, 3])).error).toEqual({ code: -8, message: 'Verbosity must be in range from 0 to 2' });
    // zcashd takes a bool for the verbosity (true is 1).
    expect((await getblock(node, [node.blockHash(node.height()), true])).result).toMatchObject({ confirmations: 1 });
    rpc.close();
  });

  it('client: a getblock reply listing no coinbase is ZcashRpcBadReply; a malformed hash is never sent', async () => {
    const node = await start('zebrad');
    const rpc = new ZcashRpc({ url: node.url, timeoutMs: 5_000 });
    await node.mine(1);
    // A block without a coinbase cannot be on a real chain: the stand-in mines them when no miner is set.
    expect(await failure(rpc.getBlock(node.blockHash(node.height()) as string))).toBeInstanceOf(ZcashRpcBadReply);
    await expect(rpc.getBlock('XYZ')).rejects.toThrow(RangeError);
    rpc.close();
  });
});

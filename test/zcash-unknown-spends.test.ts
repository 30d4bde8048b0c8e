// Unknown spends from the Zcash hot wallet, on the node stand-in (zebrad's getaddresstxids): payserv's own
// payments and a rotation's sweep are known; a transaction spending a hot-wallet output that payserv did not
// make (the key used elsewhere, or an older backup restored after more payments) stops a driver's start
// and fail-stops the next payout, nothing signed; its bytes copied into payserv_chain_txs do not make it payserv's
// (only a stored attempt the signed ledger names does: AttemptStorage.ownAttempt).
import { afterEach, expect, it } from 'vitest';
import { zcashAddressScript } from '../src/chains/address.js';
import { buildTransparentTx } from '../src/chains/zcash/build.js';
import { fromHex } from '../src/chains/zcash/bytes.js';
import { ZcashDriver } from '../src/chains/zcash/driver.js';
import { ZcashRpc } from '../src/chains/zcash/rpc.js';
import { signTransparentTx } from '../src/chains/zcash/sign.js';
import { UnknownSpendsError } from '../src/chains/unknown-spends.js';
import { NU6_3_BRANCH_ID, type ZcashStandin } from '../src/devnet/zcash-standin.js';
import { loadHotKey } from '../src/keys/hot-wallet.js';
import { approveWithdrawal, checkWithdrawal } from '../src/payserv/payouts.js';
import { storedAttemptRow } from './support/attacker.js';
import { describePerDataPath } from './support/backend.js';
import { driverDeps } from './support/chain-settings.js';
import { ZEC_SETTINGS, zcashAddress, zcashDriver, zcashStandinForFile } from './support/chains.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';
import { processedTo, utxoRotationSeed } from './support/rotation.js';

const standin = zcashStandinForFile();
const CONFIRMATIONS = 10;
let node: ZcashStandin;
let rpc: ZcashRpc;
let t: TestPayserv;
let driver: ZcashDriver;
let deps: Parameters<typeof driverDeps>[0];

afterEach(async () => {
  rpc?.close();
  await t.ledger.db.close();
});

/** A driver on the same key, state and database: what a restarted payserv (or one on a restored backup) starts. */
const restarted = async () => new ZcashDriver(ZEC_SETTINGS(node.url), await loadHotKey(deps.stateDir, 'ZEC'), driverDeps(deps));

/** A transaction signed with the hot key outside payserv, spending one free output of the hot wallet, mined. */
async function spendOutside(): Promise<string> {
  const key = await loadHotKey(deps.stateDir, 'ZEC');
  const spent = new Set(node.received().flatMap((x) => x.tx.inputs.map((i) => Buffer.from(i.prevout.txid).reverse().toString('hex'))));
  const u = (await rpc.getAddressUtxos(driver.address)).find((x) => !spent.has(x.txid));
  if (!u) throw new Error('no free output');
  const unsigned = buildTransparentTx({
    version: 5,
    branchId: NU6_3_BRANCH_ID,
    expiryHeight: node.height() + 40,
    inputs: [{ txid: u.txid, vout: u.outputIndex, value: u.satoshis, scriptPubKey: fromHex(u.script) }],
    outputs: [{ scriptPubKey: zcashAddressScript('mainnet', zcashAddress()), value: u.satoshis - 10_000n }],
  });
  const { rawHex } = signTransparentTx(unsigned, unsigned.prevouts, [key]);
  const r = await rpc.sendRawTransaction(rawHex);
  if (r.kind !== 'accepted') throw new Error('not accepted');
  await node.mine(1);
  return r.txid;
}

describePerDataPath('Zcash: unknown spends from the hot wallet (getaddresstxids)', () => {
  it("payserv's payments are its own; a spend made elsewhere refuses the start and fail-stops the next payout", async () => {
    node = await standin();
    rpc = new ZcashRpc({ url: node.url, timeoutMs: 5_000 });
    t = await testPayserv({
      seed: utxoRotationSeed('ZEC', 31),
      drivers: async (d) => {
        deps = d;
        driver = await zcashDriver(node, d, { fund: [2_000_000_000n, 1_000_000_000n, 1_000_000_000n] });
        return new Map([['ZEC', driver]]);
      },
    });
    const first = await processedTo(t, 'ZEC', zcashAddress());
    expect((await approveWithdrawal(t.ps, first.id, 'test')).reply).toBe('SENDING');
    await node.mine(CONFIRMATIONS);
    expect((await checkWithdrawal(t.ps, first.id, 'test')).reply).toBe('SENT');
    // A restart knows the payment (journal and stored attempt): it starts.
    await (await restarted()).start();

    const stranger = await spendOutside();
    const again = await restarted();
    const refused = await again.start().then(
      () => null,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(UnknownSpendsError);
    expect((refused as Error).message).toContain(stranger);
    expect((refused as Error).message).toMatch(/do not account for; payouts of ZEC refused/);

    // A database attacker copies the stranger's bytes (public: any node serves them) into payserv's stored payments,
    // naming the withdrawal paid first: no signed entry of it names them, so they are not payserv's; still refused.
    const copied = (await rpc.getRawTransaction(stranger))?.hex as string;
    await t.ledger.db.query(...storedAttemptRow('ZEC', stranger, first.id, copied));
    const still = await (await restarted()).start().then(
      () => null,
      (e: unknown) => e,
    );
    expect(still).toBeInstanceOf(UnknownSpendsError);
    expect((still as Error).message).toContain(stranger);

    // The running payserv: the next payout fail-stops, nothing signed.
    const before = node.received().length;
    const second = await processedTo(t, 'ZEC', zcashAddress());
    const r = await approveWithdrawal(t.ps, second.id, 'test');
    expect(r.reply).not.toBe('SENDING');
    expect(t.ps.state.failStopped).toBe(true);
    expect(t.ps.state.status().reason).toContain(stranger);
    expect(node.received()).toHaveLength(before);
  });
});

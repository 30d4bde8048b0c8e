// payserv's monitor on a real node (anvil) and the real Ethereum driver: payments stuck in flight, a
// node failing its health check, a node on another chain, each alerted once per episode; and the
// finality watch row written in the transaction that records a payment sent.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { mine, setAutomine } from '../src/devnet/anvil.js';
import { ChainIdentityError, type ChainDriver } from '../src/chains/driver.js';
import type { EvmDriver } from '../src/chains/eth/driver.js';
import { ALERT } from '../src/payserv/chain-alerts.js';
import { Monitor } from '../src/payserv/monitor.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal, resendWithdrawal } from '../src/payserv/payouts.js';
import { describePerDataPath } from './support/backend.js';
import { anvilForFile, driverWith, ethClient, ethDriver } from './support/chains.js';
import { newMiner, request } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';
import { startRpcProxy, type RpcProxy } from './support/rpc-proxy.js';
import type { Hex } from 'viem';

const anvil = anvilForFile();
/** Another chain (its own chain id and history), for a node switched to the wrong chain. */
const foreign = anvilForFile({ chainId: 4_242 });
let t: TestPayserv;
let driver: EvmDriver;
let proxy: RpcProxy;
let url: string;
let monitor: Monitor;

const SEED = { users: 3, blocks: 1, withdrawals: 0, coins: ['ETH'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 14 };
const caller = 'test';
const confirmations = 12;
const STUCK_AFTER_MS = 60_000;
const UNHEALTHY_AFTER_MS = 120_000;

beforeEach(async () => {
  url = (await anvil()).url;
  await setAutomine(url, true);
  proxy = await startRpcProxy(url);
  t = await testPayserv({
    seed: SEED,
    drivers: async (deps) => {
      driver = await ethDriver(proxy.url, deps);
      return new Map([['ETH', driver]]);
    },
  });
  monitor = new Monitor(t.ps, {
    intervalMs: 1_000,
    stuckAfterMs: STUCK_AFTER_MS,
    nodeUnhealthyAfterMs: UNHEALTHY_AFTER_MS,
    finality: new Map([['ETH', 100]]),
  });
});

afterEach(async () => {
  await monitor.stop();
  await proxy.stop();
  await t.ledger.db.close();
});

/** payserv's clock `ms` from now (the database's rows keep the times they were written at). */
function clockAt(ms: number): void {
  const at = new Date(Date.now() + ms);
  t.ps.now = () => at;
}

const raised = (kind: string) => t.alerts.filter((a) => a.kind === kind);

async function pending(userId: number, amount = '1'): Promise<number> {
  const m = await newMiner(t, userId, '20');
  const id = await request(t, m, { amount });
  expect((await processWithdrawal(t.ps, id, caller)).reply).toBe('PENDING');
  return id;
}

async function statusOf(id: number): Promise<string> {
  const [r] = await t.ledger.db.query<{ status: string }>('SELECT status FROM finances_withdrawal_transaction WHERE id = $1', [id]);
  return r?.status ?? 'none';
}

async function watchRows(): Promise<
  Array<{ hash: string; withdrawal_ids: string[]; block_number: string; block_hash: string; final_at: Date | null }>
> {
  return t.ledger.db.query(
    'SELECT hash, withdrawal_ids::text[] AS withdrawal_ids, block_number::text AS block_number, block_hash, final_at FROM payserv_sent_watch ORDER BY hash',
  );
}

/** The real driver, but its node answers every verdict, health check and watch as another chain would (the rewritten driver's ChainIdentityError). */
function onAnotherChain(d: ChainDriver): ChainDriver {
  const fail = async (): Promise<never> => {
    throw new ChainIdentityError(
      d.tag,
      `coin ${d.tag}: the node is on chain 4242, payserv pays on 31337: nothing it says is taken as evidence`,
    );
  };
  return driverWith(d, { verdict: fail, health: fail, watch: fail });
}

describePerDataPath('payserv monitor on anvil', () => {
  it('a withdrawal stuck in sending past stuck_after_s is alerted once, not on the next tick, and not again once it is sent', async () => {
    const id = await pending(3001);
    await setAutomine(url, false);
    const sent = await approveWithdrawal(t.ps, id, caller);
    expect(sent.reply).toBe('SENDING');
    expect((await monitor.tick()).stuck).toEqual([]);
    expect(raised(ALERT.stuck)).toEqual([]);

    clockAt(STUCK_AFTER_MS + 5_000);
    expect((await monitor.tick()).stuck).toEqual([id]);
    expect(raised(ALERT.stuck)).toHaveLength(1);
    const [a] = raised(ALERT.stuck);
    expect(a?.details).toMatchObject({ withdrawal: id, status: 'sending', tx: sent.txHash });
    expect(a?.details.age_s).toBeGreaterThanOrEqual(60);
    expect(a?.reason).toMatch(new RegExp(`withdrawal ${id} has been sending for \\d+ s`));
    await monitor.tick();
    expect(raised(ALERT.stuck)).toHaveLength(1);

    await mine(url, confirmations);
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENT');
    expect((await monitor.tick()).stuck).toEqual([]);
    expect(raised(ALERT.stuck)).toHaveLength(1);
    expect(t.logs.some((l) => l.includes('withdrawal no longer stuck') && l.includes(`"withdrawal":${id}`))).toBe(true);
  });

  it('a withdrawal waiting in send_retry past the bound is alerted once; resent and sent, never again', async () => {
    const id = await pending(3101);
    proxy.down(true);
    expect((await approveWithdrawal(t.ps, id, caller)).reply).toBe('SEND_RETRY');
    clockAt(STUCK_AFTER_MS + 5_000);
    await monitor.tick();
    await monitor.tick();
    expect(raised(ALERT.stuck)).toHaveLength(1);
    expect(raised(ALERT.stuck)[0]?.details).toMatchObject({ withdrawal: id, status: 'send_retry', tx: null });

    proxy.down(false);
    expect((await resendWithdrawal(t.ps, id, caller)).reply).toBe('SENDING');
    // Sending since the moved clock: younger than the bound.
    expect((await monitor.tick()).stuck).toEqual([]);
    await mine(url, confirmations);
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENT');
    await monitor.tick();
    expect(raised(ALERT.stuck)).toHaveLength(1);
  });

  it('a node failing its health check is alerted after node_unhealthy_after_s and not before, once; its recovery is logged', async () => {
    proxy.down(true);
    expect((await monitor.tick()).unhealthy).toEqual({ ETH: expect.stringMatching(/unreachable/) as unknown });
    clockAt(UNHEALTHY_AFTER_MS / 2);
    await monitor.tick();
    expect(raised(ALERT.unhealthy)).toEqual([]);
    clockAt(UNHEALTHY_AFTER_MS + 5_000);
    await monitor.tick();
    clockAt(UNHEALTHY_AFTER_MS + 65_000);
    await monitor.tick();
    expect(raised(ALERT.unhealthy)).toHaveLength(1);
    expect(raised(ALERT.unhealthy)[0]?.details).toMatchObject({ coin: 'ETH', reason: expect.stringMatching(/unreachable/) as unknown });

    proxy.down(false);
    expect((await monitor.tick()).unhealthy).toEqual({});
    expect(t.logs.some((l) => l.includes('node healthy again') && l.includes('"coin":"ETH"'))).toBe(true);
    // A new episode counts from its own start.
    proxy.down(true);
    await monitor.tick();
    expect(raised(ALERT.unhealthy)).toHaveLength(1);
    // Payouts were never touched: this is observation.
    expect(t.ps.state.enabled).toBe(true);
  });

  it('the watch row is written with the sent status: the transaction, its withdrawal and the block the verdict found it in', async () => {
    const id = await pending(3201);
    const r = await approveWithdrawal(t.ps, id, caller);
    expect(await watchRows()).toEqual([]);
    await mine(url, confirmations);
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENT');
    const receipt = await ethClient(url).getTransactionReceipt({ hash: r.txHash as Hex });
    expect(await watchRows()).toEqual([
      {
        hash: r.txHash,
        withdrawal_ids: [String(id)],
        block_number: String(receipt.blockNumber),
        block_hash: receipt.blockHash,
        final_at: null,
      },
    ]);
  });

  it('the watch row and the sent status commit together: a refused watch row leaves the withdrawal sending, and Check later records both', async () => {
    const id = await pending(3301);
    const r = await approveWithdrawal(t.ps, id, caller);
    await mine(url, confirmations);
    // The database refuses the watch row (an attacker's trigger, a full disk): the status change goes with it.
    await t.ledger.db
      .exec(`CREATE FUNCTION refuse_watch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'watch row refused'; END $$;
      CREATE TRIGGER refuse_watch BEFORE INSERT ON payserv_sent_watch FOR EACH ROW EXECUTE FUNCTION refuse_watch()`);
    await expect(checkWithdrawal(t.ps, id, caller)).rejects.toThrow(/watch row refused/);
    expect(await statusOf(id)).toBe('sending');
    expect(await watchRows()).toEqual([]);
    await t.ledger.db.exec('DROP TRIGGER refuse_watch ON payserv_sent_watch');
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENT');
    expect(await statusOf(id)).toBe('sent');
    expect((await watchRows()).map((w) => [w.hash, w.withdrawal_ids])).toEqual([[r.txHash, [String(id)]]]);
  });

  it('Check against a node switched to another chain (a second anvil behind the proxy) changes nothing and alerts node_identity once; back on ours, SENT', async () => {
    const other = await foreign();
    const id = await pending(3401);
    await setAutomine(url, false);
    const r = await approveWithdrawal(t.ps, id, caller);
    expect(r.reply).toBe('SENDING');
    await mine(url, confirmations);
    proxy.retarget(other.url);
    for (let i = 0; i < 2; i++) {
      const c = await checkWithdrawal(t.ps, id, caller);
      expect(c.reply).toBe('SENDING');
      expect(c.message).toMatch(/nothing changed/);
    }
    const tick = await monitor.tick();
    expect(tick.unhealthy.ETH).toMatch(/chain 4242/);
    expect(raised(ALERT.identity)).toHaveLength(1);
    expect(raised(ALERT.identity)[0]?.details).toMatchObject({ coin: 'ETH', withdrawal: id });
    expect(await statusOf(id)).toBe('sending');
    expect(await watchRows()).toEqual([]);
    expect(t.ps.state.enabled).toBe(true);
    proxy.retarget(url);
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENT');
    expect((await watchRows()).map((w) => w.hash)).toEqual([r.txHash]);
  });

  it('a ChainIdentityError from Check, the health check or the watch: node_identity at once, once per episode; nothing changes; a healthy node ends the episode', async () => {
    const id = await pending(3501);
    await setAutomine(url, false);
    expect((await approveWithdrawal(t.ps, id, caller)).reply).toBe('SENDING');
    (t.ps.drivers as Map<string, ChainDriver>).set('ETH', onAnotherChain(driver));
    const c = await checkWithdrawal(t.ps, id, caller);
    expect(c.reply).toBe('SENDING');
    expect(c.message).toMatch(/nothing changed/);
    expect(raised(ALERT.identity)).toHaveLength(1);
    expect(raised(ALERT.identity)[0]?.reason).toMatch(/chain 4242.*Check of withdrawal/);
    await checkWithdrawal(t.ps, id, caller);
    expect((await monitor.tick()).unhealthy.ETH).toMatch(/chain 4242/);
    expect(raised(ALERT.identity)).toHaveLength(1);
    expect(await statusOf(id)).toBe('sending');

    (t.ps.drivers as Map<string, ChainDriver>).set('ETH', driver);
    await monitor.tick();
    expect(t.logs.some((l) => l.includes('node healthy again'))).toBe(true);
    (t.ps.drivers as Map<string, ChainDriver>).set('ETH', onAnotherChain(driver));
    await checkWithdrawal(t.ps, id, caller);
    expect(raised(ALERT.identity)).toHaveLength(2);
    expect(t.ps.state.enabled).toBe(true);
  });

  it('runs while payouts are disabled, and a tick never overlaps another', async () => {
    t.ps.state.disable('test', 'off');
    proxy.down(true);
    const [a, b] = [monitor.tick(), monitor.tick()];
    expect(a).toBe(b);
    expect((await a).unhealthy.ETH).toBeDefined();
    expect((await a).failed).toEqual([]);
  });
});

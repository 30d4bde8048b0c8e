// Attack (issue 14, chain identity in every verdict): the node behind the URL switches to another chain
// (same chain id, another genesis: a back end restarted fresh, a balancer pointed elsewhere) in the middle
// of Check, right after the identity was read. A `failed` verdict reads the identity again after its proof;
// a `confirmed` one does not. The other chain holds our signed bytes (anyone can replay them there, where
// the hot wallet's address is funded), mined: Check records the withdrawal SENT from the other chain's
// receipt, while on ours the transaction is not mined.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { anvilRpc, mine, setAutomine, setBalance, setNextBlockBaseFee, startAnvil, type Anvil } from '../src/devnet/anvil.js';
import { anvilForFile, ethClient, ethDriver } from './support/chains.js';
import { testPayserv } from './support/payserv.js';
import { newMiner, request } from './support/miners.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal } from '../src/payserv/payouts.js';
import { Monitor } from '../src/payserv/monitor.js';
import { startMitm, type Mitm } from './attack14-helpers.js';
import type { Hex } from 'viem';

const anvil = anvilForFile();
let other: Anvil | null = null;
let mitm: Mitm | null = null;
afterEach(async () => {
  await mitm?.stop();
  mitm = null;
});
afterAll(async () => {
  await other?.stop();
});

describe('attack14: a node switched to another chain between the identity and the receipt', () => {
  it('Check does not record sent a payment that is not on our chain', async () => {
    const a = await anvil();
    other = await startAnvil({ genesisTimestamp: 1_600_000_000 });
    const b = other;
    await mine(a.url, 60);
    mitm = await startMitm(a.url);
    const m = mitm;
    let hot = '';
    const tp = await testPayserv({
      drivers: async (deps) => {
        const d = await ethDriver(m.url, deps);
        hot = d.address;
        return new Map([['ETH', d]]);
      },
    });
    const miner = await newMiner(tp, 1101, '20');
    const id = await request(tp, miner, { amount: '1' });
    expect((await processWithdrawal(tp.ps, id, 'admin')).reply).toBe('PENDING');
    await setAutomine(a.url, false);
    const r = await approveWithdrawal(tp.ps, id, 'admin');
    expect(r.reply).toBe('SENDING');
    const hash = r.txHash as Hex;
    const [{ raw }] = (await tp.ledger.db.query('SELECT raw FROM payserv_chain_txs WHERE hash = $1', [hash])) as [{ raw: string }];
    // The other chain: our bytes replayed and mined there.
    await mine(b.url, 3);
    await setNextBlockBaseFee(b.url, 1n);
    await setBalance(b.url, hot, 10n ** 21n);
    await anvilRpc(b.url, 'eth_sendRawTransaction', [raw]);
    await mine(b.url, 1);

    // The switch happens right after the identity was read, before the receipt.
    m.rule((method) => {
      if (method === 'eth_getTransactionReceipt') m.target(b.url);
      return null;
    });
    const c = await checkWithdrawal(tp.ps, id, 'admin');
    m.rule(null);
    m.target(a.url);
    // Not mined on our chain: nothing may have recorded it sent.
    expect(
      await ethClient(a.url)
        .getTransactionReceipt({ hash })
        .then(
          (x) => x.blockNumber,
          () => null,
        ),
    ).toBeNull();
    const mon = new Monitor(tp.ps, {
      intervalMs: 60_000,
      stuckAfterMs: 3_600_000,
      nodeUnhealthyAfterMs: 600_000,
      finality: new Map([['ETH', 64]]),
    });
    await mon.tick();
    await setAutomine(a.url, true);

    expect(c.reply).not.toBe('SENT');
  });
});

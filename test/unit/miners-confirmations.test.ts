// A payment's confirmations as the miners' API asks a Zcash node (the stand-in, in zebrad's and zcashd's
// dialects): counted from the node's tip, null for a transaction it does not know or while it is down.
// The Ethereum side is proved on anvil in test/miners-api.test.ts.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { zcashP2pkhAddress } from '../../src/chains/address.js';
import { startZcashStandin, type ZcashStandin } from '../../src/devnet/zcash-standin.js';
import { confirmationsByCoin } from '../../src/miners/confirmations.js';

let node: ZcashStandin | null = null;
afterEach(async () => {
  await node?.stop();
  node = null;
});

describe.each(['zebrad', 'zcashd'] as const)("the miners' API's confirmations from a Zcash node (%s)", (mode) => {
  it('counts from the tip, and says null for an unknown transaction or a node that is down', async () => {
    node = await startZcashStandin({ network: 'mainnet', mode });
    const coins = {
      ZEC: {
        chain: 'zcash' as const,
        first_height: 0,
        node_url: node.url,
        network: 'mainnet' as const,
        pool_address: 't1x',
        timeout_ms: 2000,
      },
    };
    const of = confirmationsByCoin(coins, new Map()).get('ZEC')!;
    const { txid } = await node.fund(zcashP2pkhAddress('mainnet', randomBytes(20)), 100_000n);
    expect(await of(txid)).toBe(1);
    await node.mine(3);
    expect(await of(txid)).toBe(4);
    expect(await of(`0x${txid}`)).toBe(4);
    expect(await of('ab'.repeat(32))).toBeNull();
    await node.setDown(true);
    expect(await of(txid)).toBeNull();
  });
});

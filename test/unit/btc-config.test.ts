// [coins.TAG] chain = "btc" in payserv.toml: a preset with overrides, and the combinations refused at start.
import { describe, expect, it } from 'vitest';
import { defaultFeeEstimate } from '../../src/chains/btc/driver.js';
import { preset } from '../../src/chains/btc/network.js';
import { fileSchema } from '../../src/config/schema.js';

const payserv = fileSchema('payserv');

function coin(extra: Record<string, unknown>, network: Record<string, unknown> = { preset: 'LTC-regtest' }) {
  return payserv.safeParse({ coins: { LTC: { chain: 'btc', node_url: 'http://127.0.0.1:19443', network, ...extra } } });
}

const messages = (r: ReturnType<typeof coin>) => (r.error?.issues ?? []).map((i) => `${i.path.join('.')}: ${i.message}`).join('\n');

describe('Bitcoin-family coin configuration', () => {
  it('a preset alone takes the defaults: P2WPKH hot wallet, fee floor 1, ceiling 100 per vbyte, 500 outputs', () => {
    const r = coin({});
    expect(r.error).toBeUndefined();
    expect(r.data?.coins.LTC).toMatchObject({
      chain: 'btc',
      wallet_type: 'p2wpkh',
      fee_rate_min: '1',
      fee_rate_max: '100',
      batch_max: 500,
      fee_target_blocks: 6,
      network: { preset: 'LTC-regtest' },
    });
  });

  it('refuses an unknown preset, a misspelt override, both dust rules, and a P2WPKH wallet without segwit', () => {
    expect(messages(coin({}, { preset: 'LTC-signet' }))).toMatch(/network\.preset: expected one of BTC-mainnet/);
    expect(messages(coin({}, { preset: 'LTC-regtest', bech32_prefix: 'x' }))).toMatch(/network/);
    expect(messages(coin({}, { preset: 'LTC-regtest', dust_min: '1', dust_relay_fee_per_kvb: '1000' }))).toMatch(/not both/);
    expect(messages(coin({}, { preset: 'DOGE-regtest' }))).toMatch(/wallet_type: DOGE-regtest has no segwit/);
    expect(coin({ wallet_type: 'p2pkh', fee_rate_max: '100000' }, { preset: 'DOGE-regtest' }).error).toBeUndefined();
    // Dogecoin's floor (1,000 per vbyte) above the default ceiling: refused, never paid above the ceiling (outsider round 1 of 18).
    expect(messages(coin({ wallet_type: 'p2pkh' }, { preset: 'DOGE-regtest' }))).toMatch(
      /fee_rate_max: the network's min_fee_rate 1000 is above fee_rate_max 100/,
    );
    expect(messages(coin({}, { preset: 'LTC-regtest', min_fee_rate: '500' }))).toMatch(/min_fee_rate 500 is above fee_rate_max 100/);
    expect(messages(coin({}, { preset: 'LTC-regtest', segwit: false }))).toMatch(/wallet_type: LTC-regtest has no segwit/);
  });

  it("fee_estimate: unset by default (the preset's: Bitcoin Cash Node's estimatefee on BCH, estimatesmartfee elsewhere), three sources, a misspelt one refused", () => {
    expect(coin({}).data?.coins.LTC).not.toHaveProperty('fee_estimate');
    for (const f of ['estimatesmartfee', 'estimatefee', 'floor'])
      expect(coin({ fee_estimate: f }).data?.coins.LTC).toMatchObject({ fee_estimate: f });
    expect(messages(coin({ fee_estimate: 'estimatesmartfees' }))).toMatch(
      /fee_estimate: expected "estimatesmartfee", "estimatefee" or "floor"/,
    );
    for (const chain of ['mainnet', 'testnet', 'regtest'] as const) {
      expect(defaultFeeEstimate(preset(`BCH-${chain}`))).toBe('estimatefee');
      for (const c of ['BTC', 'LTC', 'DOGE'] as const) expect(defaultFeeEstimate(preset(`${c}-${chain}`))).toBe('estimatesmartfee');
    }
  });

  it('refuses a fee floor above the ceiling and fee rates that are not whole positive numbers', () => {
    expect(messages(coin({ fee_rate_min: '50', fee_rate_max: '10' }))).toMatch(/fee_rate_min 50 is above fee_rate_max 10/);
    expect(messages(coin({ fee_rate_max: '1.5' }))).toMatch(/fee_rate_max: expected a fee rate/);
    expect(messages(coin({ fee_rate_min: '0' }))).toMatch(/fee_rate_min: expected a fee rate/);
    expect(messages(coin({ fee_rate_min: 5 }))).toMatch(/fee_rate_min: expected a fee rate/);
  });

  it("input_confirmations: unset by default (the coin's confirmations), refused below 1 or above spender_scan_blocks", () => {
    expect(coin({}).data?.coins.LTC).not.toHaveProperty('input_confirmations');
    expect(coin({ input_confirmations: 6 }).data?.coins.LTC).toMatchObject({ input_confirmations: 6 });
    expect(coin({ input_confirmations: 2016 }).error).toBeUndefined();
    expect(messages(coin({ input_confirmations: 0 }))).toMatch(/input_confirmations: expected a positive integer/);
    expect(messages(coin({ input_confirmations: 1.5 }))).toMatch(/input_confirmations/);
    expect(messages(coin({ input_confirmations: 2017 }))).toMatch(
      /input_confirmations: input_confirmations 2017 is above spender_scan_blocks 2016/,
    );
    expect(messages(coin({ input_confirmations: 20, spender_scan_blocks: 10 }))).toMatch(
      /input_confirmations 20 is above spender_scan_blocks 10/,
    );
    expect(coin({ input_confirmations: 10, spender_scan_blocks: 10 }).error).toBeUndefined();
  });

  it('a coin without its network table is refused by name, not by a crash', () => {
    const r = payserv.safeParse({ coins: { LTC: { chain: 'btc', node_url: 'http://127.0.0.1:19443', wallet_type: 'p2pkh' } } });
    expect(messages(r)).toMatch(/coins\.LTC\.network/);
    expect(messages(coin({}, { preset: 'LTC-nowhere', dust_min: 'x' }))).toMatch(/network\.preset/);
  });
});

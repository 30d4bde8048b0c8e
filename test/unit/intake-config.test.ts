// The ledger intake's configuration and contract, without a database: its [coins.*] (Ethereum, Zcash, a Bitcoin-family network)
// refused naming the key when they cannot work, its bound on credits tied to the writer's, only the pool's back end admitted.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { INTAKE_ACL, INTAKE_CODES, INTAKE_METHODS } from '../../src/api/intake.js';
import { zcashP2pkhAddress } from '../../src/chains/address.js';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import { checkExportable } from '../../src/esman/items.js';
import { WRITER_CREDITS_PER_BLOCK_MAX } from '../../src/config/schema.js';
import { addressChains, rewardCheckers } from '../../src/intake/checkers.js';
import { TLS_IDENTITIES } from '../../src/pki/roles.js';
import { CREDITS_PER_BLOCK_MAX } from '../../src/writer/credits.js';
import { tmpStateDir } from '../support/tmp.js';

async function load(text: string) {
  const dir = await tmpStateDir();
  const file = join(dir, 'intake.toml');
  await writeFile(file, text);
  return loadConfig('intake', file, { env: { PAYSERV_STATE_DIR: dir } });
}

async function refusal(text: string): Promise<string> {
  const e = await load(text).then(
    () => expect.fail('expected a ConfigError'),
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ConfigError);
  return (e as Error).message;
}

const ETH = `[coins.ETH]
chain = "eth"
first_height = 0
node_url = "http://127.0.0.1:8545"
chain_id = 1
pool_address = "0x0000000000000000000000000000000000000001"
issuance = "2"
`;

const LTC = '[coins.LTC]\nchain = "btc"\n[coins.LTC.network]\npreset = "LTC-mainnet"\n';

describe('the intake configuration', () => {
  it('has defaults: loopback port 7446, manual review, 10000 credits per block', async () => {
    const c = await load('');
    expect(c.rpc).toMatchObject({ host: '127.0.0.1', port: 7446 });
    expect(c.wallets.review).toBe('manual');
    expect(c.intake.credits_per_block_max).toBe(10_000);
    expect((await load(ETH)).coins.ETH).toMatchObject({ chain: 'eth', issuance: '2', timeout_ms: 10_000 });
  });

  it('keeps credits_per_block_max within the writer bound it names', async () => {
    expect(WRITER_CREDITS_PER_BLOCK_MAX).toBe(CREDITS_PER_BLOCK_MAX);
    expect(await refusal('[intake]\ncredits_per_block_max = 20001\n')).toMatch(/intake\.credits_per_block_max: at most 20000/);
  });

  it('takes a zcash coin: its pool address checked for its network, its blocks in zatoshi', async () => {
    const zec = (address: string) =>
      `[coins.ZEC]\nchain = "zcash"\nfirst_height = 0\nnode_url = "http://127.0.0.1:8232"\nnetwork = "testnet"\npool_address = "${address}"\n`;
    const ok = await load(zec(zcashP2pkhAddress('testnet', randomBytes(20))));
    expect(rewardCheckers(ok).get('ZEC')?.decimals).toBe(8);
    expect(rewardCheckers(await load(ETH)).get('ETH')?.decimals).toBe(18);
    const mainnet = await load(zec(zcashP2pkhAddress('mainnet', randomBytes(20))));
    expect(() => rewardCheckers(mainnet)).toThrow(ConfigError);
    expect(() => rewardCheckers(mainnet)).toThrow(/coins\.ZEC: .*pool_address .* is not a transparent testnet address/);
    expect(await refusal('[coins.ZEC]\nchain = "zcash"\nfirst_height = 0\nnode_url = "http://127.0.0.1:8232"\n')).toMatch(
      /coins\.ZEC\.pool_address/,
    );
  });

  it('names the key of a bad coin setting: issuance as a number, a malformed pool address, another review word', async () => {
    expect(await refusal(ETH.replace('issuance = "2"', 'issuance = 2'))).toMatch(/coins\.ETH\.issuance: expected a decimal string/);
    expect(await refusal(ETH.replace(/pool_address = .*/, 'pool_address = "0x12"'))).toMatch(
      /coins\.ETH\.pool_address: expected an address/,
    );
    expect(await refusal('[wallets]\nreview = "sometimes"\n')).toMatch(/wallets\.review: expected "auto" or "manual"/);
  });

  it("requires each coin's first_height, a whole number: where payserv's part of the chain begins", async () => {
    expect(rewardCheckers(await load(ETH.replace('first_height = 0', 'first_height = 123'))).get('ETH')?.firstHeight).toBe(123n);
    expect(await refusal(ETH.replace('first_height = 0\n', ''))).toMatch(/coins\.ETH\.first_height: expected the first block height/);
    expect(await refusal(ETH.replace('first_height = 0', 'first_height = -1'))).toMatch(
      /coins\.ETH\.first_height: expected a whole number/,
    );
    expect(await refusal(ETH.replace('first_height = 0', 'first_height = "5"'))).toMatch(/coins\.ETH\.first_height: expected the first/);
  });

  // Past 2^31-1 ms Node fires a timer after 1 ms: every node check would time out at once, every block wait for ever.
  it('refuses a timer setting Node cannot hold, naming the key; takes the longest one it can', async () => {
    const oep = `[pools.oep]\nredis_url = "redis://127.0.0.1:6379/9"\nprefix = "eth"\ncoin = "ETH"\npool_fee_address = "0x${'22'.repeat(20)}"\n`;
    expect(await refusal(`${ETH}timeout_ms = 3000000000\n`)).toMatch(/coins\.ETH\.timeout_ms: at most 2147483647/);
    expect(await refusal(`${ETH}${oep}timeout_ms = 2147483648\n`)).toMatch(/pools\.oep\.timeout_ms: at most 2147483647/);
    expect(await refusal('[keys]\nanswer_timeout_ms = 2147483648\n')).toMatch(/keys\.answer_timeout_ms: at most 2147483647/);
    expect(await refusal('[alerts]\ntimeout_ms = 2147483648\n')).toMatch(/alerts\.timeout_ms: at most 2147483647/);
    expect(await refusal('[rpc]\nrequest_timeout_ms = 2147483648\n')).toMatch(/rpc\.request_timeout_ms: at most 2147483647/);
    expect((await load(`${ETH}timeout_ms = 2147483647\n`)).coins.ETH).toMatchObject({ timeout_ms: 2_147_483_647 });
  });

  it("refuses a pool adapter's coin with no [coins.TAG] reward check, naming the key", async () => {
    const oep = (coin: string) =>
      `[pools.oep]\nredis_url = "redis://127.0.0.1:6379/9"\nprefix = "eth"\ncoin = "${coin}"\npool_fee_address = "0x${'22'.repeat(20)}"\n`;
    const mc = (coin: string) =>
      `[pools.miningcore]\ndatabase_url = "postgres://x@127.0.0.1/x"\npool_id = "p"\ncoin = "${coin}"\nminimum_payment = "1000000"\n`;
    expect(await refusal(`${ETH}${oep('ETC')}`)).toMatch(/pools\.oep\.coin: names ETC, which has no \[coins\.ETC\] table/);
    expect(await refusal(`${ETH}${mc('ZEC')}`)).toMatch(/pools\.miningcore\.coin: names ZEC, which has no \[coins\.ZEC\] table/);
    expect(await refusal(oep('ETH'))).toMatch(/pools\.oep\.coin: names ETH/);
    expect((await load(`${ETH}${oep('ETH')}${mc('ETH')}`)).pools).toMatchObject({ oep: { coin: 'ETH' }, miningcore: { coin: 'ETH' } });
    // A Bitcoin-family coin's table is a network, not a reward check.
    expect(await refusal(`${LTC}${mc('LTC')}`)).toMatch(
      /pools\.miningcore\.coin: names LTC, a Bitcoin-family coin: the intake has no reward check/,
    );
  });

  it("takes a Bitcoin-family coin's network as payserv's [coins.TAG.network]: no reward check, its addresses' network", async () => {
    const c = await load(`${ETH}${LTC}[coins.BCH]\nchain = "btc"\n[coins.BCH.network]\npreset = "BCH-testnet"\n`);
    expect([...rewardCheckers(c).keys()]).toEqual(['ETH']);
    expect(addressChains(c)).toEqual({
      LTC: { chain: 'btc', network: { preset: 'LTC-mainnet' } },
      BCH: { chain: 'btc', network: { preset: 'BCH-testnet' } },
    });
    expect(addressChains(await load(ETH))).toEqual({});
    // The same checks as payserv's table: a preset and overrides that resolve, nothing else in the table.
    expect(await refusal('[coins.LTC]\nchain = "btc"\n[coins.LTC.network]\npreset = "LTC-mainnetz"\n')).toMatch(
      /coins\.LTC\.network\.preset: expected one of/,
    );
    expect(await refusal(`${LTC}p2pkh_version = 50\n`)).toMatch(/coins\.LTC\.network: .*50/);
    expect(await refusal(`[coins.LTC]\nchain = "btc"\nfirst_height = 0\n[coins.LTC.network]\npreset = "LTC-mainnet"\n`)).toMatch(
      /coins\.LTC/,
    );
    expect(await refusal('[coins.LTC]\nchain = "btc"\n')).toMatch(/coins\.LTC\.network/);
    expect(await refusal('[coins.LTC]\nchain = "utxo"\n')).toMatch(/coins\.LTC\.chain: expected chain = "eth", "zcash" or "btc"/);
    // A tag whose chain is known names it: Ethereum configured as Bitcoin-family is refused before the intake starts.
    const eth = await load('[coins.ETH]\nchain = "btc"\n[coins.ETH.network]\npreset = "BTC-mainnet"\n');
    expect(() => addressChains(eth)).toThrow(ConfigError);
    expect(() => addressChains(eth)).toThrow(/coins\.ETH: chain = "btc" is not ETH's chain/);
  });
});

describe('the intake contract', () => {
  it('admits the pool back end alone, to every method', () => {
    for (const id of TLS_IDENTITIES)
      for (const m of Object.keys(INTAKE_METHODS) as Array<keyof typeof INTAKE_METHODS>) expect(INTAKE_ACL[id](m)).toBe(id === 'backend');
  });

  it("never lets esman export the intake's TLS key: it unlocks from its store", () => {
    expect(() => checkExportable('intake.TLS.KEY')).toThrow(/never leaves the store/);
    expect(() => checkExportable('backend.TLS.KEY')).not.toThrow();
  });

  it('takes amounts as decimal strings only', () => {
    const credit = { coin: 'ETH', hash: `0x${'ab'.repeat(32)}`, income: '1', credits: [{ user: 1, amount: '1' }], poolFee: '0' };
    expect(INTAKE_METHODS['Blocks.Credit'].safeParse(credit).success).toBe(true);
    expect(INTAKE_METHODS['Blocks.Credit'].safeParse({ ...credit, income: 1 }).success).toBe(false);
    expect(INTAKE_METHODS['Blocks.Credit'].safeParse({ ...credit, credits: [{ user: 1, amount: '-1' }] }).success).toBe(false);
    expect(INTAKE_METHODS['Withdrawals.Request'].safeParse({ key: 'a b', wallet: 1, amount: '1' }).success).toBe(false);
  });

  it('documents every refusal code, lower_snake_case, and every method in the README section', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('## The ledger intake (pool side)'), readme.indexOf('## Wallet deletion'));
    for (const code of Object.keys(INTAKE_CODES)) {
      expect(code).toMatch(/^[a-z]+(_[a-z]+)*$/);
      expect(section, code).toContain(`\`${code}\``);
    }
    for (const m of Object.keys(INTAKE_METHODS)) expect(section, m).toContain(`\`${m}\``);
  });
});

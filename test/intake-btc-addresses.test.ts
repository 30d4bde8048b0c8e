// The ledger intake checks a Bitcoin-family coin's wallet addresses in the network its own [coins.TAG]
// chain = "btc" configures (issue 18 item 5): Wallets.Register and Wallets.Sign refuse what payserv's
// driver would decline at withdrawal (another network's address, a bad checksum, an MWEB address, a
// segwit address on Dogecoin or Bitcoin Cash) with invalid_address, the driver's reason and its code in
// data.addressCode, and write nothing. A coin without the table is taken as before: printable text.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bech32 } from '@scure/base';
import { afterEach, describe, expect, it } from 'vitest';
import { INTAKE_REFUSED } from '../src/api/intake.js';
import { RpcError } from '../src/api/jsonrpc.js';
import { decodeAddress, scriptAddress } from '../src/chains/btc/address.js';
import { preset, type PresetName } from '../src/chains/btc/network.js';
import { loadConfig } from '../src/config/index.js';
import { dispatchIntake } from '../src/intake/handlers.js';
import { startIntake, type RunningIntake } from '../src/intake/service.js';
import { createLogger } from '../src/log/index.js';
import { TABLES, WALLETS } from './support/attacker.js';
import { CASHADDR, DOGE_MAINNET_ADDRESSES } from './fixtures/btc/vectors.js';
import { testLedger, type TestLedger } from './support/ledger.js';

const FEE_USER = 1;
const ALICE = 1001;
const COINS = [
  { tag: 'LTC', name: 'Litecoin', preset: 'LTC-mainnet' },
  { tag: 'DOGE', name: 'Dogecoin', preset: 'DOGE-mainnet' },
  { tag: 'BCH', name: 'Bitcoin Cash', preset: 'BCH-mainnet' },
] as const;

/** BIP173's example hash (private key 1's P2WPKH) on Litecoin mainnet, and on Bitcoin mainnet. */
const LTC_MAIN = 'ltc1qw508d6qejxtdg4y5r3zarvary0c5xw7kgmn4n9';
const BTC_MAIN = 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4';
/** A Litecoin mainnet P2PKH address (legacy base58). */
const LTC_LEGACY = 'LVuDpNCSSj6pQ7t9Pv6d6sUkLKoqDEVUnJ';
const P2WPKH_SCRIPT = Uint8Array.from([0x00, 0x14, ...Buffer.from('751e76e8199196d454941c45d1b3a323f1433bd6', 'hex')]);
const LTC_TESTNET = scriptAddress(preset('LTC-testnet'), P2WPKH_SCRIPT)!;
const LTC_MWEB = bech32.encode('ltcmweb', bech32.toWords(new Uint8Array(66)), 200);

let l: TestLedger | undefined;
let running: RunningIntake | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
  await l?.db.close();
  l = undefined;
});

/** The intake on a fresh ledger with LTC, DOGE and BCH registered; `networks`: with their [coins.TAG] chain = "btc" tables. */
async function start(o: { networks: boolean; review?: 'auto' | 'manual'; ledger?: TestLedger }): Promise<RunningIntake> {
  const fresh = !o.ledger;
  l = o.ledger ?? (await testLedger(null));
  const tables = COINS.map((c) => `[coins.${c.tag}]\nchain = "btc"\n[coins.${c.tag}.network]\npreset = "${c.preset}"\n`).join('');
  const file = join(l.stateDir, 'intake.toml');
  writeFileSync(file, `[rpc]\nport = 0\n[wallets]\nreview = "${o.review ?? 'auto'}"\n${o.networks ? tables : ''}`);
  const config = await loadConfig('intake', file, { env: { PAYSERV_STATE_DIR: l.stateDir } });
  running = await startIntake(config, createLogger('intake', 'silent'), l.db);
  if (fresh)
    for (const c of COINS)
      await call('Coins.Register', { tag: c.tag, name: c.name, decimals: 8, fee: '0.001', min: '0.01', feeUser: FEE_USER });
  return running;
}

type Reply = Record<string, unknown>;
const call = (method: Parameters<typeof dispatchIntake>[1], params: Reply) =>
  dispatchIntake(running!.intake, method, params) as Promise<Reply>;

/** Every ledger table, whole: what "nothing written" is measured against. */
async function snapshot(): Promise<string> {
  const out: Record<string, unknown> = {};
  for (const table of TABLES) out[table] = await l!.db.query(`SELECT * FROM ${table} ORDER BY 1`);
  return JSON.stringify(out);
}

/** The reason payserv's Bitcoin-family driver declines `address` with on `net` (src/chains/btc/address.ts). */
function driverDecline(net: PresetName, address: string): { code: string; reason: string } {
  const d = decodeAddress(preset(net), address);
  if (d.ok) throw new Error(`${address} is payable on ${net}`);
  return { code: d.code, reason: d.reason };
}

/** The call refused invalid_address with the driver's code and reason. */
async function refusedAs(p: Promise<unknown>, net: PresetName, address: string, what: string): Promise<RpcError> {
  const e = await p.then(
    (x) => expect.fail(`expected a refusal, got ${JSON.stringify(x)}`),
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(RpcError);
  const d = driverDecline(net, address);
  expect({ rpc: (e as RpcError).code, message: (e as RpcError).message, data: (e as RpcError).data }).toEqual({
    rpc: INTAKE_REFUSED,
    message: `${what}: ${d.reason}`,
    data: { code: 'invalid_address', coin: net.split('-')[0], addressCode: d.code },
  });
  return e as RpcError;
}

describe('Wallets.Register of a Bitcoin-family coin, in its configured network', () => {
  it('refuses a testnet address on mainnet, a bad checksum, an MWEB address, a segwit address on Dogecoin and Bitcoin Cash: nothing written', async () => {
    await start({ networks: true });
    const cases: [string, PresetName, string, string, RegExp][] = [
      ['LTC', 'LTC-mainnet', LTC_TESTNET, 'wrong_network', /^an address of LTC-testnet, not of LTC-mainnet$/],
      ['LTC', 'LTC-mainnet', BTC_MAIN, 'wrong_network', /^an address of BTC-mainnet, not of LTC-mainnet$/],
      ['LTC', 'LTC-mainnet', `${LTC_MAIN.slice(0, -1)}8`, 'checksum', /bad bech32 checksum/],
      ['LTC', 'LTC-mainnet', `${LTC_LEGACY.slice(0, -1)}K`, 'checksum', /bad base58check checksum/],
      ['LTC', 'LTC-mainnet', LTC_MWEB, 'mweb', /MWEB \(MimbleWimble\) address/],
      ['DOGE', 'DOGE-mainnet', BTC_MAIN, 'no_segwit', /^a segwit address: DOGE-mainnet has no segwit outputs$/],
      ['BCH', 'BCH-mainnet', LTC_MAIN, 'no_segwit', /^a segwit address: BCH-mainnet has no segwit outputs$/],
    ];
    const before = await snapshot();
    for (const [coin, net, address, code, why] of cases) {
      const e = await refusedAs(
        call('Wallets.Register', { user: ALICE, coin, address }),
        net,
        address,
        `address ${JSON.stringify(address)}`,
      );
      expect((e.data as { addressCode: string }).addressCode, address).toBe(code);
      expect(driverDecline(net, address).reason, address).toMatch(why);
    }
    expect(await snapshot()).toBe(before);
  });

  it('accepts a good address of each coin, signed (review auto); the same script in another spelling is the same wallet', async () => {
    await start({ networks: true });
    const good = [
      ['LTC', LTC_MAIN],
      ['LTC', LTC_LEGACY],
      ['DOGE', DOGE_MAINNET_ADDRESSES[0]!.address],
      ['BCH', CASHADDR[0]!.address],
    ] as const;
    for (const [coin, address] of good)
      expect(await call('Wallets.Register', { user: ALICE, coin, address })).toMatchObject({
        coin,
        address,
        reviewed: true,
        already: false,
      });
    const rows = await l!.db.query<{ address: string }>(`SELECT address FROM ${WALLETS} WHERE user_id = $1 ORDER BY id`, [ALICE]);
    expect(rows.map((r) => r.address)).toEqual(good.map(([, a]) => a));
    // bech32 in capitals and CashAddr without its prefix pay the same scripts: found, not added twice.
    const before = await snapshot();
    expect(await call('Wallets.Register', { user: ALICE, coin: 'LTC', address: LTC_MAIN.toUpperCase() })).toMatchObject({
      address: LTC_MAIN,
      already: true,
    });
    expect(await call('Wallets.Register', { user: ALICE, coin: 'BCH', address: CASHADDR[0]!.address.split(':')[1] })).toMatchObject({
      address: CASHADDR[0]!.address,
      already: true,
    });
    expect(await snapshot()).toBe(before);
    expect(await l!.check('wallets')).toEqual([]);
  });
});

describe('a Bitcoin-family coin without [coins.TAG] chain = "btc" in the intake', () => {
  it('takes any printable address, as before (payserv declines a bad one at withdrawal); Wallets.Sign refuses it once the network is configured', async () => {
    const ledger = await testLedger(null);
    await start({ networks: false, review: 'manual', ledger });
    for (const c of COINS)
      await call('Coins.Register', { tag: c.tag, name: c.name, decimals: 8, fee: '0.001', min: '0.01', feeUser: FEE_USER });
    // Printable text only: a testnet address and an MWEB one are registered (unsigned: review manual); a control character is not.
    const testnet = await call('Wallets.Register', { user: ALICE, coin: 'LTC', address: LTC_TESTNET });
    expect(testnet).toMatchObject({ address: LTC_TESTNET, reviewed: false, already: false });
    expect(await call('Wallets.Register', { user: ALICE, coin: 'LTC', address: LTC_MWEB })).toMatchObject({ reviewed: false });
    await expect(call('Wallets.Register', { user: ALICE, coin: 'LTC', address: 'ltc1\u0007' })).rejects.toMatchObject({
      message: 'address "ltc1\\u0007": address is empty, too long or not printable',
      data: { code: 'invalid_address', coin: 'LTC' },
    });
    // The same ledger, the intake restarted with the networks: the operator's review is refused with the driver's reason.
    await running!.stop();
    running = undefined;
    await start({ networks: true, review: 'manual', ledger });
    const before = await snapshot();
    const id = testnet.id as number;
    await refusedAs(call('Wallets.Sign', { wallet: id }), 'LTC-mainnet', LTC_TESTNET, `wallet ${id}`);
    expect(await snapshot()).toBe(before);
    const row = (await l!.db.query<{ signature: unknown }>(`SELECT signature FROM ${WALLETS} WHERE id = $1`, [id]))[0]!;
    expect(row.signature).toBeNull();
  });
});

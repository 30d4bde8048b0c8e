// The rules of `esman delete Coin.<TAG>.JSON` and the balance it asks the node for: a hot wallet's key is
// deleted only at no more than dust, after its name was typed back; a node that cannot answer is no proof.
import { createServer } from 'node:net';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { afterEach, describe, expect, it } from 'vitest';
import { zcashAddressScript, zcashP2pkhAddress } from '../../src/chains/address.js';
import { estimateTransparentFeeZat } from '../../src/chains/zcash/fee.js';
import { hash160 } from '../../src/chains/zcash/script.js';
import { startZcashStandin, type ZcashStandin } from '../../src/devnet/zcash-standin.js';
import { hotWalletFunds } from '../../src/cli/esman/wallet-funds.js';
import { EsmanError } from '../../src/esman/errors.js';
import {
  checkConfirmation,
  confirmPrompt,
  hotWalletCoin,
  hotWalletContent,
  hotWalletTag,
  refuseFunded,
  refuseReplaceHotWallet,
  type WalletFunds,
} from '../../src/esman/wallet-delete.js';
import { ChainIdentity } from '../../src/chains/identity.js';
import { ChainIdentityError } from '../../src/chains/driver.js';
import { tmpStateDir } from '../support/tmp.js';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const NAME = 'Coin.ETH.JSON';
const funds = (held: bigint, dust = 21_000n): WalletFunds => ({ address: '0xAbC', held, dust, unit: 'wei' });

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof EsmanError) return `${e.code}: ${e.message}`;
    throw e;
  }
  return undefined;
}

describe('hot-wallet items', () => {
  it('Coin.<TAG>.JSON is a hot wallet; other items, and other spellings, are not', () => {
    expect(hotWalletTag('Coin.ETH.JSON')).toBe('ETH');
    expect(hotWalletTag('Coin.ZEC.JSON')).toBe('ZEC');
    // A rotation's keys (pscli hotwallet rotate): the next key holds the sweep, the retired one what the sweep left.
    expect(hotWalletTag('Coin.ETH.NEXT.JSON')).toBe('ETH');
    expect(hotWalletTag('Coin.ETH.RETIRED.20261204T230000.JSON')).toBe('ETH');
    expect(hotWalletTag('Coin.ETH.RETIRED.x.JSON')).toBeNull();
    for (const n of ['DB.JSON', 'ETH.RPC.JSON', 'Coin.eth.JSON', 'Coin.ETH.JSON.bak', 'xCoin.ETH.JSON', 'Coin..JSON'])
      expect(hotWalletTag(n)).toBeNull();
  });

  it('any value with a coin or a key looks like a hot wallet, whatever its name; its coin only when it names a plausible tag', () => {
    const v = (x: unknown) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x));
    expect(hotWalletContent(v({ coin: 'ETH', privateKey: 'ab'.repeat(32) }))).toEqual({ coin: 'ETH' });
    expect(hotWalletContent(v({ privateKey: 'ab'.repeat(32) }))).toEqual({ coin: null });
    expect(hotWalletContent(v({ coin: 'eth; rm', extra: 1 }))).toEqual({ coin: null });
    for (const other of [
      v({ url: 'postgres://x@h/db' }),
      v({ user: 'u', password: 'p' }),
      v('-----BEGIN CERTIFICATE-----'),
      v('[1]'),
      v('null'),
    ])
      expect(hotWalletContent(other)).toBeNull();
  });

  it('the coin comes from name, key_item and content agreeing; disagreement or none cannot be judged', () => {
    expect(hotWalletCoin('HOT.ETH', [null, 'ETH', 'ETH'])).toBe('ETH');
    expect(codeOf(() => hotWalletCoin('Coin.ETH.JSON', ['ETH', null, 'ETC']))).toMatch(
      /^bad_item: Coin\.ETH\.JSON looks like a hot-wallet key, named the key of ETH and ETC: it cannot be judged, nothing deleted/,
    );
    expect(codeOf(() => hotWalletCoin('k', [null, null, null]))).toMatch(
      /^bad_item: k looks like a hot-wallet key of no coin esman can read/,
    );
  });

  it('add --replace over a hot-wallet key: another key, or no key, refused; the same coin and key again (its address corrected) taken', () => {
    const item = (coin: string, key: string, address?: string) => Buffer.from(JSON.stringify({ coin, privateKey: key, address }));
    const key = 'ab'.repeat(32);
    const old = item('ETH', key, '0xWRONG');
    expect(codeOf(() => refuseReplaceHotWallet('HOT.ETH', old, item('ETH', key.toUpperCase(), '0xRIGHT')))).toBeUndefined();
    for (const next of [item('ETH', 'cd'.repeat(32)), item('ETC', key), Buffer.from('{"url":"postgres://x@h/db"}'), Buffer.from('x')])
      expect(codeOf(() => refuseReplaceHotWallet('HOT.ETH', old, next))).toMatch(
        /^hot_wallet: HOT\.ETH is a hot-wallet key: --replace never overwrites one with another value/,
      );
    // An item that only looks like a hot wallet (no readable key) is never replaced, even by itself.
    const odd = Buffer.from('{"coin":"ETH"}');
    expect(codeOf(() => refuseReplaceHotWallet('odd', odd, odd))).toMatch(/^hot_wallet: /);
  });
});

describe("a reader's chain check (ChainIdentity.verify)", () => {
  const seen = { chain: '61', genesis: '0x' + 'cd'.repeat(32), head: 100 };
  it('refuses another chain and a genesis other than the pinned one, and never writes a pin', async () => {
    const state = await tmpStateDir();
    const fresh = new ChainIdentity(state, 'ETC', { chain: '61' });
    await expect(fresh.verify(seen, 1)).resolves.toBe('cd'.repeat(32));
    expect(existsSync(join(state, 'chains'))).toBe(false);
    await expect(new ChainIdentity(null, 'ETC', { chain: '1' }).verify(seen, 1)).rejects.toThrow(
      /coin ETC: the node is on chain 61, payserv pays on 1/,
    );
    mkdirSync(join(state, 'chains'));
    writeFileSync(join(state, 'chains', 'ETC-61.json'), JSON.stringify({ chain: '61', genesis: 'ab'.repeat(32), head: 5 }));
    const e = await new ChainIdentity(state, 'ETC', { chain: '61' }).verify(seen, 1).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ChainIdentityError);
    expect((e as Error).message).toMatch(/genesis block is (cd){32}, not (ab){32} \(the genesis pinned in /);
    // A node far behind the highest head payserv saw shows an old balance: refused too.
    writeFileSync(join(state, 'chains', 'ETC-61.json'), JSON.stringify({ chain: '61', genesis: 'cd'.repeat(32), head: 200 }));
    await expect(new ChainIdentity(state, 'ETC', { chain: '61' }).verify(seen, 1)).rejects.toThrow(
      /100 blocks behind the highest head seen, 200/,
    );
    expect(JSON.parse(readFileSync(join(state, 'chains', 'ETC-61.json'), 'utf8'))).toEqual({
      chain: '61',
      genesis: 'cd'.repeat(32),
      head: 200,
    });
  });
});

describe('funds', () => {
  it('more than dust is refused, naming the balance and the way out; dust or nothing passes', () => {
    const refused = codeOf(() => refuseFunded(NAME, funds(21_001n)));
    expect(refused).toMatch(
      /^wallet_funded: Coin\.ETH\.JSON: hot wallet 0xAbC holds 21001 wei \(dust is at most 21000\): nothing deleted; /,
    );
    expect(refused).toContain('sweep it to another wallet first');
    expect(codeOf(() => refuseFunded(NAME, funds(21_000n)))).toBeUndefined();
    expect(codeOf(() => refuseFunded(NAME, funds(0n)))).toBeUndefined();
    expect(codeOf(() => refuseFunded(NAME, funds(1n, 0n)))).toMatch(/^wallet_funded: .* holds 1 wei/);
  });
});

describe('confirmation', () => {
  it('the item name typed back (spaces aside) confirms; anything else, or no answer, does not', () => {
    expect(codeOf(() => checkConfirmation(NAME, NAME))).toBeUndefined();
    expect(codeOf(() => checkConfirmation(NAME, `  ${NAME} `))).toBeUndefined();
    for (const a of ['y', 'yes', 'Coin.ETH', 'coin.eth.json', ''])
      expect(codeOf(() => checkConfirmation(NAME, a))).toMatch(
        /^not_confirmed: Coin\.ETH\.JSON: the answer is not the item name: nothing deleted/,
      );
    expect(codeOf(() => checkConfirmation(NAME, null))).toMatch(/^not_confirmed: Coin\.ETH\.JSON: no answer: nothing deleted/);
  });

  it('the prompt names the address and its balance', () => {
    expect(confirmPrompt(NAME, funds(5n))).toBe(
      'Coin.ETH.JSON is the key of hot wallet 0xAbC, which holds 5 wei; type Coin.ETH.JSON to delete it: ',
    );
  });
});

describe('the balance, asked of a Zcash node', () => {
  const key = sha256(new TextEncoder().encode('esman-wallet-delete hot'));
  const address = zcashP2pkhAddress('testnet', hash160(secp256k1.getPublicKey(key, true)));
  let node: ZcashStandin | undefined;
  afterEach(async () => {
    await node?.stop();
    node = undefined;
  });

  it("sums the address's UTXOs; dust is the fee of sweeping them all to one address", async () => {
    node = await startZcashStandin({ network: 'testnet', mode: 'zcashd' });
    const empty = await hotWalletFunds('Coin.ZEC.JSON', 'ZEC', address, node.url, 'testnet');
    expect(empty).toEqual({
      address,
      held: 0n,
      dust: estimateTransparentFeeZat(0, [zcashAddressScript('testnet', address)]),
      unit: 'zatoshi',
    });
    await node.fund(address, 70_000n);
    await node.fund(address, 30_000n);
    await node.mine();
    const held = await hotWalletFunds('Coin.ZEC.JSON', 'ZEC', address, node.url, 'testnet');
    expect(held.held).toBe(100_000n);
    expect(held.dust).toBe(estimateTransparentFeeZat(2, [zcashAddressScript('testnet', address)]));
    expect(codeOf(() => refuseFunded('Coin.ZEC.JSON', held))).toMatch(/^wallet_funded: .* holds 100000 zatoshi/);
  });

  it('a node that is down is balance_unknown, and its URL password is never shown', async () => {
    node = await startZcashStandin({ network: 'testnet', mode: 'zcashd' });
    await node.setDown(true);
    const url = new URL(node.url);
    url.username = 'rpc';
    url.password = 'RPC-PASSWORD-77';
    const e = await hotWalletFunds('Coin.ZEC.JSON', 'ZEC', address, url.toString(), 'testnet').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(EsmanError);
    expect((e as EsmanError).code).toBe('balance_unknown');
    expect((e as EsmanError).message).toMatch(/^Coin\.ZEC\.JSON: the balance of hot wallet \S+ cannot be read \(.+\): nothing deleted; /);
    expect((e as EsmanError).message).not.toContain('RPC-PASSWORD-77');
  });
});

describe('the balance, asked of an Ethereum node that does not answer', () => {
  it('a closed port and a credentialed URL: balance_unknown, no password shown', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const e = await hotWalletFunds(
      NAME,
      'ETH',
      '0x0000000000000000000000000000000000000001',
      `http://u:ETH-PASSWORD-9@127.0.0.1:${port}/`,
      'mainnet',
      2_000,
    ).catch((x: unknown) => x);
    expect((e as EsmanError).code).toBe('balance_unknown');
    expect((e as EsmanError).message).toContain('cannot be read (HTTP request failed: fetch failed: ECONNREFUSED): nothing deleted');
    expect((e as EsmanError).message).not.toContain('ETH-PASSWORD-9');
  });
});

// What the Bitcoin-family driver needs of its node (src/chains/btc/fit.ts), asked with `help` and
// getindexinfo: a real litecoind 0.21 regtest node serves all of it; a stand-in answering as Dogecoin
// Core 1.14 does (its `help` listing built from its sources: test/fixtures/btc/dogecoin-1.14-help.ts) is
// refused naming what it lacks; a node answering `help` oddly is no pass. A stand-in answering as Bitcoin
// Cash Node v28 (test/fixtures/btc/bchn-28-help.ts) passes with fee_estimate "estimatefee" or "floor", its
// testmempoolaccept read as answering no fee; without getindexinfo (v27 and older) it is refused, named.
// A node without txindex refused at the driver's start: test/btc-node-fit.test.ts. Lives in test/unit: it
// needs no database.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeUnavailable } from '../../src/chains/driver.js';
import { BtcNodeUnfit, checkNodeFit, helpListing, mempoolFeesOf, nodeFitProblems, nodeNeeds } from '../../src/chains/btc/fit.js';
import { BtcNode, BtcRpcBadReply } from '../../src/chains/btc/node.js';
import { ConfigError } from '../../src/config/error.js';
import { EXIT, exitCodeOf } from '../../src/cli/exit.js';
import { BCHN_28_HELP } from '../fixtures/btc/bchn-28-help.js';
import { DOGECOIN_1_14_HELP } from '../fixtures/btc/dogecoin-1.14-help.js';
import { litecoindForFile } from '../support/litecoind.js';

/**
 * A stand-in node: `help` answers `listing` (a string, or any JSON; undefined: help not served), a method of
 * `answers` its result (JSON text, written as it is), every other method as Bitcoin Core answers one it does not
 * serve (HTTP 404, -32601 "Method not found").
 */
async function standIn(
  listing: unknown,
  answers: Record<string, string> = {},
): Promise<{ node: BtcNode; asked: string[]; close(): Promise<void> }> {
  const asked: string[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const { id, method } = JSON.parse(body) as { id: number; method: string };
      asked.push(method);
      if (method === 'help' && listing !== undefined) return res.end(JSON.stringify({ result: listing, error: null, id }));
      const answer = answers[method];
      if (answer !== undefined) return res.end(`{"result":${answer},"error":null,"id":${id}}`);
      res.statusCode = 404;
      res.end(JSON.stringify({ result: null, error: { code: -32601, message: 'Method not found' }, id }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const node = new BtcNode({ url: `http://u:secret@127.0.0.1:${(server.address() as AddressInfo).port}/`, timeoutMs: 5_000 });
  return {
    node,
    asked,
    close: async () => {
      node.close();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('a Dogecoin Core 1.14 node (stand-in, its help listing from its sources)', () => {
  it('is refused with a configuration error naming the coin, the node and every method it lacks', async () => {
    const s = await standIn(DOGECOIN_1_14_HELP);
    try {
      const e = (await checkNodeFit(s.node, 'DOGE').catch((x: unknown) => x)) as BtcNodeUnfit;
      expect(e).toBeInstanceOf(BtcNodeUnfit);
      expect(e).toBeInstanceOf(ConfigError);
      expect(exitCodeOf(e)).toBe(EXIT.USAGE);
      expect(e.coin).toBe('DOGE');
      expect(e.node).toBe(s.node.endpoint);
      expect(e.missing).toEqual(['scantxoutset', 'testmempoolaccept', 'getindexinfo']);
      expect(e.message).toContain('coin DOGE');
      expect(e.message).toContain(s.node.endpoint);
      expect(e.message).toContain('it does not serve scantxoutset, testmempoolaccept, getindexinfo');
      // The two it serves in Bitcoin Core 0.14's form, each named with its help line.
      expect(e.message).toContain('its getblock is `getblock "blockhash" ( verbose )`');
      expect(e.message).toContain('its estimatesmartfee is `estimatesmartfee nblocks`');
      expect(e.message).not.toContain('secret');
      // getindexinfo is not in the listing: not asked.
      expect(s.asked).toEqual(['help']);
    } finally {
      await s.close();
    }
  });

  it('a listing that names every method in its 0.21 form but getindexinfo is still refused, naming getindexinfo', async () => {
    const listing = [
      '== Blockchain ==',
      ...nodeNeeds('estimatesmartfee')
        .filter((n) => n.method !== 'getindexinfo')
        .map((n) => line021(n.method)),
      '',
      '== Control ==',
      'help ( "command" )',
    ].join('\n');
    const s = await standIn(listing);
    try {
      const e = (await checkNodeFit(s.node, 'BTC').catch((x: unknown) => x)) as BtcNodeUnfit;
      expect(e).toBeInstanceOf(BtcNodeUnfit);
      expect(e.missing).toEqual(['getindexinfo']);
      expect(e.problems).toEqual(['it does not serve getindexinfo']);
    } finally {
      await s.close();
    }
  });
});

/** Bitcoin Core 0.21's help line for the methods whose form matters (as litecoind 0.21 answers), else the bare name. */
function line021(method: string): string {
  if (method === 'getblock') return 'getblock "blockhash" ( verbosity )';
  if (method === 'estimatesmartfee') return 'estimatesmartfee conf_target ( "estimate_mode" )';
  if (method === 'testmempoolaccept') return 'testmempoolaccept ["rawtx",...] ( maxfeerate )';
  return method;
}

/** getindexinfo as a node with txindex=1, built, answers. */
const TXINDEX = '{"txindex":{"synced":true,"best_block_height":900000}}';

describe('a Bitcoin Cash Node v28 node (stand-in, its help listing from its sources)', () => {
  it('passes with fee_estimate "estimatefee": its testmempoolaccept read as answering no fee', async () => {
    const s = await standIn(BCHN_28_HELP, { getindexinfo: TXINDEX });
    try {
      expect(await nodeFitProblems(s.node, 'estimatefee')).toEqual({ missing: [], problems: [], fit: { mempoolFees: 'not-answered' } });
      expect(await checkNodeFit(s.node, 'BCH', 'estimatefee')).toEqual({ mempoolFees: 'not-answered' });
      expect(s.asked).toEqual(['help', 'getindexinfo', 'help', 'getindexinfo']);
    } finally {
      await s.close();
    }
  });

  it('passes with fee_estimate "floor" (no fee RPC asked of it)', async () => {
    const s = await standIn(BCHN_28_HELP, { getindexinfo: TXINDEX });
    try {
      expect(await checkNodeFit(s.node, 'BCH', 'floor')).toEqual({ mempoolFees: 'not-answered' });
    } finally {
      await s.close();
    }
  });

  it('is refused with fee_estimate "estimatesmartfee", naming it (no Bitcoin Cash Node release serves it)', async () => {
    const s = await standIn(BCHN_28_HELP, { getindexinfo: TXINDEX });
    try {
      const e = (await checkNodeFit(s.node, 'BCH', 'estimatesmartfee').catch((x: unknown) => x)) as BtcNodeUnfit;
      expect(e).toBeInstanceOf(BtcNodeUnfit);
      expect(e.missing).toEqual(['estimatesmartfee']);
      expect(e.problems).toEqual(['it does not serve estimatesmartfee']);
    } finally {
      await s.close();
    }
  });

  it('an older release (v27.1.0 and before: no getindexinfo) is refused, naming getindexinfo', async () => {
    const older = BCHN_28_HELP.split('\n')
      .filter((l) => !l.startsWith('getindexinfo'))
      .join('\n');
    const s = await standIn(older);
    try {
      const e = (await checkNodeFit(s.node, 'BCH', 'estimatefee').catch((x: unknown) => x)) as BtcNodeUnfit;
      expect(e).toBeInstanceOf(BtcNodeUnfit);
      expect(e.missing).toEqual(['getindexinfo']);
      expect(e.message).toContain('it does not serve getindexinfo');
      expect(s.asked).toEqual(['help']);
    } finally {
      await s.close();
    }
  });

  it('without txindex it is refused, naming txindex', async () => {
    const s = await standIn(BCHN_28_HELP, { getindexinfo: '{}' });
    try {
      const e = (await checkNodeFit(s.node, 'BCH', 'estimatefee').catch((x: unknown) => x)) as BtcNodeUnfit;
      expect(e.problems).toEqual([expect.stringContaining('start it with txindex=1')]);
    } finally {
      await s.close();
    }
  });

  it('its estimatefee is read exactly: BCH per 1,000 bytes to satoshis', async () => {
    const s = await standIn(BCHN_28_HELP, { estimatefee: '0.00001000' });
    try {
      expect(await s.node.estimateFee()).toBe(1_000n);
    } finally {
      await s.close();
    }
  });
});

describe('fee_estimate "estimatefee" on another node', () => {
  it("Dogecoin Core 1.14's `estimatefee nblocks` is another RPC: refused, named", async () => {
    const s = await standIn(DOGECOIN_1_14_HELP);
    try {
      const e = (await checkNodeFit(s.node, 'DOGE', 'estimatefee').catch((x: unknown) => x)) as BtcNodeUnfit;
      expect(e.problems).toContain("its estimatefee is `estimatefee nblocks`: the driver needs no arguments (Bitcoin Cash Node's)");
      expect(e.missing).not.toContain('estimatesmartfee');
    } finally {
      await s.close();
    }
  });
});

describe('what testmempoolaccept answers, told by its form', () => {
  it('maxfeerate: answered; allowhighfees: not answered; any other form: neither', () => {
    expect(mempoolFeesOf('testmempoolaccept ["rawtx",...] ( maxfeerate )')).toBe('answered');
    expect(mempoolFeesOf('testmempoolaccept ["rawtx",...] ( allowhighfees )')).toBe('not-answered');
    expect(mempoolFeesOf('testmempoolaccept')).toBeNull();
    expect(mempoolFeesOf('testmempoolaccept ["rawtx",...]')).toBeNull();
  });

  it('a listing whose testmempoolaccept names neither form is refused, naming the form', async () => {
    const listing = BCHN_28_HELP.replace('testmempoolaccept ["rawtx",...] ( allowhighfees )', 'testmempoolaccept ["rawtx",...]');
    const s = await standIn(listing, { getindexinfo: TXINDEX });
    try {
      const e = (await checkNodeFit(s.node, 'BCH', 'estimatefee').catch((x: unknown) => x)) as BtcNodeUnfit;
      expect(e.missing).toEqual([]);
      expect(e.problems).toEqual([expect.stringContaining('its testmempoolaccept is `testmempoolaccept ["rawtx",...]`')]);
    } finally {
      await s.close();
    }
  });

  const RAW = '0200';
  const TXID = 'ab'.repeat(32);
  it("a reply without fee or vsize: a bad reply from a node that answers them, the node's own kind taken without", async () => {
    const s = await standIn(undefined, { testmempoolaccept: `[{"txid":"${TXID}","allowed":true}]` });
    try {
      await expect(s.node.testMempoolAccept(RAW)).rejects.toBeInstanceOf(BtcRpcBadReply);
      await expect(s.node.testMempoolAccept(RAW, { fees: 'answered' })).rejects.toBeInstanceOf(BtcRpcBadReply);
      expect(await s.node.testMempoolAccept(RAW, { fees: 'not-answered' })).toEqual({ txid: TXID, allowed: true, vsize: null, fee: null });
    } finally {
      await s.close();
    }
  });

  it('a node said to answer none that does answer them: read (and so checked by the driver)', async () => {
    const s = await standIn(undefined, { testmempoolaccept: `[{"txid":"${TXID}","allowed":true,"vsize":110,"fees":{"base":0.00000111}}]` });
    try {
      expect(await s.node.testMempoolAccept(RAW, { fees: 'not-answered' })).toEqual({ txid: TXID, allowed: true, vsize: 110, fee: 111n });
    } finally {
      await s.close();
    }
  });

  it('half of them (a fee without vsize) is a bad reply whatever the kind', async () => {
    const s = await standIn(undefined, { testmempoolaccept: `[{"txid":"${TXID}","allowed":true,"fees":{"base":0.00000111}}]` });
    try {
      await expect(s.node.testMempoolAccept(RAW, { fees: 'not-answered' })).rejects.toBeInstanceOf(BtcRpcBadReply);
    } finally {
      await s.close();
    }
  });
});

describe('a node answering help oddly: a bad reply, never a pass', () => {
  const odd: Array<[string, unknown]> = [
    ['a number', 42],
    ['an empty listing', ''],
    ['a listing without headers', 'getblock\nscantxoutset\nhelp'],
    ['a line that names no method', '== Blockchain ==\ngetblock "blockhash" ( verbosity )\n<html>oops</html>\n== Control ==\nhelp'],
    ['a listing that does not name help', '== Blockchain ==\ngetblock "blockhash" ( verbosity )'],
    ['an object', { methods: ['getblock'] }],
  ];
  for (const [what, listing] of odd)
    it(what, async () => {
      const s = await standIn(listing);
      try {
        const e = await nodeFitProblems(s.node).catch((x: unknown) => x);
        expect(e).toBeInstanceOf(NodeUnavailable);
        expect(e).not.toBeInstanceOf(ConfigError);
        expect(s.asked).toEqual(['help']);
      } finally {
        await s.close();
      }
    });

  it('helpListing itself throws a bad reply on text that is not a listing', () => {
    expect(() => helpListing('Method not found')).toThrow(BtcRpcBadReply);
  });

  it('a node that answers help with null is no pass either', async () => {
    const s = await standIn(null);
    try {
      expect(await nodeFitProblems(s.node).catch((x: unknown) => x)).toBeInstanceOf(NodeUnavailable);
    } finally {
      await s.close();
    }
  });
});

describe('a node that does not serve help (-32601)', () => {
  it('is refused, named: not a Bitcoin-Core-style node', async () => {
    const s = await standIn(undefined);
    try {
      const e = (await checkNodeFit(s.node, 'BCH').catch((x: unknown) => x)) as BtcNodeUnfit;
      expect(e).toBeInstanceOf(BtcNodeUnfit);
      expect(e.missing).toEqual(['help']);
      expect(e.message).toContain('coin BCH');
      expect(e.message).toContain('does not serve help');
    } finally {
      await s.close();
    }
  });
});

describe('litecoind 0.21 with txindex=1 (real regtest node)', () => {
  const litecoind = litecoindForFile();
  let node: BtcNode;
  beforeAll(async () => {
    node = new BtcNode({ url: (await litecoind()).url, timeoutMs: 30_000 });
  });
  afterAll(() => node?.close());

  it('lists every method the driver calls, in the form it calls them', async () => {
    const listing = helpListing(await node.help());
    for (const n of nodeNeeds('estimatesmartfee')) {
      expect(listing.has(n.method), n.method).toBe(true);
      if (n.form) expect(listing.get(n.method)).toMatch(n.form.words);
    }
    expect(listing.get('getblock')).toBe('getblock "blockhash" ( verbosity )');
    expect(listing.get('estimatesmartfee')).toBe('estimatesmartfee conf_target ( "estimate_mode" )');
  });

  it('with fee_estimate "estimatefee" it is refused, naming estimatefee (Bitcoin Core dropped it in 0.17)', async () => {
    const e = (await checkNodeFit(node, 'LTC', 'estimatefee').catch((x: unknown) => x)) as BtcNodeUnfit;
    expect(e).toBeInstanceOf(BtcNodeUnfit);
    expect(e.missing).toEqual(['estimatefee']);
  });

  it('passes: nothing missing, txindex on and synced; its testmempoolaccept answers the fee', async () => {
    expect(await nodeFitProblems(node)).toEqual({ missing: [], problems: [], fit: { mempoolFees: 'answered' } });
    expect(await checkNodeFit(node, 'LTC')).toEqual({ mempoolFees: 'answered' });
    expect(await checkNodeFit(node, 'LTC', 'floor')).toEqual({ mempoolFees: 'answered' });
    expect(helpListing(await node.help()).get('testmempoolaccept')).toBe('testmempoolaccept ["rawtx",...] ( maxfeerate )');
    expect((await node.getIndexInfo()).txindex?.synced).toBe(true);
  });
});

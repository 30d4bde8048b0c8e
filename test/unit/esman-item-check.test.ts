// What `esman create` (and `add`, for the names it knows) takes into a store: every item checked before
// anything is written, so a DB.JSON that is not JSON, a SIGN.KEY that is not a key, a key beside another
// pair's certificate or a stray file is refused naming the item and never quoting its value.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EsmanError } from '../../src/esman/errors.js';
import { checkItemValue, checkNewItems } from '../../src/esman/item-check.js';
import { createRoot, issueCert, type IssuedPair } from '../../src/pki/issue.js';

const validity = { notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 86_400_000) };
const text = (s: string) => Buffer.from(s, 'utf8');
const SECRET = `s3cr3t-${randomBytes(6).toString('hex')}`;

function refusal(fn: () => unknown): EsmanError {
  try {
    fn();
  } catch (e) {
    if (e instanceof EsmanError) return e;
    throw e;
  }
  throw new Error('expected an EsmanError');
}

async function pairs(): Promise<{ signer: IssuedPair; tls: IssuedPair }> {
  const root = await createRoot('test root', validity);
  return {
    signer: await issueCert(root, { purpose: 'signer', role: 'payserv' }, validity),
    tls: await issueCert(root, { purpose: 'tls', identity: 'dbgw' }, validity),
  };
}

describe('esman item checks', () => {
  it('a directory of well-formed items, as `pscli pki init --keys-dir` and an operator make it, is taken', async () => {
    const { signer, tls } = await pairs();
    const key = randomBytes(32).toString('hex');
    expect(() =>
      checkNewItems([
        ['payserv.SIGN.CRT', text(signer.certPem)],
        ['payserv.SIGN.KEY', text(signer.keyPem)],
        ['dbgw.TLS.CRT', text(tls.certPem)],
        ['dbgw.TLS.KEY', text(tls.keyPem)],
        ['DB.JSON', text('{"url":"postgres://payserv:pw@127.0.0.1/payserv"}')],
        ['Coin.ETH.JSON', text(JSON.stringify({ coin: 'ETH', privateKey: key }))],
        ['ZEC.RPC.JSON', text('{"user":"payserv","password":"pw"}')],
      ]),
    ).not.toThrow();
  });

  it('each malformed item refused as bad_item naming the item and what is wrong, never its value', async () => {
    const { signer, tls } = await pairs();
    const bad: Array<[string, Buffer, RegExp]> = [
      ['DB.JSON', text(`{"url": "postgres://u:${SECRET}@db/x"`), /^DB\.JSON: is not \{"url": "postgres:\/\/…"\}$/],
      ['DB.JSON', text(JSON.stringify({ url: `mysql://u:${SECRET}@db/x` })), /^DB\.JSON: is not \{"url"/],
      ['payserv.SIGN.KEY', text(`${SECRET}\n`), /^payserv\.SIGN\.KEY: is not a PEM private key$/],
      ['payserv.SIGN.KEY', text(signer.certPem), /^payserv\.SIGN\.KEY: is not a PEM private key$/],
      ['dbgw.TLS.CRT', text(tls.keyPem), /^dbgw\.TLS\.CRT: is not a PEM certificate$/],
      [
        'dbgw.TLS.CRT',
        text(`-----BEGIN CERTIFICATE-----\n${SECRET}\n-----END CERTIFICATE-----\n`),
        /^dbgw\.TLS\.CRT: is not a PEM certificate$/,
      ],
      [
        'Coin.ETH.JSON',
        text(JSON.stringify({ coin: 'ETC', privateKey: randomBytes(32).toString('hex') })),
        /^Coin\.ETH\.JSON: is the key of coin ETC, not ETH$/,
      ],
      ['Coin.ETH.JSON', text(JSON.stringify({ coin: 'ETH', privateKey: SECRET })), /^Coin\.ETH\.JSON: is not \{"coin"/],
      ['ZEC.RPC.JSON', text(JSON.stringify({ user: 'payserv' })), /^ZEC\.RPC\.JSON: is not \{"user": "…", "password": "…"\}$/],
    ];
    for (const [name, value, says] of bad) {
      for (const e of [refusal(() => checkNewItems([[name, value]])), refusal(() => checkItemValue(name, value))]) {
        expect(e.code, name).toBe('bad_item');
        expect(e.message, name).toMatch(says);
        expect(e.message).not.toContain(SECRET);
      }
    }
  });

  it('create refuses a stray file (a name payserv does not use); add takes such a name as it is', () => {
    for (const name of ['notes.txt', 'payserv.SIGN.PEM', 'root.key', 'Coin.eth.JSON']) {
      const e = refusal(() => checkNewItems([[name, text(SECRET)]]));
      expect(e.code).toBe('bad_item');
      expect(e.message).toMatch(new RegExp(`^${name.replace(/\./g, '\\.')}: not an item payserv uses \\(expected .*DB\\.JSON`));
      expect(e.message).not.toContain(SECRET);
      expect(() => checkItemValue(name, text(SECRET))).not.toThrow();
    }
  });

  it("a key beside another pair's certificate is refused naming both items", async () => {
    const a = await pairs();
    const b = await pairs();
    const e = refusal(() =>
      checkNewItems([
        ['payserv.SIGN.CRT', text(a.signer.certPem)],
        ['payserv.SIGN.KEY', text(b.signer.keyPem)],
      ]),
    );
    expect(e.code).toBe('bad_item');
    expect(e.message).toBe('payserv.SIGN.KEY: is not the key of payserv.SIGN.CRT');
  });
});

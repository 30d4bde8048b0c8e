// After a full demo run (PKI into esman's store, shares, hot wallets, payserv unlocked by esman manager,
// payments on anvil and the Zcash stand-in), no secret is anywhere it could leak from: not in the
// demo's output and error output, not in payserv's log, not in the database, not in any file of the
// state directory. Every secret is looked for raw, as hex and as base64.
import { createPrivateKey, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { openDatabase } from '../src/db/open.js';
import { storeKeyOf } from '../src/esman/master-key.js';
import { decryptShare, parseShareFile } from '../src/esman/share-file.js';
import { unlockShares } from '../src/esman/shares.js';
import { KeyStore } from '../src/esman/store-file.js';
import { describeOncePerSuite } from './support/db.js';
import { spawnNode } from './support/spawn.js';
import { tmpStateDir } from './support/tmp.js';

interface Secret {
  what: string;
  needles: Buffer[];
}

/** The forms a secret could leak in: raw, hex (either case), base64 and base64url (unpadded). */
function formsOf(what: string, raw: Uint8Array): Secret {
  const b = Buffer.from(raw);
  const texts = [b.toString('hex'), b.toString('hex').toUpperCase(), b.toString('base64').replace(/=+$/, ''), b.toString('base64url')];
  return { what, needles: [b, ...new Set(texts)].map((t) => Buffer.from(t)) };
}

/** A PEM private key: the PEM text, its DER, and the private scalar itself. */
function pemKeyForms(what: string, pem: string): Secret[] {
  const key = createPrivateKey(pem);
  const der = key.export({ format: 'der', type: 'pkcs8' });
  const d = Buffer.from(key.export({ format: 'jwk' }).d as string, 'base64url');
  return [
    { what: `${what} (PEM)`, needles: [Buffer.from(pem.trim())] },
    formsOf(`${what} (DER)`, der),
    formsOf(`${what} (private scalar)`, d),
  ];
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** Every row of every table of the demo's database, as text. */
async function databaseText(stateDir: string): Promise<Buffer> {
  const db = await openDatabase({}, stateDir);
  try {
    const tables = await db.query<{ t: string }>(`SELECT format('%I.%I', table_schema, table_name) AS t FROM information_schema.tables
      WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE'`);
    expect(tables.length).toBeGreaterThan(10);
    const parts: string[] = [];
    for (const { t } of tables) for (const r of await db.query<{ row: string }>(`SELECT x::text AS row FROM ${t} x`)) parts.push(r.row);
    return Buffer.from(parts.join('\n'));
  } finally {
    await db.close();
  }
}

function leaks(secrets: Secret[], where: string, hay: Buffer): string[] {
  return secrets.flatMap((s) => (s.needles.some((n) => hay.includes(n)) ? [`${s.what} found in ${where}`] : []));
}

const stagingDirs = () => new Set(readdirSync(tmpdir()).filter((n) => n.startsWith('payserv-demo-keys-')));

describeOncePerSuite('secrets after a full demo run', () => {
  it('are nowhere in the output, the error output, the log, the database or the state directory', async () => {
    const stateDir = join(await tmpStateDir('payserv-demo-secrets-'), 'state');
    const passphrases = [0, 1, 2].map(() => randomBytes(18).toString('base64url'));
    const stagingBefore = stagingDirs();
    const demo = spawnNode(
      ['bin/demo.mjs', '--users', '60', '--blocks', '3', '--withdrawals', '50', '--passphrase-fd', '3'],
      { PAYSERV_STATE_DIR: stateDir },
      { pipes: true },
    );
    (demo.proc.stdio[3] as NodeJS.WritableStream).end(`${passphrases.join('\n')}\n`);
    const code = await demo.waitExit(540_000);
    expect(code, demo.stderr().slice(-3000)).toBe(0);
    expect(demo.stdout()).toMatch(/esman manager handed out its key/);
    expect(demo.stdout()).toMatch(/audit trail: .* verified/);

    // What the demo sealed: the operators' passphrases open the shares, the shares the store.
    const sharesDir = join(stateDir, 'shares');
    const secrets: Secret[] = passphrases.map((p, i) => formsOf(`passphrase ${i + 1}`, Buffer.from(p)));
    for (const i of [1, 2, 3]) {
      const path = join(sharesDir, `${i}.ss`);
      secrets.push(
        formsOf(`share ${i}`, await decryptShare(parseShareFile(readFileSync(path), path), Buffer.from(passphrases[i - 1]!), path)),
      );
    }
    let next = 0;
    const { master } = await unlockShares(sharesDir, async () => passphrases[next++] ?? null);
    secrets.push(formsOf('master key', master), formsOf('store key', storeKeyOf(master)));
    const store = await KeyStore.open(join(stateDir, 'storage.demo'), master);
    const items = store.list().map((i) => i.name);
    expect(items).toEqual(
      expect.arrayContaining(['Coin.ETH.JSON', 'Coin.ZEC.JSON', 'payserv.SIGN.KEY', 'payserv.TLS.KEY', 'ZEC.RPC.JSON']),
    );
    for (const name of items) {
      const value = store.get(name);
      if (name.endsWith('.KEY')) secrets.push(...pemKeyForms(name, value.toString('utf8')));
      if (name.endsWith('.RPC.JSON'))
        secrets.push(
          formsOf(`${name} (node password)`, Buffer.from((JSON.parse(value.toString('utf8')) as { password: string }).password)),
        );
      if (name.startsWith('Coin.')) {
        secrets.push({ what: `${name} (item)`, needles: [value] });
        secrets.push(
          formsOf(`${name} (private key)`, Buffer.from((JSON.parse(value.toString('utf8')) as { privateKey: string }).privateKey, 'hex')),
        );
      }
    }
    store.close();
    expect(secrets.length).toBeGreaterThan(30);

    const found: string[] = [];
    found.push(...leaks(secrets, "the demo's output", Buffer.from(demo.stdout())));
    found.push(...leaks(secrets, "the demo's error output", Buffer.from(demo.stderr())));
    const files = await filesUnder(stateDir);
    expect(files.map((f) => f.slice(stateDir.length + 1))).toEqual(
      expect.arrayContaining(['payserv.log', 'storage.demo', 'pki/root.crt', 'shares/1.ss']),
    );
    const log = await readFile(join(stateDir, 'payserv.log'));
    expect(log.toString()).toMatch(/key received from esman manager/);
    for (const f of files) found.push(...leaks(secrets, f.slice(stateDir.length + 1), await readFile(f)));
    found.push(...leaks(secrets, 'the database', await databaseText(stateDir)));
    expect(found).toEqual([]);

    // The search would have seen one: a private key planted in a copy of the log is found.
    const planted = Buffer.concat([log, secrets.at(-1)!.needles[1]!]);
    expect(leaks(secrets, 'planted', planted)).toHaveLength(1);
    // The plain keys' staging directory is gone.
    expect([...stagingDirs()].filter((d) => !stagingBefore.has(d))).toEqual([]);
  }, 600_000);
});

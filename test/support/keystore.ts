// payserv's key store for tests of a locked payserv: made from a process ledger's PKI files, whose
// private keys are then removed, as an operator's recipe leaves them.
import { rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DATABASE_ITEM, signerItems, tlsItems } from '../../src/esman/items.js';
import { KeyStore } from '../../src/esman/store-file.js';
import { pkiPaths } from '../../src/esman/pki-files.js';
import type { ProcessLedger } from './spawn.js';

/** The store payserv needs, made from the ledger's PKI files, which are then removed. */
/** `extra`: more items, by name (a hot wallet's Coin.<TAG>.JSON, a node's credentials). */
export async function storeFor(l: ProcessLedger, master: Uint8Array, extra: Record<string, Uint8Array> = {}): Promise<string> {
  const p = pkiPaths(l.stateDir);
  const store = KeyStore.empty(join(l.stateDir, 'storage.prod'));
  store.set(signerItems('payserv').cert, await readFile(p.signerCert('payserv')));
  store.set(signerItems('payserv').key, await readFile(p.signerKey('payserv')));
  store.set(tlsItems('payserv').cert, await readFile(p.tlsCert('payserv')));
  store.set(tlsItems('payserv').key, await readFile(p.tlsKey('payserv')));
  if (l.databaseUrl) store.set(DATABASE_ITEM, Buffer.from(JSON.stringify({ url: l.databaseUrl })));
  for (const [name, value] of Object.entries(extra)) store.set(name, value);
  await store.save(master);
  rmSync(p.signerKey('payserv'));
  rmSync(p.tlsKey('payserv'));
  return store.path;
}

// payserv started and waiting for the key: the waiting_for_key notice reaches the channels routed to it
// (here a local webhook) while payserv is locked, before any key arrives; it stops cleanly meanwhile.
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { newMasterKey } from '../src/esman/master-key.js';
import { storeFor } from './support/keystore.js';
import { freePort } from './support/ports.js';
import { processLedger, spawnNode, until, writeConfig } from './support/spawn.js';

describe('payserv waiting for the key', () => {
  it('tells the routed webhook, naming the store and the manager, and nothing secret', async () => {
    const got: Array<{ kind: string; reason: string; details: Record<string, unknown> }> = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString('utf8')));
      req.on('end', () => {
        got.push(JSON.parse(body) as (typeof got)[number]);
        res.writeHead(204).end();
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    onTestFinished(() => new Promise((r) => server.close(() => r(undefined))));
    const l = await processLedger({ users: 2, blocks: 1, withdrawals: 0, coins: ['ETH'] });
    await storeFor(l, newMasterKey());
    const port = await freePort();
    const config = writeConfig(join(l.stateDir, 'payserv.toml'), {
      extra: [
        `[keys]\nstore = "storage.prod"\nmanager = "127.0.0.1:${port}"\nretry_ms = 100`,
        `[alerts]\nwebhook_url = "http://127.0.0.1:${(server.address() as AddressInfo).port}/hook"`,
        `[alerts.events]\nwaiting_for_key = ["webhook"]`,
      ].join('\n'),
    });
    const payserv = spawnNode(['bin/payserv.mjs', '--config', config], { PAYSERV_STATE_DIR: l.stateDir });
    await until('the webhook hears payserv wait', () => got.length > 0, 30_000);
    expect(got).toEqual([
      {
        id: null,
        at: expect.any(String),
        kind: 'waiting_for_key',
        reason: expect.stringMatching(new RegExp(`waits for the key of .*storage\\.prod: an operator approves .*127\\.0\\.0\\.1:${port}`)),
        details: { store: join(l.stateDir, 'storage.prod'), manager: `127.0.0.1:${port}` },
      },
    ]);
    expect(payserv.stdout()).not.toMatch(/listening/);
    expect(await payserv.stop('SIGTERM', 30_000)).toBe(0);
  }, 120_000);
});

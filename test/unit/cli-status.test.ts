// pscli status (and every call) when payserv cannot answer: plain sentences, not a TLS error (issue 15, item 9).
import { writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit.js';
import { runPscli } from '../support/pscli.js';
import { tmpStateDir } from '../support/tmp.js';

const servers: Server[] = [];
const sockets = new Set<Socket>();
afterEach(async () => {
  for (const s of sockets) s.destroy();
  sockets.clear();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A TCP server on a free loopback port, each connection handed to `onConnection`. */
async function listen(onConnection: (socket: Socket) => void): Promise<number> {
  const server = createServer((socket) => {
    sockets.add(socket);
    onConnection?.(socket);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as { port: number }).port;
}

/** A state directory with pscli's TLS pair, and a pscli.toml naming payserv at `port`. */
async function stateFor(port: number): Promise<Record<string, string>> {
  const stateDir = await tmpStateDir();
  const env = { PAYSERV_STATE_DIR: stateDir };
  expect((await runPscli(['pki', 'init'], env)).code).toBe(EXIT.OK);
  await writeFile(join(stateDir, 'pscli.toml'), `[payserv]\nport = ${port}\ntimeout_ms = 5000\n`);
  return env;
}

describe('pscli when payserv cannot answer', () => {
  it('says payserv is locked, waiting for esman manager, when its port answers with the locked notice', async () => {
    const port = await listen((s) => s.end('{"service":"payserv","state":"locked","waiting_for":"esman manager"}\n'));
    const env = await stateFor(port);
    for (const argv of [['status'], ['approve', '7']]) {
      const r = await runPscli(argv, env);
      expect(r, argv.join(' ')).toEqual({
        code: EXIT.RUNTIME,
        stdout: '',
        stderr: `pscli: payserv is locked, waiting for esman manager (at 127.0.0.1:${port}): an operator answers there, then try again\n`,
      });
    }
  });

  it('says payserv is not running when nothing listens on its port', async () => {
    const port = await listen(() => undefined);
    await new Promise((r) => servers.pop()?.close(r));
    const r = await runPscli(['status'], await stateFor(port));
    expect(r).toEqual({
      code: EXIT.RUNTIME,
      stdout: '',
      stderr: `pscli: payserv is not running at 127.0.0.1:${port} (connection refused)\n`,
    });
  });

  it('says the port did not speak TLS, and that nothing was sent, when it answers with something else', async () => {
    const port = await listen((s) => s.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    const r = await runPscli(['status'], await stateFor(port));
    expect(r).toEqual({
      code: EXIT.RUNTIME,
      stdout: '',
      stderr: `pscli: payserv at 127.0.0.1:${port} did not speak TLS (wrong port?): nothing was sent\n`,
    });
  });
});

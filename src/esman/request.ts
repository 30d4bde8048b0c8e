// payserv's side of the hand-over: ask the manager on loopback, retrying until an operator allows it,
// and accept the key only if it opens our store.
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log/index.js';
import { EsmanError, reasonOf, wipe } from './errors.js';
import { readLine, writeLine } from './lines.js';
import { loopbackEndpoint } from './loopback.js';
import { LINE_BYTES_MAX, PROTOCOL, fingerprint, newRequest, openKey, refusalAck, replySchema, type KeyAck } from './transfer.js';

export interface ObtainKeyOptions<T> {
  /** host:port of esman manager, on loopback. */
  manager: string;
  retryMs: number;
  /** How long one request may wait for the operator's answer. */
  answerTimeoutMs: number;
  log: Logger;
  /** Uses the key (opens the store); a key it rejects is not our manager's, and we ask again. */
  accept(master: Uint8Array): Promise<T>;
  signal?: AbortSignal;
}

function connectTo(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port });
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', (e) => reject(new EsmanError('unreachable', `esman manager at ${host}:${port} is not answering (${reasonOf(e)})`)));
  });
}

/** How long payserv waits for its answer to the manager to be sent: the manager's fate does not hold up the start. */
const ANSWER_WRITE_MS = 2_000;

/** Best effort: a manager gone by now learns nothing, and payserv goes on either way. */
function answer(socket: Socket, ack: KeyAck): Promise<void> {
  return Promise.race([writeLine(socket, ack), sleep(ANSWER_WRITE_MS, undefined, { ref: false })]);
}

async function askOnce<T>(o: ObtainKeyOptions<T>, host: string, port: number): Promise<T> {
  const socket = await connectTo(host, port);
  socket.on('error', () => undefined);
  const pending = newRequest();
  try {
    o.log.warn(
      { manager: o.manager, fingerprint: fingerprint(pending.request) },
      'key requested from esman manager: an operator must type "y" there (check the fingerprint)',
    );
    socket.write(`${JSON.stringify(pending.request)}\n`);
    const line = await readLine(socket, LINE_BYTES_MAX, o.answerTimeoutMs);
    let reply;
    try {
      reply = replySchema.parse(JSON.parse(line));
    } catch {
      throw new EsmanError('bad_message', `${o.manager} did not answer as esman manager does`);
    }
    const master = openKey(pending, reply);
    let result: T;
    try {
      result = await o.accept(master);
    } catch (e) {
      // The manager's operators learn why, from the manager, instead of a success it cannot tell from one.
      await answer(socket, refusalAck(e));
      throw new EsmanError('key_refused', `the key from ${o.manager} was refused: ${(e as Error).message}`);
    } finally {
      wipe(master);
    }
    await answer(socket, { esman: PROTOCOL, taken: true });
    return result;
  } finally {
    wipe(pending.secret);
    socket.destroy();
  }
}

/** Retries until a key arrives that `accept` takes, or `signal` aborts. */
export async function obtainKey<T>(o: ObtainKeyOptions<T>): Promise<T> {
  const { host, port } = loopbackEndpoint(o.manager, '[keys] manager');
  let last = '';
  for (;;) {
    o.signal?.throwIfAborted();
    try {
      const result = await askOnce(o, host, port);
      o.log.warn({ manager: o.manager }, 'key received from esman manager; the store is open');
      return result;
    } catch (e) {
      if (!(e instanceof EsmanError)) throw e;
      // Say each new kind of reason once (key ids and ports aside): a manager not yet started, or an
      // impostor sending random keys, would otherwise fill the log.
      const kind = e.message.replace(/[0-9a-f]{16,}|:\d+\b/g, '…');
      if (kind !== last)
        o.log.warn({ manager: o.manager, reason: e.message, retryMs: o.retryMs }, 'no key yet from esman manager; asking again');
      last = kind;
    }
    await sleep(o.retryMs, undefined, o.signal ? { signal: o.signal } : {});
  }
}

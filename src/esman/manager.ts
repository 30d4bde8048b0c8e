// esman manager: holds the rebuilt master key and hands it, sealed, to a payserv that asks on loopback,
// each time an operator types "y", and waits for payserv to say whether it took the key: a key payserv
// refused (wrong shares for its store, an item it cannot use) stops the manager with payserv's reason.
// After `count` keys taken it stops listening and wipes the key.
import { createServer, type Server, type Socket } from 'node:net';
import { EsmanError, reasonOf, wipe } from './errors.js';
import { LINE_BYTES_MAX, PROTOCOL, ackSchema, fingerprint, requestSchema, sealKey, type KeyRequest } from './transfer.js';
import { readLine, writeLine } from './lines.js';
import { isLoopback } from './loopback.js';

export const KEY_REQUEST_PROMPT = (peer: string) => `key request from ${peer}, type "y" if you allow this, anything else if not: `;

export interface ManagerOptions {
  master: Uint8Array;
  host: string;
  port: number;
  /** Keys handed out before the manager closes. */
  count: number;
  /** The operator's answer to one request (serialised: one prompt at a time). */
  ask(peer: string, fingerprint: string): Promise<boolean>;
  /** A line for the operator. */
  say(line: string): void;
  requestTimeoutMs?: number;
  /** How long payserv may take to open its store with the key and answer whether it took it. */
  ackTimeoutMs?: number;
}

export interface Manager {
  host: string;
  port: number;
  /**
   * Settles when the manager has handed out its keys (or was closed) and stopped listening; rejects
   * (code key_refused) when a payserv did not take a key it was sent: wrong shares or store, or a bad item.
   */
  done: Promise<void>;
  close(): Promise<void>;
}

/** payserv opens its store and loads its keys in well under this. */
export const ACK_TIMEOUT_MS = 30_000;

/** Why payserv did not take the key it was sent (its own code and message), or undefined when it took it. */
async function ackOf(socket: Socket, peer: string, timeoutMs: number): Promise<EsmanError | undefined> {
  let ack;
  try {
    ack = ackSchema.parse(JSON.parse(await readLine(socket, LINE_BYTES_MAX, timeoutMs)));
  } catch (e) {
    const why = e instanceof EsmanError ? e.message : 'not an answer of payserv';
    return new EsmanError('key_refused', `${peer} did not confirm it took the key (${why}): check payserv's log`);
  }
  if ('taken' in ack) return undefined;
  return new EsmanError('key_refused', `payserv at ${peer} refused the key: [${ack.refusedKey.code}] ${ack.refusedKey.message}`);
}

const peerOf = (s: Socket) => (s.remoteFamily === 'IPv6' ? `[${s.remoteAddress}]:${s.remotePort}` : `${s.remoteAddress}:${s.remotePort}`);

export async function startManager(o: ManagerOptions): Promise<Manager> {
  if (!isLoopback(o.host)) throw new EsmanError('not_loopback', `esman manager listens on loopback only, not ${o.host}`);
  const master = Uint8Array.from(o.master);
  let given = 0;
  let closing = false;
  let queue: Promise<void> = Promise.resolve();
  let failure: EsmanError | undefined;
  let resolveDone!: () => void;
  let rejectDone!: (e: EsmanError) => void;
  const done = new Promise<void>((resolve, reject) => ((resolveDone = resolve), (rejectDone = reject)));
  const server: Server = createServer({ pauseOnConnect: false });
  /** Connections that have not yet sent their request: dropped when the manager closes. */
  const silent = new Set<Socket>();

  const finish = (e?: EsmanError) => {
    if (closing) return;
    closing = true;
    failure = e;
    wipe(master);
    for (const s of silent) s.destroy();
    server.close(() => (failure ? rejectDone(failure) : resolveDone()));
  };

  async function serve(socket: Socket, request: KeyRequest): Promise<void> {
    const peer = peerOf(socket);
    if (closing) return writeLine(socket, { esman: PROTOCOL, refused: 'the manager has handed out its keys' });
    const fp = fingerprint(request);
    o.say(`request fingerprint ${fp} (payserv logs the same)`);
    const allowed = await o.ask(peer, fp).catch(() => false);
    if (!allowed || closing || socket.destroyed) {
      o.say(`refused ${peer}`);
      return writeLine(socket, { esman: PROTOCOL, refused: 'refused by the operator' });
    }
    socket.write(`${JSON.stringify(sealKey(request, master))}\n`);
    const refused = await ackOf(socket, peer, o.ackTimeoutMs ?? ACK_TIMEOUT_MS);
    socket.end();
    if (refused) {
      // The same shares would be refused again: stop, and say why, instead of prompting for every retry.
      o.say(refused.message);
      return finish(refused);
    }
    given += 1;
    o.say(`key sent to ${peer} (${given} of ${o.count})`);
    if (given >= o.count) finish();
  }

  server.on('connection', (socket) => {
    socket.on('error', () => undefined);
    const peer = peerOf(socket);
    if (!isLoopback(socket.remoteAddress)) {
      o.say(`refused ${peer}: not a loopback address`);
      socket.destroy();
      return;
    }
    silent.add(socket);
    void readLine(socket, LINE_BYTES_MAX, o.requestTimeoutMs ?? 10_000)
      .finally(() => silent.delete(socket))
      .then((line) => {
        const parsed = requestSchema.safeParse(JSON.parse(line));
        if (!parsed.success) throw new EsmanError('bad_message', 'not an esman key request');
        // One prompt at a time: two requests never share a "y".
        // A request that fails must not reject the queue: every later request would fail with it.
        const turn = queue.then(() => serve(socket, parsed.data));
        queue = turn.catch(() => undefined);
        return turn;
      })
      .catch((e: Error) => {
        o.say(`ignored ${peer}: ${e instanceof EsmanError ? e.message : 'not an esman key request'}`);
        socket.destroy();
      });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) =>
      reject(new EsmanError('cannot_listen', `esman manager cannot listen on ${o.host}:${o.port}: ${reasonOf(e)}`)),
    );
    server.listen(o.port, o.host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.port;
  return {
    host: o.host,
    port,
    done,
    async close() {
      finish();
      // A refusal is reported through `done`; closing itself succeeds.
      await done.catch(() => undefined);
    },
  };
}

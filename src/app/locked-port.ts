// payserv's RPC port, bound before anything else at start: a second payserv on a taken port fails at
// once, before an operator is asked for the key. Until the store is open, every connection is answered
// with one line saying payserv is locked (pscli status reads it) and closed; the RPC server then takes
// the same listening socket over and serves TLS on it.
import { createServer, type Server, type Socket } from 'node:net';
import { listenOn } from '../rpc/listen.js';

/** Exactly this line, then the connection is closed: a client tells "locked" from "down" or "TLS". */
export const LOCKED_LINE = '{"service":"payserv","state":"locked","waiting_for":"esman manager"}\n';

function answerLocked(socket: Socket): void {
  socket.on('error', () => undefined);
  socket.end(LOCKED_LINE);
}

export interface LockedPort {
  /** The bound socket; hand it to the RPC server once unlocked. */
  readonly server: Server;
  /** Stops answering "locked": the RPC server's own connection handler takes over. */
  unlock(): Server;
  close(): Promise<void>;
}

export async function bindLockedPort(host: string, port: number): Promise<LockedPort> {
  const server = createServer();
  server.on('connection', answerLocked);
  await listenOn(server, host, port, 'payserv');
  return {
    server,
    unlock: () => server.off('connection', answerLocked),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

// Binding a server's port, with an error an operator can act on: which address, and why (a second
// instance on a taken port is the usual one).
import type { Server } from 'node:net';

export class PortTakenError extends Error {
  override name = 'PortTakenError';
}

/** Listens on host:port (0: any free port); a port in use or not allowed is an error naming host:port. */
export function listenOn(server: Server, host: string, port: number, who: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const fail = (e: NodeJS.ErrnoException) => {
      const why =
        e.code === 'EADDRINUSE'
          ? `the port is in use (another ${who} running?)`
          : e.code === 'EACCES'
            ? 'not allowed for this user'
            : (e.code ?? e.message);
      reject(new PortTakenError(`cannot listen on ${host}:${port}: ${why}`));
    };
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      resolve();
    });
  });
}

/** Stops listening and drops every connection at once (a read-only listener has nothing to finish). */
export function closeNow(server: Server & { closeAllConnections(): void }): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

// A loopback port nobody listens on right now, for a process under test that must be told its port
// before it starts (the manager's, the RPC port a locked payserv answers on). Another process may take
// it in between: rare, and a test then fails loudly on the taken port.
import { createServer } from 'node:net';

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as { port: number };
  await new Promise((r) => s.close(r));
  return port;
}

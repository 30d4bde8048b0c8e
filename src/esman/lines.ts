// One JSON line per message over a socket: bounded in size and time, so a silent or flooding peer
// costs nothing but its own connection.
import type { Socket } from 'node:net';
import { EsmanError, reasonOf } from './errors.js';

export function readLine(socket: Socket, maxBytes: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const done = (e: Error | null, line?: string) => {
      clearTimeout(timer);
      socket.off('data', onData).off('end', onEnd).off('error', onError).off('close', onEnd);
      if (e) reject(e);
      else resolve(line!);
    };
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const nl = buf.indexOf(0x0a);
      if (nl >= 0) done(null, buf.subarray(0, nl).toString('utf8'));
      else if (buf.length > maxBytes) done(new EsmanError('bad_message', `message longer than ${maxBytes} bytes`));
    };
    const onEnd = () => done(new EsmanError('bad_message', 'connection closed before a whole message arrived'));
    const onError = (e: Error) => done(new EsmanError('unreachable', `connection failed: ${reasonOf(e)}`));
    const timer = setTimeout(() => done(new EsmanError('timeout', `no message within ${timeoutMs} ms`)), timeoutMs);
    socket.on('data', onData).on('end', onEnd).on('error', onError).on('close', onEnd);
  });
}

export function writeLine(socket: Socket, message: unknown): Promise<void> {
  return new Promise((resolve) => socket.end(`${JSON.stringify(message)}\n`, () => resolve()));
}

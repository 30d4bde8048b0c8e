// A TCP proxy between an adapter and its database (Redis, PostgreSQL) that drops the connection at a chosen
// point: 'request' closes it before the chunk that matched reaches the server (the write never happened),
// 'reply' forwards that chunk and closes it as the server answers (the write happened; the client never
// learns). A kill stops the proxy outright: every connection closed and no new one taken, as when the
// process behind it dies mid-write (nothing it still had queued is sent later).
import net from 'node:net';

export type DropMode = 'request' | 'reply';

/** What a chunk from the client holds: for Redis its complete commands (see respCommands), for PostgreSQL its text. */
export type Splitter = (buffered: Buffer) => { items: string[]; rest: Buffer };

export interface DropProxy {
  port: number;
  /**
   * The next item (from now on) that `match` accepts drops its connection; `match` sees the item and its count
   * since arming. With `die`, the proxy is killed there too (the process behind it died at that point).
   */
  dropAt(match: (item: string, n: number) => boolean, mode: DropMode, die?: 'die'): void;
  /** Drops armed and used since the proxy started. */
  dropped(): number;
  /** Every connection closed, none taken any more. */
  kill(): Promise<void>;
}

/**
 * Complete RESP commands of a buffer, each as its arguments joined by spaces ("hset p:payserv:imported 0x.. 5");
 * a partial command stays in `rest`.
 */
export const respCommands: Splitter = (buf) => {
  const items: string[] = [];
  let at = 0;
  const line = (from: number): [string, number] | null => {
    const end = buf.indexOf('\r\n', from);
    return end < 0 ? null : [buf.subarray(from, end).toString('latin1'), end + 2];
  };
  for (;;) {
    const head = line(at);
    if (!head || !head[0].startsWith('*')) return { items, rest: buf.subarray(at) };
    let p = head[1];
    const args: string[] = [];
    for (let i = 0; i < Number(head[0].slice(1)); i++) {
      const len = line(p);
      if (!len || p + (len[1] - p) + Number(len[0].slice(1)) + 2 > buf.length) return { items, rest: buf.subarray(at) };
      args.push(buf.subarray(len[1], len[1] + Number(len[0].slice(1))).toString('latin1'));
      p = len[1] + Number(len[0].slice(1)) + 2;
    }
    items.push(args.join(' ').toLowerCase());
    at = p;
  }
};

/** A PostgreSQL client chunk as one item: its bytes as text (the query's SQL is in it). */
export const pgText: Splitter = (buf) => ({ items: [buf.toString('latin1')], rest: Buffer.alloc(0) });

export async function dropProxy(target: number, split: Splitter): Promise<DropProxy> {
  let armed: { match: (item: string, n: number) => boolean; mode: DropMode; n: number; die: boolean } | null = null;
  let dropped = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    let buffered: Buffer = Buffer.alloc(0);
    let replyLost: false | 'this' | 'all' = false;
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined).on('close', () => (client.destroy(), upstream.destroy(), sockets.delete(s)));
    }
    client.on('data', (d: Buffer) => {
      const { items, rest } = split(Buffer.concat([buffered, d]));
      buffered = rest;
      const hit = armed && items.some((item) => armed!.match(item, ++armed!.n));
      if (hit) {
        const { mode, die } = armed!;
        armed = null;
        dropped++;
        if (die) server.close();
        if (mode === 'request') return void (die ? killAll() : client.destroy());
        replyLost = die ? 'all' : 'this';
      }
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => (replyLost === 'all' ? killAll() : replyLost ? client.destroy() : client.write(d)));
  });
  const killAll = () => sockets.forEach((s) => s.destroy());
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    port: (server.address() as net.AddressInfo).port,
    dropAt: (match, mode, die) => void (armed = { match, mode, n: 0, die: die === 'die' }),
    dropped: () => dropped,
    kill: () => new Promise<void>((ok) => (killAll(), server.listening ? server.close(() => ok()) : ok())),
  };
}

// Where esman's secrets and answers come from: passphrases typed without echo (twice for a new one), or
// one per line from a file descriptor for automation; never from the command line. Manager answers
// ("y") come line by line from stdin.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { EsmanError } from '../../esman/errors.js';

export const PASSPHRASE_MIN = 12;

/** Descriptors opened for passphrases: closed when the command ends, so a writer that keeps its end open cannot keep esman alive. */
const opened = new Set<Readable>();

export function closePassphraseInputs(): void {
  for (const s of opened) s.destroy();
  opened.clear();
}

/** Lines of a stream, one per call; null once it has ended. */
export class LineReader {
  private readonly lines: string[] = [];
  private readonly waiting: Array<(l: string | null) => void> = [];
  private ended = false;

  constructor(stream: Readable) {
    const rl = createInterface({ input: stream, crlfDelay: Infinity, terminal: false });
    rl.on('line', (l) => (this.waiting.length ? this.waiting.shift()!(l) : this.lines.push(l)));
    rl.on('close', () => {
      this.ended = true;
      for (const w of this.waiting.splice(0)) w(null);
    });
  }

  next(): Promise<string | null> {
    if (this.lines.length) return Promise.resolve(this.lines.shift()!);
    if (this.ended) return Promise.resolve(null);
    return new Promise((r) => this.waiting.push(r));
  }
}

/** One line from a terminal in raw mode, echoing nothing. */
function readHidden(stdin: NodeJS.ReadStream, out: Writable, prompt: string): Promise<string | null> {
  out.write(prompt);
  return new Promise((resolve) => {
    let text = '';
    stdin.setRawMode(true);
    stdin.resume();
    const finish = (v: string | null) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      out.write('\n');
      resolve(v);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return finish(text);
        if (ch === '\u0003') {
          out.write('\n');
          process.exit(130);
        }
        if (ch === '\u0004') return finish(text || null);
        if (ch === '\u007f' || ch === '\b') text = text.slice(0, -1);
        else text += ch;
      }
    };
    stdin.on('data', onData);
  });
}

export interface Passphrases {
  /** An existing share's passphrase; '' or null skips it. */
  ask(prompt: string): Promise<string | null>;
  /** A new passphrase: typed twice on a terminal, once per line from a descriptor. */
  askNew(what: string): Promise<Uint8Array>;
}

export function passphrases(fd: number | undefined, stdin: NodeJS.ReadStream, out: Writable): Passphrases {
  let read: (prompt: string) => Promise<string | null>;
  if (fd !== undefined) {
    // fd 0 through the stdin stream: once Node has opened stdin, a pipe on fd 0 is non-blocking, and a
    // raw read of it fails with EAGAIN (an unhandled crash) whenever the writer has not yet written.
    const stream = fd === 0 ? stdin : createReadStream('', { fd, autoClose: true });
    if (fd !== 0) opened.add(stream);
    const lines = new LineReader(stream);
    read = () => lines.next();
  } else if (stdin.isTTY) {
    read = (prompt) => readHidden(stdin, out, prompt);
  } else {
    read = () =>
      Promise.reject(
        new EsmanError('no_passphrase', 'passphrases are typed at a terminal or given with --passphrase-fd N; stdin is not a terminal'),
      );
  }
  return {
    ask: read,
    async askNew(what) {
      const a = await read(`new passphrase for ${what}: `);
      if (a === null) throw new EsmanError('no_passphrase', `no passphrase given for ${what}`);
      if ([...a].length < PASSPHRASE_MIN)
        throw new EsmanError('weak_passphrase', `the passphrase for ${what} is shorter than ${PASSPHRASE_MIN} characters`);
      if (fd === undefined) {
        const b = await read(`the same passphrase again: `);
        if (a !== b) throw new EsmanError('passphrases_differ', `the two passphrases for ${what} differ`);
      }
      return Buffer.from(a, 'utf8');
    },
  };
}

// Where esman's secrets and answers come from: passphrases typed without echo (twice for a new one), or
// from a file descriptor for automation, one line per passphrase and no confirmation line; never from the
// command line. Manager answers ("y") come line by line from stdin.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { EsmanError, reasonOf, wipe } from '../../esman/errors.js';

export const PASSPHRASE_MIN = 12;
/** More than any set of passphrases: a descriptor that is not one (a device, a big file) is refused, not read into memory. */
export const PASSPHRASE_FD_BYTES_MAX = 64 * 1024;

/** Descriptors opened for passphrases: closed when the command ends, also one refused before its end (too long). */
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
  /** A new passphrase: typed twice on a terminal, one line from a descriptor. */
  askNew(what: string): Promise<Uint8Array>;
  /** After the last passphrase the command needs, before it writes anything: a descriptor's lines must all have been used. */
  end(): Promise<void>;
}

/** A descriptor's whole text (to its end, whoever writes it), as lines; the newline after the last is optional. */
async function readLines(fd: number, stream: Readable): Promise<string[]> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      size += chunk.length;
      if (size > PASSPHRASE_FD_BYTES_MAX)
        throw new EsmanError('bad_option', `--passphrase-fd ${fd}: more than ${PASSPHRASE_FD_BYTES_MAX} bytes: not a list of passphrases`);
    }
  } catch (e) {
    if (e instanceof EsmanError) throw e;
    throw new EsmanError('no_passphrase', `cannot read descriptor ${fd}: ${reasonOf(e)}`, true);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  wipe(...chunks);
  const lines = text.split(/\r?\n/);
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

/** Passphrases from descriptor `fd`, read to its end at the first question. */
function fromDescriptor(fd: number, stdin: NodeJS.ReadStream): Pick<Passphrases, 'ask' | 'end'> {
  let lines: Promise<string[]> | undefined;
  const open = () => {
    // fd 0 through the stdin stream: once Node has opened stdin, a pipe on fd 0 is non-blocking, and a
    // raw read of it fails with EAGAIN whenever the writer has not yet written.
    const stream = fd === 0 ? stdin : createReadStream('', { fd, autoClose: true });
    if (fd !== 0) opened.add(stream);
    return readLines(fd, stream);
  };
  const all = () => (lines ??= open());
  return {
    ask: async () => (await all()).shift() ?? null,
    async end() {
      const left = (await all()).length;
      if (left)
        throw new EsmanError(
          'bad_option',
          `--passphrase-fd ${fd}: ${left} line(s) left after the last passphrase needed (one line per passphrase, no confirmation line): nothing written`,
        );
    },
  };
}

export function passphrases(fd: number | undefined, stdin: NodeJS.ReadStream, out: Writable): Passphrases {
  let read: (prompt: string) => Promise<string | null>;
  let end = () => Promise.resolve();
  if (fd !== undefined) ({ ask: read, end } = fromDescriptor(fd, stdin));
  else if (stdin.isTTY) read = (prompt) => readHidden(stdin, out, prompt);
  else
    read = () =>
      Promise.reject(
        new EsmanError('no_passphrase', 'passphrases are typed at a terminal or given with --passphrase-fd N; stdin is not a terminal'),
      );
  return {
    ask: read,
    end,
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

/**
 * The passphrases of a new set of `n` shares, all asked before any KDF work or write: each its own (one
 * passphrase on two shares puts both in one person's hands), and a descriptor with nothing left over.
 */
export async function newPassphrases(input: Passphrases, n: number): Promise<Uint8Array[]> {
  const got: Uint8Array[] = [];
  try {
    for (let i = 1; i <= n; i++) {
      const p = await input.askNew(`share ${i} of ${n}`);
      const same = got.findIndex((g) => Buffer.from(g).equals(p));
      got.push(p);
      if (same >= 0)
        throw new EsmanError(
          'weak_passphrase',
          `the passphrase for share ${i} of ${n} is the one for share ${same + 1}: each share needs its own`,
        );
    }
    await input.end();
    return got;
  } catch (e) {
    wipe(...got);
    throw e;
  }
}

// Passphrases at a terminal: read in raw mode without echo, typed twice for a new one, and refused when
// the two differ or it is too short. The terminal is a stream that says it is a TTY and records raw mode.
// From a descriptor (a real file's): one line per passphrase, nothing left over, each share its own.
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { newPassphrases, passphrases, PASSPHRASE_FD_BYTES_MAX, PASSPHRASE_MIN } from '../../src/cli/esman/input.js';
import { tmpStateDir } from '../support/tmp.js';

function terminal() {
  const stdin = new PassThrough() as PassThrough & { isTTY: boolean; setRawMode(on: boolean): void };
  const modes: boolean[] = [];
  stdin.isTTY = true;
  stdin.setRawMode = (on) => void modes.push(on);
  let shown = '';
  const out = new Writable({ write: (chunk: Buffer, _e, cb) => ((shown += chunk.toString()), cb()) });
  /** Types `text` once the next prompt is shown. */
  const type = async (text: string) => {
    const before = shown.length;
    for (let i = 0; i < 100 && shown.length === before; i++) await new Promise((r) => setTimeout(r, 5));
    stdin.write(text);
  };
  return { stdin: stdin as unknown as NodeJS.ReadStream, out, modes, shown: () => shown, type };
}

describe('esman passphrases at a terminal', () => {
  it('are read without echo, in raw mode restored afterwards; backspace edits', async () => {
    const t = terminal();
    const p = passphrases(undefined, t.stdin, t.out);
    const got = p.ask('passphrase for share 1: ');
    await t.type('correct horse battery stapleX\u007f\r');
    expect(await got).toBe('correct horse battery staple');
    expect(t.shown()).toBe('passphrase for share 1: \n');
    expect(t.modes).toEqual([true, false]);
  });

  it('a new one is typed twice; a mismatch or a short one is refused naming the share, never showing it', async () => {
    const t = terminal();
    const p = passphrases(undefined, t.stdin, t.out);
    const same = p.askNew('share 1 of 3');
    await t.type('a long enough passphrase\r');
    await t.type('a long enough passphrase\r');
    expect(Buffer.from(await same).toString()).toBe('a long enough passphrase');

    const differ = p.askNew('share 2 of 3');
    await t.type('a long enough passphrase\r');
    await t.type('another long passphrase\r');
    await expect(differ).rejects.toThrow(/the two passphrases for share 2 of 3 differ/);

    const short = p.askNew('share 3 of 3');
    await t.type(`${'x'.repeat(PASSPHRASE_MIN - 1)}\r`);
    await expect(short).rejects.toThrow(new RegExp(`share 3 of 3 is shorter than ${PASSPHRASE_MIN} characters`));
    expect(t.shown()).not.toMatch(/long enough|another long|xxxx/);
  });
});

const onFd = (fd: number) => passphrases(fd, new PassThrough() as unknown as NodeJS.ReadStream, new PassThrough());

/** Passphrases read from a real descriptor of a file holding `text`. */
async function fromFile(text: string) {
  const path = join(await tmpStateDir('esman-fd-'), 'pass');
  writeFileSync(path, text);
  return onFd(openSync(path, 'r'));
}

const A = 'first long passphrase';
const B = 'second long passphrase';
const C = 'third long passphrase';
const text = (p: Uint8Array[]) => p.map((b) => Buffer.from(b).toString());

describe('esman passphrases from a descriptor: one line each, no confirmation line', () => {
  it('a new set takes exactly one line per share, with or without a final newline, CRLF too', async () => {
    expect(text(await newPassphrases(await fromFile(`${A}\n${B}\n${C}\n`), 3))).toEqual([A, B, C]);
    expect(text(await newPassphrases(await fromFile(`${A}\r\n${B}`), 2))).toEqual([A, B]);
  });

  it('each passphrase twice (as typed at a terminal) is refused: share 2 would get the passphrase of share 1', async () => {
    await expect(newPassphrases(await fromFile(`${A}\n${A}\n${B}\n${B}\n${C}\n${C}\n`), 3)).rejects.toMatchObject({
      code: 'weak_passphrase',
      message: 'the passphrase for share 2 of 3 is the one for share 1: each share needs its own',
    });
    await expect(newPassphrases(await fromFile(`${A}\n${B}\n${A}\n`), 3)).rejects.toMatchObject({
      code: 'weak_passphrase',
      message: expect.stringMatching(/share 3 of 3 is the one for share 1/) as unknown,
    });
  });

  it('a line left over after the last passphrase needed is a command line to fix (usage), too few lines no passphrase', async () => {
    const left = newPassphrases(await fromFile(`${A}\n${B}\n${C}\n\n`), 3);
    await expect(left).rejects.toMatchObject({ code: 'bad_option', usage: true });
    await expect(left).rejects.toThrow(/1 line\(s\) left after the last passphrase needed/);
    await expect(newPassphrases(await fromFile(`${A}\n${B}\n`), 3)).rejects.toMatchObject({
      code: 'no_passphrase',
      usage: false,
      message: 'no passphrase given for share 3 of 3',
    });
  });

  it('opening shares: an empty line skips one; end() refuses what the opening did not use', async () => {
    const p = await fromFile(`\n${A}\n${B}\n${C}\n`);
    expect([await p.ask('1'), await p.ask('2'), await p.ask('3')]).toEqual(['', A, B]);
    await expect(p.end()).rejects.toMatchObject({ code: 'bad_option' });
    const exact = await fromFile(`${A}\n`);
    expect(await exact.ask('1')).toBe(A);
    await exact.end();
    expect(await exact.ask('2')).toBeNull();
  });

  it('a descriptor that cannot be read is no_passphrase naming it and why, exit 2 (usage)', async () => {
    const dir = await tmpStateDir('esman-fd-');
    const closed = openSync(join(dir, 'x'), 'w');
    closeSync(closed);
    await expect(onFd(closed).ask('1')).rejects.toMatchObject({
      code: 'no_passphrase',
      usage: true,
      message: `cannot read descriptor ${closed}: EBADF`,
    });
    const dirFd = openSync(dir, 'r');
    await expect(onFd(dirFd).ask('1')).rejects.toMatchObject({ code: 'no_passphrase', message: `cannot read descriptor ${dirFd}: EISDIR` });
  });

  it('a descriptor holding more than any set of passphrases is refused, not read into memory', async () => {
    await expect((await fromFile('x'.repeat(PASSPHRASE_FD_BYTES_MAX + 1))).ask('1')).rejects.toMatchObject({ code: 'bad_option' });
  });
});

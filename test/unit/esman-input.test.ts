// Passphrases at a terminal: read in raw mode without echo, typed twice for a new one, and refused when
// the two differ or it is too short. The terminal is a stream that says it is a TTY and records raw mode.
import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { passphrases, PASSPHRASE_MIN } from '../../src/cli/esman/input.js';

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

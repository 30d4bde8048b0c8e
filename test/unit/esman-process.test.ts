// esman's last resorts: a reader gone from stdout is no error, anything left unhandled one line and exit 3, never a stack trace.
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { guardProcess } from '../../src/cli/esman.js';

function guarded() {
  const proc = Object.assign(new EventEmitter(), { exits: [] as number[] });
  const exit = (code: number) => void proc.exits.push(code) as never;
  const io = { stdin: new PassThrough(), stdout: new PassThrough(), stderr: new PassThrough() };
  let err = '';
  io.stderr.on('data', (d: Buffer) => (err += d.toString()));
  guardProcess(Object.assign(proc, { exit }), io as unknown as Parameters<typeof guardProcess>[1]);
  return { proc, io, err: () => err };
}

const errno = (code: string) => Object.assign(new Error(`write ${code}`), { code });

describe('esman process guard', () => {
  it('EPIPE on stdout (esman list | head -1): nothing said, no exit forced: the command ends with its own code', () => {
    const g = guarded();
    g.io.stdout.emit('error', errno('EPIPE'));
    expect(g.err()).toBe('');
    expect(g.proc.exits).toEqual([]);
  });

  it('another stdout error, an uncaught exception or an unhandled rejection: one line [internal], exit 3, no stack', () => {
    const g = guarded();
    g.io.stdout.emit('error', errno('EIO'));
    const boom = new Error('boom');
    g.proc.emit('uncaughtException', boom);
    g.proc.emit('unhandledRejection', 'not an error');
    expect(g.err()).toBe('esman: [internal] write EIO\nesman: [internal] boom\nesman: [internal] unexpected failure: not an error\n');
    expect(g.err()).not.toContain(boom.stack!.split('\n')[1]!.trim());
    expect(g.proc.exits).toEqual([3, 3, 3]);
  });
});

// Alert episodes (src/alerts/episodes.ts), payserv's monitor and the intake's once-per-block alerts: a
// subject is raised once per episode, again once it ended or changed, and the oldest forgotten past the bound.
import { describe, expect, it } from 'vitest';
import { Episodes } from '../../src/alerts/episodes.js';

describe('alert episodes', () => {
  it('begins an episode once; a changed or ended one begins again', () => {
    const e = new Episodes();
    expect(e.begin('stuck', 'withdrawal 1', 'approved')).toBe(true);
    expect(e.begin('stuck', 'withdrawal 1', 'approved')).toBe(false);
    expect(e.begin('block_forged', 'withdrawal 1', 'approved')).toBe(true); // another kind, another episode
    expect(e.begin('stuck', 'withdrawal 1', 'sending')).toBe(true);
    expect(e.subjects('stuck')).toEqual(['withdrawal 1']);
    expect(e.end('stuck', 'withdrawal 1')).toBe(true);
    expect(e.end('stuck', 'withdrawal 1')).toBe(false);
    expect(e.begin('stuck', 'withdrawal 1', 'sending')).toBe(true);
  });

  it('forgets the oldest past 10000 open episodes: at worst it is raised again', () => {
    const e = new Episodes();
    for (let i = 0; i <= 10_000; i++) e.begin('k', `s${i}`, 'open');
    expect(e.subjects('k')).toHaveLength(10_000);
    expect(e.begin('k', 's0', 'open')).toBe(true);
    expect(e.begin('k', 's10000', 'open')).toBe(false);
  });
});

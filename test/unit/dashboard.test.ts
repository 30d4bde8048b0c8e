// The dashboard's pieces free of I/O: [dashboard] settings (off by default, refusals named), the escaping of
// every value from the database, and the per-form tokens (bound to certificate, action, target, and time).
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { esc, h } from '../../src/dashboard/html.js';
import { FormTokens, TOKEN_TTL_MS, USED_MAX } from '../../src/dashboard/token.js';
import type { Overview } from '../../src/dashboard/overview.js';
import { renderOverview } from '../../src/dashboard/render.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

async function dashboardOf(toml: string) {
  const dir = mkdtempSync(join(tmpdir(), 'dash-config-'));
  writeFileSync(join(dir, 'payserv.toml'), toml);
  return (await loadConfig('payserv', undefined, { stateDir: dir, env: {} })).dashboard;
}

describe('[dashboard]', () => {
  it('is off by default, read-only, 50 rows', async () => {
    expect(await dashboardOf('')).toEqual({ listen: undefined, actions: false, rows: 50, coins: {} });
  });

  it('takes host:port, actions, rows and explorer links', async () => {
    const d = await dashboardOf(
      `[dashboard]\nlisten = "[::1]:9447"\nactions = true\nrows = 20\n[dashboard.coins.ETH]\ntx_link = "https://etherscan.io/tx/{hash}"\n`,
    );
    expect(d).toEqual({
      listen: { host: '::1', port: 9447 },
      actions: true,
      rows: 20,
      coins: { ETH: { tx_link: 'https://etherscan.io/tx/{hash}' } },
    });
  });

  it.each([
    ['listen = "9447"', 'dashboard.listen: expected host:port'],
    ['actions = "yes"', 'dashboard.actions: expected true or false'],
    ['rows = 0', 'dashboard.rows'],
    ['rows = 501', 'dashboard.rows: at most 500'],
    ['[dashboard.coins.ETH]\ntx_link = "http://x/{hash}"', 'expected an https:// URL with {hash}'],
    ['[dashboard.coins.ETH]\ntx_link = "javascript:alert(1)//{hash}"', 'expected an https:// URL with {hash}'],
  ])('refuses %s', async (line, message) => {
    await expect(dashboardOf(`[dashboard]\n${line}\n`)).rejects.toThrow(message);
  });
});

describe('escaping', () => {
  it('escapes markup, quotes and control characters, and bounds a cell', () => {
    expect(esc(`<script>"x"&'y'</script>`)).toBe('&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;&lt;/script&gt;');
    expect(esc('a\u0000b\u001bc')).toBe('a\ufffdb\ufffdc');
    expect(esc('x'.repeat(500))).toBe(`${'x'.repeat(200)}…`);
    expect(h`<td title="${'" onmouseover="x'}">${'<b>'}</td>`.html).toBe('<td title="&quot; onmouseover=&quot;x">&lt;b&gt;</td>');
  });
});

describe('form tokens', () => {
  const t = new FormTokens();
  const now = new Date('2026-12-01T00:00:00Z');
  const token = t.make('AA:BB', '/approve', '7', now);

  it('is valid for its certificate, action and target, within its time', () => {
    expect(t.valid(token, 'AA:BB', '/approve', '7', new Date(now.getTime() + TOKEN_TTL_MS))).toBe(true);
  });

  it('is refused for anything else, late, from the future, malformed, or from another process', () => {
    expect(t.valid(token, 'AA:BC', '/approve', '7', now)).toBe(false);
    expect(t.valid(token, 'AA:BB', '/enable', '7', now)).toBe(false);
    expect(t.valid(token, 'AA:BB', '/approve', '8', now)).toBe(false);
    expect(t.valid(token, 'AA:BB', '/approve', '7', new Date(now.getTime() + TOKEN_TTL_MS + 1))).toBe(false);
    expect(t.valid(token, 'AA:BB', '/approve', '7', new Date(now.getTime() - 1))).toBe(false);
    for (const bad of [undefined, '', 'x', `${now.getTime()}.${'A'.repeat(43)}`, `${token}x`])
      expect(t.valid(bad, 'AA:BB', '/approve', '7', now)).toBe(false);
    expect(new FormTokens().valid(token, 'AA:BB', '/approve', '7', now)).toBe(false);
  });

  it('acts once: a used token is refused as used, an invalid one is not used up', () => {
    const u = new FormTokens();
    const tk = u.make('AA:BB', '/approve', '7', now);
    expect(u.use(tk, 'AA:BB', '/approve', '8', now)).toBe('invalid');
    expect(u.use(tk, 'AA:BB', '/approve', '7', now)).toBe('ok');
    expect(u.use(tk, 'AA:BB', '/approve', '7', new Date(now.getTime() + 1000))).toBe('used');
    expect(u.use(tk, 'AA:BB', '/approve', '7', new Date(now.getTime() + TOKEN_TTL_MS + 1))).toBe('invalid');
    expect(u.use(u.make('AA:BB', '/approve', '7', new Date(now.getTime() + 1)), 'AA:BB', '/approve', '7', now)).toBe('invalid');
  });

  it(`remembers at most ${USED_MAX} used tokens: the oldest forgotten, and every token made before it refused`, () => {
    const u = new FormTokens();
    const at = (ms: number) => new Date(now.getTime() + ms);
    const tks = Array.from({ length: USED_MAX + 1 }, (_, i) => u.make('AA:BB', '/approve', String(i), at(i)));
    const late = at(USED_MAX + 5);
    const unused = u.make('AA:BB', '/approve', 'x', at(0));
    tks.forEach((tk, i) => expect(u.use(tk, 'AA:BB', '/approve', String(i), late)).toBe('ok'));
    expect(u.use(tks[0], 'AA:BB', '/approve', '0', late)).toBe('used');
    expect(u.use(unused, 'AA:BB', '/approve', 'x', late)).toBe('used');
    expect(u.use(tks[USED_MAX], 'AA:BB', '/approve', String(USED_MAX), late)).toBe('used');
    expect(u.use(u.make('AA:BB', '/approve', 'y', at(1)), 'AA:BB', '/approve', 'y', late)).toBe('ok');
  });
});

describe('the overview page', () => {
  const now = new Date('2026-12-01T12:00:00Z');
  const w = {
    id: 7,
    tag: 'ETH',
    user_id: 3,
    address: '0xabc',
    amount: '1.50000000000000000000',
    fee: '0.01000000000000000000',
    status: 'pending',
    tx_hash: null,
    comment: '<i>hi</i>',
    created_at: now,
    updated_at: new Date(now.getTime() - 3_600_000),
  };
  const overview: Overview = {
    now,
    state: { enabled: false, reason: 'payserv starts disabled', since: now, failStops: 0, failStopped: false },
    withdrawals: { ok: true, value: [] },
    pending: { ok: true, value: [w] },
    inFlight: { ok: false, error: 'relation "x" does not exist' },
    recent: { ok: true, value: [] },
    autopay: { ok: true, value: [] },
    wallets: [],
    nodes: [],
    checks: null,
    alerts: { ok: true, value: [] },
    audit: { ok: true, value: [] },
  };
  const render = (actions: boolean) => renderOverview(overview, { operator: 'alice', actions, explorers: {} }, 50);

  it('read-only: no action link; with actions: Approve… and Enable payouts…', () => {
    expect(render(false)).not.toMatch(/href="\/(approve|enable)/);
    expect(render(true)).toContain('<a class="approve" href="/approve?id=7">Approve…</a>');
    expect(render(true)).toContain('href="/enable"');
  });

  it('shows exact amounts, ages, escaped text, and a part that failed without the rest', () => {
    const html = render(false);
    expect(html).toContain('<td>1.5</td><td>0.01</td><td>&lt;i&gt;hi&lt;/i&gt;</td><td>1 h 0 min</td>');
    expect(html).toContain('could not read: relation &quot;x&quot; does not exist');
    expect(html).toContain('Payouts DISABLED since 2026-12-01T12:00:00Z');
  });
});

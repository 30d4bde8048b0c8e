import type { DashboardWithdrawal } from '../data/ops/dashboard.js';
import { formatAmount, parseAmount } from '../money/amount.js';
import { age, h, join, page, raw, table, when, type Html } from './html.js';
import type { Overview, Part } from './overview.js';

// The dashboard's pages. Everything read from the database is shown escaped and as it is in the
// database (not verified: the actions verify, as their RPC calls do).

export interface Explorers {
  [coin: string]: { tx_link?: string | undefined; address_link?: string | undefined };
}

export interface RenderOptions {
  operator: string;
  actions: boolean;
  explorers: Explorers;
}

/** An amount as the ledger's exact decimal without trailing zeros; a value that is no amount is shown as it is. */
function amount(text: string): string {
  try {
    return formatAmount(parseAmount(text));
  } catch {
    return text;
  }
}

/** The explorer's link for a value, or the value alone; only configured https templates ever become links. */
function linked(template: string | undefined, name: 'hash' | 'address', value: string | null): Html {
  if (!value) return h``;
  if (!template) return h`<code>${value}</code>`;
  return h`<a href="${template.replace(`{${name}}`, encodeURIComponent(value))}" rel="noreferrer noopener"><code>${value}</code></a>`;
}

const failed = (p: { ok: false; error: string }): Html => h`<p class="bad">could not read: ${p.error}</p>`;

function list<T>(p: Part<T[]>, head: string[], row: (r: T) => Html[], empty: string, rows: number): Html {
  if (!p.ok) return failed(p);
  const more = p.value.length >= rows ? h`<p class="none">the first ${rows} shown ([dashboard] rows)</p>` : h``;
  return join([table(head, p.value.map(row), empty), more]);
}

function stateSection(o: Overview): Html {
  const s = o.state;
  if (s.enabled) return h`<p id="state" class="ok">Payouts ENABLED since ${when(s.since)}.</p>`;
  const what = s.failStopped ? 'FAIL-STOPPED' : 'DISABLED';
  return h`<p id="state" class="bad">Payouts ${what} since ${when(s.since)}: <span id="reason">${s.reason ?? ''}</span></p>`;
}

function withdrawalCells(w: DashboardWithdrawal, o: Overview, x: Explorers, extra: Html[]): Html[] {
  return [
    h`${w.id}`,
    h`${w.tag}`,
    h`${w.user_id}`,
    linked(x[w.tag]?.address_link, 'address', w.address),
    h`${amount(w.amount)}`,
    h`${amount(w.fee)}`,
    h`${w.comment}`,
    ...extra,
  ];
}

function coinsSection(o: Overview): Html {
  const nodes = table(
    ['coin', 'node', 'checked', 'why'],
    o.nodes.map((n) => [
      h`${n.coin}`,
      n.ok === null
        ? h`<span class="none">not checked yet</span>`
        : n.ok
          ? h`<span class="ok">healthy</span>`
          : h`<span class="bad">unhealthy</span>`,
      h`${n.at ? `${age(n.at, o.now)} ago` : ''}`,
      h`${n.reason ?? ''}`,
    ]),
    'no coin paid on-chain ([coins.*])',
  );
  const wallets = table(
    ['coin', 'hot wallet (spendable)'],
    o.wallets.map((w) => [h`${w.coin}`, w.balance.ok ? h`${w.balance.value}` : h`<span class="bad">${w.balance.error}</span>`]),
    'no hot wallet',
  );
  const autopay = !o.autopay.ok
    ? failed(o.autopay)
    : table(
        ['coin', 'autopay', 'since', 'threshold', 'last run', 'what to do'],
        o.autopay.value.map((a) => [
          h`${a.coin}`,
          a.state === 'halted' ? h`<span class="bad">halted</span>` : h`${a.state}`,
          h`${a.since ?? ''}`,
          h`${a.threshold ?? 'not configured'}`,
          h`${a.last_run ? JSON.stringify(a.last_run).slice(0, 200) : ''}`,
          a.state === 'idle' ? h`` : h`${a.reason ?? ''} <code class="run">pscli resolve --coin ${a.coin}</code>`,
        ]),
        'autopay is off',
      );
  return h`<h2>Nodes</h2>${nodes}<h2>Hot wallets</h2>${wallets}<h2 id="autopay">Autopay</h2>${autopay}`;
}

function checksSection(o: Overview): Html {
  const c = o.checks;
  const last = !c
    ? h`<p class="none">the monitor has not finished a round yet</p>`
    : h`<p>Last monitor round ${age(c.at, o.now)} ago: stuck payments ${c.report.stuck.length ? c.report.stuck.join(', ') : 'none'}; unhealthy nodes ${
        Object.keys(c.report.unhealthy).join(', ') || 'none'
      }; hot wallets below their level ${Object.keys(c.report.low).join(', ') || 'none'}${
        c.report.failed.length ? h`; <span class="bad">failed parts: ${c.report.failed.join(', ')}</span>` : ''
      }.</p>`;
  const alerts = !o.alerts.ok
    ? failed(o.alerts)
    : table(
        ['when', 'alert', 'reason'],
        o.alerts.value.map((a) => [h`${when(a.at)}`, h`${a.kind}`, h`${a.reason}`]),
        'no alert',
      );
  return h`<h2>Last checks</h2>${last}<h3>Recent alerts</h3>${alerts}`;
}

export function renderOverview(o: Overview, opt: RenderOptions, rows: number): string {
  const x = opt.explorers;
  const counts = !o.withdrawals.ok
    ? failed(o.withdrawals)
    : h`<p>${o.withdrawals.value
        .filter((r) => r.n !== '0')
        .map((r) => `${r.tag} ${r.status}: ${r.n}`)
        .join(' · ')}</p>`;
  const enable =
    opt.actions && !o.state.enabled ? h`<p><a id="enable" href="/enable">Enable payouts…</a> (asks for confirmation)</p>` : h``;
  const pending = list(
    o.pending,
    ['id', 'coin', 'user', 'address', 'amount', 'fee', 'comment', 'waiting', ...(opt.actions ? ['action'] : [])],
    (w) =>
      withdrawalCells(w, o, x, [
        h`${age(w.updated_at, o.now)}`,
        ...(opt.actions ? [h`<a class="approve" href="/approve?id=${w.id}">Approve…</a>`] : []),
      ]),
    'no withdrawal waits for a manager',
    rows,
  );
  const inFlight = list(
    o.inFlight,
    ['id', 'coin', 'user', 'address', 'amount', 'fee', 'comment', 'status', 'for', 'transaction'],
    (w) => withdrawalCells(w, o, x, [h`${w.status}`, h`${age(w.updated_at, o.now)}`, linked(x[w.tag]?.tx_link, 'hash', w.tx_hash)]),
    'no payment in flight',
    rows,
  );
  const recent = list(
    o.recent,
    ['id', 'coin', 'user', 'address', 'amount', 'fee', 'comment', 'sent', 'transaction'],
    (w) => withdrawalCells(w, o, x, [h`${when(w.updated_at)}`, linked(x[w.tag]?.tx_link, 'hash', w.tx_hash)]),
    'no payment sent yet',
    rows,
  );
  const audit = list(
    o.audit,
    ['when', 'who', 'call', 'target', 'reply'],
    (a) => [h`${when(a.at)}`, h`${a.client}`, h`${a.method}`, h`${a.target}`, h`${a.reply}${a.code ? ` (${a.code})` : ''}`],
    'the audit trail is empty',
    rows,
  );
  const body = h`${stateSection(o)}${enable}<p>Fail-stops since start: ${o.state.failStops}. Withdrawals: </p>${counts}
<h2 id="pending">Waiting for a manager (pending)</h2>${pending}
<h2 id="in-flight">Payments in flight</h2>${inFlight}
${coinsSection(o)}${checksSection(o)}
<h2 id="recent">Recent payments</h2>${recent}
<h2 id="audit">Audit trail (who did what)</h2>${audit}
<p class="none">Read ${when(o.now)}; rows are the database's as they are, not verified (an action verifies, as its pscli call does). Reload for news.</p>`;
  return page('payserv', opt.operator, body);
}

/** A confirmation page: what is about to happen, and the one form that does it. */
export function renderConfirm(
  opt: RenderOptions,
  o: { action: string; path: string; target: string; token: string; what: Html; button: string },
): string {
  const body = h`<h2>Confirm: ${o.action}</h2>${o.what}
<form method="post" action="${o.path}"><input type="hidden" name="target" value="${o.target}"><input type="hidden" name="token" value="${o.token}"><button type="submit" id="confirm">${o.button}</button></form> <a href="/">Cancel</a>
<p class="none">This goes through payserv's own call, as pscli's does, and is audited as yours (operator ${opt.operator}, from the dashboard).</p>`;
  return page('payserv', opt.operator, body);
}

export function renderWithdrawal(w: DashboardWithdrawal): Html {
  return table(
    ['id', 'coin', 'user', 'address', 'amount', 'fee', 'status', 'comment'],
    [
      [
        h`${w.id}`,
        h`${w.tag}`,
        h`${w.user_id}`,
        h`<code>${w.address}</code>`,
        h`${amount(w.amount)}`,
        h`${amount(w.fee)}`,
        h`${w.status}`,
        h`${w.comment}`,
      ],
    ],
    '',
  );
}

/** The answer to an action, or a refusal. */
export function renderMessage(opt: RenderOptions | null, title: string, message: string, ok: boolean): string {
  return page(title, opt?.operator ?? '-', h`<p id="result" class="${ok ? 'ok' : 'bad'}">${message}</p>${raw('')}`);
}

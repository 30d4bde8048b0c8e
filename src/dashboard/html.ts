// The dashboard's HTML, built as strings: every value goes through esc() (rows of the database are
// attacker input), and the page needs no script, no style sheet, no image and nothing from elsewhere.

/** Longest text of one cell: a hostile comment or address cannot blow up the page. */
const CELL_CHARS_MAX = 200;

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text safe in an element or a quoted attribute, cut to a bounded length; control characters shown as U+FFFD. */
export function esc(value: unknown, max = CELL_CHARS_MAX): string {
  const s = String(value ?? '');
  const cut = s.length > max ? `${s.slice(0, max)}…` : s;
  // eslint-disable-next-line no-control-regex
  return cut.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '\ufffd').replace(/[&<>"']/g, (c) => ENTITIES[c] as string);
}

/** Markup already escaped by the functions here. */
export interface Html {
  readonly html: string;
}

export const raw = (html: string): Html => ({ html });
export const join = (parts: readonly Html[]): Html => raw(parts.map((p) => p.html).join(''));

/** A tagged template: interpolated values are escaped unless they are Html. */
export function h(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    out += (isHtml(v) ? v.html : Array.isArray(v) ? v.map((x) => (isHtml(x) ? x.html : esc(x))).join('') : esc(v)) + (strings[i + 1] ?? '');
  });
  return raw(out);
}

const isHtml = (v: unknown): v is Html => typeof v === 'object' && v !== null && typeof (v as Html).html === 'string';

/** A table; `empty` when there are no rows. */
export function table(head: readonly string[], rows: readonly Html[][], empty: string): Html {
  if (!rows.length) return h`<p class="none">${empty}</p>`;
  return h`<table><thead><tr>${head.map((c) => h`<th>${c}</th>`)}</tr></thead><tbody>${rows.map(
    (r) => h`<tr>${r.map((c) => h`<td>${c}</td>`)}</tr>`,
  )}</tbody></table>`;
}

/** How long ago, in words an operator reads at a glance ("3 h 12 min"). */
export function age(since: Date, now: Date): string {
  const s = Math.max(0, Math.floor((now.getTime() - since.getTime()) / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}

/** A timestamp from the database; an invalid one is said so rather than thrown. */
export function when(d: unknown): string {
  return d instanceof Date && !Number.isNaN(d.getTime()) ? d.toISOString().replace('.000Z', 'Z') : 'invalid time';
}

/** The styles, inline: the Content-Security-Policy allows this one block by its hash. */
export const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:1em 2em;color:#111}h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.5em;border-bottom:1px solid #ccc}table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top}.ok{color:#060}.bad{color:#b00;font-weight:bold}.none{color:#666}code{background:#f3f3f3;padding:0 3px}form{display:inline}`;

export function page(title: string, who: string, body: Html): string {
  return `<!doctype html>\n${
    h`<html lang="en"><head><meta charset="utf-8"><title>${title}</title><style>${raw(STYLE)}</style></head><body><h1>${title}</h1><p>Signed in as operator <b id="operator">${who}</b> (client certificate). <a href="/">Overview</a></p>${body}</body></html>`
      .html
  }\n`;
}

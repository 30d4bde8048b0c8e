// A notification as every channel renders it, and the last check before it leaves: no secret payserv
// knows (a bot token, an SMTP password, a webhook URL, the database URL) is ever in what is sent.
import { scrubSecrets, UNPRINTABLE_ALL } from '../log/scrub.js';

/** One event for the operators: the alert document hooks have always received, or a notice (id null). */
export interface Notice {
  /** The payserv_alerts row, or null (a notice, or an alert the database could not store). */
  id: number | null;
  at: string;
  kind: string;
  reason: string;
  details: Record<string, unknown>;
}

/** Bot messages are short: Discord takes 2000 characters, Telegram 4096. */
export const TEXT_MAX = 1900;

/**
 * One line of text from outside payserv (a reason quoting the database, a node's answer): every line break and
 * control or invisible character a space, so it can neither start a line of its own nor hide what follows.
 */
export const oneLine = (text: string): string => text.replace(UNPRINTABLE_ALL, ' ');

/** Details worth a line in a chat or an e-mail: ids, coins, amounts, hashes, reasons. Scalars only. */
function detailLines(details: Record<string, unknown>): string[] {
  return Object.entries(details)
    .filter(([, v]) => ['string', 'number', 'boolean'].includes(typeof v))
    .map(([k, v]) => oneLine(`${k}: ${String(v)}`));
}

/** A human text: the kind and reason first (one line each), then the details, cut at `max` characters. */
export function textOf(n: Notice, max = TEXT_MAX): string {
  const text = [
    oneLine(`payserv ${n.kind}${n.id === null ? '' : ` #${n.id}`} at ${n.at}`),
    oneLine(n.reason),
    '',
    ...detailLines(n.details),
  ]
    .join('\n')
    .trim();
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** An e-mail subject: one line, at most 150 characters. */
export const subjectOf = (n: Notice): string => oneLine(`payserv ${n.kind}: ${n.reason}`).slice(0, 150);

/** A notice's details larger than this (as JSON) are left out of what channels get: the alert row keeps them. */
export const DETAILS_CHARS_MAX = 64 * 1024;

/**
 * `text` with every known secret replaced by "***", and passwords in URLs too (scrubSecrets). The secrets are the
 * values payserv itself holds for its channels and database; shorter ones than 6 characters are not
 * searched for (they would blank ordinary words), and config refuses none shorter than that.
 */
export function redact(text: string, secrets: Iterable<string>): string {
  let out = text;
  for (const s of secrets) if (s.length >= 6) out = out.split(s).join('***');
  return scrubSecrets(out);
}

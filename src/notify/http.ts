// POSTing JSON to a receiver (a webhook, a bot's HTTP API) under a deadline. Errors never carry the URL:
// the paths of webhooks and bot APIs carry their tokens.

/** What a failing receiver said, kept for the log: enough to see why, never a whole page. */
const ANSWER_IN_ERROR = 200;

export function describeError(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = (e as { cause?: unknown }).cause;
  return cause instanceof Error ? `${e.message}: ${cause.message}` : e.message;
}

/** The origin only: safe to log. */
export function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '<unparseable URL>';
  }
}

/** POSTs `body` as JSON; resolves with the answer's text on a 2xx, rejects otherwise. `signal` bounds the whole exchange. */
export async function postJson(url: string, body: string, signal: AbortSignal): Promise<string> {
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal, redirect: 'error' });
    // The answer is read under the same deadline, so the connection is released.
    text = await res.text();
  } catch (e) {
    if (signal.aborted) throw new Error(abortedWhy(signal));
    throw new Error(describeError(e), { cause: undefined });
  }
  if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}${text ? `: ${text.slice(0, ANSWER_IN_ERROR)}` : ''}`.trim());
  return text;
}

/** The reason a signal gave (a timeout says how long), as text. */
export function abortedWhy(signal: AbortSignal): string {
  const r: unknown = signal.reason;
  return r instanceof Error ? r.message : String(r ?? 'aborted');
}

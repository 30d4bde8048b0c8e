// Last line of defence for messages from libraries, shared by the services' logs and the CLIs' stderr.

/**
 * A password in a URL (scheme://user:pass@). The scheme is bounded (RFC 3986 schemes are short): unbounded, every
 * position of a long run of letters started a scan to its end, and a 1 MB message took minutes. The user and password
 * parts stop at the next "/", so they stay linear however long the text.
 */
const URL_PASSWORD = /([a-z][a-z0-9+.-]{0,31}:\/\/[^\s:/@]*:)[^\s@/]*@/gi;
const QUERY_PASSWORD = /([?&]pass(?:word)?=)[^\s&#]*/gi;

/** A password in a URL or a password query parameter never reaches a log, a terminal or a notification. */
export function scrubSecrets(text: string): string {
  return text.replace(URL_PASSWORD, '$1***@').replace(QUERY_PASSWORD, '$1***');
}

/**
 * Line breaks, control characters and the invisible ones that reorder or hide text (bidi overrides and marks,
 * zero-width): what one line of text from outside may not carry into a reason, a terminal or a notification.
 */
// eslint-disable-next-line no-control-regex -- control characters are exactly what this finds
export const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/;
export const UNPRINTABLE_ALL = new RegExp(UNPRINTABLE.source, 'g');

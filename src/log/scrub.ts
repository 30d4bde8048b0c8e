// Last line of defence for messages from libraries, shared by the services' logs and the CLIs' stderr.

/** A password in a URL (scheme://user:pass@) or a password query parameter never reaches a log or a terminal. */
export function scrubSecrets(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)[^\s@/]*@/gi, '$1***@').replace(/([?&]pass(?:word)?=)[^\s&#]*/gi, '$1***');
}

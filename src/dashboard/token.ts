import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

// The dashboard's per-form tokens against cross-site request forgery: an HMAC, under a key made at start
// and kept in memory only, of the operator's certificate (its SHA-256 fingerprint), the action, its
// target and when the form was made. A POST is acted on only with a token made for that certificate,
// that action and that target within the last TOKEN_TTL_MS: another site's form cannot know it.

/** How long a confirmation page's form may be submitted. */
export const TOKEN_TTL_MS = 10 * 60_000;

export class FormTokens {
  readonly #key = randomBytes(32);

  #mac(cert: string, action: string, target: string, madeMs: number): string {
    return createHmac('sha256', this.#key)
      .update(JSON.stringify(['payserv.dashboard.v1', cert, action, target, madeMs]))
      .digest('base64url');
  }

  make(cert: string, action: string, target: string, now: Date): string {
    const made = now.getTime();
    return `${made}.${this.#mac(cert, action, target, made)}`;
  }

  /** Whether `token` was made by this process for this certificate, action and target, and is still fresh. */
  valid(token: unknown, cert: string, action: string, target: string, now: Date): boolean {
    if (typeof token !== 'string' || token.length > 200) return false;
    const m = /^(\d{1,15})\.([A-Za-z0-9_-]{43})$/.exec(token);
    if (!m) return false;
    const made = Number(m[1]);
    const age = now.getTime() - made;
    if (age < 0 || age > TOKEN_TTL_MS) return false;
    const want = Buffer.from(this.#mac(cert, action, target, made));
    const got = Buffer.from(m[2] as string);
    return want.length === got.length && timingSafeEqual(want, got);
  }
}

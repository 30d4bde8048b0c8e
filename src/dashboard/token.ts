import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

// The dashboard's per-form tokens against cross-site request forgery: an HMAC, under a key made at start
// and kept in memory only, of the operator's certificate (its SHA-256 fingerprint), the action, its
// target and when the form was made. A POST is acted on only with a token made for that certificate,
// that action and that target within the last TOKEN_TTL_MS: another site's form cannot know it. A token
// acts once: a used one is remembered until it expires, so a replayed POST is refused.

/** How long a confirmation page's form may be submitted. */
export const TOKEN_TTL_MS = 10 * 60_000;
/** Used tokens remembered at most; when full, the oldest is forgotten and every token made before it refused. */
export const USED_MAX = 1000;

export type TokenCheck = 'ok' | 'invalid' | 'used';

export class FormTokens {
  readonly #key = randomBytes(32);
  /** Used tokens' MACs → when they were made, in the order used. */
  readonly #used = new Map<string, number>();
  /** Tokens made at or before this are refused (a forgotten used token may be among them). */
  #floor = -1;

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
    return this.#check(token, cert, action, target, now) !== null;
  }

  /** Checks `token` as valid() does and, if it is good and unused, marks it used (one action per confirmation). */
  use(token: unknown, cert: string, action: string, target: string, now: Date): TokenCheck {
    const ok = this.#check(token, cert, action, target, now);
    if (ok === null) return 'invalid';
    this.#forgetExpired(now);
    if (this.#used.has(ok.mac) || ok.made <= this.#floor) return 'used';
    this.#used.set(ok.mac, ok.made);
    if (this.#used.size > USED_MAX) this.#forgetOldest();
    return 'ok';
  }

  #check(token: unknown, cert: string, action: string, target: string, now: Date): { mac: string; made: number } | null {
    if (typeof token !== 'string' || token.length > 200) return null;
    const m = /^(\d{1,15})\.([A-Za-z0-9_-]{43})$/.exec(token);
    if (!m) return null;
    const made = Number(m[1]);
    const age = now.getTime() - made;
    if (age < 0 || age > TOKEN_TTL_MS) return null;
    const want = Buffer.from(this.#mac(cert, action, target, made));
    const got = Buffer.from(m[2] as string);
    return want.length === got.length && timingSafeEqual(want, got) ? { mac: m[2] as string, made } : null;
  }

  /** An expired token is refused by its age alone: no need to remember it. */
  #forgetExpired(now: Date): void {
    for (const [mac, made] of this.#used) if (now.getTime() - made > TOKEN_TTL_MS) this.#used.delete(mac);
  }

  #forgetOldest(): void {
    let oldest: [string, number] | undefined;
    for (const e of this.#used) if (!oldest || e[1] < oldest[1]) oldest = e;
    if (!oldest) return;
    this.#used.delete(oldest[0]);
    this.#floor = Math.max(this.#floor, oldest[1]);
  }
}

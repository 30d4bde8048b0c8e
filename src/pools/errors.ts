// The one error of the pool formats: a key, member or value that is not exactly what the pool writes.
// Adapters stop on it (a pool database we cannot read exactly is never guessed at).

export class PoolFormatError extends Error {
  override name = 'PoolFormatError';
  constructor(
    /** What was being read, e.g. "payments:all member". */
    readonly what: string,
    /** The offending text, cut to 120 characters so a hostile value cannot flood a log. */
    readonly text: string,
    reason: string,
  ) {
    super(`${what}: ${reason}: ${JSON.stringify(text.slice(0, 120))}`);
  }
}

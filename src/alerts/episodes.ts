// Which alerts are open, so each is raised once per episode of its subject (what makes it new: the status
// a withdrawal is stuck in, a block hash refused as forged), not on every look. In memory: a restarted
// process alerts once again, which an operator wants anyway.

/** Open episodes remembered at most; the oldest is forgotten past it (at worst it is alerted again). */
const EPISODES_MAX = 10_000;

export class Episodes {
  /** `kind subject` → the episode raised. */
  readonly #open = new Map<string, string>();

  /** Marks `episode` of `kind` about `subject` open; true when it is new (raise it), false when it was open already. */
  begin(kind: string, subject: string, episode: string): boolean {
    const key = `${kind} ${subject}`;
    if (this.#open.get(key) === episode) return false;
    this.#open.delete(key);
    this.#open.set(key, episode);
    if (this.#open.size > EPISODES_MAX) this.#open.delete(this.#open.keys().next().value as string);
    return true;
  }

  /** The episode of `kind` about `subject` is over; true when one was open. */
  end(kind: string, subject: string): boolean {
    return this.#open.delete(`${kind} ${subject}`);
  }

  /** The subjects of `kind` whose episode is open. */
  subjects(kind: string): string[] {
    const prefix = `${kind} `;
    return [...this.#open.keys()].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
  }
}

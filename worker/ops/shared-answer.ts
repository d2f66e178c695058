/**
 * An answer that costs something to get (an API call on the operator's token), shared by an
 * isolate's requests: kept for a while, and asked for at most once at a time, so however many
 * requests arrive, the isolate asks at most once per `ttlMs`.
 */

export class SharedAnswer<T> {
  private kept: { value: T; at: number } | null = null;
  private asking: Promise<T> | null = null;

  constructor(
    private readonly ttlMs: number,
    /** The clock, in ms (Date.now): replaceable so the expiry can be tested without waiting. */
    private readonly now: () => number = () => Date.now(),
  ) {}

  /**
   * The kept answer while it is fresh; else the one being asked for; else a new one from `ask`.
   * `ask` should resolve to a value even when it fails (an error in words), so a failing API is
   * not asked again on every request either; a rejection is passed on and not kept.
   */
  get(ask: () => Promise<T>): Promise<T> {
    if (this.kept && this.now() - this.kept.at < this.ttlMs) return Promise.resolve(this.kept.value);
    if (!this.asking) {
      this.asking = ask()
        .then((value) => {
          this.kept = { value, at: this.now() };
          return value;
        })
        .finally(() => {
          this.asking = null;
        });
    }
    return this.asking;
  }
}

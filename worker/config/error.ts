/** A bad configuration value, naming its variable; the worker answers every request with it. */
export class ConfigError extends Error {
  /** Every problem found, each naming its variable (one, unless the configuration was checked as a whole). */
  readonly problems: { variable: string; message: string }[];

  constructor(
    readonly variable: string,
    detail: string,
    problems?: ConfigError[],
  ) {
    super(problems ? problems.map((p) => p.message).join("; ") : `${variable}: ${detail}`);
    this.name = "ConfigError";
    this.problems = problems ? problems.flatMap((p) => p.problems) : [{ variable, message: this.message }];
  }

  /** All problems as one error: `variable` names them all, the message lists them. */
  static all(problems: ConfigError[]): ConfigError {
    return problems.length === 1 ? problems[0]! : new ConfigError(problems.map((p) => p.variable).join(", "), "", problems);
  }
}

/**
 * Runs each variable's parser and keeps going past failures, so an operator learns every problem
 * at once instead of one per restart. A failed parser's value is never used.
 */
export class Checker {
  readonly problems: ConfigError[] = [];
  check<T>(parse: () => T): T {
    try {
      return parse();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      this.problems.push(err);
      return undefined as T;
    }
  }
  /** Throws every problem found so far as one ConfigError, if there was any. */
  done(): void {
    if (this.problems.length > 0) throw ConfigError.all(this.problems);
  }
}

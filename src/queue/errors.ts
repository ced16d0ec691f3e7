/**
 * Control-flow errors a job handler throws to steer what happens next. Anything else a
 * handler throws is a transient failure: retried with backoff until `maxAttempts`.
 */

/** The job cannot succeed (bad address, unknown recipient): dead now, no retry. */
export class PermanentError extends Error {
  override readonly name = 'PermanentError';
}

/** Retry after exactly `retryAfterMs` (a provider's Retry-After), not the backoff delay. */
export class RetryLaterError extends Error {
  override readonly name = 'RetryLaterError';
  constructor(
    readonly retryAfterMs: number,
    message = `retry after ${retryAfterMs} ms`,
  ) {
    super(message);
  }
}

/**
 * Not a failure: the job cannot run yet (a provider's send-rate limit is used up) and goes back
 * to the queue for `delayMs`, without counting an attempt or recording an error.
 */
export class DeferError extends Error {
  override readonly name = 'DeferError';
  constructor(
    readonly delayMs: number,
    message = `deferred for ${delayMs} ms`,
  ) {
    super(message);
  }
}

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

/**
 * Retry delays: exponential backoff with full jitter ("Exponential Backoff And Jitter",
 * AWS Architecture Blog): attempt n waits a uniform random time in [0, min(cap, base·2^(n-1))].
 * Full jitter spreads the retries of many jobs that failed together (a provider outage) instead
 * of bringing them back in waves.
 */

export interface BackoffOptions {
  /** The ceiling of the first retry's delay. Default 1 s. */
  baseMs: number;
  /** No delay is longer than this. Default 1 h. */
  capMs: number;
}

export const defaultBackoff: BackoffOptions = { baseMs: 1_000, capMs: 3_600_000 };

/** The upper bound of the delay after failed attempt `attempt` (1-based). */
export function backoffCeiling(attempt: number, { baseMs, capMs }: BackoffOptions): number {
  // 2^(n-1) overflows to Infinity for large n; min() brings it back to the cap.
  return Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
}

export function backoffDelay(
  attempt: number,
  options: BackoffOptions,
  random: () => number = Math.random,
): number {
  return Math.floor(random() * backoffCeiling(attempt, options));
}

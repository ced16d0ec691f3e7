/**
 * Reconnect delays: exponential with full jitter (a random delay between 0 and the capped
 * exponential), so the pages of a Herald that restarts do not all come back in the same second.
 */
export interface BackoffOptions {
  /** The first retry's upper bound, ms. Default 1000. */
  minMs?: number;
  /** The cap, ms. Default 30000. */
  maxMs?: number;
}

/** The delay before retry number `attempt` (0 for the first), given a random number in [0, 1). */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions = {},
  random = Math.random(),
): number {
  const min = options.minMs ?? 1000;
  const max = options.maxMs ?? 30_000;
  const ceiling = Math.min(max, min * 2 ** Math.min(attempt, 30));
  // Never quite 0: a server that closes every connection at once must not be hammered.
  return Math.round(Math.max(min / 10, random * ceiling));
}

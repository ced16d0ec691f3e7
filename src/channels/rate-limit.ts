/**
 * Per-provider send-rate limits that hold across all workers on all machines: the database is
 * the one clock and the one counter.
 *
 * The limiter spaces sends evenly (the generic cell rate algorithm with no burst): a limit of
 * N per second gives each send its own slot, 1/N s after the previous one, plus `headroom`
 * (10 %) so that jitter between Herald and the service cannot put N + 1 arrivals into one of
 * the service's one-second windows. Taking a slot is one statement on one row
 * (`rate_limits`), so the limit holds however many processes take slots at once. A worker
 * whose timer fires late for its slot (a busy event loop) gives the slot up and takes another,
 * so late sends never bunch up behind the ones on time.
 *
 * A worker waits for its slot when it is near (`maxWaitMs`, default 2 s); when the next free
 * slot is further away it takes none and the job is deferred (DeferError: back to the queue
 * uncounted) until the slot is near, so a burst of thousands does not hold every worker slot
 * asleep.
 */
import type { Db } from '../db/db.js';
import { quoteIdent } from '../db/sql.js';
import { DeferError } from '../queue/errors.js';
import { sleep } from '../time/sleep.js';

export interface RateLimiterOptions {
  db: Db;
  schema: string;
  /** Sends per second by provider name (the name recorded on deliveries: `twilio`, `ses`...). */
  limits: Record<string, number>;
  /** Wait in the job for a slot at most this long; further away, defer the job. Default 2,000. */
  maxWaitMs?: number;
  /** Extra spacing, as a fraction of 1/N s. Default 0.1. */
  headroom?: number;
}

export interface RateLimiter {
  /**
   * Resolves when this send may start. Throws DeferError when the next slot is more than
   * `maxWaitMs` away, and the signal's reason if it is aborted while waiting. A provider with
   * no limit resolves at once.
   */
  take(provider: string, signal?: AbortSignal): Promise<void>;
  /** Whether a provider has a limit. */
  limited(provider: string): boolean;
}

/** Slots taken (and let go stale) before a send is deferred instead. */
const MAX_TRIES = 20;

export function makeRateLimiter(options: RateLimiterOptions): RateLimiter {
  const table = `${quoteIdent(options.schema)}.rate_limits`;
  const maxWaitMs = options.maxWaitMs ?? 2_000;
  const headroom = options.headroom ?? 0.1;
  const spacingMs = new Map(
    Object.entries(options.limits).map(([name, perSecond]) => [
      name,
      (1000 / perSecond) * (1 + headroom),
    ]),
  );

  // Takes the next slot if it starts within $3 ms: the slot is max(next_at, now), and next_at
  // moves one spacing ($2 ms) past it. When the slot is further away the WHERE keeps the row
  // as it is and nothing is returned. clock_timestamp(), not now(): the statement's own time.
  const takeSql = `
    INSERT INTO ${table} AS r (name, next_at)
    VALUES ($1, clock_timestamp() + $2::float8 * interval '1 millisecond')
    ON CONFLICT (name) DO UPDATE
      SET next_at = greatest(r.next_at, clock_timestamp()) + $2::float8 * interval '1 millisecond'
      WHERE r.next_at <= clock_timestamp() + $3::float8 * interval '1 millisecond'
    RETURNING extract(epoch FROM (r.next_at - clock_timestamp())) * 1000 - $2::float8 AS wait_ms`;
  const waitSql = `SELECT extract(epoch FROM (next_at - clock_timestamp())) * 1000 AS wait_ms
    FROM ${table} WHERE name = $1`;

  return {
    limited: (provider) => spacingMs.has(provider),
    async take(provider, signal) {
      const spacing = spacingMs.get(provider);
      if (spacing === undefined) return;
      // A wake-up this much after its slot (a busy event loop fires timers late) gives the
      // slot up and takes a new one: else late sends would bunch up behind on-time ones.
      const staleMs = Math.max(5, spacing / 4);
      for (let tries = 0; tries < MAX_TRIES; tries++) {
        const { rows } = await options.db.query<{ wait_ms: number }>(takeSql, [
          provider,
          spacing,
          maxWaitMs,
        ]);
        const taken = rows[0];
        if (!taken) {
          const { rows: next } = await options.db.query<{ wait_ms: number }>(waitSql, [provider]);
          // Come back when the next free slot is about to be near, not all at the same instant.
          const away = Number(next[0]?.wait_ms ?? maxWaitMs);
          throw new DeferError(
            Math.max(50, away - maxWaitMs / 2) * (1 + Math.random() * 0.2),
            `${provider}: send-rate limit reached; deferred`,
          );
        }
        // The slot as seen here: the wait counts from when the database answered, at the
        // latest, so a send never starts before its slot.
        const target = Date.now() + Math.max(0, Number(taken.wait_ms));
        if (target - Date.now() > 1) await sleep(target - Date.now(), signal);
        if (Date.now() - target <= staleMs) return;
      }
      throw new DeferError(spacing * 10, `${provider}: send slots kept going stale; deferred`);
    },
  };
}

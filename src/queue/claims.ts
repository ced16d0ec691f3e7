/**
 * The claim loop: claims due jobs of one queue in batches and starts them while slots are
 * free. One claim statement fetches up to half of what the worker may hold (`concurrency +
 * prefetch`), so that after a full batch the next claim runs in the database while this
 * process works through the last one. New jobs wake the loop through LISTEN/NOTIFY (`wakeAt`);
 * the worker's poll covers lost notifications. A failing claim (database down) is retried
 * with backoff, never fatal.
 *
 * A notification is acted on when it arrives, never left for the poll: while a claim is in
 * flight a second one may start (the first may have missed the new job), and a handler slot
 * that nothing held or being claimed will fill is claimed for even when that is less than
 * the usual half batch.
 */
import type { Db } from '../db/db.js';
import { toJob, type JobDbRow, type Queue } from './queue.js';
import { noop, report, type Held, type Pool } from './pool.js';
import { makeWakeups } from './wakeups.js';

export interface ClaimOptions {
  db: Db;
  sql: Queue['sql'];
  pool: Pool;
  queueName: string;
  kinds: string[];
  workerId: string;
  leaseMs: number;
  pollIntervalMs: number;
  concurrency: number;
  prefetch: number;
  /** Starts a claimed job (worker.ts); it calls `drain` again when the job is done. */
  run: (h: Held) => void;
  /** Gives jobs back (leases.ts), for a claim that returns after stopping began. */
  release: (list: Held[]) => Promise<void>;
}

export function makeClaims(options: ClaimOptions) {
  const { db, sql, pool, queueName, kinds, workerId, leaseMs, pollIntervalMs } = options;
  const { concurrency } = options;
  const maxHeld = concurrency + options.prefetch;
  const batchSize = Math.max(1, Math.ceil(maxHeld / 2));
  const claims = new Set<Promise<void>>();
  let claimedAhead = 0; // jobs asked for by claims in flight
  let lastClaimFull = false;
  let fetchAgain = false;
  let draining = false;
  let claimFailures = 0;
  const wakeups = makeWakeups({ onWake: () => fetch(), slackMs: WAKE_SLACK_MS });

  /**
   * Claims a batch if one fits. The worker's own refills (`fromOutside` false) keep one claim
   * in flight while the queue looks empty (claims come back short) and two while batches come
   * back full, so claiming and working overlap. A notification or poll may start a second
   * claim beside one in flight: the jobs it announces may have committed after that claim
   * looked, and waiting for it to return and then claiming again costs two round trips.
   */
  function fetch(fromOutside = true): void {
    if (pool.state !== 'running' || kinds.length === 0) return;
    if (claims.size >= (lastClaimFull || fromOutside ? MAX_CLAIMS_IN_FLIGHT : 1)) {
      // Jobs announced now may have been missed by the claims in flight: look again after.
      // (The worker's own refills do not: that would spin on an empty queue.)
      if (fromOutside) fetchAgain = true;
      return;
    }
    const coming = pool.held.size + claimedAhead;
    const want = Math.min(batchSize, maxHeld - coming);
    // Claim in batches (at least half a batch) while enough is held or coming to fill every
    // free handler slot; a slot nothing will fill is claimed for at once, however few jobs.
    const idleSlots = concurrency - coming;
    if (want <= 0 || (want < Math.ceil(batchSize / 2) && idleSlots <= 0)) return;
    fetchAgain = false;
    claimedAhead += want;
    const claiming: Promise<void> = claim(want).finally(() => claims.delete(claiming));
    claims.add(claiming);
  }

  /** One claim of up to `want` jobs (already counted in claimedAhead). */
  async function claim(want: number): Promise<void> {
    let rows: ClaimedRow[];
    try {
      rows = (await db.query<ClaimedRow>(sql.claim, [queueName, kinds, want, workerId, leaseMs]))
        .rows;
      claimFailures = 0;
    } catch (err) {
      claimedAhead -= want;
      claimFailures++;
      const retryIn = Math.min(pollIntervalMs, 100 * 2 ** Math.min(claimFailures, 6));
      report(pool, err, 'claim failed; retrying in ' + retryIn + ' ms');
      wakeAt(Date.now() + retryIn);
      return;
    }
    for (const row of rows) {
      const h: Held = {
        job: toJob({
          ...row,
          run_at: new Date(row.run_at_ms),
          created_at: new Date(row.created_at_ms),
        }),
        attempt: row.attempts,
        controller: undefined,
        abort: noop,
        started: false,
        lost: false,
      };
      pool.held.set(h.job.id, h);
      pool.buffer.push(h);
    }
    claimedAhead -= want; // now counted in held
    if (pool.state !== 'running') {
      // Stopping began while the claim was in flight: give these straight back.
      await options.release(pool.buffer.splice(0));
      return;
    }
    // A full batch means there may be more due: ask for the next one before working on this
    // one. A short batch means the queue is drained: wait for a notification or the poll.
    lastClaimFull = rows.length === want;
    if (lastClaimFull) fetch(false);
    drain();
    if (fetchAgain) setImmediate(fetch);
  }

  /** Starts buffered jobs while slots are free. */
  function drain(): void {
    // A synchronous handler finishes inside run, which calls drain again: the loop below
    // already takes the freed slot, so that nested call returns (no recursion per job).
    if (draining) return;
    draining = true;
    try {
      while (pool.running < concurrency && pool.buffer.length > 0 && pool.state === 'running') {
        const h = pool.buffer.shift() as Held;
        if (h.lost) continue;
        options.run(h);
      }
    } finally {
      draining = false;
    }
    // Refill before the buffer runs dry, so slots do not wait for a claim round trip.
    fetch(false);
  }

  /**
   * Looks for jobs at `at` (ms since epoch): at once if it has passed, by the worker's poll if
   * that comes first, else by a timed wake-up (wakeups.ts keeps every pending one).
   */
  function wakeAt(at: number): void {
    if (pool.state !== 'running') return;
    if (at - Date.now() >= pollIntervalMs) return; // the poll comes first anyway
    wakeups.at(at);
  }

  return {
    fetch,
    drain,
    wakeAt,
    /** At stop: no more wake-ups, and every claim in flight has returned. */
    async stop(): Promise<void> {
      wakeups.stop();
      await Promise.all(claims);
    },
  };
}

/** Claims one worker runs at once (a refill, and one for a notification that came meanwhile). */
const MAX_CLAIMS_IN_FLIGHT = 2;

/** Timers may fire a millisecond early, and the database clock decides whether a job is due. */
const WAKE_SLACK_MS = 10;

/** A claimed row: timestamps come as epoch milliseconds (see the claim statement). */
type ClaimedRow = Omit<JobDbRow, 'run_at' | 'created_at'> & {
  run_at_ms: number;
  created_at_ms: number;
};

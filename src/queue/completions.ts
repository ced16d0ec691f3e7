/**
 * Completion batching: finished jobs are deleted together, in one fenced statement per
 * event-loop turn (or per `completionDelayMs`), at most two statements in flight. A completion
 * the database refuses belongs to a job another attempt holds now (stale). While the database
 * is away the completions are kept and retried; leases.ts keeps their leases meanwhile.
 */
import type { Db } from '../db/db.js';
import { sleep } from '../time/sleep.js';
import { report, type Held, type Pool } from './pool.js';
import type { Queue } from './queue.js';

export interface CompletionOptions {
  db: Db;
  sql: Queue['sql'];
  pool: Pool;
  /** Wait this long to gather completions; 0: the same event-loop turn. */
  completionDelayMs: number;
  /** The longest pause before a failed batch is tried again (at most 500 ms). */
  pollIntervalMs: number;
  /** Keeps a timer so that stopping the worker clears it. */
  track: (timer: NodeJS.Timeout) => NodeJS.Timeout;
}

export function makeCompletions(options: CompletionOptions) {
  const { db, sql, pool } = options;
  let pending: Held[] = [];
  let flushScheduled = false;
  let flushesInFlight = 0;

  function scheduleFlush(): void {
    if (flushScheduled || flushesInFlight >= 2) return;
    flushScheduled = true;
    const go = () => {
      flushScheduled = false;
      void flush();
    };
    if (options.completionDelayMs > 0) options.track(setTimeout(go, options.completionDelayMs));
    else setImmediate(go);
  }

  /** Records finished jobs with one fenced DELETE; refused ones were taken over (stale). */
  async function flush(): Promise<void> {
    const batch = pending.splice(0, 2_000);
    if (batch.length === 0) return;
    flushesInFlight++;
    try {
      const { rows } = await db.query<{ id: string }>(sql.complete, [
        batch.map((h) => h.job.id),
        batch.map((h) => h.attempt),
      ]);
      const recorded = new Set(rows.map((r) => r.id));
      for (const h of batch) {
        pool.completing.delete(h.job.id);
        if (recorded.has(h.job.id)) pool.events.emit('job:complete', h.job);
        else {
          pool.log.warn(
            { jobId: h.job.id, attempt: h.attempt },
            'job:stale (completion refused: another attempt holds the job)',
          );
          pool.events.emit('job:stale', h.job);
        }
      }
    } catch (err) {
      // Keep them: the heartbeat keeps their leases while the database is away, and a late
      // completion is safe because it is fenced.
      report(pool, err, `recording ${batch.length} completions failed; retrying`);
      pending = batch.concat(pending);
      await sleep(Math.min(options.pollIntervalMs, 500));
    } finally {
      flushesInFlight--;
    }
    if (pending.length > 0) scheduleFlush();
  }

  return {
    /** A job finished without error: record it with the next batch. */
    add(h: Held): void {
      pool.completing.set(h.job.id, h);
      pending.push(h);
      scheduleFlush();
    },

    /** At stop: records what is pending, for about a second at most. */
    async finish(): Promise<void> {
      for (let i = 0; (pending.length > 0 || flushesInFlight > 0) && i < 40; i++) {
        if (pending.length > 0 && flushesInFlight === 0) await flush();
        else await sleep(25);
      }
    },
  };
}

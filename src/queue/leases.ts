/**
 * Lease keeping: a claim leases jobs for `leaseMs`; the heartbeat renews the lease of every job
 * this worker holds (running, waiting for a slot, or finished but not yet recorded). A job whose
 * lease could not be renewed was taken over by another worker after this one froze: its
 * AbortSignal fires and its result is not recorded. Any worker sweeps expired leases back to
 * the queue (reclaim), so a crashed worker's jobs run again; at shutdown, jobs are given back.
 */
import type { Db } from '../db/db.js';
import { report, type Held, type Pool } from './pool.js';
import type { Queue } from './queue.js';

export function makeLeases(options: { db: Db; sql: Queue['sql']; pool: Pool; leaseMs: number }) {
  const { db, sql, pool, leaseMs } = options;
  return {
    /** Renews the leases of everything held; jobs no longer ours are marked lost. */
    async heartbeat(): Promise<void> {
      const all = [...pool.held.values(), ...pool.completing.values()];
      if (all.length === 0) return;
      let kept: Set<string>;
      try {
        const { rows } = await db.query<{ id: string }>(sql.heartbeat, [
          all.map((h) => h.job.id),
          all.map((h) => h.attempt),
          leaseMs,
        ]);
        kept = new Set(rows.map((r) => r.id));
      } catch (err) {
        report(pool, err, 'lease renewal failed');
        return;
      }
      for (const h of all) {
        if (kept.has(h.job.id) || h.lost) continue;
        // Only a job still held (running or waiting for a slot) can be lost. A finished one
        // missing here was most often deleted by its own completion, committed on another
        // connection before this renewal looked; if another worker took it over instead, the
        // completion's fence refuses it and reports it stale (completions.ts).
        if (!pool.held.has(h.job.id)) continue;
        h.lost = true;
        h.abort(new Error('lease lost: another worker holds this job now'));
        pool.log.warn({ jobId: h.job.id, attempt: h.attempt }, 'job:lease-lost');
        pool.events.emit('job:lease-lost', h.job);
        if (!h.started) pool.held.delete(h.job.id);
      }
    },

    /** Puts jobs whose leases expired (any worker's) back in the queue; true if there were. */
    async reclaim(): Promise<boolean> {
      try {
        const { rows } = await db.query<{ id: string; status: string }>(sql.reclaim);
        if (rows.length === 0) return false;
        pool.log.warn({ count: rows.length }, 'job:reclaimed (leases expired)');
        return true;
      } catch (err) {
        report(pool, err, 'reclaiming expired leases failed');
        return false;
      }
    },

    /** Gives held jobs back to the queue (at shutdown), without counting attempts that never ran. */
    async release(list: Held[]): Promise<void> {
      if (list.length === 0) return;
      for (const h of list) {
        h.lost = true;
        pool.held.delete(h.job.id);
      }
      try {
        await db.query(sql.release, [
          list.map((h) => h.job.id),
          list.map((h) => h.attempt),
          list.map((h) => h.started),
        ]);
      } catch (err) {
        report(
          pool,
          err,
          `releasing ${list.length} jobs failed; they return to the queue when their leases expire`,
        );
      }
    },
  };
}

export type Leases = ReturnType<typeof makeLeases>;

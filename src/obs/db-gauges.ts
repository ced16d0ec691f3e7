/**
 * The gauges read from the database when Prometheus scrapes: jobs by queue, kind and status,
 * the lag of the oldest due job, the kinds paused, and how late the due schedules are. They describe the shared
 * tables, not this process, so every Herald process reports the same values: aggregate them
 * with `max`, not `sum` (docs/operations.md#metrics). Each read is cached for a second, so a
 * busy scraper (or several) costs a few queries a second at most.
 */
import { Gauge, type Registry } from 'prom-client';
import type { Queue } from '../queue/queue.js';

/** How late the oldest due schedule of each kind is, in seconds (0 when none is due). */
export type ScheduleLag = () => Promise<{ cron: number; local: number }>;

/** The job kinds an operator paused (queue/pauses.ts). */
export type PausedKinds = () => Promise<{ queue: string; kind: string }[]>;

export interface DbGaugeSources {
  queue: Pick<Queue, 'status'>;
  scheduleLag?: ScheduleLag | undefined;
  pausedKinds?: PausedKinds | undefined;
}

/** `read`, at most once a second: the scrape's gauges share one query. */
function cachedFor<T>(ms: number, read: () => Promise<T>): () => Promise<T> {
  let cached: { at: number; value: Promise<T> } | undefined;
  return () => {
    if (!cached || Date.now() - cached.at > ms) {
      const value = read();
      cached = { at: Date.now(), value };
      // A failed read is not kept: the next scrape asks again.
      value.catch(() => (cached = undefined));
    }
    return cached.value;
  };
}

export function registerDbGauges(registry: Registry, sources: DbGaugeSources): void {
  const { queue, scheduleLag, pausedKinds } = sources;
  const rows = cachedFor(1_000, () => queue.status());
  new Gauge({
    name: 'herald_jobs',
    help: 'Jobs in the table by queue, kind and status (completed jobs are deleted; dead ones stay until replayed). The same in every process: aggregate with max.',
    labelNames: ['queue', 'kind', 'status'] as const,
    registers: [registry],
    async collect() {
      const now = await rows();
      this.reset();
      for (const r of now) this.set({ queue: r.queue, kind: r.kind, status: r.status }, r.count);
    },
  });
  new Gauge({
    name: 'herald_jobs_oldest_due_lag_seconds',
    help: 'How long the oldest due queued job of each queue and kind has waited past its run time. The same in every process: aggregate with max.',
    labelNames: ['queue', 'kind'] as const,
    registers: [registry],
    async collect() {
      const now = await rows();
      this.reset();
      for (const r of now) {
        if (r.status === 'queued' && r.oldestDueLagMs !== null)
          this.set({ queue: r.queue, kind: r.kind }, r.oldestDueLagMs / 1_000);
      }
    },
  });
  if (pausedKinds) {
    const paused = cachedFor(1_000, pausedKinds);
    new Gauge({
      name: 'herald_jobs_paused',
      help: 'Job kinds an operator paused (1 each; claims skip them, so their jobs wait on purpose). The same in every process: aggregate with max.',
      labelNames: ['queue', 'kind'] as const,
      registers: [registry],
      async collect() {
        const now = await paused();
        this.reset();
        for (const p of now) this.set({ queue: p.queue, kind: p.kind }, 1);
      },
    });
  }
  if (!scheduleLag) return;
  const lag = cachedFor(1_000, scheduleLag);
  new Gauge({
    name: 'herald_schedule_lag_seconds',
    help: 'How late the oldest due schedule is (kind cron: a cron tick; local: a recipient local-time run), 0 when none is due. Grows when no scheduler runs. The same in every process: aggregate with max.',
    labelNames: ['kind'] as const,
    registers: [registry],
    async collect() {
      const { cron, local } = await lag();
      this.set({ kind: 'cron' }, cron);
      this.set({ kind: 'local' }, local);
    },
  });
}

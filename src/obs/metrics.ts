/**
 * Prometheus metrics (prom-client), served at GET /metrics. Counters follow the workers'
 * events; queue depth and lag are read from the database when scraped (cached for a second, so
 * a busy scraper costs one query a second at most).
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Queue } from '../queue/queue.js';
import type { Worker } from '../queue/worker.js';

export type Metrics = ReturnType<typeof makeMetrics>;

export function makeMetrics(queue: Queue) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'herald_' });
  const labelNames = ['queue', 'kind'] as const;
  const counter = (name: string, help: string) =>
    new Counter({ name, help, labelNames, registers: [registry] });
  const completed = counter(
    'herald_jobs_completed_total',
    'Jobs whose handler succeeded and whose completion was recorded.',
  );
  const failed = counter('herald_jobs_failed_total', 'Failed attempts that will be retried.');
  const dead = counter(
    'herald_jobs_dead_total',
    'Jobs that failed permanently or used up their attempts.',
  );
  const stale = counter(
    'herald_jobs_stale_total',
    'Results refused because another attempt held the job (lease lost).',
  );

  const deliveries = new Counter({
    name: 'herald_deliveries_total',
    help: 'Deliveries by channel and outcome: queued or skipped when triggered, then sent, failed or skipped when sent; reason as recorded on the delivery.',
    labelNames: ['channel', 'status', 'reason'] as const,
    registers: [registry],
  });

  const scheduleRuns = new Counter({
    name: 'herald_schedule_runs_total',
    help: 'Finished runs of cron schedules by schedule and status (succeeded, failed).',
    labelNames: ['schedule', 'status'] as const,
    registers: [registry],
  });

  let cached: { at: number; rows: Awaited<ReturnType<Queue['status']>> } | undefined;
  const rows = async () => {
    if (!cached || Date.now() - cached.at > 1_000)
      cached = { at: Date.now(), rows: await queue.status() };
    return cached.rows;
  };
  new Gauge({
    name: 'herald_jobs',
    help: 'Jobs in the table by queue, kind and status (completed jobs are deleted).',
    labelNames: ['queue', 'kind', 'status'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const r of await rows())
        this.set({ queue: r.queue, kind: r.kind, status: r.status }, r.count);
    },
  });
  new Gauge({
    name: 'herald_jobs_oldest_due_lag_seconds',
    help: 'How long the oldest due queued job of each queue and kind has waited.',
    labelNames,
    registers: [registry],
    async collect() {
      this.reset();
      for (const r of await rows()) {
        if (r.status === 'queued' && r.oldestDueLagMs !== null)
          this.set({ queue: r.queue, kind: r.kind }, r.oldestDueLagMs / 1_000);
      }
    },
  });

  let realtime: (() => { connections: number; recipients: number; slowClosed: number }) | undefined;
  new Gauge({
    name: 'herald_realtime_connections',
    help: 'Open real-time inbox connections (WebSocket and SSE) of this process.',
    registers: [registry],
    collect() {
      this.set(realtime?.().connections ?? 0);
    },
  });
  new Gauge({
    name: 'herald_realtime_recipients',
    help: 'Recipients with at least one open real-time connection to this process.',
    registers: [registry],
    collect() {
      this.set(realtime?.().recipients ?? 0);
    },
  });
  new Counter({
    name: 'herald_realtime_slow_closed_total',
    help: 'Real-time connections closed because the client read too slowly (4408).',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(realtime?.().slowClosed ?? 0);
    },
  });

  return {
    registry,
    /** Reports the real-time hub's connections (its `stats`). */
    watchRealtime(stats: NonNullable<typeof realtime>): void {
      realtime = stats;
    },
    /** Counts delivery outcomes (the trigger's and the deliver job's). */
    countDelivery(channel: string, status: string, reason: string | null, n = 1): void {
      deliveries.inc({ channel, status, reason: reason ?? '' }, n);
    },
    /** Counts a finished run of a cron schedule. */
    countScheduleRun(schedule: string, status: 'succeeded' | 'failed'): void {
      scheduleRuns.inc({ schedule, status });
    },
    /** Counts a worker's job events. */
    watch(worker: Worker, queueName: string): void {
      // One labelled child per kind, kept: hashing the labels on every job costs more than
      // the job itself when jobs are short.
      const child = (c: Counter<'queue' | 'kind'>) => {
        const byKind = new Map<string, { inc(): void }>();
        return (kind: string) => {
          let one = byKind.get(kind);
          if (!one) byKind.set(kind, (one = c.labels(queueName, kind)));
          one.inc();
        };
      };
      const [onComplete, onFailed, onDead, onStale] = [completed, failed, dead, stale].map(child);
      worker.events.on('job:complete', (job) => onComplete?.(job.kind));
      worker.events.on('job:failed', (job) => onFailed?.(job.kind));
      worker.events.on('job:dead', (job) => onDead?.(job.kind));
      worker.events.on('job:stale', (job) => onStale?.(job.kind));
    },
  };
}

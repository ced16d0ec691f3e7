/**
 * Prometheus metrics (prom-client), served at GET /metrics. Counters and the send-time
 * histogram follow what this process does (triggers, deliveries, job events); the gauges of
 * queue depth, queue lag and schedule lag are read from the database when scraped
 * (db-gauges.ts). docs/operations.md#metrics lists them with their labels; every label has a
 * small, bounded set of values (channels, provider names, status and reason codes, job kinds,
 * type and schedule names the operator defines), never a recipient, an address or error text.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Queue } from '../queue/queue.js';
import type { Worker } from '../queue/worker.js';
import { registerDbGauges, type DbGaugeSources } from './db-gauges.js';

export type Metrics = ReturnType<typeof makeMetrics>;

/** What came of one provider send call (the histogram's `outcome`). */
export type SendOutcomeLabel = 'sent' | 'permanent_error' | 'transient_error' | 'rate_limited';

/**
 * Seconds a provider send call takes: a local SMTP relay answers in milliseconds, an HTTP API
 * in tens to hundreds, a struggling one in seconds until the job times out (30 s by default).
 */
export const SEND_SECONDS_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
] as const;

/**
 * prom-client's Node metrics, less the three gauges it names `*_total` (active handles,
 * requests and resources summed over types), which break the convention that `_total` is a
 * counter; the same numbers by type stay (`herald_nodejs_active_handles` ...).
 */
function collectNodeMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry, prefix: 'herald_' });
  for (const name of ['handles', 'requests', 'resources'])
    registry.removeSingleMetric(`herald_nodejs_active_${name}_total`);
}

export function makeMetrics(
  queue: Pick<Queue, 'status'>,
  sources: Omit<DbGaugeSources, 'queue'> = {},
) {
  const registry = new Registry();
  collectNodeMetrics(registry);
  registerDbGauges(registry, { queue, ...sources });

  const jobCounter = (name: string, help: string) =>
    new Counter({ name, help, labelNames: ['queue', 'kind'] as const, registers: [registry] });
  const completed = jobCounter(
    'herald_jobs_completed_total',
    'Jobs whose handler succeeded and whose completion was recorded, by this process.',
  );
  const failed = jobCounter(
    'herald_jobs_failed_total',
    'Failed job attempts that will be retried, by this process.',
  );
  const dead = jobCounter(
    'herald_jobs_dead_total',
    'Jobs that failed permanently or used up their attempts (dead letters), by this process.',
  );
  const stale = jobCounter(
    'herald_jobs_stale_total',
    'Job results refused because another attempt held the job (lease lost), by this process.',
  );

  const notifications = new Counter({
    name: 'herald_notifications_total',
    help: 'Notifications by type: created by a trigger (HTTP, library, schedule, reminder), or deduplicated (a repeated idempotency key answered with the first trigger, nothing new written).',
    labelNames: ['type', 'status'] as const,
    registers: [registry],
  });
  const deliveries = new Counter({
    name: 'herald_deliveries_total',
    help: 'Deliveries by the outcome they reached, once each: sent or failed by the provider, or skipped (by the trigger or at send time); reason as recorded on the delivery; provider empty when none was called.',
    labelNames: ['channel', 'provider', 'status', 'reason'] as const,
    registers: [registry],
  });
  const queued = new Counter({
    name: 'herald_deliveries_queued_total',
    help: 'Deliveries queued by triggers, by channel; reason quiet_hours or digest when held back, else empty.',
    labelNames: ['channel', 'reason'] as const,
    registers: [registry],
  });
  const sendSeconds = new Histogram({
    name: 'herald_delivery_duration_seconds',
    help: 'Time of one provider send call (one attempt; rate-limit waits excluded), by channel, provider and outcome.',
    labelNames: ['channel', 'provider', 'outcome'] as const,
    buckets: [...SEND_SECONDS_BUCKETS],
    registers: [registry],
  });
  const scheduleRuns = new Counter({
    name: 'herald_schedule_runs_total',
    help: 'Finished runs of cron schedules by schedule and status (succeeded, failed).',
    labelNames: ['schedule', 'status'] as const,
    registers: [registry],
  });

  // Registered by the first scheduler round: a process that runs no scheduler has no such
  // series, so `absent()` in an alert can tell that none runs anywhere.
  let schedulerTick: Gauge | undefined;

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
    /** Counts a trigger's notifications of a type. */
    countNotifications(type: string, status: 'created' | 'deduplicated', n: number): void {
      notifications.inc({ type, status }, n);
    },
    /** Counts deliveries that reached an outcome (`provider` null when none was called). */
    countDelivery(
      channel: string,
      provider: string | null,
      status: 'sent' | 'failed' | 'skipped',
      reason: string | null,
      n = 1,
    ): void {
      deliveries.inc({ channel, provider: provider ?? '', status, reason: reason ?? '' }, n);
    },
    /** Counts deliveries a trigger queued (reason: why held back, if it was). */
    countQueued(channel: string, reason: string | null, n: number): void {
      queued.inc({ channel, reason: reason ?? '' }, n);
    },
    /** Records how long one provider send call took, and what came of it. */
    observeSend(channel: string, provider: string, outcome: SendOutcomeLabel, seconds: number) {
      sendSeconds.observe({ channel, provider, outcome }, seconds);
    },
    /** Counts a finished run of a cron schedule. */
    countScheduleRun(schedule: string, status: 'succeeded' | 'failed'): void {
      scheduleRuns.inc({ schedule, status });
    },
    /** Notes that a scheduler of this process finished a round (cron and local) now. */
    schedulerTicked(): void {
      schedulerTick ??= new Gauge({
        name: 'herald_scheduler_last_tick_timestamp_seconds',
        help: 'When a scheduler of this process last finished a round (Unix time); absent where no scheduler runs.',
        registers: [registry],
      });
      schedulerTick.setToCurrentTime();
    },
    /**
     * Counts a worker's job events. The series of the kinds it handles start at 0, so that
     * `increase()` sees their first dead letter (a series born at 1 has no increase).
     */
    watch(worker: Worker, queueName: string, kinds: readonly string[] = []): void {
      for (const c of [completed, failed, dead, stale])
        for (const kind of kinds) c.inc({ queue: queueName, kind }, 0);
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

/**
 * What `herald status` reports (and prints with `--json`): the processes and their roles, the
 * queue per kind, the last hour's failures, and what the schedulers fire next. Read from the
 * tables only, so it describes every process on a PostgreSQL server, not just this one.
 */
import { openingStep, type Herald } from '../herald.js';
import type { FailureCount } from '../notify/deliveries.js';
import type { ProcessInfo } from '../queue/presence.js';
import type { QueueStatusRow } from '../queue/queue.js';
import type { UpcomingRun } from '../scheduler/local-schedules.js';

/** The window of "recent" failures. */
export const FAILURE_WINDOW_MS = 3_600_000;

/** How many instants of local-time runs are shown. */
const UPCOMING_INSTANTS = 5;

/** One kind of job on one queue, its statuses side by side. */
export interface QueueLine {
  queue: string;
  kind: string;
  queued: number;
  processing: number;
  dead: number;
  cancelled: number;
  /** How long the oldest due queued job has waited, in ms; null when none is due. */
  oldestDueLagMs: number | null;
  /** Whether a live worker handles this kind on this queue. */
  handled: boolean;
  /** Paused by an operator (the console's Jobs page): claims skip it until resumed. */
  paused: boolean;
}

export interface ScheduleLine {
  name: string;
  cron: string;
  timezone: string;
  enabled: boolean;
  nextRunAt: string | null;
  failureStreak: number;
  lastRun: {
    tick: string;
    status: string;
    finishedAt: string | null;
    error: string | null;
  } | null;
}

export interface StatusReport {
  /** When it was read, by the database's clock (ages and lags are measured by it too). */
  at: string;
  database: { kind: 'pg' | 'pglite'; where: string; schema: string };
  processes: ProcessInfo[];
  queues: QueueLine[];
  failures: {
    windowMs: number;
    deliveries: FailureCount[];
    deadJobs: { queue: string; kind: string; count: number }[];
  };
  schedules: ScheduleLine[];
  localRuns: UpcomingRun[];
}

export async function statusReport(herald: Herald): Promise<StatusReport> {
  const [clock, processes, queue, paused, deliveries, deadJobs, schedules, localRuns] =
    await Promise.all([
      herald.db.query<{ now: Date }>('SELECT now() AS now'),
      herald.presence.list(),
      herald.queue.status(),
      herald.pauses.list(),
      herald.deliveries.failuresSince(FAILURE_WINDOW_MS),
      herald.queue.diedSince(FAILURE_WINDOW_MS),
      herald.schedules.list(),
      herald.localSchedules.upcoming(UPCOMING_INSTANTS),
    ]);
  return {
    at: (clock.rows[0]?.now ?? new Date()).toISOString(),
    // Where, as the commands' first line says it (a server without its password, or a folder).
    database: {
      kind: herald.db.kind,
      where: openingStep(herald.config).where,
      schema: herald.config.schema,
    },
    processes,
    queues: queueLines(queue, paused),
    failures: { windowMs: FAILURE_WINDOW_MS, deliveries, deadJobs },
    schedules: schedules.map((sc) => ({
      name: sc.name,
      cron: sc.cron,
      timezone: sc.timezone,
      enabled: sc.enabled,
      nextRunAt: sc.nextRunAt,
      failureStreak: sc.failureStreak,
      // The run comes as JSON from the database (`+00:00`): ISO 8601 in UTC as the rest.
      lastRun: sc.lastRun && {
        tick: isoOf(sc.lastRun.tick),
        status: sc.lastRun.status,
        finishedAt: sc.lastRun.finishedAt && isoOf(sc.lastRun.finishedAt),
        error: sc.lastRun.error,
      },
    })),
    localRuns,
  };
}

const isoOf = (time: string) => new Date(time).toISOString();

/**
 * The queue's rows (one per queue, kind and status) as one line per queue and kind, with the
 * kinds paused (a paused kind with no jobs gets a line too: it is not forgotten).
 */
export function queueLines(
  rows: QueueStatusRow[],
  paused: { queue: string; kind: string }[] = [],
): QueueLine[] {
  const lines = new Map<string, QueueLine>();
  const isPaused = new Set(paused.map((p) => `${p.queue}\n${p.kind}`));
  for (const r of rows) {
    const key = `${r.queue}\n${r.kind}`;
    let line = lines.get(key);
    if (!line) {
      line = {
        queue: r.queue,
        kind: r.kind,
        queued: 0,
        processing: 0,
        dead: 0,
        cancelled: 0,
        oldestDueLagMs: null,
        handled: false,
        paused: isPaused.has(key),
      };
      lines.set(key, line);
    }
    line[r.status] += r.count;
    if (r.oldestDueLagMs !== null)
      line.oldestDueLagMs = Math.max(line.oldestDueLagMs ?? 0, r.oldestDueLagMs);
    line.handled ||= r.handled;
  }
  for (const p of paused) {
    const key = `${p.queue}\n${p.kind}`;
    if (!lines.has(key))
      lines.set(key, {
        queue: p.queue,
        kind: p.kind,
        queued: 0,
        processing: 0,
        dead: 0,
        cancelled: 0,
        oldestDueLagMs: null,
        handled: false,
        paused: true,
      });
  }
  return [...lines.values()].sort(
    (a, b) => a.queue.localeCompare(b.queue) || a.kind.localeCompare(b.kind),
  );
}

/**
 * What `herald status` reports (and prints with `--json`): the processes and their roles, the
 * queue per kind, the last hour's failures, and what the schedulers fire next. Read from the
 * tables only, so it describes every process on a PostgreSQL server, not just this one.
 */
import { openingStep, type Herald } from '../herald.js';
import type { FailureCount } from '../notify/deliveries.js';
import type { ProcessInfo } from '../queue/presence.js';
import { queueLines, type QueueLine } from '../queue/queue-lines.js';
import type { UpcomingRun } from '../scheduler/local-schedules.js';

/** The window of "recent" failures. */
export const FAILURE_WINDOW_MS = 3_600_000;

/** How many instants of local-time runs are shown. */
const UPCOMING_INSTANTS = 5;

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

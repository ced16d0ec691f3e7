/**
 * Cron schedules: a cron expression in an IANA zone, a task and its payload. Declared in the
 * config file (`schedules`, replaced at each start) or through `/v1/admin/schedules`.
 *
 * Exactly once per tick, with any number of schedulers and no leader: `fireDue` locks the due
 * schedules with `FOR UPDATE SKIP LOCKED` and, in the same transaction, records each tick in
 * `job_runs` (unique per schedule and tick), enqueues its `schedule` job and moves `next_tick`
 * on. A scheduler that dies mid-way rolls all of it back; one that commits has moved the tick
 * past `now()`, so no other scheduler sees it again; and the unique index would refuse a second
 * record of the tick even if two got that far (graphile-worker's design, not a leader lock).
 *
 * After downtime the schedule's `catchUp` decides: `latest` (default) fires the latest missed
 * tick once, `all` fires every missed tick (at most 1,000), `none` fires none of those that are
 * more than `graceMs` late (a tick a few seconds late is on time, not missed).
 */
import { z } from 'zod';
import type { Db, Queryable } from '../db/db.js';
import { quoteIdent } from '../db/sql.js';
import { HeraldError } from '../errors.js';
import type { Queue } from '../queue/queue.js';
import { checked } from '../validation.js';
import { isTimeZone } from '../notify/recipients.js';
import { nextTick, parseCron, ticksBetween } from '../time/cron.js';

export const scheduleNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_.-]{0,99}$/, 'lower-case letters, digits, _ . - (at most 100)');

const cronText = z
  .string()
  .min(1)
  .max(200)
  .superRefine((text, ctx) => {
    try {
      parseCron(text);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
    }
  });

export const scheduleDefinitionSchema = z.strictObject({
  /** Five fields (minute hour day-of-month month day-of-week) or @daily, @hourly... */
  cron: cronText,
  /** The zone the expression's wall-clock times are in. */
  timezone: z
    .string()
    .refine(isTimeZone, 'must be an IANA time zone such as Europe/Berlin')
    .default('UTC'),
  /** What runs at each tick: `notify` (payload: a trigger body) or a task the app registers. */
  task: z.string().regex(/^[a-z0-9][a-z0-9_.:-]{0,99}$/, 'a task name such as notify'),
  payload: z.record(z.string(), z.unknown()).default({}),
  catchUp: z.enum(['latest', 'all', 'none']).default('latest'),
  /** Attempts of one tick's run before it counts as failed. */
  maxAttempts: z.number().int().min(1).max(100).default(1),
  enabled: z.boolean().default(true),
});

export type ScheduleDefinition = z.infer<typeof scheduleDefinitionSchema>;

export interface LastRun {
  id: string;
  tick: string;
  manual: boolean;
  status: 'queued' | 'running' | 'succeeded' | 'failed';
  attempts: number;
  startedAt: string | null;
  finishedAt: string | null;
  error: string | null;
  result: unknown;
}

export interface Schedule extends ScheduleDefinition {
  name: string;
  source: 'api' | 'config';
  nextRunAt: string | null;
  lastTick: string | null;
  failureStreak: number;
  lastRun: LastRun | null;
}

/** The payload of a `schedule` job: which run of which schedule. */
export interface ScheduleJobPayload {
  schedule: string;
  runId: string;
  tick: string;
  /** The schedule's attempts for a failing task (jobs made before it: the job's own). */
  maxAttempts?: number;
}

/**
 * Attempts a run's job has beyond the schedule's own, for workers that die holding it: their
 * lease expires and the job goes back to the queue, which counts an attempt. Without them a
 * schedule of one attempt (the default) lost its run to a crashed worker: the job went dead on
 * its first reclaim and the run stayed `running`, recorded as neither done nor failed. The task
 * is safe to run again (a re-run of a finished run does nothing; the notify task's trigger has
 * the run's idempotency key); a failing task still stops at the schedule's attempts
 * (runs.ts).
 */
export const CRASH_ATTEMPTS = 2;

interface Row {
  name: string;
  cron: string;
  timezone: string;
  task: string;
  payload: Record<string, unknown>;
  catch_up: 'latest' | 'all' | 'none';
  max_attempts: number;
  enabled: boolean;
  source: 'api' | 'config';
  next_tick: Date | null;
  last_tick: Date | null;
  failure_streak: number;
  run: LastRun | null;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

const toSchedule = (r: Row): Schedule => ({
  name: r.name,
  cron: r.cron,
  timezone: r.timezone,
  task: r.task,
  payload: r.payload,
  catchUp: r.catch_up,
  maxAttempts: r.max_attempts,
  enabled: r.enabled,
  source: r.source,
  nextRunAt: iso(r.next_tick),
  lastTick: iso(r.last_tick),
  failureStreak: r.failure_streak,
  lastRun: r.run,
});

export interface CronSchedulesOptions {
  /** A tick later than this is missed, not late (catchUp `none`). Default 60 s. */
  graceMs?: number;
  /** Schedules handled per transaction of `fireDue`. Default 100. */
  batch?: number;
}

/** Most ticks one `all` catch-up enqueues for a schedule in one go. */
const MAX_CATCH_UP = 1_000;

export function makeCronSchedules(
  db: Db,
  schema: string,
  queue: Queue,
  options: CronSchedulesOptions = {},
) {
  const s = quoteIdent(schema);
  const graceMs = options.graceMs ?? 60_000;
  const batch = options.batch ?? 100;
  const lastRun = `(SELECT json_build_object('id', r.id::text, 'tick', r.tick, 'manual', r.manual,
      'status', r.status, 'attempts', r.attempts, 'startedAt', r.started_at,
      'finishedAt', r.finished_at, 'error', r.error, 'result', r.result)
    FROM ${s}.job_runs r WHERE r.schedule = sc.name ORDER BY r.id DESC LIMIT 1) AS run`;
  const columns = `sc.name, sc.cron, sc.timezone, sc.task, sc.payload, sc.catch_up, sc.max_attempts,
    sc.enabled, sc.source, sc.next_tick, sc.last_tick, sc.failure_streak, ${lastRun}`;

  /** Records a run of a tick and enqueues its job; null if the tick was recorded already. */
  async function startRun(
    tx: Queryable,
    sc: Pick<Row, 'name' | 'max_attempts'>,
    tick: Date,
    manual: boolean,
  ): Promise<string | null> {
    const { rows } = await tx.query<{ id: string }>(
      `INSERT INTO ${s}.job_runs (schedule, tick, manual) VALUES ($1, $2, $3)
       ON CONFLICT (schedule, tick) WHERE NOT manual DO NOTHING RETURNING id::text AS id`,
      [sc.name, tick, manual],
    );
    const runId = rows[0]?.id;
    if (!runId) return null;
    const payload: ScheduleJobPayload = {
      schedule: sc.name,
      runId,
      tick: tick.toISOString(),
      maxAttempts: sc.max_attempts,
    };
    await queue.enqueue(
      {
        kind: 'schedule',
        payload,
        key: `schedule:${runId}`,
        maxAttempts: sc.max_attempts + CRASH_ATTEMPTS,
      },
      { tx },
    );
    return runId;
  }

  /** The ticks to fire now for a due schedule, by its catch-up policy. */
  function ticksToFire(sc: Row, now: number): number[] {
    const spec = parseCron(sc.cron);
    const due = (sc.next_tick as Date).getTime();
    const all = [due, ...ticksBetween(spec, sc.timezone, due, now, MAX_CATCH_UP - 1)];
    if (sc.catch_up === 'all') return all;
    const latest = all.at(-1) as number;
    if (sc.catch_up === 'latest') return [latest];
    return now - latest <= graceMs ? [latest] : [];
  }

  return {
    /** Defines or replaces a schedule; the next tick is computed anew when its timing changed. */
    async put(
      name: string,
      input: unknown,
      source: 'api' | 'config' = 'api',
      q: Queryable = db,
    ): Promise<{ schedule: Schedule; created: boolean }> {
      const n = checked(scheduleNameSchema, name, 'name');
      const def = checked(scheduleDefinitionSchema, input);
      const next = nextTick(parseCron(def.cron), def.timezone, Date.now());
      const { rows } = await q.query<Row & { inserted: boolean }>(
        `INSERT INTO ${s}.schedules AS sc (name, cron, timezone, task, payload, catch_up, max_attempts,
           enabled, source, next_tick)
         VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10)
         ON CONFLICT (name) DO UPDATE SET cron = excluded.cron, timezone = excluded.timezone,
           task = excluded.task, payload = excluded.payload, catch_up = excluded.catch_up,
           max_attempts = excluded.max_attempts, enabled = excluded.enabled, source = excluded.source,
           -- Same timing: keep the pending tick (a tick due now is not lost by an edit).
           next_tick = CASE WHEN sc.cron = excluded.cron AND sc.timezone = excluded.timezone
                             AND sc.next_tick IS NOT NULL
                        THEN sc.next_tick ELSE excluded.next_tick END,
           updated_at = now()
         RETURNING ${columns}, (xmax = 0) AS inserted`,
        [
          n,
          def.cron,
          def.timezone,
          def.task,
          JSON.stringify(def.payload),
          def.catchUp,
          def.maxAttempts,
          def.enabled,
          source,
          next === null ? null : new Date(next),
        ],
      );
      const row = rows[0] as Row & { inserted: boolean };
      return { schedule: toSchedule(row), created: row.inserted };
    },

    async get(name: string): Promise<Schedule | null> {
      const { rows } = await db.query<Row>(
        `SELECT ${columns} FROM ${s}.schedules sc WHERE name = $1`,
        [checked(scheduleNameSchema, name, 'name')],
      );
      return rows[0] ? toSchedule(rows[0]) : null;
    },

    /** Every schedule with its last run (GET /v1/admin/jobs/status). */
    async list(): Promise<Schedule[]> {
      const { rows } = await db.query<Row>(
        `SELECT ${columns} FROM ${s}.schedules sc ORDER BY name`,
      );
      return rows.map(toSchedule);
    },

    async remove(name: string): Promise<boolean> {
      const { rows } = await db.query(`DELETE FROM ${s}.schedules WHERE name = $1 RETURNING name`, [
        checked(scheduleNameSchema, name, 'name'),
      ]);
      return rows.length > 0;
    },

    /**
     * Makes the config file's schedules the ones with source `config`: each is put (a changed
     * one replaced), and config schedules no longer in the file are removed. API schedules are
     * left alone. All or nothing.
     */
    async syncFromConfig(declared: Record<string, unknown>): Promise<void> {
      await db.transaction(async (tx) => {
        for (const [name, def] of Object.entries(declared)) await this.put(name, def, 'config', tx);
        await tx.query(
          `DELETE FROM ${s}.schedules WHERE source = 'config' AND NOT (name = ANY($1::text[]))`,
          [Object.keys(declared)],
        );
      });
    },

    /** Records a manual run of the schedule now and enqueues it; its run id. */
    async runNow(name: string): Promise<{ runId: string; tick: string }> {
      const n = checked(scheduleNameSchema, name, 'name');
      return db.transaction(async (tx) => {
        const { rows } = await tx.query<Row>(
          `SELECT name, max_attempts FROM ${s}.schedules WHERE name = $1`,
          [n],
        );
        const sc = rows[0];
        if (!sc) throw new HeraldError('not_found', `no schedule named ${n}`);
        const tick = new Date();
        const runId = (await startRun(tx, sc, tick, true)) as string;
        return { runId, tick: tick.toISOString() };
      });
    },

    /**
     * Fires every due tick once (see the top of the file); returns how many runs it enqueued.
     * Loops while full batches come back, so a backlog is cleared in one call.
     */
    async fireDue(): Promise<number> {
      let fired = 0;
      for (;;) {
        const { handled, runs } = await db.transaction(async (tx) => {
          const { rows } = await tx.query<Row>(
            `SELECT name, cron, timezone, task, payload, catch_up, max_attempts, enabled, source,
               next_tick, last_tick, failure_streak, NULL AS run
             FROM ${s}.schedules
             WHERE enabled AND next_tick <= now()
             ORDER BY next_tick LIMIT $1 FOR UPDATE SKIP LOCKED`,
            [batch],
          );
          if (rows.length === 0) return { handled: 0, runs: 0 };
          const { rows: clock } = await tx.query<{ now: Date }>('SELECT now() AS now');
          const now = (clock[0] as { now: Date }).now.getTime();
          let runs = 0;
          for (const sc of rows) {
            const ticks = ticksToFire(sc, now);
            for (const t of ticks) if (await startRun(tx, sc, new Date(t), false)) runs++;
            const next = nextTick(parseCron(sc.cron), sc.timezone, now);
            await tx.query(
              `UPDATE ${s}.schedules SET next_tick = $2, last_tick = coalesce($3, last_tick)
               WHERE name = $1`,
              [
                sc.name,
                next === null ? null : new Date(next),
                ticks.length ? new Date(ticks.at(-1) as number) : null,
              ],
            );
          }
          return { handled: rows.length, runs };
        });
        fired += runs;
        if (handled < batch) return fired;
      }
    },

    /** The earliest pending tick of any enabled schedule (the scheduler sleeps until then). */
    async nextDue(): Promise<Date | null> {
      const { rows } = await db.query<{ t: Date | null }>(
        `SELECT min(next_tick) AS t FROM ${s}.schedules WHERE enabled AND next_tick IS NOT NULL`,
      );
      return rows[0]?.t ?? null;
    },

    /** How late the oldest due tick is by the database's clock, in seconds (0: none due). */
    async dueLagSeconds(): Promise<number> {
      const { rows } = await db.query<{ lag: number }>(
        `SELECT coalesce(extract(epoch FROM now() - min(next_tick)), 0)::float8 AS lag
         FROM ${s}.schedules WHERE enabled AND next_tick <= now()`,
      );
      return Math.max(0, rows[0]?.lag ?? 0);
    },
  };
}

export type CronSchedules = ReturnType<typeof makeCronSchedules>;

/**
 * The `schedule` job: one run of a cron schedule's tick. It records the run in `job_runs`
 * (running, then succeeded with the task's result or failed with its error), keeps the
 * schedule's failure streak, and on the third failed run in a row raises an alert
 * notification to the ops recipient.
 *
 * Tasks are functions by name: `notify` is built in (its payload is a trigger body, sent with
 * an idempotency key made of the schedule and the tick, so a re-run after a crash sends
 * nothing twice); an app registers its own (`builtinHandlers(herald, { tasks })`). Every worker
 * process that runs `schedule` jobs must know every task: a task it does not know fails the run.
 */
import type { Db } from '../db/db.js';
import { quoteIdent } from '../db/sql.js';
import { toError } from '../errors.js';
import type { Logger } from '../obs/log.js';
import { PermanentError } from '../queue/errors.js';
import type { JobContext, JobHandler } from '../queue/worker.js';
import type { ScheduleJobPayload } from './cron-schedules.js';

export interface TaskContext {
  schedule: string;
  /** The tick this run is for (a manual run's is when it was asked for). */
  tick: Date;
  runId: string;
  manual: boolean;
  signal: AbortSignal;
  log: Logger;
}

/** A schedule's work; what it returns (counts, say) is kept as the run's result. */
export type ScheduleTask = (payload: Record<string, unknown>, ctx: TaskContext) => unknown;

/** Failed runs in a row that raise an alert. */
export const ALERT_AFTER = 3;

export interface ScheduleRunnerDeps {
  db: Db;
  schema: string;
  tasks: Record<string, ScheduleTask>;
  /** Tells the ops recipient that a schedule failed ALERT_AFTER times in a row. */
  alert: (info: {
    schedule: string;
    runId: string;
    error: string;
    streak: number;
  }) => Promise<void>;
  /** Counts each finished run (metrics). */
  countRun?: (schedule: string, status: 'succeeded' | 'failed') => void;
}

export function makeScheduleRunner(deps: ScheduleRunnerDeps): JobHandler {
  const s = quoteIdent(deps.schema);

  async function finish(
    runId: string,
    name: string,
    ok: boolean,
    detail: unknown,
  ): Promise<number> {
    deps.countRun?.(name, ok ? 'succeeded' : 'failed');
    await deps.db.query(
      `UPDATE ${s}.job_runs SET status = $2, finished_at = now(), error = $3, result = $4::jsonb
       WHERE id = $1::bigint`,
      [
        runId,
        ok ? 'succeeded' : 'failed',
        ok ? null : String(detail),
        ok && detail !== undefined ? JSON.stringify(detail) : null,
      ],
    );
    const { rows } = await deps.db.query<{ failure_streak: number }>(
      `UPDATE ${s}.schedules SET failure_streak = CASE WHEN $2 THEN 0 ELSE failure_streak + 1 END
       WHERE name = $1 RETURNING failure_streak`,
      [name, ok],
    );
    return rows[0]?.failure_streak ?? 0;
  }

  return async (payload: ScheduleJobPayload, ctx: JobContext) => {
    const { rows } = await deps.db.query<{
      task: string | null;
      payload: Record<string, unknown> | null;
      manual: boolean;
      status: string;
    }>(
      `UPDATE ${s}.job_runs r SET status = 'running', attempts = r.attempts + 1,
         started_at = coalesce(r.started_at, now())
       FROM (SELECT 1) one LEFT JOIN ${s}.schedules sc ON sc.name = $2
       WHERE r.id = $1::bigint AND r.status IN ('queued', 'running')
       RETURNING sc.task, sc.payload, r.manual, r.status`,
      [payload.runId, payload.schedule],
    );
    const run = rows[0];
    if (!run) return; // finished already (a re-run after the result was recorded)
    if (run.task === null || run.payload === null) {
      await finish(payload.runId, payload.schedule, false, 'the schedule was deleted');
      return;
    }
    const task = deps.tasks[run.task];
    let result: unknown;
    try {
      if (!task) throw new PermanentError(`no task named ${run.task} is registered in this worker`);
      result = await task(run.payload, {
        schedule: payload.schedule,
        tick: new Date(payload.tick),
        runId: payload.runId,
        manual: run.manual,
        signal: ctx.signal,
        log: ctx.log,
      });
    } catch (thrown) {
      const err = toError(thrown);
      const final =
        err instanceof PermanentError ||
        ctx.job.attempts >= (payload.maxAttempts ?? ctx.job.maxAttempts);
      if (!final) {
        await deps.db.query(`UPDATE ${s}.job_runs SET error = $2 WHERE id = $1::bigint`, [
          payload.runId,
          err.message,
        ]);
        throw err;
      }
      const streak = await finish(payload.runId, payload.schedule, false, err.message);
      ctx.log.warn({ schedule: payload.schedule, err: err.message, streak }, 'schedule:failed');
      if (streak === ALERT_AFTER) {
        await deps.alert({
          schedule: payload.schedule,
          runId: payload.runId,
          error: err.message,
          streak,
        });
      }
      return;
    }
    await finish(payload.runId, payload.schedule, true, result ?? null);
    ctx.log.info({ schedule: payload.schedule, runId: payload.runId }, 'schedule:run');
  };
}

/**
 * The built-in schedule task and the failure alert.
 *
 * - `notify`: the payload is a trigger body (`{type, to, data}`), sent with an idempotency key
 *   of the schedule and the tick, so a run that is retried or re-run after a crash sends once.
 * - The alert: when a schedule fails three runs in a row, the ops recipient (`opsRecipient`)
 *   gets a `herald.schedule-failed` notification (email and inbox; the type is defined on first
 *   use and may be redefined like any other). Without an ops recipient it is only logged.
 */
import type { SendOptions, SendResult } from '../notify/send.js';
import type { Types } from '../notify/types.js';
import type { Logger } from '../obs/log.js';
import type { ScheduleTask } from './runs.js';

/** What the tasks use (handlers.ts builds it from the Herald instance). */
export interface TaskContext {
  send(input: unknown, options?: SendOptions): Promise<SendResult>;
  types: Pick<Types, 'get' | 'put'>;
  log: Logger;
  /** Who gets the failure alert (HERALD_OPS_RECIPIENT); none: only logged. */
  opsRecipient?: string | undefined;
}

export const ALERT_TYPE = 'herald.schedule-failed';

const alertType = {
  category: 'transactional',
  channels: ['email', 'inapp'],
  priority: 'high',
  templates: {
    email: {
      subject: 'Schedule {{schedule}} failed {{streak}} times in a row',
      text: 'The schedule {{schedule}} failed {{streak}} runs in a row. The last error:\n\n{{error}}\n\nSee GET /v1/admin/jobs/status.',
    },
    inapp: { title: 'Schedule {{schedule}} is failing', body: '{{streak}} failed runs: {{error}}' },
  },
};

export function notifyTask(ctx: Pick<TaskContext, 'send'>): ScheduleTask {
  return async (payload, run) => {
    const result = await ctx.send({
      ...payload,
      idempotencyKey: `schedule:${run.schedule}:${run.manual ? run.runId : run.tick.toISOString()}`,
    });
    return { notifications: result.notifications.length, replayed: result.replayed };
  };
}

export function makeAlert(ctx: TaskContext) {
  return async (info: { schedule: string; runId: string; error: string; streak: number }) => {
    const to = ctx.opsRecipient;
    ctx.log.error(info, 'schedule:alert (failed runs in a row)');
    if (!to) return;
    if (!(await ctx.types.get(ALERT_TYPE))) await ctx.types.put(ALERT_TYPE, alertType);
    await ctx.send({
      type: ALERT_TYPE,
      to,
      data: info,
      idempotencyKey: `schedule-alert:${info.schedule}:${info.runId}`,
    });
  };
}

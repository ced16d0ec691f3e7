/**
 * The built-in schedule task and the failure alert.
 *
 * - `notify`: the payload is a trigger body (`{type, to, data}`), sent with an idempotency key
 *   of the schedule and the tick, so a run that is retried or re-run after a crash sends once.
 * - The alert: when a schedule fails three runs in a row, the ops recipient (`opsRecipient`)
 *   gets a `herald.schedule-failed` notification (email and inbox; the type is defined on first
 *   use and may be redefined like any other). Without an ops recipient it is only logged.
 */
import type { Herald } from '../herald.js';
import type { ScheduleTask } from './runs.js';

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

export function notifyTask(herald: Herald): ScheduleTask {
  return async (payload, ctx) => {
    const result = await herald.send({
      ...payload,
      idempotencyKey: `schedule:${ctx.schedule}:${ctx.manual ? ctx.runId : ctx.tick.toISOString()}`,
    });
    return { notifications: result.notifications.length, replayed: result.replayed };
  };
}

export function makeAlert(herald: Herald) {
  return async (info: { schedule: string; runId: string; error: string; streak: number }) => {
    const to = herald.config.opsRecipient;
    herald.log.error(info, 'schedule:alert (failed runs in a row)');
    if (!to) return;
    if (!(await herald.types.get(ALERT_TYPE))) await herald.types.put(ALERT_TYPE, alertType);
    await herald.send({
      type: ALERT_TYPE,
      to,
      data: info,
      idempotencyKey: `schedule-alert:${info.schedule}:${info.runId}`,
    });
  };
}

/**
 * The job kinds a `herald start` / `herald worker` process runs: `deliver` (render and send one
 * delivery), `reminder` (trigger one offset of a reminder), `schedule` (one run of a cron
 * schedule), `local-schedule` (a batch of recipients' local-time runs) and `digest` (one window's
 * digest of a recipient, type and channel).
 */
import type { Herald } from './herald.js';
import type { JobHandler } from './queue/worker.js';
import { makeDeliver, type DeliverDeps } from './notify/deliver.js';
import { makeRateLimiter } from './channels/rate-limit.js';
import { secretList, whsecKey } from './channels/webhook/signature.js';
import { makeReminderJob } from './scheduler/reminder-job.js';
import { makeScheduleRunner, type ScheduleTask } from './scheduler/runs.js';
import { makeLocalRun, type ScheduleContent } from './scheduler/local-run.js';
import { egressFromConfig } from './net/egress.js';
import { makeAlert, notifyTask, type TaskContext } from './scheduler/tasks.js';
import { makeDigestJob } from './notify/digests.js';
import { makeRetention } from './scheduler/retention.js';

export interface BuiltinOptions {
  /** Schedule tasks of the app's own, by name (beside the built-in `notify`). */
  tasks?: Record<string, ScheduleTask>;
  /** The content of local-time schedules, by schedule name (library use; else the data hook). */
  content?: Record<string, ScheduleContent>;
}

export function builtinHandlers(
  herald: Herald,
  options: BuiltinOptions = {},
): Record<string, JobHandler> {
  // What the deliver and digest jobs send with (one rate limiter for both).
  const sending: DeliverDeps = {
    db: herald.db,
    schema: herald.config.schema,
    providers: herald.providers,
    unsubscribe: herald.unsubscribe,
    emailFrom: herald.config.emailFrom,
    keepContent: herald.config.delivery.keepContent,
    log: herald.log,
    templateParts: herald.templateParts,
    rateLimiter: makeRateLimiter({
      db: herald.db,
      schema: herald.config.schema,
      limits: herald.config.rateLimits,
    }),
    fallback: herald.config.fallback,
    failoverAfter: herald.config.delivery.failoverAfter,
    metrics: herald.metrics,
    inboxChanged: (recipientIds) => herald.realtime.changed(recipientIds),
  };
  const taskContext: TaskContext = {
    send: (input, sendOptions) => herald.send(input, sendOptions),
    types: herald.types,
    log: herald.log,
    opsRecipient: herald.config.opsRecipient,
  };
  return {
    // One run of a cron schedule's tick, recorded in job_runs (scheduler/runs.ts).
    schedule: makeScheduleRunner({
      db: herald.db,
      schema: herald.config.schema,
      tasks: { notify: notifyTask(taskContext), ...options.tasks },
      alert: makeAlert(taskContext),
      countRun: (schedule, status) => herald.metrics.countScheduleRun(schedule, status),
    }),
    // Deletes what is past its retention, in small batches (scheduler/retention.ts).
    retention: async () => {
      await makeRetention(
        herald.db,
        herald.config.schema,
        herald.config.retention,
        herald.log,
      ).run();
    },
    // A batch of recipients whose local-time schedule is due (scheduler/local-run.ts).
    'local-schedule': makeLocalRun({
      db: herald.db,
      schema: herald.config.schema,
      definitions: herald.localSchedules.definitions,
      content: options.content ?? {},
      dataHookUrl: herald.config.dataHookUrl,
      hookKeys: secretList(herald.config.dataHookSecret).map(whsecKey),
      egress: egressFromConfig(herald.config, herald.log),
      send: (input, sendOptions) => herald.send(input, sendOptions),
      log: herald.log,
    }),
    deliver: makeDeliver(sending),
    // One window's digest of a recipient, type and channel (notify/digests.ts).
    digest: makeDigestJob(sending),
    // One recipient × offset of a reminder (scheduler/reminder-job.ts): sends it once.
    reminder: makeReminderJob({
      db: herald.db,
      schema: herald.config.schema,
      send: (input, sendOptions) => herald.send(input, sendOptions),
    }),
  };
}

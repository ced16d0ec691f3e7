/**
 * The job kinds a `herald start` / `herald worker` process runs: `deliver` (render and send one
 * delivery) and `reminder` (trigger one offset of a reminder). Later capabilities (schedules,
 * digests) register their handlers here.
 */
import type { Herald } from './herald.js';
import type { JobHandler } from './queue/worker.js';
import { makeDeliver } from './notify/deliver.js';
import { makeReminderJob } from './scheduler/reminder-job.js';

export function builtinHandlers(herald: Herald): Record<string, JobHandler> {
  return {
    deliver: makeDeliver({
      db: herald.db,
      schema: herald.config.schema,
      providers: herald.providers,
      unsubscribe: herald.unsubscribe,
      emailFrom: herald.config.emailFrom,
      log: herald.log,
      templateParts: herald.templateParts,
      countDelivery: (channel, status, reason) =>
        herald.metrics.countDelivery(channel, status, reason),
    }),
    // One recipient × offset of a reminder (scheduler/reminder-job.ts): sends it once.
    reminder: makeReminderJob({
      db: herald.db,
      schema: herald.config.schema,
      send: (input, sendOptions) => herald.send(input, sendOptions),
    }),
  };
}

/**
 * The job kinds a `herald start` / `herald worker` process runs. Later capabilities (deliveries,
 * schedules, reminders, digests) register their handlers here.
 */
import type { Herald } from './herald.js';
import type { JobHandler } from './queue/worker.js';

export function builtinHandlers(_herald: Herald): Record<string, JobHandler> {
  return {};
}

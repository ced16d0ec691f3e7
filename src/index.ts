/** Herald's public library surface. */
export { createHerald, type Herald, type CreateHeraldOptions } from './herald.js';
export { resolveConfig, parseConfig, type HeraldConfig, type HeraldConfigInput } from './config.js';
export { HeraldError, ValidationError, type ErrorCode, type FieldIssue } from './errors.js';
export { DeferError, PermanentError, RetryLaterError } from './queue/errors.js';
export type { Queue, EnqueueOptions, QueueStatusRow } from './queue/queue.js';
export type {
  Worker,
  WorkerOptions,
  JobHandler,
  JobContext,
  WorkerEvents,
} from './queue/worker.js';
export type { Db, Queryable } from './db/db.js';
export type { Job, JobSpec, JobStatus, DeadJob, JobError, Enqueued } from './types.js';
export { runUntilSignal } from './process.js';
export { builtinHandlers, type BuiltinOptions } from './handlers.js';
export type { ScheduleContent, ContentItem, ContentAnswer } from './scheduler/local-run.js';
export { loadTemplateFolder, readTemplateFolder } from './notify/template-files.js';
export { loadRecipes, RECIPES_DIR, RECIPE_TYPES } from './recipes.js';

/**
 * What the parts of a worker share (worker.ts puts them together): the jobs it holds, its
 * state, its events and how it reports a failing database call. claims.ts fills the pool,
 * completions.ts records finished jobs, leases.ts keeps the leases of what is held.
 */
import type { EventEmitter } from 'node:events';
import { toError } from '../errors.js';
import type { Logger } from '../obs/log.js';
import type { Job } from '../types.js';

/** A claimed job, from its claim until its result is recorded. */
export interface Held {
  job: Job;
  attempt: number;
  /** Made only if the handler reads `signal` (most no-op-fast jobs never do). */
  controller: AbortController | undefined;
  /** Ends the job's run with this error (timeout, lost lease, shutdown). */
  abort: (reason: Error) => void;
  started: boolean;
  /** The lease was lost (taken over or released): the result must not be recorded. */
  lost: boolean;
}

export interface WorkerEvents {
  'job:start': [Job];
  'job:complete': [Job];
  'job:failed': [Job, Error, { retryInMs: number }];
  'job:dead': [Job, Error];
  /** The result came too late: another attempt holds the job now, so it was not recorded. */
  'job:stale': [Job];
  'job:lease-lost': [Job];
  'worker:error': [Error, string];
}

export interface Pool {
  state: 'new' | 'running' | 'stopping' | 'stopped';
  /** Claimed and not yet finished. */
  readonly held: Map<string, Held>;
  /** Claimed, waiting for a free slot. */
  readonly buffer: Held[];
  /** Handlers running now. */
  running: number;
  /** Finished, completion not yet recorded (their leases are still kept). */
  readonly completing: Map<string, Held>;
  readonly events: EventEmitter<WorkerEvents>;
  readonly log: Logger;
}

/** Logs a failed database call of the worker and emits it as `worker:error`; never throws. */
export function report(pool: Pool, err: unknown, what: string): void {
  const e = toError(err);
  pool.log.warn({ err: e.message }, `worker: ${what}`);
  pool.events.emit('worker:error', e, what);
}

export function noop(): void {}

/**
 * The worker pool: claims due jobs of one queue in batches, runs their handlers with a
 * concurrency limit, records results in batches, and keeps its leases alive. This file runs
 * jobs and records failures; its parts are claims.ts (the claim loop), completions.ts
 * (completion batching) and leases.ts (heartbeats, reclaim, release), sharing pool.ts.
 *
 * How it stays correct:
 * - A claim leases jobs for `leaseMs`; a heartbeat renews the lease of every job this worker
 *   holds every `leaseMs / 3`. A job whose lease could not be renewed (another worker took it
 *   over after this one froze) has its AbortSignal fired and its result is not recorded.
 * - Completion and failure are fenced by the attempt number in SQL, so a stale attempt that
 *   reports late changes nothing.
 * - Any worker sweeps expired leases back to the queue, so a crashed worker's jobs run again.
 * - New jobs wake the worker through LISTEN/NOTIFY; polling every `pollIntervalMs` covers
 *   lost notifications, and a re-established LISTEN connection triggers a look at once.
 *   A failing claim (database down) is retried with backoff, never fatal.
 *
 * How it is fast: one claim statement fetches up to `prefetch + concurrency` jobs; finished
 * jobs are deleted together in one statement per event-loop turn (batched completion).
 */
import { EventEmitter } from 'node:events';
import type { Db } from '../db/db.js';
import { toError } from '../errors.js';
import type { Logger } from '../obs/log.js';
import type { Job } from '../types.js';
import { backoffDelay, defaultBackoff, type BackoffOptions } from './backoff.js';
import { makeClaims } from './claims.js';
import { makeCompletions } from './completions.js';
import { DeferError, PermanentError, RetryLaterError } from './errors.js';
import { makeLeases } from './leases.js';
import { instanceId } from './presence.js';
import { noop, report as reportTo, type Held, type Pool, type WorkerEvents } from './pool.js';
import type { Queue } from './queue.js';
import { redact, redactError } from '../obs/redact.js';
import { sleep } from '../time/sleep.js';

export type { WorkerEvents } from './pool.js';

export interface JobContext {
  job: Job;
  /** Fires when the job times out, its lease is lost, or shutdown's grace period ends. */
  signal: AbortSignal;
  log: Logger;
}

// Handlers receive the payload as stored; its shape is the producer's contract with the handler.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- payload types are per kind, chosen by the app
export type JobHandler = (payload: any, ctx: JobContext) => unknown;

export interface WorkerOptions {
  /** Handlers by job kind. Jobs of other kinds are left queued for a worker that has them. */
  handlers: Record<string, JobHandler>;
  /** The queue served. Default `'default'`. */
  queue?: string;
  /** Most handlers running at once. Default 10. */
  concurrency?: number;
  /** Jobs claimed ahead of free slots, so the next ones are ready. Default `concurrency`. */
  prefetch?: number;
  /** Lease length. Default 30 s. A frozen or crashed worker's jobs run again after it. */
  leaseMs?: number;
  /** How often leases are renewed. Default `leaseMs / 3`. */
  heartbeatMs?: number;
  /** Fallback look for due jobs when no notification arrives. Default 1 s. */
  pollIntervalMs?: number;
  /** How often expired leases are swept back to the queue. Default `min(leaseMs / 2, 5 s)`. */
  reclaimIntervalMs?: number;
  /** A handler running longer fails (and is retried). Default 5 min. */
  jobTimeoutMs?: number;
  /** At stop, how long running handlers may take to finish. Default 25 s. */
  shutdownGraceMs?: number;
  /** Retry delays. Default base 1 s, cap 1 h, full jitter. */
  backoff?: Partial<BackoffOptions>;
  /** Wait this long to gather completions into one statement. Default 0 (same event-loop turn). */
  completionDelayMs?: number;
  /** Shown in `locked_by`. Default `host:pid:random`. */
  workerId?: string;
}

export type Worker = ReturnType<typeof makeWorker>;

export function makeWorker(ctx: { db: Db; queue: Queue; log: Logger }, options: WorkerOptions) {
  const { db, queue } = ctx;
  const sql = queue.sql;
  const kinds = Object.keys(options.handlers);
  const queueName = options.queue ?? 'default';
  const concurrency = positive('concurrency', options.concurrency ?? 10);
  const prefetch = Math.max(0, options.prefetch ?? concurrency);
  const leaseMs = positive('leaseMs', options.leaseMs ?? 30_000);
  const heartbeatMs = options.heartbeatMs ?? Math.max(50, Math.floor(leaseMs / 3));
  const pollIntervalMs = positive('pollIntervalMs', options.pollIntervalMs ?? 1_000);
  const reclaimIntervalMs = options.reclaimIntervalMs ?? Math.min(Math.floor(leaseMs / 2), 5_000);
  const jobTimeoutMs = positive('jobTimeoutMs', options.jobTimeoutMs ?? 300_000);
  const shutdownGraceMs = options.shutdownGraceMs ?? 25_000;
  const backoff = { ...defaultBackoff, ...options.backoff };
  const completionDelayMs = options.completionDelayMs ?? 0;
  const workerId = options.workerId ?? instanceId();
  const log = ctx.log.child({ worker: workerId, queue: queueName });
  const events = new EventEmitter<WorkerEvents>();

  const pool: Pool = {
    state: 'new',
    held: new Map<string, Held>(),
    buffer: [],
    running: 0,
    completing: new Map<string, Held>(),
    events,
    log,
  };
  const { held, buffer } = pool;
  const timers = new Set<NodeJS.Timeout>();
  let unlisten: (() => Promise<void>) | undefined;
  const idleWaiters: (() => void)[] = [];
  const report = (err: unknown, what: string) => reportTo(pool, err, what);
  const leases = makeLeases({ db, sql, pool, leaseMs });
  const completions = makeCompletions({
    db,
    sql,
    pool,
    completionDelayMs,
    pollIntervalMs,
    track,
  });
  const claims = makeClaims({
    db,
    sql,
    pool,
    queueName,
    kinds,
    workerId,
    leaseMs,
    pollIntervalMs,
    concurrency,
    prefetch,
    run: (h) => void runJob(h),
    release: (list) => leases.release(list),
  });
  const { fetch, drain, wakeAt } = claims;

  async function runJob(h: Held): Promise<void> {
    pool.running++;
    h.started = true;
    const { job } = h;
    const handler = options.handlers[job.kind] as JobHandler;
    // A child logger and an AbortController per job cost more than a no-op job: both are
    // made only when the handler asks for them.
    let childLog: Logger | undefined;
    const jobLog = () =>
      (childLog ??= log.child({ jobId: job.id, kind: job.kind, attempt: h.attempt }));
    const ctx: JobContext = {
      job,
      get signal() {
        return (h.controller ??= new AbortController()).signal;
      },
      get log() {
        return jobLog();
      },
    };
    let failure: Error | undefined;
    let timeout: NodeJS.Timeout | undefined;
    try {
      // Called at once: a handler that finishes synchronously costs no promise, timer or race.
      const result: unknown = handler(job.payload, ctx);
      if (isThenable(result)) {
        const stopped = new Promise<never>((_, reject) => {
          h.abort = (reason) => {
            h.controller?.abort(reason);
            reject(reason);
          };
        });
        timeout = setTimeout(
          () => h.abort(new Error(`timed out after ${jobTimeoutMs} ms`)),
          jobTimeoutMs,
        );
        await Promise.race([result, stopped]);
      }
    } catch (err) {
      failure = toError(err);
    } finally {
      clearTimeout(timeout);
      h.abort = noop;
    }
    held.delete(job.id);
    pool.running--;
    if (h.lost) {
      events.emit('job:stale', job);
    } else if (failure) {
      await recordFailure(h, failure, jobLog());
    } else {
      completions.add(h);
    }
    drain();
    if (pool.running === 0 && buffer.length === 0) for (const w of idleWaiters.splice(0)) w();
  }

  async function recordFailure(h: Held, error: Error, jobLog: Logger): Promise<void> {
    const { job } = h;
    if (error instanceof DeferError) return defer(h, error.delayMs);
    const permanent =
      error instanceof PermanentError || (error as { permanent?: unknown }).permanent === true;
    const retryAfter =
      error instanceof RetryLaterError
        ? error.retryAfterMs
        : (error as { retryAfterMs?: unknown }).retryAfterMs;
    const delay =
      typeof retryAfter === 'number' && Number.isFinite(retryAfter) && retryAfter >= 0
        ? retryAfter
        : backoffDelay(h.attempt, backoff);
    const text = describeError(error);
    for (let tries = 0; ; tries++) {
      try {
        const { rows } = await db.query<{ status: string }>(sql.fail, [
          job.id,
          h.attempt,
          delay,
          text,
          permanent,
        ]);
        const row = rows[0];
        if (!row) {
          events.emit('job:stale', job);
        } else if (row.status === 'dead') {
          jobLog.warn({ err: text }, 'job:dead');
          events.emit('job:dead', job, error);
        } else {
          jobLog.info({ err: redact(error.message), retryInMs: delay }, 'job:failed');
          events.emit('job:failed', job, error, { retryInMs: delay });
          wakeAt(Date.now() + delay);
        }
        return;
      } catch (err) {
        // The database is away. Give up after a while: the lease then expires and the job
        // is retried by the reclaim sweep, which counts the attempt the same way.
        if (tries >= 5 || pool.state === 'stopped') {
          report(
            err,
            `recording the failure of job ${job.id} failed; its lease will expire and it will be retried`,
          );
          return;
        }
        await sleep(500 * (tries + 1));
      }
    }
  }

  /** Back to the queue uncounted; if that cannot be written, the lease expiry retries it. */
  async function defer(h: Held, delayMs: number): Promise<void> {
    try {
      const { rows } = await db.query(sql.defer, [h.job.id, h.attempt, delayMs]);
      if (rows.length === 0) events.emit('job:stale', h.job);
      else wakeAt(Date.now() + delayMs);
    } catch (err) {
      report(err, `deferring job ${h.job.id} failed; its lease will expire and it will be retried`);
    }
  }

  async function announce(): Promise<void> {
    try {
      await db.query(sql.workerSeen, [workerId, queueName, kinds]);
    } catch (err) {
      report(err, 'recording this worker as alive failed');
    }
  }

  /** Expired leases back to the queue; if there were any, look for jobs at once. */
  async function reclaim(): Promise<void> {
    if (await leases.reclaim()) fetch();
  }

  function track(t: NodeJS.Timeout): NodeJS.Timeout {
    timers.add(t);
    return t;
  }

  function every(ms: number, fn: () => unknown): void {
    track(setInterval(fn, ms));
  }

  return {
    id: workerId,
    events,
    /** Jobs claimed and not finished. */
    get inFlight(): number {
      return held.size;
    },

    async start(): Promise<void> {
      if (pool.state !== 'new') throw new Error('a worker starts once');
      pool.state = 'running';
      unlisten = await db.listen(queue.channel, {
        onNotify: (payload) => wakeAt(Number(payload) || 0),
        onReconnect: () => fetch(),
      });
      every(pollIntervalMs, fetch);
      every(heartbeatMs, () => void leases.heartbeat());
      every(Math.min(heartbeatMs, 15_000), () => void announce());
      await announce();
      if (reclaimIntervalMs > 0) every(reclaimIntervalMs, () => void reclaim());
      log.info({ kinds, concurrency, prefetch, leaseMs }, 'worker:start');
      await reclaim();
      fetch();
    },

    /**
     * Graceful stop: claim nothing more, give back jobs not started, let running handlers
     * finish for up to `shutdownGraceMs`, then abort them and give them back too, and record
     * every completion. Resolves when nothing of this worker is in `processing` any more.
     */
    async stop(): Promise<void> {
      if (pool.state !== 'running') {
        pool.state = 'stopped';
        return;
      }
      pool.state = 'stopping';
      for (const t of timers) clearInterval(t);
      timers.clear();
      await unlisten?.().catch(() => undefined);
      await claims.stop();
      await leases.release(buffer.splice(0));
      if (pool.running > 0) {
        log.info({ running: pool.running }, 'worker:stopping (waiting for running jobs)');
        const heartbeats = setInterval(() => void leases.heartbeat(), heartbeatMs);
        let graceTimer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          idleWaiters.push(resolve);
          graceTimer = setTimeout(resolve, shutdownGraceMs);
        });
        clearTimeout(graceTimer);
        clearInterval(heartbeats);
      }
      const unfinished = [...held.values()].filter((h) => h.started);
      for (const h of unfinished) h.abort(new Error('shutdown: grace period over'));
      await leases.release(unfinished);
      await completions.finish();
      await db
        .query(sql.workerGone, [workerId])
        .catch((err: unknown) => report(err, 'deregistering failed'));
      pool.state = 'stopped';
      log.info('worker:stopped');
    },
  };
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/** The error as stored in jobs.last_error: its stack, redacted (no addresses, numbers, tokens). */
function describeError(error: Error): string {
  const text = redactError(error);
  return text.length > 4_000 ? text.slice(0, 4_000) + '…' : text;
}

function positive(name: string, value: number): number {
  if (!(typeof value === 'number' && value > 0 && Number.isFinite(value))) {
    throw new RangeError(`${name} must be a positive number, got ${String(value)}`);
  }
  return value;
}

/**
 * The worker pool: claims due jobs of one queue in batches, runs their handlers with a
 * concurrency limit, records results in batches, and keeps its leases alive.
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
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import type { Db } from '../db/db.js';
import { toError } from '../errors.js';
import type { Logger } from '../obs/log.js';
import type { Job } from '../types.js';
import { backoffDelay, defaultBackoff, type BackoffOptions } from './backoff.js';
import { DeferError, PermanentError, RetryLaterError } from './errors.js';
import { toJob, type JobDbRow, type Queue } from './queue.js';
import { redact, redactError } from '../obs/redact.js';
import { sleep } from '../time/sleep.js';

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

interface Held {
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
  const workerId =
    options.workerId ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const log = ctx.log.child({ worker: workerId, queue: queueName });
  const events = new EventEmitter<WorkerEvents>();

  let state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  const held = new Map<string, Held>(); // claimed and not yet finished
  const buffer: Held[] = []; // claimed, waiting for a free slot
  let running = 0;
  const completing = new Map<string, Held>(); // finished, completion not yet recorded
  let pendingCompletions: Held[] = [];
  let flushScheduled = false;
  let flushesInFlight = 0;
  // Claims are sized to half of what the worker may hold, so that after a full batch the next
  // claim runs in the database while this process works through the last one.
  const maxHeld = concurrency + prefetch;
  const batchSize = Math.max(1, Math.ceil(maxHeld / 2));
  const claims = new Set<Promise<void>>();
  let claimedAhead = 0; // jobs asked for by claims in flight
  let lastClaimFull = false;
  let fetchAgain = false;
  let draining = false;
  let claimFailures = 0;
  const timers = new Set<NodeJS.Timeout>();
  let wakeTimer: { at: number; timer: NodeJS.Timeout } | undefined;
  let unlisten: (() => Promise<void>) | undefined;
  const idleWaiters: (() => void)[] = [];

  /**
   * Claims a batch if one fits. One claim at a time while the queue looks empty (claims come
   * back short); two while batches come back full, so claiming and working overlap.
   */
  function fetch(fromOutside = true): void {
    if (state !== 'running' || kinds.length === 0) return;
    if (claims.size >= (lastClaimFull ? 2 : 1)) {
      // A notification or poll during a claim may announce jobs that claim missed: look again
      // after it. (The worker's own refills do not: that would spin on an empty queue.)
      if (fromOutside) fetchAgain = true;
      return;
    }
    const want = Math.min(batchSize, maxHeld - held.size - claimedAhead);
    // Claim in batches (at least half a batch), unless nothing at all is held or coming.
    if (want <= 0 || (want < Math.ceil(batchSize / 2) && held.size + claimedAhead > 0)) return;
    fetchAgain = false;
    claimedAhead += want;
    const claiming: Promise<void> = claim(want).finally(() => claims.delete(claiming));
    claims.add(claiming);
  }

  /** One claim of up to `want` jobs (already counted in claimedAhead). */
  async function claim(want: number): Promise<void> {
    let rows: ClaimedRow[];
    try {
      rows = (await db.query<ClaimedRow>(sql.claim, [queueName, kinds, want, workerId, leaseMs]))
        .rows;
      claimFailures = 0;
    } catch (err) {
      claimedAhead -= want;
      claimFailures++;
      const retryIn = Math.min(pollIntervalMs, 100 * 2 ** Math.min(claimFailures, 6));
      report(err, 'claim failed; retrying in ' + retryIn + ' ms');
      wakeAt(Date.now() + retryIn);
      return;
    }
    for (const row of rows) {
      const h: Held = {
        job: toJob({
          ...row,
          run_at: new Date(row.run_at_ms),
          created_at: new Date(row.created_at_ms),
        }),
        attempt: row.attempts,
        controller: undefined,
        abort: noop,
        started: false,
        lost: false,
      };
      held.set(h.job.id, h);
      buffer.push(h);
    }
    claimedAhead -= want; // now counted in held
    if (state !== 'running') {
      // Stopping began while the claim was in flight: give these straight back.
      await release(buffer.splice(0));
      return;
    }
    // A full batch means there may be more due: ask for the next one before working on this
    // one. A short batch means the queue is drained: wait for a notification or the poll.
    lastClaimFull = rows.length === want;
    if (lastClaimFull) fetch(false);
    drain();
    if (fetchAgain) setImmediate(fetch);
  }

  /** Starts buffered jobs while slots are free. */
  function drain(): void {
    // A synchronous handler finishes inside runJob, which calls drain again: the loop below
    // already takes the freed slot, so that nested call returns (no recursion per job).
    if (draining) return;
    draining = true;
    try {
      while (running < concurrency && buffer.length > 0 && state === 'running') {
        const h = buffer.shift() as Held;
        if (h.lost) continue;
        void runJob(h);
      }
    } finally {
      draining = false;
    }
    // Refill before the buffer runs dry, so slots do not wait for a claim round trip.
    fetch(false);
  }

  async function runJob(h: Held): Promise<void> {
    running++;
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
    running--;
    if (h.lost) {
      events.emit('job:stale', job);
    } else if (failure) {
      await recordFailure(h, failure, jobLog());
    } else {
      completing.set(job.id, h);
      pendingCompletions.push(h);
      scheduleFlush();
    }
    drain();
    if (running === 0 && buffer.length === 0) for (const w of idleWaiters.splice(0)) w();
  }

  function scheduleFlush(): void {
    if (flushScheduled || flushesInFlight >= 2) return;
    flushScheduled = true;
    const go = () => {
      flushScheduled = false;
      void flush();
    };
    if (completionDelayMs > 0) track(setTimeout(go, completionDelayMs));
    else setImmediate(go);
  }

  /** Records finished jobs with one fenced DELETE; refused ones were taken over (stale). */
  async function flush(): Promise<void> {
    const batch = pendingCompletions.splice(0, 2_000);
    if (batch.length === 0) return;
    flushesInFlight++;
    try {
      const { rows } = await db.query<{ id: string }>(sql.complete, [
        batch.map((h) => h.job.id),
        batch.map((h) => h.attempt),
      ]);
      const recorded = new Set(rows.map((r) => r.id));
      for (const h of batch) {
        completing.delete(h.job.id);
        if (recorded.has(h.job.id)) events.emit('job:complete', h.job);
        else {
          log.warn(
            { jobId: h.job.id, attempt: h.attempt },
            'job:stale (completion refused: another attempt holds the job)',
          );
          events.emit('job:stale', h.job);
        }
      }
    } catch (err) {
      // Keep them: the heartbeat keeps their leases while the database is away, and a late
      // completion is safe because it is fenced.
      report(err, `recording ${batch.length} completions failed; retrying`);
      pendingCompletions = batch.concat(pendingCompletions);
      await sleep(Math.min(pollIntervalMs, 500));
    } finally {
      flushesInFlight--;
    }
    if (pendingCompletions.length > 0) scheduleFlush();
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
        if (tries >= 5 || state === 'stopped') {
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

  /** Renews the leases of everything held; jobs no longer ours are marked lost. */
  async function heartbeat(): Promise<void> {
    const all = [...held.values(), ...completing.values()];
    if (all.length === 0) return;
    let kept: Set<string>;
    try {
      const { rows } = await db.query<{ id: string }>(sql.heartbeat, [
        all.map((h) => h.job.id),
        all.map((h) => h.attempt),
        leaseMs,
      ]);
      kept = new Set(rows.map((r) => r.id));
    } catch (err) {
      report(err, 'lease renewal failed');
      return;
    }
    for (const h of all) {
      if (kept.has(h.job.id) || h.lost) continue;
      // Finished (and recorded) between the snapshot and the answer: not lost.
      if (!held.has(h.job.id) && !completing.has(h.job.id)) continue;
      h.lost = true;
      h.abort(new Error('lease lost: another worker holds this job now'));
      log.warn({ jobId: h.job.id, attempt: h.attempt }, 'job:lease-lost');
      events.emit('job:lease-lost', h.job);
      if (!h.started) held.delete(h.job.id);
    }
  }

  async function reclaim(): Promise<void> {
    try {
      const { rows } = await db.query<{ id: string; status: string }>(sql.reclaim);
      if (rows.length > 0) {
        log.warn({ count: rows.length }, 'job:reclaimed (leases expired)');
        fetch();
      }
    } catch (err) {
      report(err, 'reclaiming expired leases failed');
    }
  }

  /** Gives held jobs back to the queue (at shutdown), without counting attempts that never ran. */
  async function release(list: Held[]): Promise<void> {
    if (list.length === 0) return;
    for (const h of list) {
      h.lost = true;
      held.delete(h.job.id);
    }
    try {
      await db.query(sql.release, [
        list.map((h) => h.job.id),
        list.map((h) => h.attempt),
        list.map((h) => h.started),
      ]);
    } catch (err) {
      report(
        err,
        `releasing ${list.length} jobs failed; they return to the queue when their leases expire`,
      );
    }
  }

  /** Looks for jobs at `at` (ms since epoch), keeping only the earliest pending wake-up. */
  function wakeAt(at: number): void {
    if (state !== 'running') return;
    const delay = at - Date.now();
    if (delay <= 0) return fetch();
    if (delay >= pollIntervalMs) return; // the poll comes first anyway
    if (wakeTimer && wakeTimer.at <= at) return;
    if (wakeTimer) clearTimeout(wakeTimer.timer);
    // A little late on purpose: timers may fire up to a millisecond early, and the database
    // clock decides whether the job is due. A wake-up that finds nothing waits for the poll.
    const timer = setTimeout(() => {
      wakeTimer = undefined;
      fetch();
    }, delay + WAKE_SLACK_MS);
    wakeTimer = { at, timer };
  }

  function report(err: unknown, what: string): void {
    const e = toError(err);
    log.warn({ err: e.message }, `worker: ${what}`);
    events.emit('worker:error', e, what);
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
      if (state !== 'new') throw new Error('a worker starts once');
      state = 'running';
      unlisten = await db.listen(queue.channel, {
        onNotify: (payload) => wakeAt(Number(payload) || 0),
        onReconnect: () => fetch(),
      });
      every(pollIntervalMs, fetch);
      every(heartbeatMs, () => void heartbeat());
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
      if (state !== 'running') {
        state = 'stopped';
        return;
      }
      state = 'stopping';
      for (const t of timers) clearInterval(t);
      timers.clear();
      if (wakeTimer) clearTimeout(wakeTimer.timer);
      await unlisten?.().catch(() => undefined);
      await Promise.all(claims);
      await release(buffer.splice(0));
      if (running > 0) {
        log.info({ running }, 'worker:stopping (waiting for running jobs)');
        const heartbeats = setInterval(() => void heartbeat(), heartbeatMs);
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
      await release(unfinished);
      for (let i = 0; (pendingCompletions.length > 0 || flushesInFlight > 0) && i < 40; i++) {
        if (pendingCompletions.length > 0 && flushesInFlight === 0) await flush();
        else await sleep(25);
      }
      await db
        .query(sql.workerGone, [workerId])
        .catch((err: unknown) => report(err, 'deregistering failed'));
      state = 'stopped';
      log.info('worker:stopped');
    },
  };
}

const WAKE_SLACK_MS = 10;

function noop(): void {}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/** A claimed row: timestamps come as epoch milliseconds (see the claim statement). */
type ClaimedRow = Omit<JobDbRow, 'run_at' | 'created_at'> & {
  run_at_ms: number;
  created_at_ms: number;
};

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

/**
 * The queue's API for producers and operators: enqueue (one, many, inside the caller's
 * transaction), cancel, replay, inspect. Workers live in worker.ts.
 */
import type { Db, Queryable } from '../db/db.js';
import { jobsChannel } from '../db/migrate.js';
import { HeraldError, ValidationError, type FieldIssue } from '../errors.js';
import type { DeadJob, Enqueued, Job, JobError, JobSpec, JobStatus } from '../types.js';
import { makeQueueSql, type QueueSql } from './sql.js';
import {
  DEFAULT_MAX_PAYLOAD_BYTES,
  MAX_PAYLOAD_BYTES_CEILING,
  toJobRow,
  type JobRow,
} from './validate.js';

export interface QueueOptions {
  schema: string;
  /** Largest payload accepted, as JSON bytes. Default 256 KiB, which is also the most allowed. */
  maxPayloadBytes?: number;
}

export interface EnqueueOptions {
  /**
   * Enqueue inside this transaction: the caller's own `pg` client (after BEGIN) or PGlite
   * transaction. The job exists only if that transaction commits.
   */
  tx?: Queryable;
}

export interface QueueStatusRow {
  queue: string;
  kind: string;
  status: JobStatus;
  count: number;
  /** For queued jobs: how long the oldest due one has been waiting, in ms (null if none is due). */
  oldestDueLagMs: number | null;
  /** Whether a live worker handles this kind on this queue (seen within the last minute). */
  handled: boolean;
}

/** enqueueMany writes this many jobs per statement. */
const BULK_CHUNK = 5_000;

/** replay('all') brings back this many jobs per statement. */
const REPLAY_BATCH = 1_000;

export interface ReplayOptions {
  /** Jobs per statement of `replay('all')`. Default 1,000. */
  batchSize?: number;
  /** Told the number replayed so far after each batch of `replay('all')`. */
  onBatch?: (replayed: number) => void;
}

export type Queue = ReturnType<typeof makeQueue>;

export function makeQueue(db: Db, options: QueueOptions) {
  const sql: QueueSql = makeQueueSql(options.schema);
  const channel = jobsChannel(options.schema);
  const maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  if (!(maxPayloadBytes > 0 && maxPayloadBytes <= MAX_PAYLOAD_BYTES_CEILING)) {
    throw new HeraldError(
      'config_invalid',
      `maxPayloadBytes must be between 1 and ${MAX_PAYLOAD_BYTES_CEILING} (the database constraint's limit)`,
    );
  }

  async function enqueue(spec: JobSpec, opts: EnqueueOptions = {}): Promise<Enqueued> {
    const row = toJobRow(spec, maxPayloadBytes);
    const q = opts.tx ?? db;
    const params = [
      row.queue,
      row.kind,
      row.payload,
      row.priority,
      row.run_at,
      row.delay_ms,
      row.max_attempts,
      row.key,
    ];
    // A keyed insert that meets a live job returns that job. The live job may finish between
    // our insert and our look-up; then the insert is tried again.
    for (let round = 0; round < 10; round++) {
      const inserted = await q.query<JobDbRow & { replaced?: boolean }>(
        spec.replace ? sql.insertOrReplace : sql.insert,
        params,
      );
      const first = inserted.rows[0];
      if (first) return { job: toJob(first), created: !first.replaced };
      const live = await q.query<JobDbRow>(sql.liveByKey, [row.key]);
      if (live.rows[0]) return { job: toJob(live.rows[0]), created: false };
    }
    throw new HeraldError('conflict', `key "${row.key}" kept changing hands; try again`);
  }

  /**
   * Enqueues many jobs with one statement per 5,000. All or nothing: every spec is checked
   * before anything is written, and several statements share one transaction. Returns one
   * result per spec, in order.
   */
  async function enqueueMany(specs: JobSpec[], opts: EnqueueOptions = {}): Promise<Enqueued[]> {
    if (!Array.isArray(specs))
      throw new ValidationError([{ field: 'jobs', message: 'must be an array' }]);
    const rows: JobRow[] = [];
    const issues: FieldIssue[] = [];
    specs.forEach((spec, i) => {
      try {
        if (spec?.replace)
          throw new ValidationError([
            { field: `[${i}].replace`, message: 'is not supported in enqueueMany; use enqueue' },
          ]);
        rows.push(toJobRow(spec, maxPayloadBytes, `[${i}].`));
      } catch (err) {
        if (err instanceof ValidationError) issues.push(...err.issues);
        else throw err;
      }
    });
    if (issues.length > 0) {
      const allTooLarge = issues.every(
        (i) => i.field.endsWith('.payload') && i.message.includes('the limit is'),
      );
      throw new ValidationError(issues, allTooLarge ? 'payload_too_large' : 'validation_failed');
    }
    if (rows.length === 0) return [];
    const run = async (q: Queryable) => {
      const out: Enqueued[] = [];
      for (let start = 0; start < rows.length; start += BULK_CHUNK) {
        out.push(...(await insertChunk(q, rows.slice(start, start + BULK_CHUNK))));
      }
      return out;
    };
    if (opts.tx) return run(opts.tx);
    return rows.length > BULK_CHUNK ? db.transaction(run) : run(db);
  }

  async function insertChunk(q: Queryable, rows: JobRow[]): Promise<Enqueued[]> {
    const batch = JSON.stringify(
      rows.map((r, ord) => ({ ...r, ord, payload: JSON.parse(r.payload) as unknown })),
    );
    const inserted = (await q.query<JobDbRow>(sql.insertMany, [batch])).rows;
    // RETURNING yields rows in insertion order (the SELECT is ordered by input position):
    // unkeyed inputs take them in turn; keyed ones are matched by key.
    const byKey = new Map<string, Job>();
    const unkeyed: Job[] = [];
    for (const r of inserted) {
      const job = toJob(r);
      if (job.key === null) unkeyed.push(job);
      else byKey.set(job.key, job);
    }
    const missingKeys = rows
      .filter((r) => r.key !== null && !byKey.has(r.key))
      .map((r) => r.key as string);
    const existing = new Map<string, Job>();
    if (missingKeys.length > 0) {
      for (const r of (await q.query<JobDbRow>(sql.liveByKeys, [missingKeys])).rows) {
        const job = toJob(r);
        existing.set(job.key as string, job);
      }
    }
    let next = 0;
    const claimedKeys = new Set<string>();
    return rows.map((r) => {
      if (r.key === null) return { job: unkeyed[next++] as Job, created: true };
      const mine = byKey.get(r.key);
      if (mine && !claimedKeys.has(r.key)) {
        claimedKeys.add(r.key);
        return { job: mine, created: true };
      }
      const job = mine ?? existing.get(r.key);
      if (!job)
        throw new HeraldError(
          'conflict',
          `key "${r.key}" changed hands during the insert; try again`,
        );
      return { job, created: false };
    });
  }

  return {
    channel,
    sql,
    enqueue,
    enqueueMany,

    /** Cancels a job that has not started; returns it, or null if it is not queued (any more). */
    async cancel(id: string): Promise<Job | null> {
      const { rows } = await db.query<JobDbRow>(sql.cancel, [checkId(id)]);
      return rows[0] ? toJob(rows[0]) : null;
    },

    async cancelByKey(key: string): Promise<Job | null> {
      const { rows } = await db.query<JobDbRow>(sql.cancelByKey, [key]);
      return rows[0] ? toJob(rows[0]) : null;
    },

    /** Cancels the queued jobs with these keys (inside `tx` if given); returns how many. */
    async cancelByKeys(keys: string[], opts: EnqueueOptions = {}): Promise<number> {
      if (keys.length === 0) return 0;
      const { rows } = await (opts.tx ?? db).query(sql.cancelByKeys, [keys]);
      return rows.length;
    },

    /**
     * Frees these keys from jobs that are running (their completion is still fenced by attempt),
     * so that a new job with the same key can be enqueued at once; returns how many were freed.
     */
    async releaseRunningKeys(keys: string[], opts: EnqueueOptions = {}): Promise<number> {
      if (keys.length === 0) return 0;
      const { rows } = await (opts.tx ?? db).query(sql.releaseRunningKeys, [keys]);
      return rows.length;
    },

    /** A job as it is now, with every failed attempt; null once completed (completed jobs are deleted). */
    async get(id: string): Promise<DeadJob | null> {
      const { rows } = await db.query<DeadJobDbRow>(sql.getJob, [checkId(id)]);
      return rows[0] ? toDeadJob(rows[0]) : null;
    },

    /**
     * Queues dead jobs again as a new series of attempts; returns the ids replayed. `'all'`
     * goes through them `batchSize` (1,000) at a time, each batch its own statement, telling
     * `onBatch` how many are replayed so far (a long replay shows its progress, and workers
     * start on the first batch while the next is written).
     */
    async replay(ids: string[] | 'all', options: ReplayOptions = {}): Promise<string[]> {
      if (ids !== 'all') {
        const { rows } = await db.query<{ id: string }>(sql.replay, [ids.map(checkId)]);
        if (rows.length > 0) await db.query(sql.notify, [channel, String(Date.now())]);
        return rows.map((r) => r.id);
      }
      const batchSize = options.batchSize ?? REPLAY_BATCH;
      const replayed: string[] = [];
      let after: string | null = null;
      for (;;) {
        const rows: { id: string; grp: string }[] = (
          await db.query<{ id: string; grp: string }>(sql.replayBatch, [after, batchSize])
        ).rows;
        if (rows.length > 0) {
          for (const r of rows) replayed.push(r.id);
          after = (rows.at(-1) as { grp: string }).grp;
          await db.query(sql.notify, [channel, String(Date.now())]);
          options.onBatch?.(replayed.length);
        }
        if (rows.length < batchSize) return replayed;
      }
    },

    /** How many jobs `replay('all')` would bring back now (one per key). */
    async replayable(): Promise<number> {
      const { rows } = await db.query<{ n: number }>(sql.replayable);
      return rows[0]?.n ?? 0;
    },

    /** Jobs that died in the last `ms`, per queue and kind, most first. */
    async diedSince(ms: number): Promise<{ queue: string; kind: string; count: number }[]> {
      const { rows } = await db.query<{ queue: string; kind: string; count: number }>(
        sql.diedSince,
        [ms],
      );
      return rows;
    },

    async dead(limit = 100): Promise<DeadJob[]> {
      const { rows } = await db.query<DeadJobDbRow>(sql.dead, [limit]);
      return rows.map(toDeadJob);
    },

    async status(): Promise<QueueStatusRow[]> {
      const { rows } = await db.query<StatusDbRow>(sql.status);
      return rows.map((r) => ({
        queue: r.queue,
        kind: r.kind,
        status: r.status,
        count: Number(r.count),
        oldestDueLagMs:
          r.oldest_due_lag_ms === null
            ? null
            : Math.max(0, Math.round(Number(r.oldest_due_lag_ms))),
        handled: r.handled,
      }));
    },
  };
}

const MAX_BIGINT = 9223372036854775807n;

function checkId(id: string): string {
  // Ids are PostgreSQL bigints: 19 digits can still be past the largest.
  if (typeof id !== 'string' || !/^[1-9]\d{0,18}$/.test(id) || BigInt(id) > MAX_BIGINT) {
    throw new ValidationError([{ field: 'id', message: 'must be a job id (a positive integer)' }]);
  }
  return id;
}

/** A job row as the drivers return it. */
export interface JobDbRow {
  id: string;
  queue: string;
  kind: string;
  payload: unknown;
  priority: number;
  run_at: Date;
  status?: JobStatus;
  attempts: number;
  max_attempts: number;
  key: string | null;
  last_error?: string | null;
  created_at: Date;
}

export interface DeadJobDbRow extends JobDbRow {
  errors: JobError[];
  updated_at: Date;
}

interface StatusDbRow {
  queue: string;
  kind: string;
  status: JobStatus;
  count: number;
  oldest_due_lag_ms: number | string | null;
  handled: boolean;
}

export function toJob(r: JobDbRow): Job {
  return {
    id: String(r.id),
    queue: r.queue,
    kind: r.kind,
    payload: r.payload,
    priority: r.priority,
    runAt: r.run_at,
    status: r.status ?? 'processing',
    attempts: r.attempts,
    maxAttempts: r.max_attempts,
    key: r.key,
    lastError: r.last_error ?? null,
    createdAt: r.created_at,
  };
}

export function toDeadJob(r: DeadJobDbRow): DeadJob {
  return { ...toJob(r), errors: r.errors, updatedAt: r.updated_at };
}

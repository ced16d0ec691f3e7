/**
 * Every statement of the queue, in one place. Values are always parameters; the only thing
 * spliced in is the validated, quoted schema name (see db/sql.ts). The ones run for every job
 * are marked `prepared` (db/prepared.ts): PostgreSQL parses and plans them once per connection.
 */
import { prepared } from '../db/prepared.js';
import { quoteIdent } from '../db/sql.js';

/** Columns returned for a job, with the 64-bit id as text (pg and PGlite agree on that). */
const JOB_COLUMNS = `id::text AS id, queue, kind, payload, priority, run_at, status, attempts,
  max_attempts, key, last_error, created_at`;

export type QueueSql = ReturnType<typeof makeQueueSql>;

/**
 * The held jobs among ($ids, $attempts), still processing under that attempt (the fence),
 * locked in id order. Every multi-row statement on held jobs (completion, heartbeat, release)
 * locks through this, so two of them on different connections always take their row locks in
 * the same order and cannot deadlock (the benchmark saw completion and heartbeat do so when
 * each locked in its own join order).
 */
function lockHeldSql(jobs: string, ids: string, attempts: string): string {
  return `SELECT h.id FROM ${jobs} h
        JOIN unnest(${ids}::bigint[], ${attempts}::int[]) AS held(id, attempt)
          ON h.id = held.id AND h.attempts = held.attempt
        WHERE h.status = 'processing'
        ORDER BY h.id FOR UPDATE OF h`;
}

/**
 * The dead jobs a replay may bring back, among those matching `filter`: one per key (two dead
 * jobs sharing a key cannot both be live again, the newest is taken), none whose key is live
 * in another job. `grp` is the key, or the id of an unkeyed job.
 */
export function replayCandidatesSql(jobs: string, filter: string, limit: string): string {
  return `
        SELECT DISTINCT ON (coalesce(d.key, d.id::text)) d.id, coalesce(d.key, d.id::text) AS grp
        FROM ${jobs} d
        WHERE d.status = 'dead' AND ${filter}
          AND (d.key IS NULL OR NOT EXISTS (
            SELECT 1 FROM ${jobs} live WHERE live.key = d.key AND live.status IN ('queued', 'processing')))
        ORDER BY coalesce(d.key, d.id::text), d.updated_at DESC
        ${limit}`;
}

/** Puts the `candidates` back in the queue as a new series of attempts. */
export function replayUpdateSql(jobs: string): string {
  return `UPDATE ${jobs} j
      SET status = 'queued', attempts = 0, run_at = now(), locked_by = NULL, locked_until = NULL,
        updated_at = now()
      FROM candidates WHERE j.id = candidates.id`;
}

export function makeQueueSql(schema: string) {
  const jobs = `${quoteIdent(schema)}.jobs`;
  const workers = `${quoteIdent(schema)}.workers`;
  const paused = `${quoteIdent(schema)}.paused_kinds`;
  const lockHeld = (ids: string, attempts: string) => lockHeldSql(jobs, ids, attempts);
  const errorEntry = (error: string) =>
    `jsonb_build_array(jsonb_build_object('attempt', attempts, 'at', now(), 'error', ${error}, 'worker', locked_by))`;

  return {
    /** $1..$8: queue, kind, payload, priority, run_at, delay_ms, max_attempts, key. */
    insert: prepared(`
      INSERT INTO ${jobs} (queue, kind, payload, priority, run_at, max_attempts, key)
      VALUES ($1, $2, $3::jsonb, $4, coalesce($5::timestamptz, now() + coalesce($6::float8, 0) * interval '1 millisecond'), $7, $8)
      ON CONFLICT (key) WHERE key IS NOT NULL AND status IN ('queued', 'processing') DO NOTHING
      RETURNING ${JOB_COLUMNS}`),

    /** Same parameters; replaces a keyed job that is still queued (not one that is running). */
    insertOrReplace: `
      INSERT INTO ${jobs} (queue, kind, payload, priority, run_at, max_attempts, key)
      VALUES ($1, $2, $3::jsonb, $4, coalesce($5::timestamptz, now() + coalesce($6::float8, 0) * interval '1 millisecond'), $7, $8)
      ON CONFLICT (key) WHERE key IS NOT NULL AND status IN ('queued', 'processing')
      DO UPDATE SET queue = excluded.queue, kind = excluded.kind, payload = excluded.payload,
        priority = excluded.priority, run_at = excluded.run_at, max_attempts = excluded.max_attempts,
        updated_at = now()
      WHERE ${jobs}.status = 'queued'
      RETURNING ${JOB_COLUMNS}, (xmax <> 0) AS replaced`,

    liveByKey: `SELECT ${JOB_COLUMNS} FROM ${jobs} WHERE key = $1 AND status IN ('queued', 'processing')`,

    liveByKeys: `SELECT ${JOB_COLUMNS} FROM ${jobs}
      WHERE key = ANY($1::text[]) AND status IN ('queued', 'processing')`,

    /**
     * Many jobs in one statement: the batch travels as one JSON array ($1), unpacked by
     * jsonb_to_recordset, which is both drivers' fastest path and keeps one parameter.
     * `ord` keeps the input order so RETURNING rows map back to the caller's list.
     */
    insertMany: `
      INSERT INTO ${jobs} (queue, kind, payload, priority, run_at, max_attempts, key)
      SELECT queue, kind, payload, priority,
        coalesce(run_at, now() + coalesce(delay_ms, 0) * interval '1 millisecond'), max_attempts, key
      FROM jsonb_to_recordset($1::jsonb) AS x(ord int, queue text, kind text, payload jsonb,
        priority int, run_at timestamptz, delay_ms float8, max_attempts int, key text)
      ORDER BY ord
      ON CONFLICT (key) WHERE key IS NOT NULL AND status IN ('queued', 'processing') DO NOTHING
      RETURNING ${JOB_COLUMNS}`,

    /**
     * The claim: lock up to $3 due jobs of queue $1 whose kind is in $2, skipping rows other
     * workers hold (SKIP LOCKED, so claimers never wait on each other), and lease them to
     * worker $4 for $5 ms. Each claim increments `attempts`: the fence for completion.
     */
    claim: prepared(`
      WITH next AS (
        SELECT id FROM ${jobs}
        WHERE status = 'queued' AND queue = $1 AND run_at <= now() AND kind = ANY($2::text[])
          -- Kinds an operator paused (pauses.ts), read once per claim: usually none.
          AND kind <> ALL(ARRAY(SELECT p.kind FROM ${paused} p WHERE p.queue = $1))
        ORDER BY priority DESC, run_at, id
        LIMIT $3
        FOR UPDATE SKIP LOCKED
      )
      UPDATE ${jobs} j
      SET status = 'processing', attempts = j.attempts + 1, locked_by = $4,
        locked_until = now() + $5::float8 * interval '1 millisecond', updated_at = now()
      FROM next WHERE j.id = next.id
      RETURNING j.id::text AS id, j.queue, j.kind, j.payload, j.priority, j.attempts,
        j.max_attempts, j.key,
        -- Epoch milliseconds: parsing a number is much cheaper than parsing a timestamp, and a
        -- busy worker claims tens of thousands of jobs a second.
        extract(epoch FROM j.run_at)::float8 * 1000 AS run_at_ms,
        extract(epoch FROM j.created_at)::float8 * 1000 AS created_at_ms`),

    /**
     * Batched, fenced completion: a job is deleted only if the attempt reporting is still the
     * job's current attempt and the job is still processing. A stale attempt (its lease was
     * reclaimed and the job claimed again) matches nothing. Returns the ids that were recorded.
     */
    complete: prepared(`
      DELETE FROM ${jobs} j
      USING (${lockHeld('$1', '$2')}) AS mine
      WHERE j.id = mine.id
      RETURNING j.id::text AS id`),

    /**
     * Fenced failure of one attempt ($1 id, $2 attempt): back to queued after $3 ms, or dead
     * when $5 (permanent) or out of attempts. The error ($4) is appended to `errors`.
     */
    fail: prepared(`
      UPDATE ${jobs}
      SET status = CASE WHEN $5::boolean OR attempts >= max_attempts THEN 'dead' ELSE 'queued' END,
        run_at = CASE WHEN $5::boolean OR attempts >= max_attempts THEN run_at
                      ELSE now() + $3::float8 * interval '1 millisecond' END,
        last_error = $4, errors = errors || ${errorEntry('$4::text')},
        locked_by = NULL, locked_until = NULL, updated_at = now()
      WHERE id = $1::bigint AND attempts = $2 AND status = 'processing'
      RETURNING status, run_at`),

    /** Puts a held job ($1, attempt $2) back for $3 ms; the attempt is not counted. */
    defer: `
      UPDATE ${jobs}
      SET status = 'queued', run_at = now() + $3::float8 * interval '1 millisecond',
        attempts = attempts - 1, locked_by = NULL, locked_until = NULL, updated_at = now()
      WHERE id = $1::bigint AND attempts = $2 AND status = 'processing'
      RETURNING status`,

    /** Extends the leases of held jobs ($1 ids, $2 attempts) by $3 ms; returns those still held. */
    heartbeat: prepared(`
      UPDATE ${jobs} j
      SET locked_until = now() + $3::float8 * interval '1 millisecond'
      FROM (${lockHeld('$1', '$2')}) AS mine
      WHERE j.id = mine.id
      RETURNING j.id::text AS id`),

    /**
     * Gives back held jobs at shutdown. $3 says whether each was started: an attempt that
     * never ran is not counted.
     */
    release: `
      UPDATE ${jobs} j
      SET status = 'queued', run_at = now(), locked_by = NULL, locked_until = NULL,
        attempts = CASE WHEN r.started THEN j.attempts ELSE j.attempts - 1 END, updated_at = now()
      FROM (${lockHeld('$1', '$2')}) AS mine
      JOIN unnest($1::bigint[], $3::boolean[]) AS r(id, started) ON r.id = mine.id
      WHERE j.id = mine.id
      RETURNING j.id::text AS id`,

    /**
     * Reclaims expired leases (their worker crashed or froze): back to queued at once, or
     * dead if that was the last attempt. SKIP LOCKED lets several sweepers run side by side.
     */
    reclaim: `
      UPDATE ${jobs}
      SET status = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END,
        run_at = now(),
        last_error = 'lease expired: worker ' || coalesce(locked_by, '?') || ' stopped renewing it',
        errors = errors || ${errorEntry(`'lease expired: worker ' || coalesce(locked_by, '?') || ' stopped renewing it'`)},
        locked_by = NULL, locked_until = NULL, updated_at = now()
      WHERE id IN (
        SELECT id FROM ${jobs} WHERE status = 'processing' AND locked_until < now()
        ORDER BY locked_until LIMIT 1000 FOR UPDATE SKIP LOCKED)
      RETURNING id::text AS id, status`,

    cancel: `
      UPDATE ${jobs} SET status = 'cancelled', locked_by = NULL, locked_until = NULL, updated_at = now()
      WHERE id = $1::bigint AND status = 'queued'
      RETURNING ${JOB_COLUMNS}`,

    cancelByKey: `
      UPDATE ${jobs} SET status = 'cancelled', updated_at = now()
      WHERE key = $1 AND status = 'queued'
      RETURNING ${JOB_COLUMNS}`,

    cancelByKeys: `
      UPDATE ${jobs} SET status = 'cancelled', updated_at = now()
      WHERE key = ANY($1::text[]) AND status = 'queued'
      RETURNING id::text AS id`,

    /**
     * Lets go of the keys of jobs that are running, so a new job can take them. The running job
     * still completes or fails under its attempt fence; it just no longer blocks its key (as
     * graphile-worker does when a running job's key is re-used).
     */
    releaseRunningKeys: `
      UPDATE ${jobs} SET key = NULL, updated_at = now()
      WHERE key = ANY($1::text[]) AND status = 'processing'
      RETURNING id::text AS id`,

    getJob: `SELECT ${JOB_COLUMNS}, errors, updated_at FROM ${jobs} WHERE id = $1::bigint`,

    /**
     * Replays dead jobs ($1 ids) as a new series of attempts. A dead job whose key is live
     * again in another job is left dead (the unique key would refuse it anyway).
     */
    replay: `
      WITH candidates AS (${replayCandidatesSql(jobs, 'd.id = ANY($1::bigint[])', '')})
      ${replayUpdateSql(jobs)}
      RETURNING j.id::text AS id`,

    /**
     * Replays every dead job, $2 groups at a time: a group is a key (or an unkeyed job's id),
     * visited in order after $1 (the last group of the previous batch; null at first), so
     * each group is replayed once however the replayed jobs fare meanwhile, as one statement
     * over all of them would. Returns the ids and the batch's last group.
     */
    replayBatch: `
      WITH candidates AS (${replayCandidatesSql(
        jobs,
        '($1::text IS NULL OR coalesce(d.key, d.id::text) > $1::text)',
        'LIMIT $2',
      )}),
      replayed AS (${replayUpdateSql(jobs)} RETURNING j.id::text AS id, candidates.grp)
      SELECT id, grp FROM replayed ORDER BY grp`,

    /** How many groups a replay of every dead job would bring back now (its progress total). */
    replayable: `SELECT count(*)::int AS n FROM (${replayCandidatesSql(jobs, 'true', '')}) c`,

    dead: `SELECT ${JOB_COLUMNS}, errors, updated_at FROM ${jobs}
      WHERE status = 'dead' ORDER BY updated_at DESC, id DESC LIMIT $1`,

    /**
     * Counts per queue, kind and status, with the lag of the oldest due queued job and whether
     * any live worker (seen within a minute) handles that kind on that queue.
     */
    status: `
      SELECT s.*, EXISTS (
          SELECT 1 FROM ${workers} w
          WHERE w.queue = s.queue AND s.kind = ANY(w.kinds) AND w.last_seen_at > now() - interval '1 minute'
        ) AS handled
      FROM (
        SELECT queue, kind, status, count(*)::int AS count,
          extract(epoch FROM now() - min(run_at) FILTER (WHERE status = 'queued' AND run_at <= now())) * 1000
            AS oldest_due_lag_ms
        FROM ${jobs} GROUP BY queue, kind, status
      ) s
      ORDER BY queue, kind, status`,

    /** Jobs that died in the last $1 ms, per queue and kind. */
    diedSince: `
      SELECT queue, kind, count(*)::int AS count FROM ${jobs}
      WHERE status = 'dead' AND updated_at > now() - $1::float8 * interval '1 millisecond'
      GROUP BY queue, kind ORDER BY count DESC, queue, kind`,

    /** $1 id, $2 queue, $3 kinds. */
    workerSeen: `
      INSERT INTO ${workers} (id, queue, kinds) VALUES ($1, $2, $3::text[])
      ON CONFLICT (id) DO UPDATE SET last_seen_at = now(), kinds = excluded.kinds`,

    /** Also forgets workers not seen for a day (crashed without saying goodbye). */
    workerGone: `DELETE FROM ${workers} WHERE id = $1 OR last_seen_at < now() - interval '1 day'`,

    /** Every worker pool and role row (presence.ts), with its age by the database's clock. */
    workersList: `
      SELECT id, queue, kinds, started_at, last_seen_at,
        extract(epoch FROM now() - last_seen_at) * 1000 AS seen_ms_ago
      FROM ${workers} ORDER BY started_at, id`,

    notify: `SELECT pg_notify($1, $2)`,
  };
}

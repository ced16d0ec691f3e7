/**
 * Dead letters by filter, for the console: the dead jobs of a kind and/or whose last error
 * contains a text (or one, by id), listed, counted, replayed or discarded together ("all that match", as
 * Oban Web's bulk actions do), not only by id.
 *
 * A replay keeps queue.ts's rule (the same SQL, sql.ts): of dead jobs sharing a key only the
 * newest is queued again, and none while a live job holds the key. Discarding marks them `cancelled` (kept for the
 * record, out of the dead letters).
 */
import { z } from 'zod';
import type { Db } from '../db/db.js';
import { jobsChannel } from '../db/migrate.js';
import { quoteIdent } from '../db/sql.js';
import { checked } from '../validation.js';
import type { DeadJob } from '../types.js';
import { toDeadJob, type DeadJobDbRow } from './queue.js';
import { replayCandidatesSql, replayUpdateSql } from './sql.js';

export const deadFilterSchema = z.strictObject({
  kind: z.string().min(1).max(200).optional(),
  /** Part of the last error's text, any case. */
  error: z.string().min(1).max(200).optional(),
  /** One job, by id. */
  id: z
    .string()
    .regex(/^[1-9]\d{0,18}$/, 'a job id')
    .optional(),
});
export type DeadFilter = z.infer<typeof deadFilterSchema>;

export function makeDeadLetters(db: Db, schema: string) {
  const jobs = `${quoteIdent(schema)}.jobs`;
  /** The filter as SQL on the jobs of alias `a` ($1 kind, $2 error text). */
  const where = (a = '') => `${a}status = 'dead' AND ($1::text IS NULL OR ${a}kind = $1)
    AND ($2::text IS NULL OR strpos(lower(coalesce(${a}last_error, '')), lower($2)) > 0)
    AND ($3::bigint IS NULL OR ${a}id = $3::bigint)`;
  const params = (filter: unknown) => {
    const f = checked(deadFilterSchema, filter);
    return [f.kind ?? null, f.error ?? null, f.id ?? null];
  };

  return {
    /** The newest `limit` matching dead jobs, and how many match in all. */
    async list(filter: unknown, limit = 100): Promise<{ items: DeadJob[]; total: number }> {
      const p = params(filter);
      const { rows } = await db.query<DeadJobDbRow>(
        `SELECT id::text AS id, queue, kind, payload, priority, run_at, status, attempts,
           max_attempts, key, last_error, created_at, errors, updated_at
         FROM ${jobs} WHERE ${where()} ORDER BY updated_at DESC, id DESC LIMIT $4`,
        [...p, limit],
      );
      const { rows: count } = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${jobs} WHERE ${where()}`,
        p,
      );
      return { items: rows.map(toDeadJob), total: Number(count[0]?.n ?? 0) };
    },

    /** Dead jobs by kind, for the filter's choices. */
    async kinds(): Promise<{ kind: string; count: number }[]> {
      const { rows } = await db.query<{ kind: string; count: number }>(
        `SELECT kind, count(*)::int AS count FROM ${jobs} WHERE status = 'dead'
         GROUP BY kind ORDER BY kind`,
      );
      return rows.map((r) => ({ kind: r.kind, count: Number(r.count) }));
    },

    /** Queues every matching dead job again (a new series of attempts); how many. */
    async replay(filter: unknown): Promise<number> {
      const { rows } = await db.query<{ id: string }>(
        `WITH candidates AS (${replayCandidatesSql(jobs, where('d.'), '')})
         ${replayUpdateSql(jobs)}
         RETURNING j.id::text AS id`,
        params(filter),
      );
      if (rows.length > 0)
        await db.query(`SELECT pg_notify($1, $2)`, [jobsChannel(schema), String(Date.now())]);
      return rows.length;
    },

    /** Takes every matching dead job out of the dead letters (status cancelled); how many. */
    async discard(filter: unknown): Promise<number> {
      const { rows } = await db.query(
        `UPDATE ${jobs} SET status = 'cancelled', updated_at = now() WHERE ${where()} RETURNING id`,
        params(filter),
      );
      return rows.length;
    },
  };
}

export type DeadLetters = ReturnType<typeof makeDeadLetters>;

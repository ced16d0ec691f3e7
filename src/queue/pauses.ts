/**
 * Pausing a job kind (the console's "pause"): claims skip a paused kind until it is resumed
 * (the claim statement reads `paused_kinds`, sql.ts); jobs already running finish. Pausing
 * is recorded in the database, so every worker process on every host obeys it at its next
 * claim, and it outlives restarts.
 */
import type { Db } from '../db/db.js';
import { jobsChannel } from '../db/migrate.js';
import { quoteIdent } from '../db/sql.js';

export interface PausedKind {
  queue: string;
  kind: string;
  pausedAt: Date;
}

export function makePauses(db: Db, schema: string) {
  const table = `${quoteIdent(schema)}.paused_kinds`;
  return {
    async pause(kind: string, queue = 'default'): Promise<void> {
      await db.query(`INSERT INTO ${table} (queue, kind) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [
        queue,
        kind,
      ]);
    },

    /** Resumes the kind and wakes the workers, whose due jobs of it wait. */
    async resume(kind: string, queue = 'default'): Promise<boolean> {
      const { rows } = await db.query(
        `DELETE FROM ${table} WHERE queue = $1 AND kind = $2 RETURNING kind`,
        [queue, kind],
      );
      if (rows.length > 0)
        await db.query(`SELECT pg_notify($1, $2)`, [jobsChannel(schema), String(Date.now())]);
      return rows.length > 0;
    },

    async list(): Promise<PausedKind[]> {
      const { rows } = await db.query<{ queue: string; kind: string; paused_at: Date }>(
        `SELECT queue, kind, paused_at FROM ${table} ORDER BY queue, kind`,
      );
      return rows.map((r) => ({ queue: r.queue, kind: r.kind, pausedAt: r.paused_at }));
    },
  };
}

export type Pauses = ReturnType<typeof makePauses>;

/**
 * Retention: records past their configured age are deleted in small batches, one short
 * statement each (never a long lock, never a table rewrite), by the `retention` job that the
 * scheduler queues every `intervalMinutes` (one at a time: the job has a key). Docs:
 * docs/scaling.md#retention.
 *
 * - Notifications older than `notificationsDays`, with their deliveries (cascade), unless a
 *   delivery is still queued. Their inbox items go too, with their inbox changes: in the same
 *   statement the stream's unread count is lowered (counts stay exact) and its `floor_seq`
 *   raised past the removed changes (a resume from below gets `reset`). No event is sent for
 *   them: a client shows the right count at its next event or reconnect. Their idempotency
 *   keys go at the same age.
 * - Inbox changes older than `inboxChangesDays`: the stream's `floor_seq` is raised to the
 *   highest seq removed in the same statement, so a client resuming from below it gets
 *   `reset` (docs/realtime.md), never a silent gap.
 * - Finished cron runs older than `jobRunsDays` (a schedule's latest run is kept).
 * - Dead and cancelled jobs older than `deadJobsDays`; expired console sessions.
 *
 * A setting of 0 keeps that kind forever.
 */
import type { Db } from '../db/db.js';
import { quoteIdent } from '../db/sql.js';
import type { Logger } from '../obs/log.js';
import { firstIdAt } from '../notify/ids.js';

export interface RetentionSettings {
  notificationsDays: number;
  inboxChangesDays: number;
  jobRunsDays: number;
  deadJobsDays: number;
  /** Rows per statement. */
  batchSize: number;
}

export type RetentionCounts = Record<
  'notifications' | 'idempotencyKeys' | 'inboxChanges' | 'jobRuns' | 'jobs' | 'sessions',
  number
>;

export function makeRetention(db: Db, schema: string, settings: RetentionSettings, log: Logger) {
  const s = quoteIdent(schema);
  const days = (n: number) => `${n} days`;

  /** Runs `statement` ($1 its cutoff, $2 the batch size) until a batch removes less than a full one. */
  async function drain(statement: string, cutoff: unknown): Promise<number> {
    let total = 0;
    for (;;) {
      const { rows } = await db.query<{ n: number }>(statement, [cutoff, settings.batchSize]);
      const n = Number(rows[0]?.n ?? 0);
      total += n;
      if (n < settings.batchSize) return total;
    }
  }

  // The notifications, their inbox changes (found by recipient: the primary key's prefix), and
  // each stream's unread count and floor in one UPDATE (a row may be changed once a statement).
  const notificationsSql = `
    WITH gone AS (
      DELETE FROM ${s}.notifications n WHERE n.id IN (
        SELECT o.id FROM ${s}.notifications o
        WHERE o.id < $1::uuid AND NOT EXISTS (
          SELECT 1 FROM ${s}.deliveries d WHERE d.notification_id = o.id AND d.status = 'queued')
        ORDER BY o.id LIMIT $2)
      RETURNING n.id, n.recipient_id,
        (n.inbox_at IS NOT NULL AND n.archived_at IS NULL AND n.read_at IS NULL) AS unread
    ), changes AS (
      DELETE FROM ${s}.inbox_changes c USING gone g
      WHERE c.recipient_id = g.recipient_id AND c.notification_id = g.id
      RETURNING c.recipient_id, c.seq
    ), streams AS (
      UPDATE ${s}.inbox_streams st
      SET unread = greatest(0, st.unread - coalesce(k.k, 0)),
        floor_seq = greatest(st.floor_seq, coalesce(f.top, 0))
      FROM (SELECT DISTINCT recipient_id FROM gone WHERE recipient_id IS NOT NULL) r
      LEFT JOIN (SELECT recipient_id, count(*) FILTER (WHERE unread)::int AS k FROM gone
                 GROUP BY recipient_id) k ON k.recipient_id = r.recipient_id
      LEFT JOIN (SELECT recipient_id, max(seq) AS top FROM changes GROUP BY recipient_id) f
        ON f.recipient_id = r.recipient_id
      WHERE st.recipient_id = r.recipient_id
    )
    SELECT count(*)::int AS n FROM gone`;

  const idempotencySql = `
    WITH gone AS (DELETE FROM ${s}.idempotency_keys WHERE key IN (
      SELECT key FROM ${s}.idempotency_keys WHERE created_at < now() - $1::interval LIMIT $2)
      RETURNING 1)
    SELECT count(*)::int AS n FROM gone`;

  const inboxChangesSql = `
    WITH gone AS (
      DELETE FROM ${s}.inbox_changes c WHERE (c.recipient_id, c.seq) IN (
        SELECT recipient_id, seq FROM ${s}.inbox_changes WHERE at < now() - $1::interval LIMIT $2)
      RETURNING c.recipient_id, c.seq
    ), floors AS (
      UPDATE ${s}.inbox_streams st SET floor_seq = greatest(st.floor_seq, g.top)
      FROM (SELECT recipient_id, max(seq) AS top FROM gone GROUP BY recipient_id) g
      WHERE st.recipient_id = g.recipient_id
    )
    SELECT count(*)::int AS n FROM gone`;

  const jobRunsSql = `
    WITH gone AS (
      DELETE FROM ${s}.job_runs r WHERE r.id IN (
        SELECT o.id FROM ${s}.job_runs o
        WHERE o.finished_at < now() - $1::interval
          AND o.id <> (SELECT max(l.id) FROM ${s}.job_runs l WHERE l.schedule = o.schedule)
        LIMIT $2)
      RETURNING 1)
    SELECT count(*)::int AS n FROM gone`;

  const jobsSql = (status: 'dead' | 'cancelled') => `
    WITH gone AS (
      DELETE FROM ${s}.jobs j WHERE j.id IN (
        SELECT id FROM ${s}.jobs WHERE status = '${status}' AND updated_at < now() - $1::interval
        LIMIT $2)
      RETURNING 1)
    SELECT count(*)::int AS n FROM gone`;

  return {
    /** One pass over every kind; how many rows of each went. */
    async run(now = Date.now()): Promise<RetentionCounts> {
      const counts: RetentionCounts = {
        notifications: 0,
        idempotencyKeys: 0,
        inboxChanges: 0,
        jobRuns: 0,
        jobs: 0,
        sessions: 0,
      };
      if (settings.notificationsDays > 0) {
        const cutoff = firstIdAt(now - settings.notificationsDays * 86_400_000);
        counts.notifications = await drain(notificationsSql, cutoff);
        counts.idempotencyKeys = await drain(idempotencySql, days(settings.notificationsDays));
      }
      if (settings.inboxChangesDays > 0)
        counts.inboxChanges = await drain(inboxChangesSql, days(settings.inboxChangesDays));
      if (settings.jobRunsDays > 0)
        counts.jobRuns = await drain(jobRunsSql, days(settings.jobRunsDays));
      if (settings.deadJobsDays > 0) {
        counts.jobs = await drain(jobsSql('dead'), days(settings.deadJobsDays));
        counts.jobs += await drain(jobsSql('cancelled'), days(settings.deadJobsDays));
      }
      const { rows } = await db.query<{ n: number }>(
        `WITH gone AS (DELETE FROM ${s}.admin_sessions WHERE expires_at < now() RETURNING 1)
         SELECT count(*)::int AS n FROM gone`,
      );
      counts.sessions = Number(rows[0]?.n ?? 0);
      log.info(counts, 'retention:done');
      return counts;
    },
  };
}

export type Retention = ReturnType<typeof makeRetention>;

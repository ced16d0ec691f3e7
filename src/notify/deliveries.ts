/**
 * The operator's actions on deliveries (/v1/admin/deliveries): list them by status, retry a
 * failed or cancelled one, cancel a queued one. A retry is a new `deliver` job for the same
 * delivery: its history keeps the earlier attempts.
 */
import { z } from 'zod';
import type { Db } from '../db/db.js';
import { quoteIdent } from '../db/sql.js';
import { HeraldError, ValidationError } from '../errors.js';
import type { Queue } from '../queue/queue.js';
import { checked } from '../validation.js';
import { isUuid } from './ids.js';
import { CHANNELS } from './types.js';
import { JOB_PRIORITY, type Priority } from './send.js';

/** Every status a delivery can have; the last five come from provider webhooks. */
export const DELIVERY_STATUSES = [
  'queued',
  'sent',
  'failed',
  'skipped',
  'cancelled',
  'delivered',
  'bounced',
  'complained',
  'opened',
  'clicked',
] as const;

export const deliveryQuerySchema = z.strictObject({
  status: z.enum(DELIVERY_STATUSES).optional(),
  channel: z.enum(CHANNELS).optional(),
  reason: z.string().max(100).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  /** The last id of the previous page. */
  cursor: z.string().max(100).optional(),
});

export interface DeliveryRow {
  id: string;
  notificationId: string;
  recipientId: string | null;
  type: string;
  channel: string;
  status: string;
  reason: string | null;
  attempts: number;
  error: string | null;
  runAt: string | null;
  sentAt: string | null;
  updatedAt: string;
}

interface Row {
  id: string;
  notification_id: string;
  recipient_id: string | null;
  type: string;
  channel: string;
  status: string;
  reason: string | null;
  attempts: number;
  error: string | null;
  run_at: Date | null;
  sent_at: Date | null;
  updated_at: Date;
  priority?: Priority;
}

const toRow = (r: Row): DeliveryRow => ({
  id: r.id,
  notificationId: r.notification_id,
  recipientId: r.recipient_id,
  type: r.type,
  channel: r.channel,
  status: r.status,
  reason: r.reason,
  attempts: r.attempts,
  error: r.error,
  runAt: r.run_at?.toISOString() ?? null,
  sentAt: r.sent_at?.toISOString() ?? null,
  updatedAt: r.updated_at.toISOString(),
});

/** Failed deliveries of one kind in a recent window (`herald status`). */
export interface FailureCount {
  channel: string;
  /** null when it failed before a provider was tried (render_error, unknown_type). */
  provider: string | null;
  /** `failed` (refused, out of attempts, not renderable) or `bounced` (reported later). */
  status: string;
  reason: string | null;
  count: number;
}

export function makeDeliveries(db: Db, schema: string, queue: Queue, maxAttempts: number) {
  const s = quoteIdent(schema);
  const cols = `d.id, d.notification_id, n.recipient_id, n.type, d.channel, d.status, d.reason,
    d.attempts, d.error, d.run_at, d.sent_at, d.updated_at, n.priority`;
  const from = `${s}.deliveries d JOIN ${s}.notifications n ON n.id = d.notification_id`;

  const one = async (id: string): Promise<Row | null> => {
    if (!isUuid(id)) return null;
    const { rows } = await db.query<Row>(`SELECT ${cols} FROM ${from} WHERE d.id = $1`, [id]);
    return rows[0] ?? null;
  };
  const conflict = (r: Row, what: string) =>
    new HeraldError('conflict', `delivery ${r.id} is ${r.status}: only ${what}`);

  return {
    /** Newest first; `nextCursor` continues with older ones. */
    async list(query: unknown): Promise<{ items: DeliveryRow[]; nextCursor: string | null }> {
      const q = checked(deliveryQuerySchema, query);
      if (q.cursor !== undefined && !isUuid(q.cursor))
        throw new ValidationError([
          { field: 'cursor', message: 'is not a cursor this API gave out' },
        ]);
      const where: string[] = [];
      const params: unknown[] = [q.limit + 1];
      const add = (sql: string, value: unknown) => {
        params.push(value);
        where.push(sql.replace('?', `$${params.length}`));
      };
      if (q.status) add('d.status = ?', q.status);
      if (q.channel) add('d.channel = ?', q.channel);
      if (q.reason) add('d.reason = ?', q.reason);
      if (q.cursor) add('d.id < ?::uuid', q.cursor);
      const { rows } = await db.query<Row>(
        `SELECT ${cols} FROM ${from} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
         ORDER BY d.id DESC LIMIT $1`,
        params,
      );
      const page = rows.slice(0, q.limit);
      return {
        items: page.map(toRow),
        nextCursor: rows.length > q.limit ? (page.at(-1)?.id ?? null) : null,
      };
    },

    /**
     * Deliveries that failed or bounced in the last `ms`, by channel, provider, status and
     * reason, most first (read through the (status, updated_at) index).
     */
    async failuresSince(ms: number): Promise<FailureCount[]> {
      const { rows } = await db.query<FailureCount>(
        `SELECT channel, provider, status, reason, count(*)::int AS count
         FROM ${s}.deliveries
         WHERE status IN ('failed', 'bounced')
           AND updated_at > now() - $1::float8 * interval '1 millisecond'
         GROUP BY channel, provider, status, reason
         ORDER BY count DESC, channel, provider, status, reason`,
        [ms],
      );
      return rows;
    },

    /** Queues a failed or cancelled delivery again, now; null if there is no such delivery. */
    async retry(id: string): Promise<DeliveryRow | null> {
      const found = await one(id);
      if (!found) return null;
      if (found.recipient_id === null)
        throw conflict(found, 'deliveries of a recipient who exists can be retried');
      return db.transaction(async (tx) => {
        const { rows } = await tx.query<{ id: string }>(
          `UPDATE ${s}.deliveries SET status = 'queued', reason = 'retried', error = NULL,
             run_at = now(), updated_at = now(),
             events = events || jsonb_build_array(jsonb_build_object('at', now(), 'status', 'queued', 'detail', 'retried'))
           WHERE id = $1 AND status IN ('failed', 'cancelled') RETURNING id`,
          [found.id],
        );
        if (rows.length === 0)
          throw conflict(found, 'failed or cancelled deliveries can be retried');
        // The job that failed it may still be finishing (its completion commits after the
        // outcome): its key must not swallow the new job.
        await queue.releaseRunningKeys([`deliver:${found.id}`], { tx });
        await queue.enqueue(
          {
            kind: 'deliver',
            payload: { deliveryId: found.id },
            key: `deliver:${found.id}`,
            priority: JOB_PRIORITY[found.priority ?? 'normal'],
            maxAttempts,
          },
          { tx },
        );
        return toRow(
          (await tx.query<Row>(`SELECT ${cols} FROM ${from} WHERE d.id = $1`, [found.id]))
            .rows[0] as Row,
        );
      });
    },

    /** Cancels a queued delivery and its job; null if there is no such delivery. */
    async cancel(id: string): Promise<DeliveryRow | null> {
      const found = await one(id);
      if (!found) return null;
      return db.transaction(async (tx) => {
        const { rows } = await tx.query(
          `UPDATE ${s}.deliveries SET status = 'cancelled', reason = 'cancelled', updated_at = now(),
             events = events || jsonb_build_array(jsonb_build_object('at', now(), 'status', 'cancelled', 'detail', 'cancelled'))
           WHERE id = $1 AND status = 'queued' RETURNING id`,
          [found.id],
        );
        if (rows.length === 0) throw conflict(found, 'queued deliveries can be cancelled');
        await queue.cancelByKeys([`deliver:${found.id}`], { tx });
        return toRow(
          (await tx.query<Row>(`SELECT ${cols} FROM ${from} WHERE d.id = $1`, [found.id]))
            .rows[0] as Row,
        );
      });
    },
  };
}

export type Deliveries = ReturnType<typeof makeDeliveries>;

/**
 * Reading and cancelling sent notifications, and erasing a recipient's personal data from
 * them. A notification answers with its deliveries, each with its attempts and status events,
 * so "why did I not get it" is one GET.
 */
import type { Db, Queryable } from '../db/db.js';
import { quoteIdent } from '../db/sql.js';
import type { Queue } from '../queue/queue.js';
import { isUuid } from './ids.js';
import {
  makeNotificationList,
  notificationFields,
  type NotificationFields,
  type NotificationRow,
} from './notification-list.js';

export interface DeliveryDetail {
  id: string;
  channel: string;
  status: string;
  reason: string | null;
  runAt: string | null;
  address: string | null;
  provider: string | null;
  providerMessageId: string | null;
  /** What the provider reported beyond its message id (e.g. an SMS's segments). */
  details: Record<string, unknown> | null;
  attempts: number;
  error: string | null;
  sentAt: string | null;
  events: { at: string; status: string; detail: string | null }[];
}

export interface NotificationDetail extends NotificationFields {
  inbox: { title?: string; body?: string; actionUrl?: string } | null;
  deliveries: DeliveryDetail[];
}

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

export function makeNotifications(db: Db, schema: string, queue: Queue) {
  const s = quoteIdent(schema);

  /** Cancels the queued deliveries matching `where` ($1 its parameter) and their jobs. */
  async function cancelDeliveries(q: Queryable, where: string, param: unknown, reason: string) {
    const { rows } = await q.query<{ id: string }>(
      `UPDATE ${s}.deliveries SET status = 'cancelled', reason = $2, updated_at = now(),
         events = events || jsonb_build_array(jsonb_build_object('at', now(), 'status', 'cancelled', 'detail', $2::text))
       WHERE ${where} AND status = 'queued' RETURNING id`,
      [param, reason],
    );
    await queue.cancelByKeys(
      rows.map((r) => `deliver:${r.id}`),
      { tx: q },
    );
    return rows.length;
  }

  async function get(id: string, q: Queryable = db): Promise<NotificationDetail | null> {
    if (!isUuid(id)) return null;
    const { rows } = await q.query<
      NotificationRow & {
        inbox: NotificationDetail['inbox'];
        deliveries: (Omit<DeliveryDetail, 'runAt' | 'sentAt'> & {
          runAt: string | null;
          sentAt: string | null;
        })[];
      }
    >(
      `SELECT n.*, coalesce((SELECT jsonb_agg(jsonb_build_object(
           'id', d.id, 'channel', d.channel, 'status', d.status, 'reason', d.reason,
           'runAt', d.run_at, 'address', d.address, 'provider', d.provider,
           'providerMessageId', d.provider_message_id, 'details', d.details,
           'attempts', d.attempts, 'error', d.error,
           'sentAt', d.sent_at, 'events', d.events) ORDER BY d.id)
         FROM ${s}.deliveries d WHERE d.notification_id = n.id), '[]'::jsonb) AS deliveries
       FROM ${s}.notifications n WHERE n.id = $1`,
      [id],
    );
    const r = rows[0];
    if (!r) return null;
    return {
      ...notificationFields(r),
      inbox: r.inbox,
      deliveries: r.deliveries.map((d) => ({
        id: d.id,
        channel: d.channel,
        status: d.status,
        reason: d.reason,
        runAt: iso(d.runAt),
        address: d.address,
        provider: d.provider,
        providerMessageId: d.providerMessageId,
        details: d.details ?? null,
        attempts: d.attempts,
        error: d.error,
        sentAt: iso(d.sentAt),
        events: d.events.map((e) => ({
          at: iso(e.at) as string,
          status: e.status,
          detail: e.detail ?? null,
        })),
      })),
    };
  }

  return {
    get,

    /** A page of notifications, newest first, under filters (notification-list.ts). */
    list: makeNotificationList(db, schema),

    /** Cancels the deliveries not yet sent; null if there is no such notification. */
    async cancel(id: string): Promise<NotificationDetail | null> {
      if (!isUuid(id)) return null;
      return db.transaction(async (q) => {
        const { rows } = await q.query(
          `UPDATE ${s}.notifications SET cancelled_at = coalesce(cancelled_at, now())
           WHERE id = $1 RETURNING id`,
          [id],
        );
        if (rows.length === 0) return null;
        await cancelDeliveries(q, 'notification_id = $1', id, 'cancelled');
        return get(id, q);
      });
    },

    /**
     * Erases a recipient: their queued deliveries are cancelled, their inbox, notification
     * data and email options (Reply-To, headers, attachments) and the addresses and error
     * texts of their deliveries are removed (the anonymous record of what was sent when
     * stays), then the recipient, devices and preferences go.
     */
    async eraseRecipient(recipientId: string): Promise<boolean> {
      return db.transaction(async (q) => {
        const mine = `notification_id IN (SELECT id FROM ${s}.notifications WHERE recipient_id = $1)`;
        await cancelDeliveries(q, mine, recipientId, 'recipient_erased');
        await q.query(
          `UPDATE ${s}.deliveries SET address = NULL, error = NULL, content = NULL, updated_at = now(),
             events = (SELECT coalesce(jsonb_agg(e - 'detail'), '[]'::jsonb) FROM jsonb_array_elements(events) e)
           WHERE ${mine}`,
          [recipientId],
        );
        // Their deliveries' jobs (dead, cancelled or still retrying) keep each attempt's error,
        // which may quote the address: cleared too (jobs are found by their key, deliver:<id>).
        await q.query(
          `UPDATE ${s}.jobs SET last_error = NULL,
             errors = (SELECT coalesce(jsonb_agg(e - 'error'), '[]'::jsonb) FROM jsonb_array_elements(errors) e)
           WHERE key IN (SELECT 'deliver:' || id FROM ${s}.deliveries WHERE ${mine})`,
          [recipientId],
        );
        await q.query(
          `UPDATE ${s}.notifications SET recipient_id = NULL, data = '{}'::jsonb, inbox = NULL,
             inbox_at = NULL, read_at = NULL, email = NULL WHERE recipient_id = $1`,
          [recipientId],
        );
        const { rows } = await q.query(`DELETE FROM ${s}.recipients WHERE id = $1 RETURNING id`, [
          recipientId,
        ]);
        return rows.length > 0;
      });
    },
  };
}

export type Notifications = ReturnType<typeof makeNotifications>;

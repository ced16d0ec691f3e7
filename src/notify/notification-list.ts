/**
 * `GET /v1/notifications` and the console's search: notifications newest first, filtered by
 * recipient, type, delivery status (and channel), time and key/values of the trigger's `data`.
 *
 * Ids are UUIDv7, so id order is creation order: the page is keyed by id alone, and a time
 * range becomes an id range (the first id of a millisecond), which the primary key answers.
 * Each filter has an index (migration 0018): (recipient_id, id), (type, id), a GIN index on
 * `data` for `@>`, and deliveries (status, notification_id) for a status.
 */
import { z } from 'zod';
import type { Db } from '../db/db.js';
import { quoteIdent } from '../db/sql.js';
import { ValidationError } from '../errors.js';
import { checked } from '../validation.js';
import { firstIdAt, isUuid } from './ids.js';
import { pageOf, pageQuerySchema, type Page } from './pages.js';

const DELIVERY_STATUSES = ['queued', 'sent', 'failed', 'skipped', 'cancelled'] as const;
const MAX_DATA_FILTERS = 5;

export const notificationListQuerySchema = pageQuerySchema.extend({
  recipient: z.string().min(1).max(256).optional(),
  type: z.string().min(1).max(200).optional(),
  status: z.enum(DELIVERY_STATUSES).optional(),
  channel: z.string().min(1).max(50).optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  until: z.iso.datetime({ offset: true }).optional(),
});

/** A notification's own fields, as the API answers them. */
export interface NotificationFields {
  id: string;
  triggerId: string;
  recipientId: string | null;
  type: string;
  priority: string;
  data: Record<string, unknown>;
  sendAt: string;
  cancelledAt: string | null;
  createdAt: string;
  read: boolean;
}

export interface NotificationSummary extends NotificationFields {
  deliveries: {
    id: string;
    channel: string;
    status: string;
    reason: string | null;
    provider: string | null;
  }[];
}

/** The columns of a notification row both readers use. */
export interface NotificationRow {
  id: string;
  trigger_id: string;
  recipient_id: string | null;
  type: string;
  priority: string;
  data: Record<string, unknown>;
  send_at: Date;
  created_at: Date;
  cancelled_at: Date | null;
  read_at: Date | null;
}

interface Row extends NotificationRow {
  deliveries: NotificationSummary['deliveries'] | null;
}

/**
 * `data.<key>=<value>` query parameters as `@>` documents. A value that reads as a number,
 * `true`, `false` or `null` also matches that JSON value (a query string has only text).
 */
export function dataFilters(query: Record<string, unknown>): unknown[][] {
  const out: unknown[][] = [];
  for (const [name, raw] of Object.entries(query)) {
    if (!name.startsWith('data.')) continue;
    const key = name.slice(5);
    if (key.length === 0 || key.length > 200 || typeof raw !== 'string' || raw.length > 1_000)
      throw new ValidationError([
        { field: name, message: 'use data.<key>=<value> (a key of at most 200 characters)' },
      ]);
    const alternatives: unknown[] = [{ [key]: raw }];
    const n = Number(raw);
    if (raw.trim() !== '' && Number.isFinite(n)) alternatives.push({ [key]: n });
    if (raw === 'true' || raw === 'false') alternatives.push({ [key]: raw === 'true' });
    if (raw === 'null') alternatives.push({ [key]: null });
    out.push(alternatives);
  }
  if (out.length > MAX_DATA_FILTERS)
    throw new ValidationError([
      { field: 'data', message: `at most ${MAX_DATA_FILTERS} data.<key> filters` },
    ]);
  return out;
}

export function makeNotificationList(db: Db, schema: string) {
  const s = quoteIdent(schema);

  return async function list(query: Record<string, unknown>): Promise<Page<NotificationSummary>> {
    const plain = Object.fromEntries(
      Object.entries(query).filter(([name]) => !name.startsWith('data.')),
    );
    const q = checked(notificationListQuerySchema, plain);
    const data = dataFilters(query);
    if (q.channel && !q.status)
      throw new ValidationError([{ field: 'channel', message: 'goes with status' }]);

    const params: unknown[] = [];
    const p = (v: unknown) => `$${params.push(v)}`;
    const where: string[] = [];
    if (q.cursor !== undefined) {
      const after = Buffer.from(q.cursor, 'base64url').toString();
      if (!isUuid(after) || Buffer.from(after).toString('base64url') !== q.cursor)
        throw new ValidationError([
          { field: 'cursor', message: 'is not a cursor this API gave out' },
        ]);
      where.push(`n.id < ${p(after)}::uuid`);
    }
    if (q.since) where.push(`n.id >= ${p(firstIdAt(Date.parse(q.since)))}::uuid`);
    if (q.until) where.push(`n.id < ${p(firstIdAt(Date.parse(q.until)))}::uuid`);
    if (q.recipient) where.push(`n.recipient_id = ${p(q.recipient)}`);
    if (q.type) where.push(`n.type = ${p(q.type)}`);
    for (const alternatives of data)
      where.push(
        `(${alternatives.map((doc) => `n.data @> ${p(JSON.stringify(doc))}::jsonb`).join(' OR ')})`,
      );
    if (q.status) {
      const channel = q.channel ? ` AND d.channel = ${p(q.channel)}` : '';
      where.push(
        `n.id IN (SELECT d.notification_id FROM ${s}.deliveries d WHERE d.status = ${p(q.status)}${channel})`,
      );
    }
    const { rows } = await db.query<Row>(
      `SELECT n.id, n.trigger_id, n.recipient_id, n.type, n.priority, n.data, n.send_at,
         n.created_at, n.cancelled_at, n.read_at,
         (SELECT jsonb_agg(jsonb_build_object('id', d.id, 'channel', d.channel,
             'status', d.status, 'reason', d.reason, 'provider', d.provider) ORDER BY d.id)
          FROM ${s}.deliveries d WHERE d.notification_id = n.id) AS deliveries
       FROM ${s}.notifications n
       ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY n.id DESC LIMIT ${p(q.limit + 1)}`,
      params,
    );
    return pageOf(rows, q.limit, (r) => r.id, toSummary);
  };
}

/** A notification row's own fields as the API answers them (here and in notifications.ts). */
export function notificationFields(r: NotificationRow): NotificationFields {
  return {
    id: r.id,
    triggerId: r.trigger_id,
    recipientId: r.recipient_id,
    type: r.type,
    priority: r.priority,
    data: r.data,
    sendAt: r.send_at.toISOString(),
    cancelledAt: r.cancelled_at ? r.cancelled_at.toISOString() : null,
    createdAt: r.created_at.toISOString(),
    read: r.read_at !== null,
  };
}

function toSummary(r: Row): NotificationSummary {
  return { ...notificationFields(r), deliveries: r.deliveries ?? [] };
}

export type NotificationList = ReturnType<typeof makeNotificationList>;

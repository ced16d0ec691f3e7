/**
 * The in-app inbox: the notifications whose inapp delivery was sent, newest first, for one
 * recipient (the `/v1/me` routes pass the id from the recipient's token, so nobody reaches
 * another recipient's items: a foreign id is simply not found).
 *
 * Pagination is by cursor on (inbox_at, id), stable while new items arrive. The cursor holds
 * inbox_at in microseconds, PostgreSQL's own precision, so no two items are confused.
 */
import { z } from 'zod';
import type { Db } from '../db/db.js';
import { quoteIdent } from '../db/sql.js';
import { ValidationError } from '../errors.js';
import { checked } from '../validation.js';
import { isUuid } from './ids.js';
import { allReadChangeSql, itemChangeSql, type InboxItem } from './inbox-changes.js';

export const inboxQuerySchema = z.strictObject({
  cursor: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  unread: z.enum(['true', 'false']).optional(),
});

export type { InboxItem } from './inbox-changes.js';

export interface InboxPage {
  items: InboxItem[];
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  nextCursor: string | null;
}

interface ItemRow {
  id: string;
  type: string;
  inbox: Record<string, string>;
  data: Record<string, unknown>;
  read_at: Date | null;
  inbox_at: Date;
  at_us: string;
}

const toItem = (r: ItemRow): InboxItem => ({
  id: r.id,
  type: r.type,
  title: r.inbox.title ?? null,
  body: r.inbox.body ?? null,
  actionUrl: r.inbox.actionUrl ?? null,
  data: r.data,
  read: r.read_at !== null,
  readAt: r.read_at?.toISOString() ?? null,
  createdAt: r.inbox_at.toISOString(),
});

function parseCursor(cursor: string): [string, string] {
  const [us, id] = Buffer.from(cursor, 'base64url').toString().split('|');
  if (!us || !/^\d{1,16}$/.test(us) || !id || !isUuid(id))
    throw new ValidationError([{ field: 'cursor', message: 'is not a cursor this API gave out' }]);
  return [us, id];
}

export interface InboxOptions {
  /** Told after each commit that changed a recipient's inbox (the real-time hub's wake-up). */
  changed?: (recipientIds: string[]) => void;
}

export function makeInbox(db: Db, schema: string, options: InboxOptions = {}) {
  const n = `${quoteIdent(schema)}.notifications`;
  const visible = 'recipient_id = $1 AND inbox_at IS NOT NULL AND archived_at IS NULL';
  const changed = (recipientId: string) => options.changed?.([recipientId]);
  /**
   * Changes one of the recipient's items with `change` (an UPDATE of `n` from the locked item
   * `t`, returning id, delta, read, deleted) and records it in the change sequence, in one
   * statement. False if the recipient has no such item; an item already in the asked-for state
   * is found but records nothing.
   */
  const one = async (change: string, recipientId: string, id: string) => {
    if (!isUuid(id)) return false;
    const { rows } = await db.query<{ found: number; recorded: number }>(
      `WITH t AS (SELECT id, read_at FROM ${n} WHERE ${visible} AND id = $2 FOR UPDATE),
       c AS (${change}),
       ${itemChangeSql(schema)}
       SELECT (SELECT count(*) FROM t)::int AS found, (SELECT count(*) FROM x)::int AS recorded`,
      [recipientId, id],
    );
    if ((rows[0]?.recorded ?? 0) > 0) changed(recipientId);
    return (rows[0]?.found ?? 0) > 0;
  };

  return {
    async list(recipientId: string, query: unknown): Promise<InboxPage> {
      const q = checked(inboxQuerySchema, query);
      const params: unknown[] = [recipientId, q.limit + 1];
      let where = visible;
      if (q.unread === 'true') where += ' AND read_at IS NULL';
      if (q.cursor) {
        const [us, id] = parseCursor(q.cursor);
        params.push(us, id);
        where += ` AND (inbox_at, id) < (to_timestamp(0) + $3::bigint * interval '1 microsecond', $4::uuid)`;
      }
      const { rows } = await db.query<ItemRow>(
        `SELECT id, type, inbox, data, read_at, inbox_at,
           (extract(epoch FROM inbox_at) * 1e6)::bigint::text AS at_us
         FROM ${n} WHERE ${where} ORDER BY inbox_at DESC, id DESC LIMIT $2`,
        params,
      );
      const page = rows.slice(0, q.limit);
      const last = page.at(-1);
      return {
        items: page.map(toItem),
        nextCursor:
          rows.length > q.limit && last
            ? Buffer.from(`${last.at_us}|${last.id}`).toString('base64url')
            : null,
      };
    },

    async unreadCount(recipientId: string): Promise<number> {
      const { rows } = await db.query<{ count: number }>(
        `SELECT count(*)::int AS count FROM ${n} WHERE ${visible} AND read_at IS NULL`,
        [recipientId],
      );
      return rows[0]?.count ?? 0;
    },

    /** Marks one item read (or unread); false if the recipient has no such item. */
    markRead(recipientId: string, id: string, read: boolean): Promise<boolean> {
      return one(
        read
          ? `UPDATE ${n} SET read_at = now() FROM t WHERE ${n}.id = t.id AND t.read_at IS NULL
             RETURNING t.id, -1 AS delta, true AS read, false AS deleted`
          : `UPDATE ${n} SET read_at = NULL FROM t WHERE ${n}.id = t.id AND t.read_at IS NOT NULL
             RETURNING t.id, 1 AS delta, false AS read, false AS deleted`,
        recipientId,
        id,
      );
    },

    async markAllRead(recipientId: string): Promise<number> {
      const { rows } = await db.query<{ updated: number }>(
        `WITH c AS (
           UPDATE ${n} SET read_at = now() WHERE ${visible} AND read_at IS NULL RETURNING id
         ),
         ${allReadChangeSql(schema)}
         SELECT (SELECT count(*) FROM x)::int AS updated`,
        [recipientId],
      );
      const updated = rows[0]?.updated ?? 0;
      if (updated > 0) changed(recipientId);
      return updated;
    },

    /** Removes an item from the inbox (the notification and its deliveries stay for the record). */
    remove(recipientId: string, id: string): Promise<boolean> {
      return one(
        `UPDATE ${n} SET archived_at = now() FROM t WHERE ${n}.id = t.id
         RETURNING t.id, CASE WHEN t.read_at IS NULL THEN -1 ELSE 0 END AS delta,
           t.read_at IS NOT NULL AS read, true AS deleted`,
        recipientId,
        id,
      );
    },
  };
}

export type Inbox = ReturnType<typeof makeInbox>;

/**
 * The inbox's change sequence (migration 0017, docs/realtime.md): every change to a
 * recipient's inbox is a row with the recipient's next `seq`, written in the same statement as
 * the change itself, so a change exists exactly when its event does.
 *
 * Writers (inbox.ts for read/unread/delete/read-all, deliver.ts for a new item) end their
 * statement with the fragments below. Each takes the recipient's `inbox_streams` row last, after
 * the notification rows it changes: the row lock orders that recipient's changes by commit (seq
 * order is commit order), and with every writer locking in the same order no two wait on each
 * other in a cycle. The stream row also keeps the unread count, so each change records the exact
 * count as of that change.
 *
 * Readers: `head` (where a new connection starts), `after` (a resume, page by page), and the
 * hub's `afterMany` / `moved` across all of a process's connected recipients.
 */
import type { Db } from '../db/db.js';
import { quoteIdent } from '../db/sql.js';

/** An item of the inbox, as GET /v1/me/notifications lists it. */
export interface InboxItem {
  id: string;
  type: string;
  title: string | null;
  body: string | null;
  actionUrl: string | null;
  data: Record<string, unknown>;
  read: boolean;
  readAt: string | null;
  createdAt: string;
}

/** An event of the real-time protocol (API.md, "Real-time inbox"), with its seq. */
export type InboxEvent =
  | { type: 'notification'; seq: number; item: InboxItem; unreadCount: number }
  | {
      type: 'updated';
      seq: number;
      id: string;
      read: boolean;
      deleted: boolean;
      unreadCount: number;
    };

/** Where a recipient's sequence stands. */
export interface StreamHead {
  seq: number;
  epoch: string;
  unreadCount: number;
  /** Changes up to this seq may be gone: a resume from before it is answered with `reset`. */
  floorSeq: number;
}

/**
 * Statement tail for changes of single items of recipient `$1`: the CTE `c` before it returns
 * the changed item (`id`, `delta` to the unread count, its `read` and `deleted` state). Takes
 * the next seq and records the change; the CTE `x` holds the recorded rows.
 */
export function itemChangeSql(schema: string): string {
  const s = quoteIdent(schema);
  return `sq AS (
      UPDATE ${s}.inbox_streams st SET seq = st.seq + 1, unread = st.unread + c.delta
      FROM c WHERE st.recipient_id = $1 RETURNING st.seq, st.unread
    ),
    x AS (
      INSERT INTO ${s}.inbox_changes (recipient_id, seq, notification_id, kind, read, deleted, unread)
      SELECT $1, sq.seq, c.id, 'updated', c.read, c.deleted, sq.unread FROM c, sq RETURNING seq
    )`;
}

/**
 * Statement tail for "mark all read" of recipient `$1`: the CTE `c` before it returns the ids
 * just marked read. One `updated` change per item, in id order; `x` holds the recorded rows.
 */
export function allReadChangeSql(schema: string): string {
  const s = quoteIdent(schema);
  return `k AS (SELECT count(*)::int AS k FROM c),
    sq AS (
      UPDATE ${s}.inbox_streams st SET seq = st.seq + k.k, unread = st.unread - k.k
      FROM k WHERE st.recipient_id = $1 AND k.k > 0 RETURNING st.seq, st.unread, k.k
    ),
    x AS (
      INSERT INTO ${s}.inbox_changes (recipient_id, seq, notification_id, kind, read, deleted, unread)
      SELECT $1, sq.seq - sq.k + r.i, r.id, 'updated', true, false, sq.unread + sq.k - r.i
      FROM (SELECT id, row_number() OVER (ORDER BY id)::int AS i FROM c) r, sq
      RETURNING seq
    )`;
}

/**
 * Statement tail for new inbox items of any recipients: the CTE `n` before it returns the
 * items just put in the inbox (`id`, `recipient_id`). Each gets a `created` change; the
 * statement returns one row per change (`recipient_id`), to wake those recipients' sockets.
 * Streams are taken in recipient order, so two batches never wait on each other in a cycle.
 */
export function createdChangeSql(schema: string): string {
  const s = quoteIdent(schema);
  return `k AS (SELECT recipient_id, count(*)::int AS k FROM n GROUP BY recipient_id),
    sq AS (
      INSERT INTO ${s}.inbox_streams AS st (recipient_id, seq, unread)
      SELECT recipient_id, k, k FROM k ORDER BY recipient_id
      ON CONFLICT (recipient_id) DO UPDATE
        SET seq = st.seq + excluded.seq, unread = st.unread + excluded.unread
      RETURNING st.recipient_id, st.seq, st.unread
    )
    INSERT INTO ${s}.inbox_changes (recipient_id, seq, notification_id, kind, read, deleted, unread)
    SELECT r.recipient_id, sq.seq - k.k + r.i, r.id, 'created', false, false, sq.unread - k.k + r.i
    FROM (SELECT id, recipient_id, row_number() OVER (PARTITION BY recipient_id ORDER BY id)::int AS i
          FROM n) r
    JOIN k ON k.recipient_id = r.recipient_id JOIN sq ON sq.recipient_id = r.recipient_id
    RETURNING recipient_id`;
}

interface ChangeRow {
  recipient_id: string;
  seq: string;
  kind: 'created' | 'updated';
  id: string;
  read: boolean;
  deleted: boolean;
  unread: number;
  type: string | null;
  inbox: Record<string, string> | null;
  data: Record<string, unknown> | null;
  inbox_at: Date | null;
}

function toEvent(r: ChangeRow): InboxEvent | undefined {
  const seq = Number(r.seq);
  if (r.kind === 'updated')
    return {
      type: 'updated',
      seq,
      id: r.id,
      read: r.read,
      deleted: r.deleted,
      unreadCount: r.unread,
    };
  // A created item whose notification is gone (retention removes changes with it, and raises
  // the floor first, so this is only a notification removed by hand): nothing to show.
  if (!r.inbox || !r.inbox_at || r.type === null) return undefined;
  return {
    type: 'notification',
    seq,
    // The item as it was created: unread. Later changes come as their own events.
    item: {
      id: r.id,
      type: r.type,
      title: r.inbox.title ?? null,
      body: r.inbox.body ?? null,
      actionUrl: r.inbox.actionUrl ?? null,
      data: r.data ?? {},
      read: false,
      readAt: null,
      createdAt: r.inbox_at.toISOString(),
    },
    unreadCount: r.unread,
  };
}

export function makeInboxChanges(db: Db, schema: string) {
  const s = quoteIdent(schema);
  const columns = `c.recipient_id, c.seq::text AS seq, c.kind, c.notification_id::text AS id,
    c.read, c.deleted, c.unread, n.type, n.inbox, n.data, n.inbox_at`;
  const events = (rows: ChangeRow[]) =>
    rows.flatMap((r) => {
      const event = toEvent(r);
      return event ? [{ recipientId: r.recipient_id, event }] : [];
    });

  /**
   * The recipient's sequence as it stands. Makes the stream row of a recipient who has none
   * yet, so its epoch is the one later changes carry; a recipient id nobody has (the token's
   * `sub` is the app's word) gets seq 0 and epoch "none", which no stream ever has.
   */
  async function head(recipientId: string, attempt: number): Promise<StreamHead> {
    const { rows } = await db.query<{
      seq: string;
      epoch: string;
      unread: number;
      floor_seq: string;
    }>(
      `WITH made AS (
         INSERT INTO ${s}.inbox_streams (recipient_id)
         SELECT id FROM ${s}.recipients WHERE id = $1
         ON CONFLICT (recipient_id) DO NOTHING
         RETURNING seq, epoch, unread, floor_seq
       )
       SELECT seq::text, epoch, unread, floor_seq::text FROM made
       UNION ALL
       SELECT seq::text, epoch, unread, floor_seq::text FROM ${s}.inbox_streams
       WHERE recipient_id = $1`,
      [recipientId],
    );
    const r = rows[0];
    // Another first change made the row after this statement's snapshot began: look again.
    if (!r && attempt === 0) return head(recipientId, 1);
    if (!r) return { seq: 0, epoch: 'none', unreadCount: 0, floorSeq: 0 };
    return {
      seq: Number(r.seq),
      epoch: r.epoch,
      unreadCount: r.unread,
      floorSeq: Number(r.floor_seq),
    };
  }

  return {
    /**
     * The recipient's sequence as it stands (see `head` above).
     */
    head: (recipientId: string) => head(recipientId, 0),

    /** The recipient's events after `afterSeq`, oldest first, at most `limit`. */
    async after(recipientId: string, afterSeq: number, limit: number): Promise<InboxEvent[]> {
      const { rows } = await db.query<ChangeRow>(
        `SELECT ${columns} FROM ${s}.inbox_changes c
         LEFT JOIN ${s}.notifications n ON n.id = c.notification_id
         WHERE c.recipient_id = $1 AND c.seq > $2 ORDER BY c.seq LIMIT $3`,
        [recipientId, afterSeq, limit],
      );
      return events(rows).map((e) => e.event);
    },

    /**
     * The events after each recipient's seq, by recipient then seq, at most `limit` rows in
     * all (the hub asks again for recipients whose answer may have been cut short), each with
     * its sequence's epoch (another than the asker's: the sequence started again).
     */
    async afterMany(
      cursors: Map<string, number>,
      limit: number,
    ): Promise<{ recipientId: string; epoch: string; event: InboxEvent }[]> {
      const { rows } = await db.query<ChangeRow & { epoch: string }>(
        `SELECT ${columns}, st.epoch
         FROM unnest($1::text[], $2::bigint[]) AS w (recipient_id, after)
         JOIN ${s}.inbox_streams st ON st.recipient_id = w.recipient_id
         JOIN ${s}.inbox_changes c ON c.recipient_id = w.recipient_id AND c.seq > w.after
         LEFT JOIN ${s}.notifications n ON n.id = c.notification_id
         ORDER BY c.recipient_id, c.seq LIMIT $3`,
        [[...cursors.keys()], [...cursors.values()], limit],
      );
      return rows.flatMap((r) => {
        const event = toEvent(r);
        return event ? [{ recipientId: r.recipient_id, epoch: r.epoch, event }] : [];
      });
    },

    /**
     * Which of these recipients have changes after the seq given, or another epoch than the
     * one given ("none" when the stream is gone: the recipient was erased): the poll's look.
     */
    async moved(
      cursors: Map<string, { seq: number; epoch: string }>,
    ): Promise<{ recipientId: string; epoch: string }[]> {
      const ids = [...cursors.keys()];
      const { rows } = await db.query<{ recipient_id: string; epoch: string }>(
        `SELECT w.recipient_id, coalesce(st.epoch, 'none') AS epoch
         FROM unnest($1::text[], $2::bigint[], $3::text[]) AS w (recipient_id, after, epoch)
         LEFT JOIN ${s}.inbox_streams st ON st.recipient_id = w.recipient_id
         WHERE coalesce(st.epoch, 'none') <> w.epoch OR st.seq > w.after`,
        [ids, ids.map((id) => cursors.get(id)?.seq), ids.map((id) => cursors.get(id)?.epoch)],
      );
      return rows.map((r) => ({ recipientId: r.recipient_id, epoch: r.epoch }));
    },
  };
}

export type InboxChanges = ReturnType<typeof makeInboxChanges>;

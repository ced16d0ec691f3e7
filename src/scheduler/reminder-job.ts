/**
 * The `reminder` job kind: sends one recipient × offset of a reminder, once.
 *
 * The row of `reminder_offsets`, not the job, decides. The job locks its row and sends only
 * while the row is `scheduled` for the job's own due time and run time: a job left from before
 * a move (or a DELETE, or an erase) finds it changed and does nothing. The notification is
 * written with `send(..., { tx })` and the row marked `sent` in that same transaction, so:
 * - a crash before the commit leaves the row scheduled, and the job runs again after its lease;
 * - a crash after it (before the queue records completion) re-runs a job that finds it sent;
 * - two runs at once (a lease lost while the first still runs) queue on the row lock, and the
 *   second finds it sent.
 * The trigger's idempotency key (reminder key, recipient, offset, due time) stands behind the
 * row: the same reminder for the same due time answers the first notification, not a second.
 */
import type { Db, Queryable } from '../db/db.js';
import { quoteIdent } from '../db/sql.js';
import { HeraldError } from '../errors.js';
import type { SendOptions, SendResult } from '../notify/send.js';
import { PermanentError } from '../queue/errors.js';
import type { JobHandler } from '../queue/worker.js';
import {
  reminderIdempotencyKey,
  type ReminderJobPayload,
  type ReminderStatus,
} from './reminders.js';

export interface ReminderJobDeps {
  db: Db;
  schema: string;
  /** The trigger (`herald.send`). */
  send(input: unknown, options?: SendOptions): Promise<SendResult>;
}

/** Trigger refusals that another attempt would meet again: recorded on the row, not retried. */
const REFUSALS = new Set([
  'unknown_type',
  'unknown_recipient',
  'validation_failed',
  // The reminder's data cannot render (send.ts checks it at trigger time).
  'missing_template_data',
  'template_too_expensive',
  'unsafe_action_url',
]);

/** The `reminder` job: see the top of this file. */
export function makeReminderJob(deps: ReminderJobDeps): JobHandler {
  const s = quoteIdent(deps.schema);
  const sql = {
    // The lock is the fence: a PUT, a DELETE and another run of this job wait for it.
    lock: `SELECT status, due_at, run_at FROM ${s}.reminder_offsets
           WHERE reminder_key = $1 AND recipient_id = $2 AND offset_label = $3 FOR UPDATE`,
    // Read after the lock, so it is the reminder as the row's latest writer left it.
    reminder: `SELECT type, data FROM ${s}.reminders WHERE key = $1`,
    // The notification sent earlier under the same idempotency key (a different body since).
    earlier: `SELECT n.id FROM ${s}.idempotency_keys k JOIN ${s}.notifications n ON n.trigger_id = k.trigger_id
              WHERE k.key = $1 ORDER BY n.id LIMIT 1`,
    done: `UPDATE ${s}.reminder_offsets SET status = $4, reason = $5, notification_id = $6,
             sent_at = CASE WHEN $4 = 'sent' THEN now() END, updated_at = now()
           WHERE reminder_key = $1 AND recipient_id = $2 AND offset_label = $3`,
  };

  const earlier = async (q: Queryable, key: string) =>
    (await q.query<{ id: string }>(sql.earlier, [key])).rows[0]?.id ?? null;

  return async (payload: unknown, { log }) => {
    const p = jobPayload(payload);
    await deps.db.transaction(async (q) => {
      const ids = [p.key, p.recipientId, p.offset];
      const row = (
        await q.query<{ status: ReminderStatus; due_at: Date; run_at: Date }>(sql.lock, ids)
      ).rows[0];
      // Cancelled, erased, sent already, or moved since this job was planned: nothing to do.
      if (
        row?.status !== 'scheduled' ||
        row.due_at.getTime() !== Date.parse(p.dueAt) ||
        row.run_at.getTime() !== Date.parse(p.runAt)
      ) {
        log.debug({ reminder: p, row: row?.status ?? null }, 'reminder:stale');
        return;
      }
      const r = (
        await q.query<{ type: string; data: Record<string, unknown> }>(sql.reminder, [p.key])
      ).rows[0] as { type: string; data: Record<string, unknown> };
      const idempotencyKey = reminderIdempotencyKey(p);
      const data =
        'reminder' in r.data
          ? r.data
          : { ...r.data, reminder: { key: p.key, dueAt: p.dueAt, offset: p.offset } };

      let outcome: { status: ReminderStatus; reason: string | null; id: string | null };
      // A refusal must not leave the trigger's half-written rows (its claimed key) behind.
      await q.query('SAVEPOINT reminder_send');
      try {
        const sent = await deps.send(
          { type: r.type, to: p.recipientId, data, idempotencyKey },
          { tx: q },
        );
        outcome = { status: 'sent', reason: null, id: sent.notifications[0]?.id ?? null };
      } catch (err) {
        if (!(err instanceof HeraldError)) throw err;
        if (err.code !== 'idempotency_conflict' && !REFUSALS.has(err.code)) throw err;
        await q.query('ROLLBACK TO SAVEPOINT reminder_send');
        // Already sent for this due time (with other data, before a DELETE and PUT): that
        // notification is this reminder's; another would be a second send.
        outcome =
          err.code === 'idempotency_conflict'
            ? { status: 'sent', reason: null, id: await earlier(q, idempotencyKey) }
            : { status: 'skipped', reason: err.code, id: null };
      }
      await q.query('RELEASE SAVEPOINT reminder_send');
      await q.query(sql.done, [...ids, outcome.status, outcome.reason, outcome.id]);
      log.debug({ reminder: p, ...outcome }, 'reminder:done');
    });
  };
}

function jobPayload(payload: unknown): ReminderJobPayload {
  const p = payload as Partial<ReminderJobPayload> | null;
  const fields = ['key', 'recipientId', 'offset', 'dueAt', 'runAt'] as const;
  if (!p || fields.some((f) => typeof p[f] !== 'string'))
    throw new PermanentError(`a reminder job needs ${fields.join(', ')} (strings)`);
  return p as ReminderJobPayload;
}

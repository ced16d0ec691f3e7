/**
 * Event-relative reminders: `PUT|GET|DELETE /v1/reminders/{key}` and `herald.reminders`:
 * validation, and planning each recipient × offset with its job.
 *
 * A reminder is keyed by the app's own entity (a task, an appointment) and has a due time, a
 * list of offsets before it ("24h", "15m") and recipients. Each recipient × offset is a row of
 * `reminder_offsets` with its own job (key `reminder:<key>:<recipient>:<offset>`), run at
 * `dueAt - offset`. PUT again plans every row anew: a new due time moves queued jobs (replaced
 * in place), removed offsets and recipients are cancelled, added ones scheduled.
 *
 * Exactly once rests on the row, not the job: the `reminder` job (reminder-job.ts) sends only
 * while its row is scheduled for the job's own plan, and marks it sent in the transaction that
 * writes the notification. A PUT locks the rows it plans, so it waits for a job that is sending.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Db, Queryable } from '../db/db.js';
import { quoteIdent } from '../db/sql.js';
import { HeraldError, ValidationError } from '../errors.js';
import { JOB_PRIORITY } from '../notify/send.js';
import { recipientIdSchema } from '../notify/recipients.js';
import { typeNameSchema, type Types } from '../notify/types.js';
import type { Queue } from '../queue/queue.js';
import type { Job, JobSpec } from '../types.js';
import {
  checked,
  findUnstorable,
  nestedDeeperThan,
  TOO_DEEP_MESSAGE,
  UNSTORABLE_MESSAGE,
} from '../validation.js';

/** Offsets per reminder, and recipients per reminder (so one PUT writes at most 20,000 rows). */
export const MAX_OFFSETS = 20;
export const MAX_REMINDER_RECIPIENTS = 1_000;

const OFFSET = /^(\d{1,6})([dhm])$/;
const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000 } as const;
const MAX_OFFSET_MS = 366 * UNIT_MS.d;
const TEN_YEARS_MS = 10 * 366 * UNIT_MS.d;

/** An offset ("24h", "30m", "2d", "0m") in milliseconds, or null if it is not one. */
export function offsetMs(label: string): number | null {
  const m = OFFSET.exec(label);
  if (!m) return null;
  const ms = Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
  return ms <= MAX_OFFSET_MS ? ms : null;
}

/**
 * Keys are the app's: letters, digits, `_ . ~ -`, starting with a letter or digit. No `:`, so
 * the job and idempotency keys built from them split one way only.
 */
export const reminderKeySchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_.~-]{0,127}$/,
    'letters, digits, _ . ~ - (at most 128, starting with a letter or digit)',
  );

const offsetSchema = z
  .string()
  .regex(OFFSET, 'a whole number and d, h or m, like "24h" or "30m"')
  // Only the size: a malformed offset already has its message.
  .refine((label) => !OFFSET.test(label) || offsetMs(label) !== null, 'at most 366d');

export const reminderInputSchema = z.strictObject({
  /** A recipient id or a list of them (repeats are ignored). */
  to: z.union([recipientIdSchema, z.array(recipientIdSchema).min(1).max(MAX_REMINDER_RECIPIENTS)], {
    error: `a recipient id (a string) or a list of 1 to ${MAX_REMINDER_RECIPIENTS} ids`,
  }),
  type: typeNameSchema,
  /** The entity's own time; each offset fires that long before it. */
  dueAt: z.iso.datetime({ offset: true }).refine(
    // NaN (not an instant) already has its message.
    (t) => !(Math.abs(Date.parse(t) - Date.now()) >= TEN_YEARS_MS),
    'must be within 10 years of now',
  ),
  offsets: z
    .array(offsetSchema)
    .min(1)
    .max(MAX_OFFSETS)
    .superRefine((labels, ctx) => {
      const seen = new Map<number, string>();
      labels.forEach((label, i) => {
        const ms = offsetMs(label);
        const first = ms === null ? undefined : seen.get(ms);
        if (first !== undefined)
          ctx.addIssue({ code: 'custom', path: [i], message: `is the same time as "${first}"` });
        else if (ms !== null) seen.set(ms, label);
      });
    }),
  /** Template data; Herald adds `reminder: {key, dueAt, offset}` unless the data has its own. */
  data: z.record(z.string(), z.unknown()).default({}),
  /** An offset already past when set: `skip` it (recorded, reason `past`) or `send` it at once. */
  late: z.enum(['skip', 'send']).default('skip'),
});

export type ReminderInput = z.input<typeof reminderInputSchema>;
export type ReminderStatus = 'scheduled' | 'sent' | 'skipped' | 'cancelled';

export interface ReminderItem {
  recipientId: string;
  offset: string;
  /** The due time this offset is planned (or was sent) for. */
  dueAt: string;
  runAt: string;
  status: ReminderStatus;
  /** skipped: `past`, or why the trigger refused (`unknown_type`); cancelled: `removed`, `deleted`; scheduled: `late` when sent late. */
  reason: string | null;
  notificationId: string | null;
  sentAt: string | null;
}

export interface Reminder {
  key: string;
  type: string;
  dueAt: string;
  to: string[];
  offsets: string[];
  late: 'skip' | 'send';
  data: Record<string, unknown>;
  /** `cancelled` after DELETE, until a PUT sets it again. */
  status: 'active' | 'cancelled';
  createdAt: string;
  updatedAt: string;
  /** One per recipient × offset, removed ones (cancelled) included. */
  items: ReminderItem[];
}

export interface ReminderOptions {
  /** Run inside this transaction (the app's own, as for `send`). */
  tx?: Queryable;
}

/** What a reminder job carries: which row, and the plan it was enqueued for. */
export interface ReminderJobPayload {
  key: string;
  recipientId: string;
  offset: string;
  dueAt: string;
  runAt: string;
}

interface OffsetRow {
  recipient_id: string;
  offset_label: string;
  status: ReminderStatus;
  reason: string | null;
  due_at: Date;
  run_at: Date;
  notification_id: string | null;
  sent_at: Date | null;
}

interface ReminderRow {
  key: string;
  type: string;
  due_at: Date;
  recipients: string[];
  offsets: string[];
  data: Record<string, unknown>;
  late: 'skip' | 'send';
  cancelled_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

/** A row's plan: what a PUT writes for one recipient × offset. */
interface Plan {
  status: ReminderStatus;
  reason: string | null;
  runAt: number;
}

export const jobKey = (key: string, recipientId: string, offset: string) =>
  `reminder:${key}:${recipientId}:${offset}`;

/**
 * The trigger's idempotency key: reminder key, recipient, offset and due time. Readable when it
 * fits the trigger's 256 characters; else a SHA-256 of the readable form (which ends in hex,
 * never in the `Z` of a due time, so the two forms cannot meet).
 */
export function reminderIdempotencyKey(p: Omit<ReminderJobPayload, 'runAt'>): string {
  const readable = `${jobKey(p.key, p.recipientId, p.offset)}:${new Date(p.dueAt).toISOString()}`;
  return readable.length <= 256
    ? readable
    : `reminder:sha256:${createHash('sha256').update(readable).digest('hex')}`;
}

/**
 * The plan for one recipient × offset, given its row (if any). A row that already ran for this
 * due time (sent, or skipped when its job ran) is kept, and so is a sent one whose new time is
 * past: the recipient had that reminder. Else: scheduled at `dueAt - offset` if that is ahead,
 * or at once (reason `late`) with `late: "send"`, or skipped with reason `past`.
 */
function plan(
  old: OffsetRow | undefined,
  dueAt: number,
  offset: number,
  now: number,
  late: 'skip' | 'send',
): Plan | 'keep' {
  const runAt = dueAt - offset;
  const sameDue = old?.due_at.getTime() === dueAt;
  const ran =
    sameDue && (old?.status === 'sent' || (old?.status === 'skipped' && old.reason !== 'past'));
  if (ran || (old?.status === 'sent' && runAt <= now)) return 'keep';
  if (runAt > now) return { status: 'scheduled', reason: null, runAt };
  if (late === 'skip') return { status: 'skipped', reason: 'past', runAt };
  // Sent late: an earlier late plan for this due time stands, so a repeated PUT does not restart it.
  if (old?.status === 'scheduled' && sameDue && old.reason === 'late') return 'keep';
  return { status: 'scheduled', reason: 'late', runAt: now };
}

const sameAs = (old: OffsetRow | undefined, p: Plan, dueAt: number) =>
  old !== undefined &&
  old.status === p.status &&
  old.reason === p.reason &&
  old.due_at.getTime() === dueAt &&
  old.run_at.getTime() === p.runAt;

function checkData(data: Record<string, unknown>): void {
  if (nestedDeeperThan(data))
    throw new ValidationError([{ field: 'data', message: TOO_DEEP_MESSAGE }]);
  const bad = findUnstorable(data, 'data');
  if (bad) throw new ValidationError([{ field: bad, message: UNSTORABLE_MESSAGE }]);
}

const iso = (d: Date | null) => (d === null ? null : d.toISOString());

export interface RemindersDeps {
  db: Db;
  schema: string;
  queue: Queue;
  types: Types;
  /** Attempts of a reminder job before it is dead. */
  maxAttempts: number;
}

export type Reminders = ReturnType<typeof makeReminders>;

export function makeReminders(deps: RemindersDeps) {
  const s = quoteIdent(deps.schema);
  const sql = {
    knownRecipients: `SELECT id FROM ${s}.recipients WHERE id = ANY($1::text[])`,
    // The reminder row first, locked by the upsert: PUTs and DELETEs of one key take turns.
    upsert: `INSERT INTO ${s}.reminders (key, type, due_at, recipients, offsets, data, late)
             VALUES ($1, $2, $3, $4::text[], $5::text[], $6::jsonb, $7)
             ON CONFLICT (key) DO UPDATE SET type = excluded.type, due_at = excluded.due_at,
               recipients = excluded.recipients, offsets = excluded.offsets, data = excluded.data,
               late = excluded.late, cancelled_at = NULL, updated_at = now()
             RETURNING (xmax = 0) AS created`,
    // Then its rows, in one order, so a running job (which locks one) is waited for.
    lockOffsets: `SELECT recipient_id, offset_label, status, reason, due_at, run_at, notification_id, sent_at
                  FROM ${s}.reminder_offsets WHERE reminder_key = $1
                  ORDER BY recipient_id, offset_label FOR UPDATE`,
    // Every changed row in one statement. A row planned anew forgets an earlier send (the
    // notification itself stays).
    writeOffsets: `INSERT INTO ${s}.reminder_offsets
                     (reminder_key, recipient_id, offset_label, status, reason, due_at, run_at)
                   SELECT $1, u.recipient_id, u.offset_label, u.status, u.reason, u.due_at, u.run_at
                   FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[])
                     AS u (recipient_id, offset_label, status, reason, due_at, run_at)
                   ON CONFLICT (reminder_key, recipient_id, offset_label) DO UPDATE SET
                     status = excluded.status, reason = excluded.reason, due_at = excluded.due_at,
                     run_at = excluded.run_at, notification_id = NULL, sent_at = NULL, updated_at = now()`,
    reminder: `SELECT key, type, due_at, recipients, offsets, data, late, cancelled_at, created_at, updated_at
               FROM ${s}.reminders WHERE key = $1`,
    offsets: `SELECT o.recipient_id, o.offset_label, o.status, o.reason, o.due_at, o.run_at,
                o.notification_id, o.sent_at
              FROM ${s}.reminder_offsets o JOIN ${s}.reminders r ON r.key = o.reminder_key
              WHERE o.reminder_key = $1
              ORDER BY array_position(r.recipients, o.recipient_id) NULLS LAST, o.recipient_id,
                o.run_at, o.offset_label`,
    cancel: `UPDATE ${s}.reminders SET cancelled_at = coalesce(cancelled_at, now()), updated_at = now()
             WHERE key = $1 RETURNING key`,
    cancelOffsets: `UPDATE ${s}.reminder_offsets SET status = 'cancelled', reason = 'deleted', updated_at = now()
                    WHERE reminder_key = $1 AND status IN ('scheduled', 'skipped')
                    RETURNING recipient_id, offset_label`,
  };

  const inTx = <T>(opts: ReminderOptions, fn: (q: Queryable) => Promise<T>) =>
    opts.tx ? fn(opts.tx) : deps.db.transaction(fn);

  async function get(key: string, opts: ReminderOptions = {}): Promise<Reminder | null> {
    if (!reminderKeySchema.safeParse(key).success) return null; // a key that cannot exist
    const q = opts.tx ?? deps.db;
    const r = (await q.query<ReminderRow>(sql.reminder, [key])).rows[0];
    if (!r) return null;
    const rows = (await q.query<OffsetRow>(sql.offsets, [key])).rows;
    const present = new Set(rows.map((o) => o.recipient_id));
    return {
      key: r.key,
      type: r.type,
      dueAt: r.due_at.toISOString(),
      // An erased recipient's rows are gone; so is the recipient from the list.
      to: r.recipients.filter((id) => present.has(id)),
      offsets: r.offsets,
      late: r.late,
      data: r.data,
      status: r.cancelled_at ? 'cancelled' : 'active',
      createdAt: r.created_at.toISOString(),
      updatedAt: r.updated_at.toISOString(),
      items: rows.map((o) => ({
        recipientId: o.recipient_id,
        offset: o.offset_label,
        dueAt: o.due_at.toISOString(),
        runAt: o.run_at.toISOString(),
        status: o.status,
        reason: o.reason,
        notificationId: o.notification_id,
        sentAt: iso(o.sent_at),
      })),
    };
  }

  /**
   * Makes sure the queue holds `spec`'s job as planned. A queued job with the key is replaced
   * in place (new run time); one that is running for an older plan lets go of the key (it will
   * find its row changed and do nothing) and a new job takes it.
   */
  async function ensureJob(q: Queryable, spec: JobSpec): Promise<void> {
    for (let round = 0; round < 3; round++) {
      const { job } = await deps.queue.enqueue({ ...spec, replace: true }, { tx: q });
      if (isPlanned(job, spec)) return;
      await deps.queue.releaseRunningKeys([spec.key as string], { tx: q });
    }
    throw new HeraldError('conflict', `the job of ${spec.key} kept changing; try again`);
  }

  async function put(
    key: string,
    input: unknown,
    opts: ReminderOptions = {},
  ): Promise<{ reminder: Reminder; created: boolean }> {
    const k = checked(reminderKeySchema, key, 'key');
    const r = checked(reminderInputSchema, input);
    checkData(r.data);
    const dueAt = Date.parse(r.dueAt);
    const recipients = [...new Set(typeof r.to === 'string' ? [r.to] : r.to)];

    return inTx(opts, async (q) => {
      // Every refusal comes before the first write.
      const type = await deps.types.get(r.type, q);
      if (!type)
        throw new HeraldError(
          'unknown_type',
          `no notification type "${r.type}": define it first (PUT /v1/types/${r.type})`,
        );
      const known = new Set(
        (await q.query<{ id: string }>(sql.knownRecipients, [recipients])).rows.map((x) => x.id),
      );
      const missing = recipients.filter((id) => !known.has(id));
      if (missing.length > 0)
        throw new HeraldError(
          'unknown_recipient',
          `${missing.length} recipient(s) do not exist (${missing
            .slice(0, 5)
            .map((id) => JSON.stringify(id))
            .join(', ')}): create them first (PUT /v1/recipients/{id})`,
          [{ field: 'to', message: `${missing.length} unknown recipient id(s)` }],
        );

      const { rows } = await q.query<{ created: boolean }>(sql.upsert, [
        k,
        r.type,
        new Date(dueAt),
        recipients,
        r.offsets,
        JSON.stringify(r.data),
        r.late,
      ]);
      const old = new Map(
        (await q.query<OffsetRow>(sql.lockOffsets, [k])).rows.map((o) => [
          `${o.recipient_id}\u0000${o.offset_label}`,
          o,
        ]),
      );
      const now = Date.now();
      const priority = JOB_PRIORITY[type.priority];
      const w = {
        rid: [] as string[],
        offset: [] as string[],
        status: [] as string[],
        reason: [] as (string | null)[],
        due: [] as Date[],
        run: [] as Date[],
      };
      const write = (rid: string, offset: string, p: Plan, due: Date) => {
        w.rid.push(rid);
        w.offset.push(offset);
        w.status.push(p.status);
        w.reason.push(p.reason);
        w.due.push(due);
        w.run.push(new Date(p.runAt));
      };
      const specs: JobSpec[] = [];
      const cancelKeys: string[] = [];
      const spec = (rid: string, offset: string, runAt: number, due: number): JobSpec => {
        const payload: ReminderJobPayload = {
          key: k,
          recipientId: rid,
          offset,
          dueAt: new Date(due).toISOString(),
          runAt: new Date(runAt).toISOString(),
        };
        return {
          kind: 'reminder',
          key: jobKey(k, rid, offset),
          payload,
          runAt: new Date(runAt),
          priority,
          maxAttempts: deps.maxAttempts,
        };
      };

      for (const rid of recipients) {
        for (const offset of r.offsets) {
          const id = `${rid}\u0000${offset}`;
          const was = old.get(id);
          old.delete(id);
          const p = plan(was, dueAt, offsetMs(offset) as number, now, r.late);
          if (p === 'keep' || sameAs(was, p, dueAt)) {
            // Unchanged: its job is enqueued again (a no-op when it is there), in case it died.
            if (was?.status === 'scheduled')
              specs.push(spec(rid, offset, was.run_at.getTime(), was.due_at.getTime()));
            continue;
          }
          write(rid, offset, p, new Date(dueAt));
          if (p.status === 'scheduled') specs.push(spec(rid, offset, p.runAt, dueAt));
          else if (was?.status === 'scheduled') cancelKeys.push(jobKey(k, rid, offset));
        }
      }
      // What the PUT no longer names is cancelled; what was sent stays sent.
      for (const was of old.values()) {
        if (was.status === 'sent' || was.status === 'cancelled') continue;
        const cancelled: Plan = {
          status: 'cancelled',
          reason: 'removed',
          runAt: was.run_at.getTime(),
        };
        write(was.recipient_id, was.offset_label, cancelled, was.due_at);
        if (was.status === 'scheduled')
          cancelKeys.push(jobKey(k, was.recipient_id, was.offset_label));
      }

      if (w.rid.length > 0)
        await q.query(sql.writeOffsets, [k, w.rid, w.offset, w.status, w.reason, w.due, w.run]);
      await deps.queue.cancelByKeys(cancelKeys, { tx: q });
      // New keys in one statement; a key whose live job holds an older plan is fixed one by one.
      const enqueued = await deps.queue.enqueueMany(specs, { tx: q });
      for (const [i, e] of enqueued.entries()) {
        const wanted = specs[i] as JobSpec;
        if (!e.created && !isPlanned(e.job, wanted)) await ensureJob(q, wanted);
      }
      return {
        reminder: (await get(k, { tx: q })) as Reminder,
        created: rows[0]?.created ?? false,
      };
    });
  }

  /** Cancels what is not sent yet; the reminder stays readable. Null if there is none. */
  async function remove(key: string, opts: ReminderOptions = {}): Promise<Reminder | null> {
    if (!reminderKeySchema.safeParse(key).success) return null;
    return inTx(opts, async (q) => {
      if ((await q.query(sql.cancel, [key])).rows.length === 0) return null;
      const { rows } = await q.query<{ recipient_id: string; offset_label: string }>(
        sql.cancelOffsets,
        [key],
      );
      await deps.queue.cancelByKeys(
        rows.map((o) => jobKey(key, o.recipient_id, o.offset_label)),
        { tx: q },
      );
      return get(key, { tx: q });
    });
  }

  return { put, get, remove };
}

/** Whether a live job is the one `spec` plans (same due time, run time and priority). */
function isPlanned(job: Job, spec: JobSpec): boolean {
  const have = job.payload as Partial<ReminderJobPayload> | null;
  const want = spec.payload as ReminderJobPayload;
  return (
    job.kind === 'reminder' &&
    have?.dueAt === want.dueAt &&
    have.runAt === want.runAt &&
    job.priority === spec.priority
  );
}

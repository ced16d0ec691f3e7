/**
 * The trigger: `POST /v1/notifications` and `herald.send()`. It resolves the recipients,
 * applies each one's preferences (policy.ts), and writes, in one transaction, a notification
 * per recipient, a delivery per channel (queued, or skipped with its reason), and a `deliver`
 * job per queued delivery. Workers then render and send (deliver.ts). A delivery held for a
 * digest (reason `digest`) has no deliver job: its window's `digest` job sends it
 * (notify/digests.ts).
 *
 * Before anything is written, the trigger's data is rendered through the templates its queued
 * deliveries will use (trigger-check.ts): data a template needs but lacks is refused here, not
 * failed at delivery. The decisions are pure functions in trigger-plan.ts; this file reads and
 * writes around them, in batches.
 *
 * Idempotency: a trigger with an `idempotencyKey` claims the key in the same transaction
 * (a primary key, so concurrent identical requests wait on each other in the database, not
 * in code); a later trigger with the key answers the first one's notifications, or
 * `409 idempotency_conflict` if its request differs.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Db, Queryable } from '../db/db.js';
import { quoteIdent } from '../db/sql.js';
import { HeraldError, ValidationError } from '../errors.js';
import type { Metrics } from '../obs/metrics.js';
import type { Queue } from '../queue/queue.js';
import { makeDigestHolds } from './digests.js';
import {
  checked,
  findUnstorable,
  nestedDeeperThan,
  TOO_DEEP_MESSAGE,
  UNSTORABLE_MESSAGE,
} from '../validation.js';
import { recipientData } from './deliver.js';
import { emailOptionsSchema, storedEmailOptions, type EmailOptions } from './email-options.js';
import { uuidv7 } from './ids.js';
import type { Preferences } from './preferences.js';
import { recipientIdSchema, recipientInputSchema, type Recipients } from './recipients.js';
import type { RenderParts } from './render.js';
import { mergeRefusals, triggerRenderRefusal, type TriggerRender } from './trigger-check.js';
import {
  deliveryCounts,
  JOB_PRIORITY,
  planChunk,
  PRIORITIES,
  triggerChannels,
  unknownRecipients,
  type ChunkPlan,
  type DeliverySummary,
  type NotificationSummary,
  type Priority,
} from './trigger-plan.js';
import {
  CHANNELS,
  typeNameSchema,
  type Channel,
  type NotificationType,
  type Types,
} from './types.js';

export type { DeliveredStatus } from '../types.js';
export {
  JOB_PRIORITY,
  type DeliverySummary,
  type NotificationSummary,
  type Priority,
} from './trigger-plan.js';

/** A trigger may name up to this many recipients. */
export const MAX_RECIPIENTS = 100_000;
/** Rows written per statement. */
const CHUNK = 5_000;

export const inlineRecipientSchema = recipientInputSchema.extend({ id: recipientIdSchema });

export const triggerSchema = z.strictObject({
  type: typeNameSchema,
  to: z.union(
    [
      recipientIdSchema,
      z.array(recipientIdSchema).min(1).max(MAX_RECIPIENTS),
      inlineRecipientSchema,
    ],
    {
      // Zod's own words for a union are only "Invalid input".
      error: `a recipient id (a string), a list of 1 to ${MAX_RECIPIENTS} ids, or an inline recipient object with an \`id\``,
    },
  ),
  data: z.record(z.string(), z.unknown()).default({}),
  /** A subset of the type's channels. */
  channels: z
    .array(z.enum(CHANNELS))
    .min(1)
    .refine((c) => new Set(c).size === c.length, 'no channel twice')
    .optional(),
  priority: z.enum(PRIORITIES).optional(),
  /** At most 10 years ahead (a later instant is a mistake, and past year 9999 unstorable). */
  sendAt: z.iso
    .datetime({ offset: true })
    .refine((t) => Date.parse(t) < Date.now() + 10 * 366 * 86_400_000, 'must be within 10 years')
    .optional(),
  idempotencyKey: z.string().min(1).max(256).optional(),
  /** Reply-To, extra headers and attachments of the email (email-options.ts). */
  email: emailOptionsSchema.optional(),
});

export type TriggerInput = z.input<typeof triggerSchema>;

export interface SendOptions {
  /** Write inside this transaction (the app's own `pg` client after BEGIN, or PGlite's tx). */
  tx?: Queryable;
  /** The `Idempotency-Key` header; must equal `idempotencyKey` if both are given. */
  idempotencyKey?: string;
  /**
   * Data of each recipient's own, merged over the trigger's `data` (a schedule's content per
   * recipient). Not part of the request an idempotency key stands for. Library use only.
   */
  dataFor?: (recipientId: string) => Record<string, unknown> | undefined;
}

export interface SendResult {
  triggerId: string;
  notifications: NotificationSummary[];
  /** True when an earlier trigger with the same idempotency key is answered. */
  replayed: boolean;
}

export interface SendDeps {
  db: Db;
  schema: string;
  queue: Queue;
  types: Types;
  recipients: Recipients;
  hasProvider: (channel: Channel) => boolean;
  deliveryMaxAttempts: number;
  /** Told what each trigger wrote (obs/metrics.ts). */
  metrics?: TriggerMetrics;
  /**
   * Layouts and partials, for rendering the trigger's data before it is accepted: `current()`
   * outside a caller's transaction, else the last one seen (`peek()`), since PGlite's single
   * connection is the caller's then. Absent: rendered without them.
   */
  templateParts?: { current(): Promise<RenderParts>; peek(): RenderParts | undefined };
}

interface FactsRow {
  id: string;
  locale: string | null;
  email: string | null;
  phone: string | null;
  timezone: string | null;
  webhookUrl: string | null;
  slackWebhookUrl: string | null;
  devices: number;
  preferences: Partial<Preferences> | null;
  suppressed: Partial<Record<Channel, boolean>>;
}

export function makeSend(deps: SendDeps) {
  const s = quoteIdent(deps.schema);
  const holdForDigests = makeDigestHolds(deps.schema, deps.queue);
  const sql = {
    claimKey: `INSERT INTO ${s}.idempotency_keys (key, request_hash, trigger_id) VALUES ($1, $2, $3)
               ON CONFLICT (key) DO NOTHING RETURNING key`,
    keyRow: `SELECT request_hash, trigger_id FROM ${s}.idempotency_keys WHERE key = $1`,
    // What the rules need to know of each recipient, in one round trip per chunk.
    // Suppressed addresses: one EXISTS per channel on the suppressions primary key, in the
    // same statement (email compared lower-cased, as suppressions.ts stores it).
    facts: `SELECT r.id, r.email, r.phone, r.locale, r.timezone, p.document AS preferences,
              r.webhook_url AS "webhookUrl", r.slack_webhook_url AS "slackWebhookUrl",
              (SELECT count(*) FROM ${s}.devices d WHERE d.recipient_id = r.id AND d.active)::int AS devices,
              jsonb_build_object(
                'email', EXISTS (SELECT 1 FROM ${s}.suppressions x
                                 WHERE x.channel = 'email' AND x.address = lower(btrim(r.email))),
                'sms', EXISTS (SELECT 1 FROM ${s}.suppressions x
                               WHERE x.channel = 'sms' AND x.address = btrim(r.phone)),
                'whatsapp', EXISTS (SELECT 1 FROM ${s}.suppressions x
                                    WHERE x.channel = 'whatsapp' AND x.address = btrim(r.phone))
              ) AS suppressed
            FROM ${s}.recipients r LEFT JOIN ${s}.preferences p ON p.recipient_id = r.id
            WHERE r.id = ANY($1::text[])`,
    // Batches with unnest: one statement per chunk, whatever the number of recipients.
    // Data per recipient ($9, a schedule's content) where given, else the trigger's ($4).
    notifications: `INSERT INTO ${s}.notifications (id, trigger_id, recipient_id, type, priority, data, send_at, email)
                    SELECT u.id, $1, u.recipient_id, $2, $3, coalesce(u.data, $4::jsonb), $5, $8::jsonb
                    FROM unnest($6::uuid[], $7::text[], $9::jsonb[]) AS u (id, recipient_id, data)`,
    deliveries: `INSERT INTO ${s}.deliveries (id, notification_id, channel, status, reason, run_at, events)
                 SELECT u.id, u.notification_id, u.channel, u.status, u.reason, u.run_at,
                   jsonb_build_array(jsonb_build_object('at', now(), 'status', u.status, 'detail', u.reason))
                 FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])
                   AS u (id, notification_id, channel, status, reason, run_at)`,
    // The fields templates see of each recipient (deliver.ts: recipientData), read only when
    // the trigger-time render fails with the stand-in recipient (trigger-check.ts).
    recipientRows: `SELECT id AS recipient_id, email, phone, locale, timezone, data AS recipient_data
                    FROM ${s}.recipients WHERE id = ANY($1::text[])`,
    summaries: `SELECT n.id, n.recipient_id, n.type, n.priority, n.send_at,
                  coalesce(jsonb_agg(jsonb_build_object('id', d.id, 'channel', d.channel,
                    'status', d.status, 'reason', d.reason, 'runAt', d.run_at) ORDER BY d.id)
                    FILTER (WHERE d.id IS NOT NULL), '[]'::jsonb) AS deliveries
                FROM ${s}.notifications n LEFT JOIN ${s}.deliveries d ON d.notification_id = n.id
                WHERE n.trigger_id = $1 GROUP BY n.id ORDER BY n.id`,
  };

  async function summaries(q: Queryable, triggerId: string): Promise<NotificationSummary[]> {
    const { rows } = await q.query<{
      id: string;
      recipient_id: string | null;
      type: string;
      priority: Priority;
      send_at: Date;
      deliveries: (Omit<DeliverySummary, 'runAt'> & { runAt: string | null })[];
    }>(sql.summaries, [triggerId]);
    return rows.map((r) => ({
      id: r.id,
      recipientId: r.recipient_id,
      type: r.type,
      priority: r.priority,
      sendAt: r.send_at.toISOString(),
      deliveries: r.deliveries.map((d) => ({
        ...d,
        runAt: d.runAt === null ? null : new Date(d.runAt).toISOString(),
      })),
    }));
  }

  /**
   * Refuses the trigger if the data it was given cannot render for a delivery of `plan`
   * (trigger-check.ts): rendered once per channel and locale with a stand-in recipient, and
   * only on a failure with each of those recipients' own fields.
   */
  async function checkData(
    q: Queryable,
    r: Omit<TriggerRender, 'channel' | 'locale'>,
    plan: ChunkPlan,
    facts: Map<string, FactsRow>,
    checked: Set<string>,
  ): Promise<void> {
    const failing = new Map<string, string[]>();
    for (const { recipientId, channel } of plan.rendered) {
      const locale = facts.get(recipientId)?.locale ?? null;
      const k = `${channel}\u0000${locale ?? ''}`;
      if (failing.has(k)) (failing.get(k) as string[]).push(recipientId);
      else if (!checked.has(k)) {
        checked.add(k);
        if (triggerRenderRefusal({ ...r, channel, locale })) failing.set(k, [recipientId]);
      }
    }
    const refusals: HeraldError[] = [];
    for (const [k, ids] of failing) {
      const [channel, locale] = k.split('\u0000') as [Channel, string];
      const { rows } = await q.query<Parameters<typeof recipientData>[0]>(sql.recipientRows, [ids]);
      for (const row of rows) {
        const refusal = triggerRenderRefusal(
          { ...r, channel, locale: locale || null },
          recipientData(row),
        );
        if (refusal) {
          refusals.push(refusal);
          break; // one recipient's failure is enough for this channel and locale
        }
      }
    }
    const refusal = mergeRefusals(refusals);
    if (refusal) throw refusal;
  }

  async function send(input: unknown, options: SendOptions = {}): Promise<SendResult> {
    const t = parseTrigger(input);
    const key = idempotencyKeyOf(t.idempotencyKey, options.idempotencyKey);

    // Inside the caller's transaction when given one: PGlite has a single connection, which
    // that transaction holds until it ends.
    const type = await deps.types.get(t.type, options.tx);
    if (!type) {
      throw new HeraldError(
        'unknown_type',
        `no notification type "${t.type}": define it first (PUT /v1/types/${t.type})`,
      );
    }
    const channels = triggerChannels(type, t.channels);
    // Stored on each notification (attachments never travel in the job payload).
    const emailOptions = storedEmailOptions(
      t.email,
      channels.includes('email'),
      typeof t.to === 'string' || !Array.isArray(t.to) ? 1 : new Set(t.to).size,
    );
    const now = Date.now();
    const plan = {
      type,
      channels,
      priority: t.priority ?? type.priority,
      at: t.sendAt ? Math.max(Date.parse(t.sendAt), now) : now,
      now,
      hasProvider: deps.hasProvider,
      deliveryMaxAttempts: deps.deliveryMaxAttempts,
    };
    const triggerId = uuidv7(now);
    const requestHash = hashRequest({ ...t, idempotencyKey: undefined });
    // The data is known now unless each recipient's comes with it (`dataFor`, a schedule's).
    const check =
      options.dataFor === undefined
        ? await renderInputs(type, t.data, emailOptions, options.tx !== undefined)
        : undefined;
    const checkedTargets = new Set<string>();

    const run = async (q: Queryable): Promise<SendResult> => {
      if (key) {
        const claimed = await q.query(sql.claimKey, [key, requestHash, triggerId]);
        if (claimed.rows.length === 0) return replay(q, key, requestHash);
      }
      let ids: string[];
      if (typeof t.to === 'string') ids = [t.to];
      else if (Array.isArray(t.to)) ids = [...new Set(t.to)];
      else {
        const { id, ...fields } = t.to;
        await deps.recipients.upsert(id, fields, q);
        ids = [id];
      }

      const notifications: NotificationSummary[] = [];
      for (let i = 0; i < ids.length; i += CHUNK) {
        const chunk = ids.slice(i, i + CHUNK);
        const { rows } = await q.query<FactsRow>(sql.facts, [chunk]);
        const facts = new Map(rows.map((r) => [r.id, r]));
        const unknown = unknownRecipients(chunk, facts);
        if (unknown) throw unknown;
        const planned = planChunk(plan, chunk, facts);
        if (check) await checkData(q, check, planned, facts, checkedTargets);
        await writeChunk(q, chunk, planned);
        notifications.push(...planned.summaries);
      }
      return { triggerId, notifications, replayed: false };
    };

    /** Writes a chunk's notifications, deliveries, jobs and digest holds: a statement each. */
    async function writeChunk(q: Queryable, recipientIds: string[], p: ChunkPlan): Promise<void> {
      const d = p.deliveries;
      await q.query(sql.notifications, [
        triggerId,
        t.type,
        plan.priority,
        JSON.stringify(t.data),
        new Date(plan.at),
        p.notificationIds,
        recipientIds,
        emailOptions ? JSON.stringify(emailOptions) : null,
        recipientIds.map((rid) => {
          const own = options.dataFor?.(rid);
          return own === undefined ? null : JSON.stringify({ ...t.data, ...own });
        }),
      ]);
      await q.query(sql.deliveries, [d.id, d.nid, d.channel, d.status, d.reason, d.runAt]);
      if (p.jobs.length > 0) await deps.queue.enqueueMany(p.jobs, { tx: q });
      if (p.holds.length > 0)
        await holdForDigests(q, t.type, p.holds, {
          triggerId,
          maxAttempts: deps.deliveryMaxAttempts,
          priority: JOB_PRIORITY.normal,
        });
    }

    async function replay(q: Queryable, k: string, hash: string): Promise<SendResult> {
      const { rows } = await q.query<{ request_hash: string; trigger_id: string }>(sql.keyRow, [k]);
      const first = rows[0];
      if (!first) throw new Error(`idempotency key ${k} vanished`);
      if (first.request_hash !== hash) {
        throw new HeraldError(
          'idempotency_conflict',
          `idempotency key "${k}" was used for a different request: use a new key for a new notification`,
        );
      }
      return {
        triggerId: first.trigger_id,
        notifications: await summaries(q, first.trigger_id),
        replayed: true,
      };
    }

    const result = await (options.tx ? run(options.tx) : deps.db.transaction(run));
    // Counted once written (in the caller's transaction: once handed to it).
    if (deps.metrics) countTrigger(deps.metrics, t.type, result);
    return result;
  }

  /** What trigger-check.ts renders with, but the channel and locale. */
  async function renderInputs(
    type: NotificationType,
    data: Record<string, unknown>,
    emailOptions: EmailOptions | null,
    inCallersTx: boolean,
  ): Promise<Omit<TriggerRender, 'channel' | 'locale'>> {
    const source = deps.templateParts;
    const parts = !source
      ? NO_PARTS
      : inCallersTx
        ? (source.peek() ?? NO_PARTS)
        : await source.current();
    return { type, data, emailOptions, parts };
  }

  return { send, summaries };
}

export type Sender = ReturnType<typeof makeSend>;

type TriggerMetrics = Pick<Metrics, 'countNotifications' | 'countDelivery' | 'countQueued'>;

/**
 * What a trigger wrote, for metrics: its notifications, created or (a repeated idempotency key)
 * deduplicated; its deliveries queued, or skipped, which is their outcome.
 */
function countTrigger(metrics: TriggerMetrics, type: string, result: SendResult): void {
  const n = result.notifications.length;
  if (result.replayed) return metrics.countNotifications(type, 'deduplicated', n);
  metrics.countNotifications(type, 'created', n);
  for (const c of deliveryCounts(result.notifications)) {
    if (c.status === 'queued') metrics.countQueued(c.channel, c.reason, c.n);
    else if (c.status === 'skipped')
      metrics.countDelivery(c.channel, null, 'skipped', c.reason, c.n);
  }
}

const NO_PARTS: RenderParts = { partials: {}, layouts: {} };

/** The trigger's body, checked: the schema, then data that JSON or PostgreSQL cannot hold. */
export function parseTrigger(input: unknown): z.output<typeof triggerSchema> {
  const t = checked(triggerSchema, input);
  try {
    JSON.stringify(t.data);
  } catch (err) {
    throw new ValidationError([
      { field: 'data', message: `is not JSON: ${(err as Error).message}` },
    ]);
  }
  if (nestedDeeperThan(t.data))
    throw new ValidationError([{ field: 'data', message: TOO_DEEP_MESSAGE }]);
  const bad = findUnstorable(t.data, 'data') ?? findUnstorable(t.email, 'email');
  if (bad) throw new ValidationError([{ field: bad, message: UNSTORABLE_MESSAGE }]);
  return t;
}

function idempotencyKeyOf(body?: string, header?: string): string | undefined {
  if (header !== undefined) {
    if (header.length < 1 || header.length > 256)
      throw new ValidationError([
        { field: 'Idempotency-Key', message: 'must be 1 to 256 characters' },
      ]);
    if (body !== undefined && body !== header) {
      throw new ValidationError([
        {
          field: 'idempotencyKey',
          message: 'differs from the Idempotency-Key header: give one, or the same in both',
        },
      ]);
    }
  }
  return header ?? body;
}

/** SHA-256 of the request with object keys sorted, so key order does not make a new request. */
function hashRequest(value: unknown): string {
  const canonical = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(canonical);
    if (v && typeof v === 'object') {
      return Object.fromEntries(
        Object.keys(v)
          .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
          .sort()
          .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
      );
    }
    return v;
  };
  return createHash('sha256')
    .update(JSON.stringify(canonical(value)))
    .digest('hex');
}

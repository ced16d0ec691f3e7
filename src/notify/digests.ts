/**
 * Digests: notifications of a type collected per recipient and channel and sent as one message
 * per window, rendered with the list of what was collected (docs/scheduler.md#digests).
 *
 * Which deliveries: the recipient's `digest` preference (hourly, daily, weekly) when it is not
 * `off`, else the type's `digest.window`; never an `urgent` notification, never the inbox
 * (`inapp`), which is not a message anyone is interrupted by, never a type whose `digest` is
 * `false`. policy.ts decides it with the
 * other rules when the trigger is accepted.
 *
 * Windows are in the recipient's time zone and end when their digest is sent, at the ticks of
 * DIGEST_SCHEDULE (time/cron.ts, so DST-correct by cron's rules); an end inside the recipient's
 * quiet hours moves to the quiet hours' end.
 *
 * The trigger (send.ts) writes a held delivery `queued` with reason `digest` and `run_at` at the
 * send time, a row of `digest_holds`, and enqueues the window's `digest` job, keyed
 * `digest:<recipient>:<type>:<channel>:<send time>`, so one job serves every notification of
 * the window. A trigger that finds that job queued locks its row (`FOR KEY SHARE`, until the
 * trigger commits: claims skip locked jobs, so the job cannot run before the held delivery is
 * visible); one that finds it already running adds a job of its own for the window (the key
 * with the trigger id after it), which takes what the running one did not see.
 *
 * The job, in one statement, locks the window's held deliveries that are still queued and not
 * taken by another live digest job, and marks them as its own (`digest_holds.job_id`); renders
 * one message; sends it with the deliver job's sender (deliver.ts: failover, rate limits,
 * retries); and records every one of them `sent` with the message's provider id and reason
 * `digested` (or failed). So:
 * - a notification is in one digest: a second job of the window (a trigger's extra one, a
 *   re-run after the first finished) finds nothing queued, or only what the first did not take;
 * - a cancel before the job takes them makes them `cancelled`, which it skips; an erased
 *   recipient's holds are deleted with the recipient;
 * - a crash before the send leaves them taken by a job that is queued again (its lease
 *   expires) and takes them again; a crash after the provider accepted the message but before
 *   it was recorded sends it again, as the deliver job does (at least once toward the provider);
 * - a transient failure is recorded on each delivery and retried with the job's backoff.
 */
import type { Queryable } from '../db/db.js';
import { quoteIdent } from '../db/sql.js';
import { ValidationError } from '../errors.js';
import { PermanentError } from '../queue/errors.js';
import type { Queue } from '../queue/queue.js';
import type { JobContext, JobHandler } from '../queue/worker.js';
import type { JobSpec } from '../types.js';
import {
  makeSender,
  recipientData,
  unsubscribeHeaders,
  type DeliverDeps,
  type Outcome,
  type SendRow,
} from './deliver.js';
import { emailExtras } from './email-options.js';
import { layoutFor, render, type RenderParts } from './render.js';
import { CHANNELS, type Channel, type TypeDefinition } from './types.js';
import { quietHoursEnd } from '../time/zoned.js';
import { nextTick, parseCron, type CronSpec } from '../time/cron.js';

export const DIGEST_WINDOWS = ['hourly', 'daily', 'weekly'] as const;
export type DigestWindow = (typeof DIGEST_WINDOWS)[number];

/**
 * When each window's digest is sent, as cron in the recipient's time zone: hourly at every full
 * hour, daily at 08:00, weekly on Mondays at 08:00. A window runs from one send to the next.
 */
export const DIGEST_SCHEDULE: Record<DigestWindow, string> = {
  hourly: '0 * * * *',
  daily: '0 8 * * *',
  weekly: '0 8 * * 1',
};

const SPECS = Object.fromEntries(
  DIGEST_WINDOWS.map((w) => [w, parseCron(DIGEST_SCHEDULE[w])]),
) as Record<DigestWindow, CronSpec>;

type Priority = 'low' | 'normal' | 'high' | 'urgent';
const PRIORITY_RANK: Record<Priority, number> = { low: 0, normal: 1, high: 2, urgent: 3 };

/**
 * The window a delivery is held for, if any: the recipient's preference unless `off`, else the
 * type's rule; none for `urgent` notifications, the inbox, and types whose rule is `false`.
 */
export function digestWindowFor(
  preference: 'off' | DigestWindow | undefined,
  rule: { window: DigestWindow } | false | undefined,
  priority: Priority,
  channel: Channel,
): DigestWindow | undefined {
  if (priority === 'urgent' || channel === 'inapp' || rule === false) return undefined;
  if (preference !== undefined && preference !== 'off') return preference;
  return rule?.window;
}

/** The end of the window that `at` falls in: the window's first send time after `at`. */
export function digestWindowEnd(window: DigestWindow, at: number, timeZone: string): number {
  // Each expression fires every week at least, so there is always a next tick.
  return nextTick(SPECS[window], timeZone, at) as number;
}

/**
 * When the digest that takes a notification of `at` is sent: the end of its window, or, when
 * that falls inside the recipient's quiet hours, the end of those.
 */
export function digestSendAt(
  window: DigestWindow,
  at: number,
  timeZone: string,
  quietHours: { start: string; end: string } | null,
): number {
  const end = digestWindowEnd(window, at, timeZone);
  return (quietHours ? quietHoursEnd(end, quietHours, timeZone) : null) ?? end;
}

/** The key of the window's digest job: one per recipient, type, channel and send time. */
export function digestJobKey(
  recipientId: string,
  type: string,
  channel: Channel,
  sendAt: Date,
): string {
  return `digest:${recipientId}:${type}:${channel}:${sendAt.toISOString()}`;
}

/** A delivery the trigger holds for a digest. */
export interface DigestHold {
  deliveryId: string;
  recipientId: string;
  channel: Channel;
  sendAt: Date;
  window: DigestWindow;
}

export interface DigestJobPayload {
  recipientId: string;
  type: string;
  channel: Channel;
  /** The digest's send time (ISO 8601): it takes the held deliveries due by then. */
  sendAt: string;
}

/**
 * The trigger's half: records the held deliveries of one statement's recipients and enqueues
 * their windows' digest jobs, inside the trigger's transaction `q`.
 */
export function makeDigestHolds(schema: string, queue: Queue) {
  const s = quoteIdent(schema);
  const sql = {
    holds: `INSERT INTO ${s}.digest_holds (delivery_id, recipient_id, type, channel, send_at, window_kind)
            SELECT u.delivery_id, u.recipient_id, $1, u.channel, u.send_at, u.window_kind
            FROM unnest($2::uuid[], $3::text[], $4::text[], $5::timestamptz[], $6::text[])
              AS u (delivery_id, recipient_id, channel, send_at, window_kind)`,
    // Held until the trigger commits: a claim skips a locked job, so the job runs after it.
    lockQueued: `SELECT id::text AS id FROM ${s}.jobs
                 WHERE id = ANY($1::bigint[]) AND status = 'queued' FOR KEY SHARE`,
  };

  return async function holdForDigests(
    q: Queryable,
    type: string,
    holds: DigestHold[],
    options: { triggerId: string; maxAttempts: number; priority: number },
  ): Promise<void> {
    await q.query(sql.holds, [
      type,
      holds.map((h) => h.deliveryId),
      holds.map((h) => h.recipientId),
      holds.map((h) => h.channel),
      holds.map((h) => h.sendAt),
      holds.map((h) => h.window),
    ]);
    const specs = new Map<string, JobSpec>();
    for (const h of holds) {
      const key = digestJobKey(h.recipientId, type, h.channel, h.sendAt);
      const payload: DigestJobPayload = {
        recipientId: h.recipientId,
        type,
        channel: h.channel,
        sendAt: h.sendAt.toISOString(),
      };
      specs.set(key, {
        kind: 'digest',
        key,
        payload,
        runAt: h.sendAt,
        priority: options.priority,
        maxAttempts: options.maxAttempts,
      });
    }
    const wanted = [...specs.values()];
    const enqueued = await queue.enqueueMany(wanted, { tx: q });
    const found = enqueued.flatMap((e, i) => (e.created ? [] : [{ job: e.job, spec: wanted[i] }]));
    if (found.length === 0) return;
    const { rows } = await q.query<{ id: string }>(sql.lockQueued, [found.map((f) => f.job.id)]);
    const locked = new Set(rows.map((r) => r.id));
    // Running already (or finished and not yet recorded): it may have taken its deliveries
    // before these commit. A job of this trigger's own takes what it did not.
    const extra = found
      .filter((f) => !locked.has(f.job.id))
      .map((f) => ({ ...(f.spec as JobSpec), key: `${f.spec?.key}:${options.triggerId}` }));
    if (extra.length > 0) await queue.enqueueMany(extra, { tx: q });
  };
}

/** A held delivery as the digest job takes it, with its notification. */
export interface DigestItem {
  id: string;
  notification_id: string;
  data: Record<string, unknown>;
  priority: Priority;
  created_at: Date;
  window_kind: DigestWindow;
}

interface FactsRow {
  email: string | null;
  phone: string | null;
  locale: string | null;
  timezone: string | null;
  recipient_data: Record<string, unknown> | null;
  webhook_url: string | null;
  slack_webhook_url: string | null;
  definition: TypeDefinition | null;
}

/** The `digest` job: one window's digest of one recipient, type and channel (see the top). */
export function makeDigestJob(deps: DeliverDeps): JobHandler {
  const s = quoteIdent(deps.schema);
  const sender = makeSender(deps);
  // $1..$4: recipient, type, channel, send time.
  const window = `h.recipient_id = $1 AND h.type = $2 AND h.channel = $3 AND h.send_at <= $4`;
  const sql = {
    // One statement: the window's queued holds not taken by another live digest job (a
    // job's own from an earlier attempt are taken again), locked, marked as job $5's, and read
    // with their notifications, oldest first. Another job's statement waits for the locks and
    // then sees them taken.
    take: `WITH held AS (
             SELECT h.delivery_id FROM ${s}.digest_holds h
             JOIN ${s}.deliveries d ON d.id = h.delivery_id
             WHERE ${window} AND d.status = 'queued'
               AND (h.job_id IS NULL OR h.job_id = $5::bigint OR NOT EXISTS (
                 SELECT 1 FROM ${s}.jobs j
                 WHERE j.id = h.job_id AND j.status IN ('queued', 'processing')))
             ORDER BY h.delivery_id
             FOR UPDATE OF h
           ), taken AS (
             UPDATE ${s}.digest_holds h SET job_id = $5::bigint
             FROM held WHERE h.delivery_id = held.delivery_id
             RETURNING h.delivery_id, h.window_kind
           )
           SELECT d.id, n.id AS notification_id, n.data, n.priority, n.created_at, taken.window_kind
           FROM taken
           JOIN ${s}.deliveries d ON d.id = taken.delivery_id
           JOIN ${s}.notifications n ON n.id = d.notification_id
           ORDER BY d.id`,
    // Holds whose delivery was cancelled (or sent) meanwhile.
    tidy: `DELETE FROM ${s}.digest_holds h USING ${s}.deliveries d
           WHERE d.id = h.delivery_id AND ${window} AND d.status <> 'queued'`,
    facts: `SELECT r.email, r.phone, r.locale, r.timezone, r.data AS recipient_data,
              r.webhook_url, r.slack_webhook_url, t.definition
            FROM ${s}.recipients r LEFT JOIN ${s}.notification_types t ON t.name = $2
            WHERE r.id = $1`,
    release: `DELETE FROM ${s}.digest_holds WHERE delivery_id = ANY($1::uuid[])`,
  };

  /** Records one outcome for each of `ids` and lets their holds go. */
  async function finish(channel: Channel, ids: string[], outcome: Omit<Outcome, 'id'>) {
    if (ids.length === 0) return;
    await Promise.all(
      ids.map((id) => {
        deps.metrics?.countDelivery(
          channel,
          outcome.provider ?? null,
          outcome.status,
          outcome.reason ?? null,
        );
        return sender.record({ id, ...outcome });
      }),
    );
    await deps.db.query(sql.release, [ids]);
  }

  return async (payload: unknown, ctx: JobContext) => {
    const p = digestPayload(payload);
    const at = [p.recipientId, p.type, p.channel, new Date(p.sendAt)];
    const items = (await deps.db.query<DigestItem>(sql.take, [...at, ctx.job.id])).rows;
    await deps.db.query(sql.tidy, at);
    const facts = (await deps.db.query<FactsRow>(sql.facts, [p.recipientId, p.type])).rows[0];
    const newest = items.at(-1);
    // Nothing held (sent by another job of the window, cancelled), or the recipient erased.
    if (!newest || !facts) return ctx.log.debug({ digest: p }, 'digest:empty');
    const ids = items.map((i) => i.id);
    const definition = facts.definition;
    if (!definition) {
      const error = `type "${p.type}" was deleted`;
      return finish(p.channel, ids, { status: 'failed', reason: 'unknown_type', error });
    }

    const unsubscribeUrl =
      p.channel === 'email'
        ? await deps.unsubscribe.url({ recipientId: p.recipientId, type: p.type })
        : undefined;
    const base = {
      recipient: recipientData({ ...facts, recipient_id: p.recipientId }),
      ...(unsubscribeUrl !== undefined ? { unsubscribeUrl } : {}),
    };
    const parts = await deps.templateParts.current();
    const rendered = renderDigest(definition, p.channel, items, base, facts.locale, parts);
    if ('error' in rendered) {
      return finish(p.channel, ids, { status: 'failed', reason: 'render_error', ...rendered });
    }
    for (const [id, error] of rendered.failed)
      await finish(p.channel, [id], { status: 'failed', reason: 'render_error', error });
    const sending = items.filter((i) => !rendered.failed.has(i.id));
    const first = sending[0];
    if (!first) return;
    const sendIds = sending.map((i) => i.id);

    let extras;
    if (p.channel === 'email') {
      try {
        const own = unsubscribeHeaders(definition.category === 'marketing', unsubscribeUrl);
        extras = emailExtras(rendered.content, null, own);
      } catch (err) {
        if (!(err instanceof ValidationError)) throw err;
        const error = err.message;
        return finish(p.channel, sendIds, { status: 'failed', reason: 'render_error', error });
      }
    }
    const last = sending.at(-1) as DigestItem;
    // The message stands for all of them: the first delivery's id (Message-ID, idempotency
    // keys), the newest notification, the highest priority; a webhook gets the list as data.
    const row: SendRow = {
      id: first.id,
      channel: p.channel,
      notification_id: last.notification_id,
      type: p.type,
      recipient_id: p.recipientId,
      priority: sending.reduce<Priority>(
        (top, i) => (PRIORITY_RANK[i.priority] > PRIORITY_RANK[top] ? i.priority : top),
        'low',
      ),
      created_at: last.created_at,
      data: { items: sending.map(itemData), count: sending.length, window: last.window_kind },
      email: facts.email,
      phone: facts.phone,
      webhook_url: facts.webhook_url,
      slack_webhook_url: facts.slack_webhook_url,
    };
    const outcome = await sender.send(row, definition, rendered.content, extras, ctx);
    if (outcome.status === 'retry') {
      await sender.recordRetry(sendIds, outcome.detail);
      ctx.log.warn({ digest: p, deliveries: sendIds.length, err: outcome.detail }, 'digest:retry');
      throw outcome.error;
    }
    const digest = { count: sendIds.length, window: last.window_kind, sendAt: p.sendAt };
    await finish(
      p.channel,
      sendIds,
      outcome.status === 'sent'
        ? { ...outcome, reason: 'digested', details: { ...outcome.details, digest } }
        : outcome,
    );
    ctx.log.debug({ digest: p, deliveries: sendIds.length, status: outcome.status }, 'digest:done');
  };
}

/** An item of `items`: the notification's data, with `notification` unless it has its own. */
function itemData(item: DigestItem): Record<string, unknown> {
  if ('notification' in item.data) return item.data;
  const notification = {
    id: item.notification_id,
    createdAt: new Date(item.created_at).toISOString(),
    priority: item.priority,
  };
  return { ...item.data, notification };
}

/**
 * The digest's content for `channel`, or the render error that fails all of it.
 *
 * With a digest template (`digestTemplates`, `digestLocales`): rendered with the newest
 * notification's data, `base` (recipient, unsubscribeUrl), `items`, `count` and `window`.
 * Without: each item renders with the type's own templates, as it would alone, and the results
 * are joined (joinRendered); an item that fails to render is left out and `failed` names it.
 */
export function renderDigest(
  type: TypeDefinition,
  channel: Channel,
  items: DigestItem[],
  base: Record<string, unknown>,
  locale: string | null,
  parts: RenderParts,
): { content: Record<string, string>; failed: Map<string, string> } | { error: string } {
  const newest = items.at(-1);
  const data = {
    ...newest?.data,
    ...base,
    items: items.map(itemData),
    count: items.length,
    window: newest?.window_kind,
  };
  const failed = new Map<string, string>();
  try {
    if (channel !== 'inapp' && type.digestTemplates?.[channel]) {
      const digestType = {
        ...type,
        templates: type.digestTemplates,
        locales: type.digestLocales ?? {},
      };
      return { content: render(digestType, channel, data, locale, parts), failed };
    }
    const alone = { ...type, layout: false as const };
    const each: Record<string, string>[] = [];
    for (const item of items) {
      try {
        each.push(render(alone, channel, { ...item.data, ...base }, locale, parts));
      } catch (err) {
        if (!(err instanceof ValidationError)) throw err;
        failed.set(item.id, err.message);
      }
    }
    const content = joinRendered(each);
    // The email layout wraps the joined body once, not each item.
    const wrap = Object.fromEntries(
      ['html', 'text'].filter((f) => f in content).map((f) => [f, `{{{digest.${f}}}}`]),
    );
    if (channel === 'email' && each.length > 0 && layoutFor(type, parts)) {
      const once = { ...type, templates: { email: wrap as { subject: string } }, locales: {} };
      Object.assign(content, render(once, 'email', { ...data, digest: content }, locale, parts));
    }
    return { content, failed };
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    return { error: err.message };
  }
}

const HEADINGS = new Set(['subject', 'title']);
const SEPARATORS: Record<string, string> = { html: '\n<hr>\n', text: '\n\n', body: '\n\n' };
/** Slack takes at most 50 blocks in a message. */
const MAX_SLACK_BLOCKS = 50;

/**
 * The items' rendered fields as one message: subjects and titles are the first item's with
 * ` (+N more)`; html, text and bodies are joined in order (html with `<hr>`); Slack blocks are
 * concatenated (at most 50); any other field (Reply-To, headers, a WhatsApp template) is the
 * first item's.
 */
export function joinRendered(each: Record<string, string>[]): Record<string, string> {
  const more = each.length - 1;
  const out: Record<string, string> = {};
  for (const field of new Set(each.flatMap((c) => Object.keys(c)))) {
    const values = each.flatMap((c) => (c[field] === undefined ? [] : [c[field]]));
    const first = values[0] ?? '';
    const separator = SEPARATORS[field];
    if (field === 'blocks') out[field] = joinBlocks(values);
    else if (HEADINGS.has(field)) out[field] = more > 0 ? `${first} (+${more} more)` : first;
    else if (separator !== undefined) out[field] = values.join(separator);
    else out[field] = first;
  }
  return out;
}

function joinBlocks(values: string[]): string {
  const arrays: unknown[][] = [];
  for (const v of values) {
    try {
      const parsed: unknown = JSON.parse(v);
      if (!Array.isArray(parsed)) return values[0] ?? '[]';
      arrays.push(parsed);
    } catch {
      // Not JSON: sent as the first item's, for Slack to refuse as it would refuse it alone.
      return values[0] ?? '[]';
    }
  }
  return JSON.stringify(arrays.flat().slice(0, MAX_SLACK_BLOCKS));
}

function digestPayload(payload: unknown): DigestJobPayload {
  const p = payload as Partial<DigestJobPayload> | null;
  const fields = ['recipientId', 'type', 'channel', 'sendAt'] as const;
  if (!p || fields.some((f) => typeof p[f] !== 'string') || Number.isNaN(Date.parse(p.sendAt!)))
    throw new PermanentError(`a digest job needs ${fields.join(', ')} (strings)`);
  if (!CHANNELS.includes(p.channel as Channel) || p.channel === 'inapp')
    throw new PermanentError(`a digest job cannot send on channel ${String(p.channel)}`);
  return p as DigestJobPayload;
}

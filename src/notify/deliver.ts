/**
 * The `deliver` job: render one delivery and hand it to its channel's provider, then record
 * what happened. The reads and writes of deliveries that run together are batched (db/batch.ts),
 * so a worker running 100 deliveries makes two statements, not 200.
 *
 * Outcomes (see channels/provider.ts for how providers classify errors):
 * - sent: the provider accepted it; its message id is kept.
 * - failed: a permanent error, a render error, or the last attempt's transient error.
 * - a transient error before the last attempt: recorded as an event, then retried with backoff;
 *   rate-limited: retried after the provider's Retry-After.
 * A delivery that is no longer `queued` when its job runs (cancelled, erased) is left alone.
 *
 * Sending a rendered message and recording outcomes (`makeSender`) is shared with the digest job
 * (notify/digests.ts), which sends one message for many held deliveries.
 */
import type { Db } from '../db/db.js';
import { makeBatcher } from '../db/batch.js';
import { quoteIdent } from '../db/sql.js';
import { ValidationError, toError } from '../errors.js';
import { redact } from '../obs/redact.js';
import type { Logger } from '../obs/log.js';
import type { Metrics, SendOutcomeLabel } from '../obs/metrics.js';
import { RetryLaterError } from '../queue/errors.js';
import type { JobContext, JobHandler } from '../queue/worker.js';
import {
  isProviderError,
  type OutboundMessage,
  type Provider,
  type PushDevice,
} from '../channels/provider.js';
import type { RateLimiter } from '../channels/rate-limit.js';
import type { Providers } from '../channels/registry.js';
import {
  emailExtras,
  withoutOverridden,
  type EmailExtras,
  type EmailOptions,
} from './email-options.js';
import { render } from './render.js';
import { hookDelivery, type HookRow } from './hook-urls.js';
import type { Channel, TypeDefinition } from './types.js';
import type { Unsubscribe } from './unsubscribe.js';
import type { TemplateParts } from './template-parts.js';
import { createdChangeSql } from './inbox-changes.js';

export interface DeliverDeps {
  db: Db;
  schema: string;
  providers: Providers;
  unsubscribe: Unsubscribe;
  emailFrom: string;
  /** Keep each sent message's rendered content on its delivery (HERALD_KEEP_CONTENT). */
  keepContent?: boolean;
  log: Logger;
  /** Told each outcome and the time of each provider call (obs/metrics.ts). */
  metrics?: Pick<Metrics, 'countDelivery' | 'observeSend'>;
  /** Layouts and partials (cached; see template-parts.ts for how fresh). */
  templateParts: TemplateParts;
  /** Per-provider send-rate limits shared by all workers (none: unlimited). */
  rateLimiter?: RateLimiter;
  /** The fallback provider of each channel (a type's own `fallback` wins). */
  fallback?: Partial<Record<Channel, string | undefined>>;
  /** Failed attempts of the primary provider after which the fallback sends. Default 2. */
  failoverAfter?: number;
  /** Told after new inbox items were committed, with their recipients (the real-time hub). */
  inboxChanged?: (recipientIds: string[]) => void;
}

interface DeliveryRow {
  id: string;
  channel: Channel;
  status: string;
  notification_id: string;
  type: string;
  data: Record<string, unknown>;
  recipient_id: string | null;
  priority: 'low' | 'normal' | 'high' | 'urgent';
  email: string | null;
  phone: string | null;
  locale: string | null;
  timezone: string | null;
  recipient_data: Record<string, unknown> | null;
  /** The trigger's email options: Reply-To, headers, attachments (email-options.ts). */
  email_options: EmailOptions | null;
  definition: TypeDefinition | null;
  webhook_url: string | null;
  slack_webhook_url: string | null;
  created_at: Date;
}

export interface Outcome {
  id: string;
  status: 'sent' | 'failed' | 'skipped';
  reason?: string | null;
  provider?: string | null;
  providerMessageId?: string | null;
  address?: string | null;
  error?: string | null;
  /** For inapp: the rendered inbox item, stored on the notification. */
  inbox?: Record<string, string> | null;
  /** What the provider reported beyond its message id. */
  details?: Record<string, unknown> | null;
  /** The rendered message as sent (HERALD_KEEP_CONTENT), shown on the console's timeline. */
  content?: Record<string, string> | null;
}

/** What sending needs of a delivery: its row, or the digest job's stand-in for its message. */
export type SendRow = HookRow & Pick<DeliveryRow, 'channel' | 'email' | 'phone'>;

/** What sending came to: an outcome to record, or a transient failure to retry by throwing `error`. */
export type SendOutcome =
  Omit<Outcome, 'id'> | { status: 'retry'; provider: string; detail: string; error: Error };

/** The template data every message has of its recipient. */
export function recipientData(
  row: Pick<
    DeliveryRow,
    'recipient_id' | 'email' | 'phone' | 'locale' | 'timezone' | 'recipient_data'
  >,
) {
  return {
    id: row.recipient_id,
    email: row.email,
    phone: row.phone,
    locale: row.locale,
    timezone: row.timezone,
    data: row.recipient_data ?? {},
  };
}

/** RFC 8058 one-click unsubscribe headers, which marketing email carries. */
export function unsubscribeHeaders(
  marketing: boolean,
  unsubscribeUrl: string | undefined,
): Record<string, string> {
  return marketing && unsubscribeUrl
    ? {
        'List-Unsubscribe': `<${unsubscribeUrl}>`,
        'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
      }
    : {};
}

/**
 * Sending rendered content through the channel's provider (with failover and the rate limiter),
 * and recording outcomes and retries, batched.
 */
export function makeSender(deps: DeliverDeps) {
  const s = quoteIdent(deps.schema);

  // One statement records a batch of outcomes and, for inapp, puts the item in the inbox.
  const record = makeBatcher<Outcome, void>(
    async (outcomes) => {
      const col = <K extends keyof Outcome>(k: K) => outcomes.map((o) => o[k] ?? null);
      const { rows } = await deps.db.query<{ recipient_id: string }>(
        `WITH u AS (
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])
           AS u (id, status, reason, provider, provider_message_id, address, error, inbox, details, content)
       ), d AS (
         UPDATE ${s}.deliveries d SET status = u.status, reason = u.reason, provider = u.provider,
           provider_message_id = u.provider_message_id, address = u.address, error = u.error,
           details = u.details::jsonb, content = coalesce(u.content::jsonb, d.content),
           attempts = d.attempts + 1, updated_at = now(),
           sent_at = CASE WHEN u.status = 'sent' THEN now() END,
           events = d.events || jsonb_build_array(jsonb_build_object(
             'at', now(), 'status', u.status, 'detail', coalesce(u.error, u.reason, u.provider)))
         FROM u WHERE d.id = u.id
         RETURNING d.notification_id, u.inbox
       ), n AS (
         -- Once: a delivery sent again (its first completion lost) leaves the item as it was.
         UPDATE ${s}.notifications n SET inbox = d.inbox::jsonb, inbox_at = now()
         FROM d WHERE n.id = d.notification_id AND d.inbox IS NOT NULL
           AND n.inbox_at IS NULL AND n.recipient_id IS NOT NULL
         RETURNING n.id, n.recipient_id
       ), ${createdChangeSql(deps.schema)}`,
        [
          col('id'),
          col('status'),
          col('reason'),
          col('provider'),
          col('providerMessageId'),
          col('address'),
          col('error'),
          outcomes.map((o) => (o.inbox ? JSON.stringify(o.inbox) : null)),
          outcomes.map((o) => (o.details ? JSON.stringify(o.details) : null)),
          outcomes.map((o) => (o.content ? JSON.stringify(o.content) : null)),
        ],
      );
      if (rows.length > 0) deps.inboxChanged?.([...new Set(rows.map((r) => r.recipient_id))]);
      return outcomes.map(() => undefined);
      // Outcomes arrive one SMTP reply at a time: a 2 ms window makes batches of tens, not ones.
    },
    { delayMs: 2 },
  );

  // The active devices of the recipients of the push deliveries running together, in one query.
  const activeDevices = makeBatcher<string, PushDevice[]>(async (recipientIds) => {
    const { rows } = await deps.db.query<PushDevice & { recipient_id: string }>(
      `SELECT id::text AS id, recipient_id, kind, address, subscription FROM ${s}.devices
       WHERE recipient_id = ANY($1::text[]) AND active ORDER BY id`,
      [recipientIds],
    );
    const byRecipient = new Map<string, PushDevice[]>();
    for (const { recipient_id, ...device } of rows)
      byRecipient.set(recipient_id, [...(byRecipient.get(recipient_id) ?? []), device]);
    return recipientIds.map((id) => byRecipient.get(id) ?? []);
  });

  /**
   * The channel's primary provider, or its fallback once the primary has failed
   * `failoverAfter` attempts of this delivery: the type's own fallback if this process has it
   * configured, else the channel's configured one, else the primary again.
   */
  function chooseProvider(channel: Channel, definition: TypeDefinition, attempt: number) {
    const primary = deps.providers.get(channel);
    if (attempt <= (deps.failoverAfter ?? 2)) return primary;
    const fallbacks: Partial<Record<string, string>> = definition.fallback ?? {};
    const own = fallbacks[channel];
    for (const name of [own, deps.fallback?.[channel]]) {
      const fallback = name ? deps.providers.named(channel, name) : undefined;
      if (fallback) return fallback;
    }
    return primary;
  }

  /** A transient failure that will be retried: counted and kept in the history. */
  async function recordRetry(ids: string[], error: string): Promise<void> {
    await deps.db.query(
      `UPDATE ${s}.deliveries SET attempts = attempts + 1, error = $2, updated_at = now(),
         events = events || jsonb_build_array(jsonb_build_object('at', now(), 'status', 'retrying', 'detail', $2::text))
       WHERE id = ANY($1::uuid[])`,
      [ids, error],
    );
  }

  /** Sends `content` (rendered for `row`) and says what came of it; records nothing. */
  async function send(
    row: SendRow,
    definition: TypeDefinition,
    content: Record<string, string>,
    extras: EmailExtras | undefined,
    ctx: JobContext,
  ): Promise<SendOutcome> {
    const id = row.id;
    const provider = chooseProvider(row.channel, definition, ctx.job.attempts);
    if (!provider) return { status: 'skipped', reason: 'no_provider' };
    let message: OutboundMessage;
    let address: string | null;
    if (row.channel === 'push') {
      // Every active device of the recipient; the push provider fans out (channels/push).
      const devices = row.recipient_id === null ? [] : await activeDevices(row.recipient_id);
      if (devices.length === 0) return { status: 'skipped', reason: 'no_address' };
      address = `${devices.length} device(s)`;
      message = { channel: 'push', deliveryId: id, devices, content, priority: row.priority };
    } else if (row.channel === 'webhook' || row.channel === 'slack') {
      // The recipient's URL, else the type's (notify/hook-urls.ts).
      const hook = hookDelivery(row.channel, row, definition, content);
      if (!hook) return { status: 'skipped', reason: 'no_address' };
      ({ address, message } = hook);
    } else {
      address = row.channel === 'email' ? row.email : row.phone;
      if (!address) return { status: 'skipped', reason: 'no_address' };
      message =
        row.channel === 'email'
          ? {
              channel: 'email',
              deliveryId: id,
              from: deps.emailFrom,
              to: address,
              subject: content.subject ?? '',
              ...(content.html !== undefined ? { html: content.html } : {}),
              ...(content.text !== undefined ? { text: content.text } : {}),
              ...(extras ?? { headers: {} }),
            }
          : { channel: row.channel, deliveryId: id, to: address, content };
    }

    // Waits for this provider's next send slot, or defers the job (uncounted) when it is far.
    await deps.rateLimiter?.take(provider.name, ctx.signal);
    // When the send began, by this process's clock (what a rate limit holds to; arrivals at
    // the provider add the network's jitter).
    ctx.log.debug({ deliveryId: id, provider: provider.name }, 'delivery:sending');
    return transmit(provider, message, address, ctx, [row.email, row.phone], deps.metrics);
  }

  return { record, recordRetry, send };
}

/** What one provider call came to, as the send-time histogram's `outcome` label. */
function outcomeOf(err: Error | undefined): SendOutcomeLabel {
  if (!err) return 'sent';
  if (isProviderError(err, 'permanent')) return 'permanent_error';
  return isProviderError(err, 'rate_limited') ? 'rate_limited' : 'transient_error';
}

/**
 * Hands `message` to `provider` and classifies what happened (channels/provider.ts); the call's
 * time and outcome go to `metrics`.
 */
async function transmit(
  provider: Provider,
  message: OutboundMessage,
  address: string,
  ctx: JobContext,
  known: readonly (string | null)[],
  metrics: DeliverDeps['metrics'],
): Promise<SendOutcome> {
  const started = performance.now();
  const observe = (err?: Error) =>
    metrics?.observeSend(
      message.channel,
      provider.name,
      outcomeOf(err),
      (performance.now() - started) / 1_000,
    );
  try {
    const sent = await provider.send(message, ctx.signal);
    observe();
    return {
      status: 'sent',
      provider: provider.name,
      providerMessageId: sent.providerMessageId,
      details: sent.details ?? null,
      address,
    };
  } catch (thrown) {
    const err = toError(thrown);
    observe(err);
    // Providers quote what they refused (the address, the number): keep it out of
    // deliveries.error, jobs.last_error and the log (obs/redact.ts).
    const detail = `${provider.name}: ${redact(err.message, [address, ...known])}`;
    const failed = { status: 'failed', provider: provider.name, address, error: detail } as const;
    if (isProviderError(err, 'permanent')) return { ...failed, reason: 'permanent_error' };
    if (ctx.job.attempts >= ctx.job.maxAttempts) return { ...failed, reason: 'retries_exhausted' };
    // The queue records the error it is thrown: a new one with the redacted text (the
    // original's stack repeats the original message).
    const error = isProviderError(err, 'rate_limited')
      ? new RetryLaterError(err.retryAfterMs ?? 60_000, detail)
      : Object.assign(new Error(detail), { name: err.name });
    return { status: 'retry', provider: provider.name, detail, error };
  }
}

export function makeDeliver(deps: DeliverDeps): JobHandler {
  const s = quoteIdent(deps.schema);
  const load = makeBatcher<string, DeliveryRow | undefined>(async (ids) => {
    const { rows } = await deps.db.query<DeliveryRow>(
      `SELECT d.id, d.channel, d.status, n.id AS notification_id, n.type, n.data, n.recipient_id, n.priority, n.email AS email_options,
         r.email, r.phone, r.locale, r.timezone, r.data AS recipient_data, t.definition,
         r.webhook_url, r.slack_webhook_url, n.created_at
       FROM ${s}.deliveries d
       JOIN ${s}.notifications n ON n.id = d.notification_id
       LEFT JOIN ${s}.recipients r ON r.id = n.recipient_id
       LEFT JOIN ${s}.notification_types t ON t.name = n.type
       WHERE d.id = ANY($1::uuid[])`,
      [ids],
    );
    const byId = new Map(rows.map((r) => [r.id, r]));
    return ids.map((id) => byId.get(id));
  });

  const sender = makeSender(deps);

  return async (payload: { deliveryId: string }, ctx: JobContext) => {
    const row = await load(payload.deliveryId);
    if (!row || row.status !== 'queued' || row.recipient_id === null) return;
    const id = row.id;
    const channel = row.channel;
    const done = (outcome: Outcome) => {
      deps.metrics?.countDelivery(
        channel,
        outcome.provider ?? null,
        outcome.status,
        outcome.reason ?? null,
      );
      // A failure is worth a line of its own; its error was redacted where it was made.
      if (outcome.status === 'failed') {
        const { provider = null, reason = null, error = null } = outcome;
        ctx.log.info({ deliveryId: id, channel, provider, reason, err: error }, 'delivery:failed');
      }
      return sender.record(outcome);
    };
    if (!row.definition) {
      return done({
        id,
        status: 'failed',
        reason: 'unknown_type',
        error: `type "${row.type}" was deleted`,
      });
    }
    const data: Record<string, unknown> = { ...row.data, recipient: recipientData(row) };
    const marketing = row.definition.category === 'marketing';
    let unsubscribeUrl: string | undefined;
    if (row.channel === 'email') {
      unsubscribeUrl = await deps.unsubscribe.url({
        recipientId: row.recipient_id,
        type: row.type,
      });
      data.unsubscribeUrl = unsubscribeUrl;
    }
    let content: Record<string, string>;
    let extras: EmailExtras | undefined;
    try {
      content = render(
        row.channel === 'email'
          ? withoutOverridden(row.definition, row.email_options)
          : row.definition,
        row.channel,
        data,
        row.locale,
        await deps.templateParts.current(),
      );
      // Reply-To, headers and attachments: the template's, the trigger's over them, ours last.
      if (row.channel === 'email') {
        const own = unsubscribeHeaders(marketing, unsubscribeUrl);
        extras = emailExtras(content, row.email_options, own);
      }
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      return done({ id, status: 'failed', reason: 'render_error', error: err.message });
    }
    if (row.channel === 'inapp') {
      return done({ id, status: 'sent', provider: 'inbox', inbox: content });
    }

    const outcome = await sender.send(row, row.definition, content, extras, ctx);
    if (outcome.status !== 'retry')
      return done({ id, ...outcome, ...(deps.keepContent ? { content } : {}) });
    await sender.recordRetry([id], outcome.detail);
    ctx.log.warn({ deliveryId: id, err: outcome.detail }, 'delivery:retry');
    throw outcome.error;
  };
}

/**
 * The SendGrid email provider: v3 Mail Send, `POST {url}/v3/mail/send`
 * (https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send) with
 * `Authorization: Bearer SG....` and a JSON body of personalizations, from, subject and content
 * (text/plain before text/html, as SendGrid requires). SendGrid answers `202 Accepted` with an
 * empty body and the message id in the `X-Message-Id` header.
 *
 * Contract: `send` resolves with the `X-Message-Id` once SendGrid accepted the message, or
 * throws a `ProviderError` from `classifySendGridFailure`. It never retries by itself. SendGrid
 * has no idempotency key; the delivery id travels as the custom arg `herald_delivery_id`, which
 * SendGrid's event webhook sends back with every event. Reply-To goes as `reply_to: {email,
 * name}`, attachments as `attachments` (base64 `content`, `type`, `disposition` inline with a
 * `content_id`, else attachment; SendGrid: at most 30 MB per message).
 */
import type { HeraldConfig } from '../../config.js';
import type { Logger } from '../../obs/log.js';
import {
  ProviderError,
  type OutboundMessage,
  type Provider,
  type ProviderErrorKind,
  type SendResult,
} from '../provider.js';
import {
  isHttpAnswer,
  joinUrl,
  noAnswerToProviderError,
  postJson,
  retryAfterOf,
  type FetchFn,
} from '../http.js';
import { DEFAULT_EMAIL_FROM, asEmail } from './message.js';

export const SENDGRID_DEFAULT_URL = 'https://api.sendgrid.com';

export interface SendGridProviderOptions {
  /** An API key with Mail Send access, `SG....` (Settings → API Keys). */
  apiKey: string;
  /** The API's base URL. Default `https://api.sendgrid.com` (EU: `https://api.eu.sendgrid.com`). */
  url?: string;
  /** Sender for messages whose `from` is empty; must be a verified sender or domain. */
  from?: string;
  /** A request without an answer after this long is abandoned (transient). Default 30 s. */
  timeoutMs?: number;
  log: Logger;
  /** The fetch to use. Default the global one. */
  fetch?: FetchFn;
}

/** SendGrid's error body: `{ errors: [{ message, field, help }] }`. */
interface SendGridErrorBody {
  errors?: { message?: string; field?: string | null }[];
}

/** `Name <a@b>` → `{ email, name }`, the shape SendGrid wants for `from`. */
export function sendGridAddress(mailbox: string): { email: string; name?: string } {
  const m = /^\s*(.*?)\s*<([^<>]+)>\s*$/.exec(mailbox);
  if (!m) return { email: mailbox.trim() };
  const name = (m[1] ?? '').replace(/^"(.*)"$/, '$1').replace(/\\(["\\])/g, '$1');
  return name ? { email: (m[2] as string).trim(), name } : { email: (m[2] as string).trim() };
}

/**
 * The one place a failed SendGrid send becomes a `ProviderError`:
 *
 * - no answer (refused, reset, timeout): transient;
 * - 429: rate_limited after `Retry-After`, else 60 s (SendGrid also sends
 *   `X-RateLimit-Reset`, an epoch second, used when Retry-After is absent);
 * - 408, 5xx: transient;
 * - 401 (bad key) and 403 (key without Mail Send access, unverified sender, temporary block):
 *   transient, as for SMTP credentials: every message would fail the same way until the
 *   operator acts, and none should be lost meanwhile;
 * - any other 4xx (400 invalid field or address, 413 too large): permanent.
 *
 * `providerCode` is the HTTP status, with the first error's `field` (`400/from.email`).
 */
export function classifySendGridFailure(failure: unknown): ProviderError {
  if (!isHttpAnswer(failure)) return noAnswerToProviderError(failure);
  const status = failure.status;
  const errors = ((failure.json ?? {}) as SendGridErrorBody).errors ?? [];
  const field = errors[0]?.field;
  const code = field ? `${status}/${field}` : String(status);
  const what = errors
    .map((e) => (e.field ? `${e.field}: ${e.message ?? ''}` : (e.message ?? '')))
    .join('; ');
  const message = `SendGrid answered ${status}: ${what || failure.text.slice(0, 200) || '(no body)'}`;
  const make = (kind: ProviderErrorKind, retryAfterMs?: number) =>
    new ProviderError(kind, message, retryAfterMs, code);
  if (status === 429) {
    const reset = Number(failure.headers.get('x-ratelimit-reset'));
    const untilReset =
      !failure.headers.has('retry-after') && reset > 0
        ? Math.max(0, reset * 1000 - Date.now())
        : undefined;
    return make('rate_limited', untilReset ?? retryAfterOf(failure));
  }
  if (status === 408 || status === 401 || status === 403 || status >= 500) return make('transient');
  return make('permanent');
}

export function makeSendGridProvider(options: SendGridProviderOptions): Provider {
  const endpoint = joinUrl(options.url ?? SENDGRID_DEFAULT_URL, '/v3/mail/send');
  const defaultFrom = options.from ?? DEFAULT_EMAIL_FROM;
  const log = options.log.child({ provider: 'sendgrid' });
  return {
    name: 'sendgrid',
    channel: 'email',
    async send(message: OutboundMessage, signal?: AbortSignal): Promise<SendResult> {
      const email = asEmail(message, 'sendgrid');
      // Plain text first: SendGrid refuses content whose first entry is not text/plain.
      const content = [
        ...(email.text ? [{ type: 'text/plain', value: email.text }] : []),
        ...(email.html ? [{ type: 'text/html', value: email.html }] : []),
      ];
      let answer;
      try {
        answer = await postJson({
          url: endpoint,
          headers: { authorization: `Bearer ${options.apiKey}` },
          body: {
            personalizations: [{ to: [{ email: email.to }] }],
            from: sendGridAddress(email.from || defaultFrom),
            subject: email.subject,
            content,
            ...(Object.keys(email.headers).length > 0 ? { headers: email.headers } : {}),
            ...(email.replyTo !== undefined ? { reply_to: sendGridAddress(email.replyTo) } : {}),
            ...(email.attachments?.length
              ? {
                  attachments: email.attachments.map((a) => ({
                    content: a.content,
                    filename: a.filename,
                    type: a.contentType,
                    disposition: a.contentId !== undefined ? 'inline' : 'attachment',
                    ...(a.contentId !== undefined ? { content_id: a.contentId } : {}),
                  })),
                }
              : {}),
            custom_args: { herald_delivery_id: email.deliveryId },
          },
          ...(options.fetch ? { fetch: options.fetch } : {}),
          ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
          ...(signal ? { signal } : {}),
        });
      } catch (err) {
        throw classifySendGridFailure(err);
      }
      if (answer.status < 200 || answer.status >= 300) throw classifySendGridFailure(answer);
      // Accepted is accepted: a missing id must not make a retry send the message twice.
      const id = answer.headers.get('x-message-id') ?? '';
      if (!id) log.warn({ deliveryId: email.deliveryId }, 'sendgrid:no-message-id');
      log.debug({ deliveryId: email.deliveryId, id }, 'sendgrid:sent');
      return { providerMessageId: id };
    },
  };
}

/** The settings the SendGrid provider reads. */
export type SendGridConfig = Pick<HeraldConfig, 'sendgridApiKey' | 'sendgridUrl' | 'emailFrom'>;

/** The SendGrid provider when `sendgridApiKey` (HERALD_SENDGRID_API_KEY) is set, else undefined. */
export function sendgridFromConfig(config: SendGridConfig, log: Logger): Provider | undefined {
  if (!config.sendgridApiKey) return undefined;
  return makeSendGridProvider({
    apiKey: config.sendgridApiKey,
    ...(config.sendgridUrl ? { url: config.sendgridUrl } : {}),
    from: config.emailFrom,
    log,
  });
}

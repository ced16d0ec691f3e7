/**
 * The Resend email provider: `POST {url}/emails` (https://resend.com/docs/api-reference/emails/send-email)
 * with `Authorization: Bearer re_...` and a JSON body; Resend answers `200 {"id": "..."}`.
 *
 * Contract: `send` resolves with Resend's email id once Resend accepted the message, or throws a
 * `ProviderError` from `classifyResendFailure`. It never retries by itself. Every attempt of a
 * delivery carries `Idempotency-Key: <deliveryId>`, so a retry after a lost answer is not sent
 * twice (Resend keeps keys for 24 hours), and a `herald_delivery_id` tag that comes back in
 * Resend's webhooks. Reply-To goes as `reply_to`, attachments as `attachments` with base64
 * `content`, `content_type` and, for inline images, `content_id` (Resend: at most 40 MB per
 * email after base64).
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

export const RESEND_DEFAULT_URL = 'https://api.resend.com';

export interface ResendProviderOptions {
  /** An API key with sending access, `re_...` (Resend dashboard → API Keys). */
  apiKey: string;
  /** The API's base URL. Default `https://api.resend.com`. */
  url?: string;
  /** Sender for messages whose `from` is empty; its domain must be verified in Resend. */
  from?: string;
  /** A request without an answer after this long is abandoned (transient). Default 30 s. */
  timeoutMs?: number;
  log: Logger;
  /** The fetch to use. Default the global one. */
  fetch?: FetchFn;
}

/** Resend's error body: `{ statusCode, name, message }` (https://resend.com/docs/api-reference/errors). */
interface ResendErrorBody {
  statusCode?: number;
  name?: string;
  message?: string;
}

// Resend error names that say "not now" or "not with this key", not "not this message".
const TRANSIENT_NAMES = new Set([
  'concurrent_idempotent_requests',
  'missing_api_key',
  'restricted_api_key',
  'invalid_api_key',
]);

/**
 * The one place a failed Resend send becomes a `ProviderError`:
 *
 * - no answer (refused, reset, timeout): transient;
 * - 429 (`rate_limit_exceeded`, `daily_quota_exceeded`...): rate_limited after `Retry-After`,
 *   else 60 s;
 * - 408, 5xx, and 409 `concurrent_idempotent_requests` (the first attempt of this delivery is
 *   still being processed; Resend says to try again later): transient;
 * - the key (401 `missing_api_key`, `restricted_api_key`; 403 `invalid_api_key`): transient,
 *   as for SMTP credentials: every message would fail the same way until the operator fixes
 *   the setting, and none should be lost meanwhile;
 * - any other 4xx (`validation_error`, `missing_required_field`...): permanent.
 *
 * `providerCode` is Resend's error `name`, else the HTTP status.
 */
export function classifyResendFailure(failure: unknown): ProviderError {
  if (!isHttpAnswer(failure)) return noAnswerToProviderError(failure);
  const body = (failure.json ?? {}) as ResendErrorBody;
  const status = failure.status;
  const code = typeof body.name === 'string' ? body.name : String(status);
  const message = `Resend answered ${status}${body.name ? ` ${body.name}` : ''}: ${
    typeof body.message === 'string' ? body.message : failure.text.slice(0, 200) || '(no body)'
  }`;
  const make = (kind: ProviderErrorKind, retryAfterMs?: number) =>
    new ProviderError(kind, message, retryAfterMs, code);
  if (status === 429) return make('rate_limited', retryAfterOf(failure));
  if (status === 408 || status >= 500 || TRANSIENT_NAMES.has(code)) return make('transient');
  return make('permanent');
}

export function makeResendProvider(options: ResendProviderOptions): Provider {
  const endpoint = joinUrl(options.url ?? RESEND_DEFAULT_URL, '/emails');
  const defaultFrom = options.from ?? DEFAULT_EMAIL_FROM;
  const log = options.log.child({ provider: 'resend' });
  return {
    name: 'resend',
    channel: 'email',
    async send(message: OutboundMessage, signal?: AbortSignal): Promise<SendResult> {
      const email = asEmail(message, 'resend');
      let answer;
      try {
        answer = await postJson({
          url: endpoint,
          headers: {
            authorization: `Bearer ${options.apiKey}`,
            'idempotency-key': email.deliveryId,
          },
          body: {
            from: email.from || defaultFrom,
            to: [email.to],
            subject: email.subject,
            ...(email.html !== undefined ? { html: email.html } : {}),
            ...(email.text !== undefined ? { text: email.text } : {}),
            ...(email.replyTo !== undefined ? { reply_to: email.replyTo } : {}),
            ...(Object.keys(email.headers).length > 0 ? { headers: email.headers } : {}),
            ...(email.attachments?.length
              ? {
                  attachments: email.attachments.map((a) => ({
                    filename: a.filename,
                    content: a.content,
                    content_type: a.contentType,
                    ...(a.contentId !== undefined ? { content_id: a.contentId } : {}),
                  })),
                }
              : {}),
            tags: [{ name: 'herald_delivery_id', value: email.deliveryId }],
          },
          ...(options.fetch ? { fetch: options.fetch } : {}),
          ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
          ...(signal ? { signal } : {}),
        });
      } catch (err) {
        throw classifyResendFailure(err);
      }
      const id = (answer.json as { id?: unknown } | undefined)?.id;
      if (answer.status < 200 || answer.status >= 300) throw classifyResendFailure(answer);
      if (typeof id !== 'string' || id === '') {
        throw new ProviderError(
          'transient',
          `Resend answered ${answer.status} without an email id: ${answer.text.slice(0, 200)}`,
          undefined,
          'no_id',
        );
      }
      log.debug({ deliveryId: email.deliveryId, id }, 'resend:sent');
      return { providerMessageId: id };
    },
  };
}

/** The settings the Resend provider reads. */
export type ResendConfig = Pick<HeraldConfig, 'resendApiKey' | 'resendUrl' | 'emailFrom'>;

/** The Resend provider when `resendApiKey` (HERALD_RESEND_API_KEY) is set, else undefined. */
export function resendFromConfig(config: ResendConfig, log: Logger): Provider | undefined {
  if (!config.resendApiKey) return undefined;
  return makeResendProvider({
    apiKey: config.resendApiKey,
    ...(config.resendUrl ? { url: config.resendUrl } : {}),
    from: config.emailFrom,
    log,
  });
}

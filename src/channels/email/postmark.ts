/**
 * The Postmark email provider: `POST {url}/email` (https://postmarkapp.com/developer/user-guide/send-email-with-api)
 * with the `X-Postmark-Server-Token` header and a JSON body (From, To, Subject, HtmlBody,
 * TextBody, Headers as `[{Name, Value}]`, MessageStream). Postmark answers
 * `200 {"To", "SubmittedAt", "MessageID", "ErrorCode": 0, "Message": "OK"}`, and errors as
 * `{"ErrorCode": n, "Message": "..."}`, mostly with HTTP 422
 * (https://postmarkapp.com/developer/api/overview#error-codes).
 *
 * Contract: `send` resolves with the `MessageID` once Postmark accepted the message, or throws a
 * `ProviderError` from `classifyPostmarkFailure`. It never retries by itself. Messages with a
 * List-Unsubscribe header (marketing) go to `broadcastStream` when one is set, as Postmark's
 * terms require for bulk mail; the rest go to `messageStream`. The delivery id travels as the
 * metadata `herald_delivery_id`, which Postmark's webhooks send back. Reply-To goes as
 * `ReplyTo`, attachments as `Attachments: [{Name, Content, ContentType, ContentID}]`
 * (Postmark: at most 10 MB per message, base64 included; some file types are refused).
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

export const POSTMARK_DEFAULT_URL = 'https://api.postmarkapp.com';

export interface PostmarkProviderOptions {
  /** The server's API token (Servers → your server → API Tokens). */
  serverToken: string;
  /** The API's base URL. Default `https://api.postmarkapp.com`. */
  url?: string;
  /** Sender for messages whose `from` is empty; must be a confirmed sender signature or domain. */
  from?: string;
  /** The transactional message stream. Default `outbound`. */
  messageStream?: string;
  /** The broadcast stream for marketing (messages with List-Unsubscribe). Default: `messageStream`. */
  broadcastStream?: string;
  /** A request without an answer after this long is abandoned (transient). Default 30 s. */
  timeoutMs?: number;
  log: Logger;
  /** The fetch to use. Default the global one. */
  fetch?: FetchFn;
}

interface PostmarkAnswer {
  ErrorCode?: number;
  Message?: string;
  MessageID?: string;
}

/**
 * Postmark error codes that say the account or server cannot send right now, not that this
 * message is wrong: 10 bad server token, 405 not allowed to send (out of credits), 412 account
 * pending approval.
 * The same message can go once the operator acts.
 */
const POSTMARK_ACCOUNT_CODES = new Set([10, 405, 412]);

/**
 * The one place a failed Postmark send becomes a `ProviderError`:
 *
 * - no answer (refused, reset, timeout): transient;
 * - HTTP 429 (rate limit): rate_limited after `Retry-After`, else 60 s;
 * - HTTP 408, 5xx (500 internal error, 503 maintenance): transient;
 * - ErrorCode 10 (bad or missing server token, HTTP 401), 405/412 (out of credits, account
 *   pending): transient, see above;
 * - any other 4xx, above all 422 with ErrorCode 300 (invalid email request) and 406 (inactive
 *   recipient: bounced, complained or unsubscribed): permanent.
 *
 * `providerCode` is Postmark's `ErrorCode`, else the HTTP status.
 */
export function classifyPostmarkFailure(failure: unknown): ProviderError {
  if (!isHttpAnswer(failure)) return noAnswerToProviderError(failure);
  const body = (failure.json ?? {}) as PostmarkAnswer;
  const status = failure.status;
  const errorCode = typeof body.ErrorCode === 'number' ? body.ErrorCode : undefined;
  const message = `Postmark answered ${status}${errorCode !== undefined ? ` ErrorCode ${errorCode}` : ''}: ${
    typeof body.Message === 'string' ? body.Message : failure.text.slice(0, 200) || '(no body)'
  }`;
  const make = (kind: ProviderErrorKind, retryAfterMs?: number) =>
    new ProviderError(kind, message, retryAfterMs, String(errorCode ?? status));
  if (status === 429) return make('rate_limited', retryAfterOf(failure));
  if (status === 408 || status >= 500) return make('transient');
  if (errorCode !== undefined && POSTMARK_ACCOUNT_CODES.has(errorCode)) return make('transient');
  return make('permanent');
}

export function makePostmarkProvider(options: PostmarkProviderOptions): Provider {
  const endpoint = joinUrl(options.url ?? POSTMARK_DEFAULT_URL, '/email');
  const defaultFrom = options.from ?? DEFAULT_EMAIL_FROM;
  const stream = options.messageStream ?? 'outbound';
  const broadcast = options.broadcastStream ?? stream;
  const log = options.log.child({ provider: 'postmark' });
  return {
    name: 'postmark',
    channel: 'email',
    async send(message: OutboundMessage, signal?: AbortSignal): Promise<SendResult> {
      const email = asEmail(message, 'postmark');
      const headers = Object.entries(email.headers).map(([Name, Value]) => ({ Name, Value }));
      const bulk = Object.keys(email.headers).some((h) => h.toLowerCase() === 'list-unsubscribe');
      let answer;
      try {
        answer = await postJson({
          url: endpoint,
          headers: { 'x-postmark-server-token': options.serverToken },
          body: {
            From: email.from || defaultFrom,
            To: email.to,
            Subject: email.subject,
            ...(email.html !== undefined ? { HtmlBody: email.html } : {}),
            ...(email.text !== undefined ? { TextBody: email.text } : {}),
            ...(email.replyTo !== undefined ? { ReplyTo: email.replyTo } : {}),
            ...(headers.length > 0 ? { Headers: headers } : {}),
            ...(email.attachments?.length
              ? {
                  Attachments: email.attachments.map((a) => ({
                    Name: a.filename,
                    Content: a.content,
                    ContentType: a.contentType,
                    // Postmark's documented form for inline images: "cid:" and the id.
                    ...(a.contentId !== undefined ? { ContentID: `cid:${a.contentId}` } : {}),
                  })),
                }
              : {}),
            Metadata: { herald_delivery_id: email.deliveryId },
            MessageStream: bulk ? broadcast : stream,
          },
          ...(options.fetch ? { fetch: options.fetch } : {}),
          ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
          ...(signal ? { signal } : {}),
        });
      } catch (err) {
        throw classifyPostmarkFailure(err);
      }
      const body = (answer.json ?? {}) as PostmarkAnswer;
      if (answer.status < 200 || answer.status >= 300 || (body.ErrorCode ?? 0) !== 0)
        throw classifyPostmarkFailure(answer);
      const id = typeof body.MessageID === 'string' ? body.MessageID : '';
      if (!id) log.warn({ deliveryId: email.deliveryId }, 'postmark:no-message-id');
      log.debug({ deliveryId: email.deliveryId, id }, 'postmark:sent');
      return { providerMessageId: id };
    },
  };
}

/** The settings the Postmark provider reads. */
export type PostmarkConfig = Pick<
  HeraldConfig,
  | 'postmarkServerToken'
  | 'postmarkUrl'
  | 'postmarkMessageStream'
  | 'postmarkBroadcastStream'
  | 'emailFrom'
>;

/** The Postmark provider when `postmarkServerToken` (HERALD_POSTMARK_SERVER_TOKEN) is set, else undefined. */
export function postmarkFromConfig(config: PostmarkConfig, log: Logger): Provider | undefined {
  if (!config.postmarkServerToken) return undefined;
  return makePostmarkProvider({
    serverToken: config.postmarkServerToken,
    ...(config.postmarkUrl ? { url: config.postmarkUrl } : {}),
    ...(config.postmarkMessageStream ? { messageStream: config.postmarkMessageStream } : {}),
    ...(config.postmarkBroadcastStream ? { broadcastStream: config.postmarkBroadcastStream } : {}),
    from: config.emailFrom,
    log,
  });
}

/**
 * The Amazon SES email provider, API v2 SendEmail: `POST {url}/v2/email/outbound-emails`
 * (https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendEmail.html), signed with AWS
 * Signature Version 4 (sigv4.ts; service `ses`, the configured region). SES answers
 * `200 {"MessageId": "..."}`; errors carry their type in the `x-amzn-ErrorType` header and the
 * body's `__type`, with a `message`.
 *
 * The message goes as `Content.Raw.Data`: the MIME text of mime.ts, base64, the same bytes the
 * SMTP provider sends. Raw rather than `Content.Simple` so every header passes exactly as
 * composed (List-Unsubscribe and List-Unsubscribe-Post for RFC 8058 one-click, the stable
 * Message-ID `<deliveryId@from-domain>` so a retry is recognisable as the same message),
 * Reply-To, custom headers and attachments (inline ones in a multipart/related) pass as they
 * are, and non-ASCII subjects and names are encoded by one tested composer. SES takes raw
 * messages of up to 40 MB; Herald's attachments stay far below (5 MiB).
 *
 * Contract: `send` resolves with SES's MessageId once SES accepted the message, or throws a
 * `ProviderError` from `classifySesFailure`. It never retries by itself.
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
import { DEFAULT_EMAIL_FROM, asEmail, composeEmail, messageIdFor } from './message.js';
import { addressOf } from './mime.js';
import { sha256Hex, signV4 } from './sigv4.js';

/** The regional endpoint, e.g. `https://email.eu-west-1.amazonaws.com`. */
export const sesDefaultUrl = (region: string): string => `https://email.${region}.amazonaws.com`;

export const SES_SEND_PATH = '/v2/email/outbound-emails';

export interface SesProviderOptions {
  /** The AWS region whose SES sends, e.g. `eu-west-1`; also the signing region. */
  region: string;
  /** An IAM access key id (`AKIA...`) allowed `ses:SendEmail`. */
  accessKeyId: string;
  secretAccessKey: string;
  /** The API's base URL. Default `https://email.{region}.amazonaws.com`. */
  url?: string;
  /** Sender for messages whose `from` is empty; its address or domain must be a verified identity. */
  from?: string;
  /** A request without an answer after this long is abandoned (transient). Default 30 s. */
  timeoutMs?: number;
  log: Logger;
  /** The fetch to use. Default the global one. */
  fetch?: FetchFn;
  /** The signing clock. Default now. */
  now?: () => Date;
}

// Not about this message: the account is paused by the operator or AWS, or the request was not
// accepted as ours (keys, clock, policy). Every message would fail alike until someone acts.
const TRANSIENT_TYPES = new Set([
  'SendingPausedException',
  'SignatureDoesNotMatch',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'MissingAuthenticationToken',
  'IncompleteSignature',
  'InvalidSignatureException',
  'AccessDeniedException',
  'ExpiredTokenException',
  'RequestExpired',
  'InternalFailure',
  'ServiceUnavailable',
]);
const RATE_LIMIT_TYPES = new Set([
  'TooManyRequestsException',
  'LimitExceededException',
  'ThrottlingException',
  'Throttling',
]);

/** `MessageRejected:http://internal.amazon.com/...` or `com.amazonaws...#MessageRejected` → `MessageRejected`. */
export function sesErrorType(header: string | null, body: unknown): string | undefined {
  const fromHeader = header?.split(':')[0]?.trim();
  if (fromHeader) return fromHeader;
  const type = (body as { __type?: unknown } | undefined)?.__type;
  return typeof type === 'string' && type !== '' ? (type.split('#').pop() ?? type) : undefined;
}

/**
 * The one place a failed SES send becomes a `ProviderError`:
 *
 * - no answer (refused, reset, timeout): transient;
 * - 429 or `TooManyRequestsException` / `LimitExceededException` (sending rate or daily quota)
 *   / `ThrottlingException`: rate_limited after `Retry-After`, else 60 s;
 * - 408, 5xx (`InternalFailure`, `ServiceUnavailable`): transient;
 * - the credentials or the request signature (any 403: `SignatureDoesNotMatch`,
 *   `InvalidClientTokenId`, `AccessDeniedException` without `ses:SendEmail`, "Signature
 *   expired" for a clock more than 15 minutes off; 400 `RequestExpired`): transient, as the sibling providers treat a rejected key: every
 *   message would fail the same way until the setting is fixed, and none should be lost;
 * - `SendingPausedException` (sending paused for the account or configuration set, by the
 *   operator or by AWS review): transient, it ends when sending is resumed;
 * - `AccountSuspendedException` (AWS says: permanently restricted): permanent, retrying
 *   cannot help and the failures show the code at once;
 * - any other 4xx: `MessageRejected` (content, or an unverified address in the sandbox),
 *   `MailFromDomainNotVerifiedException`, `NotFoundException` (configuration set),
 *   `BadRequestException`: permanent.
 *
 * `providerCode` is SES's error type, else the HTTP status.
 */
export function classifySesFailure(failure: unknown): ProviderError {
  if (!isHttpAnswer(failure)) return noAnswerToProviderError(failure);
  const status = failure.status;
  const type = sesErrorType(failure.headers.get('x-amzn-errortype'), failure.json);
  const body = (failure.json ?? {}) as { message?: unknown; Message?: unknown };
  const text = typeof body.message === 'string' ? body.message : body.Message;
  const message = `SES answered ${status}${type ? ` ${type}` : ''}: ${
    typeof text === 'string' ? text : failure.text.slice(0, 200) || '(no body)'
  }`;
  const make = (kind: ProviderErrorKind, retryAfterMs?: number) =>
    new ProviderError(kind, message, retryAfterMs, type ?? String(status));
  if (status === 429 || (type !== undefined && RATE_LIMIT_TYPES.has(type)))
    return make('rate_limited', retryAfterOf(failure));
  if (status === 408 || status >= 500) return make('transient');
  if (status === 403 || (type !== undefined && TRANSIENT_TYPES.has(type))) return make('transient');
  return make('permanent');
}

export function makeSesProvider(options: SesProviderOptions): Provider {
  const endpoint = joinUrl(options.url ?? sesDefaultUrl(options.region), SES_SEND_PATH);
  const defaultFrom = options.from ?? DEFAULT_EMAIL_FROM;
  const log = options.log.child({ provider: 'ses' });
  return {
    name: 'ses',
    channel: 'email',
    async send(message: OutboundMessage, signal?: AbortSignal): Promise<SendResult> {
      const email = asEmail(message, 'ses');
      const from = email.from || defaultFrom;
      const raw = composeEmail(email, from, messageIdFor(email.deliveryId, from));
      const body = {
        FromEmailAddress: from,
        Destination: { ToAddresses: [addressOf(email.to)] },
        Content: { Raw: { Data: Buffer.from(raw).toString('base64') } },
      };
      const payload = JSON.stringify(body);
      const signed = signV4({
        method: 'POST',
        url: endpoint,
        headers: { 'content-type': 'application/json', 'x-amz-content-sha256': sha256Hex(payload) },
        body: payload,
        region: options.region,
        service: 'ses',
        accessKeyId: options.accessKeyId,
        secretAccessKey: options.secretAccessKey,
        ...(options.now ? { now: options.now() } : {}),
      });
      let answer;
      try {
        answer = await postJson({
          url: endpoint,
          headers: signed.headers,
          body,
          ...(options.fetch ? { fetch: options.fetch } : {}),
          ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
          ...(signal ? { signal } : {}),
        });
      } catch (err) {
        throw classifySesFailure(err);
      }
      if (answer.status < 200 || answer.status >= 300) throw classifySesFailure(answer);
      const id = (answer.json as { MessageId?: unknown } | undefined)?.MessageId;
      if (typeof id !== 'string' || id === '') {
        throw new ProviderError(
          'transient',
          `SES answered ${answer.status} without a MessageId: ${answer.text.slice(0, 200)}`,
          undefined,
          'no_id',
        );
      }
      log.debug({ deliveryId: email.deliveryId, id }, 'ses:sent');
      return { providerMessageId: id };
    },
  };
}

/** The settings the SES provider reads. */
export type SesConfig = Pick<
  HeraldConfig,
  'sesRegion' | 'sesAccessKeyId' | 'sesSecretAccessKey' | 'sesUrl' | 'emailFrom'
>;

/**
 * The SES provider when `sesRegion`, `sesAccessKeyId` and `sesSecretAccessKey`
 * (HERALD_SES_REGION, HERALD_SES_ACCESS_KEY_ID, HERALD_SES_SECRET_ACCESS_KEY) are all set,
 * else undefined.
 */
export function sesFromConfig(config: SesConfig, log: Logger): Provider | undefined {
  if (!config.sesRegion || !config.sesAccessKeyId || !config.sesSecretAccessKey) return undefined;
  return makeSesProvider({
    region: config.sesRegion,
    accessKeyId: config.sesAccessKeyId,
    secretAccessKey: config.sesSecretAccessKey,
    ...(config.sesUrl ? { url: config.sesUrl } : {}),
    from: config.emailFrom,
    log,
  });
}

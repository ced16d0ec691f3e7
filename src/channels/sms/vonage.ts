/**
 * Vonage's SMS API (the classic Nexmo `sms/json` endpoint), for SMS.
 *
 * One send is `POST {url}/sms/json` with a form body: `api_key`, `api_secret`, `from`, `to` (the
 * E.164 number without its `+`), `text`, `type=unicode` when the text is not all GSM-7 (the
 * default type, `text`, is GSM-7 only), and `client-ref` (the delivery id; Vonage returns it in
 * delivery receipts). Vonage answers HTTP 200 even when it
 * refuses the message: `{"message-count": "2", "messages": [{"status": "0", "message-id": ...},
 * ...]}`, one entry per SMS part, `status` "0" when accepted, else a code with `error-text`.
 * The first part's `message-id` is the delivery's provider message id.
 *
 * Contract: `send` resolves once Vonage accepted every part (it is queued there, not yet on the
 * handset), or throws a `ProviderError` from `classifyVonageFailure`. It never retries by itself;
 * a retry sends the whole text again. An SMS recipient that is not an E.164 number fails at once,
 * before any request.
 */
import type { HeraldConfig } from '../../config.js';
import { HeraldError } from '../../errors.js';
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
  noAnswerError,
  postForm,
  retryAfterMs,
  trimBase,
  type HttpAnswer,
} from '../http.js';
import { isE164, smsSegments } from './segments.js';
import { textOf } from './twilio.js';

/** Vonage's public SMS API endpoint. */
export const VONAGE_URL = 'https://rest.nexmo.com';

/** How long a throttled answer without Retry-After waits (Vonage's limit is per second). */
export const VONAGE_RATE_LIMIT_RETRY_MS = 1_000;

/** The longest `client-ref` Vonage takes. */
export const VONAGE_CLIENT_REF_MAX = 100;

export interface VonageOptions {
  /** The account's API key (API Dashboard, API settings). */
  apiKey: string;
  /** The API secret beside it. */
  apiSecret: string;
  /** The sender: a Vonage virtual number (E.164, with or without `+`) or an alphanumeric id. */
  from: string;
  /** The API base URL. Default `https://rest.nexmo.com`. */
  url?: string;
  /** A request not answered in this time fails as transient. Default 10 s. */
  timeoutMs?: number;
  log: Logger;
}

/** One entry of `messages`: a part accepted (status "0") or refused. */
interface VonageMessage {
  to?: string;
  'message-id'?: string;
  status?: string | number;
  'error-text'?: string;
  'remaining-balance'?: string;
  'message-price'?: string;
  network?: string;
}

interface VonageAnswer {
  'message-count'?: string;
  messages?: VonageMessage[];
}

// Slow down: 1 throttled, 10 too many existing binds ("back off and retry").
const RATE_STATUSES = new Set(['1', '10']);
// 5 internal error: it may work later.
const TRANSIENT_STATUSES = new Set(['5']);
// The account, not the message: 4 invalid credentials, 8 account barred, 9 no credit, 11 not
// enabled for HTTP, 14 invalid signature, 32 signature and secret both sent. Every message
// fails the same way until the operator fixes the setting, so none is given up meanwhile.
const SETUP_STATUSES = new Set(['4', '8', '9', '11', '14', '32']);

/**
 * The one place a Vonage failure becomes a `ProviderError`:
 *
 * - no answer (connection refused or reset, DNS, timeout): transient;
 * - status 1 (throttled), 10 (too many binds) or HTTP 429: rate_limited, after Retry-After when
 *   given, else 1 s;
 * - status 5 (internal error), HTTP 408 and 5xx: transient;
 * - status 4, 8, 9, 11, 14, 32 and HTTP 401 / 403 (credentials, account barred, balance, account
 *   setup): transient, as for Twilio's 20003: no message is lost until the setting is fixed;
 * - any other status, e.g. 2 / 3 (missing or invalid parameter), 6 (invalid message: unknown
 *   number prefix), 7 (number barred), 12 (too long), 15 (sender not allowed), 29 (destination
 *   not whitelisted), 33 (number de-activated), and any other HTTP 4xx: permanent.
 *
 * `failure` is what fetch threw, a non-2xx `HttpAnswer`, or a 200 one whose `messages` has a
 * part with a status other than "0" (the first such part decides). `providerCode` is Vonage's
 * status when there is one, else the HTTP status.
 */
export function classifyVonageFailure(failure: unknown): ProviderError {
  if (failure instanceof ProviderError) return failure;
  if (!isHttpAnswer(failure)) return noAnswerError('vonage', failure);
  const wait = () => retryAfterMs(failure.headers.get('retry-after'), VONAGE_RATE_LIMIT_RETRY_MS);
  const { status } = failure;
  const parts = (failure.json as VonageAnswer | undefined)?.messages;
  const refused = Array.isArray(parts)
    ? parts.findIndex((m) => m?.status !== undefined && String(m.status) !== '0')
    : -1;
  if (status >= 200 && status < 300 && parts && refused >= 0) {
    const part = parts[refused] as VonageMessage;
    const code = String(part.status);
    const which = parts.length > 1 ? ` (part ${refused + 1} of ${parts.length})` : '';
    const make = (kind: ProviderErrorKind, retryMs?: number) =>
      new ProviderError(
        kind,
        `vonage status ${code}${which}: ${part['error-text'] ?? 'no error text'}`,
        retryMs,
        code,
      );
    if (RATE_STATUSES.has(code)) return make('rate_limited', wait());
    if (TRANSIENT_STATUSES.has(code) || SETUP_STATUSES.has(code)) return make('transient');
    return make('permanent');
  }
  // An HTTP error, with an RFC 7807 problem ({title, detail}) when Vonage sends one.
  const problem = failure.json as { title?: string; detail?: string } | undefined;
  const text = problem?.detail ?? problem?.title ?? (failure.text.slice(0, 200) || 'no body');
  const make = (kind: ProviderErrorKind, retryMs?: number) =>
    new ProviderError(kind, `vonage ${status}: ${text}`, retryMs, String(status));
  if (status === 429) return make('rate_limited', wait());
  if (status === 401 || status === 403 || status === 408 || status >= 500) return make('transient');
  // Any other 4xx is about the request. A 2xx Herald cannot read (no messages, no message-id:
  // a proxy's page, say) is transient: the request may not even have reached Vonage.
  return make(status >= 400 ? 'permanent' : 'transient');
}

/** The answer's parts when Vonage accepted all of them, each with its id; else undefined. */
function acceptedParts(
  answer: HttpAnswer,
): (VonageMessage & { 'message-id': string })[] | undefined {
  if (answer.status < 200 || answer.status >= 300) return undefined;
  const parts = (answer.json as VonageAnswer | undefined)?.messages;
  if (!Array.isArray(parts) || parts.length === 0) return undefined;
  const ok = parts.every((m) => String(m?.status) === '0' && typeof m['message-id'] === 'string');
  return ok ? (parts as (VonageMessage & { 'message-id': string })[]) : undefined;
}

export function makeVonageSmsProvider(options: VonageOptions): Provider {
  const endpoint = `${trimBase(options.url ?? VONAGE_URL)}/sms/json`;
  const timeoutMs = options.timeoutMs ?? 10_000;
  // Vonage writes numbers without the '+'; an alphanumeric sender goes as it is.
  const from = /^\+\d+$/.test(options.from) ? options.from.slice(1) : options.from;
  const log = options.log.child({ provider: 'vonage' });
  return {
    name: 'vonage',
    channel: 'sms',
    async send(message: OutboundMessage, signal?: AbortSignal): Promise<SendResult> {
      const sms = textOf(message, 'sms');
      if (!isE164(sms.to))
        throw new ProviderError('permanent', `"${sms.to}" is not an E.164 phone number`);
      const text = sms.content.text as string;
      const counted = smsSegments(text);
      const form = new URLSearchParams({
        api_key: options.apiKey,
        api_secret: options.apiSecret,
        from,
        to: sms.to.slice(1),
        text,
      });
      if (counted.encoding === 'UCS-2') form.set('type', 'unicode');
      form.set('client-ref', sms.deliveryId.slice(0, VONAGE_CLIENT_REF_MAX));
      const answer = await postForm(endpoint, form, timeoutMs, signal).catch((err: unknown) => {
        throw classifyVonageFailure(err);
      });
      const parts = acceptedParts(answer);
      if (!parts) throw classifyVonageFailure(answer);
      const reported = Number((answer.json as VonageAnswer)['message-count']);
      const segments = reported > 0 ? reported : parts.length;
      const ids = parts.map((m) => m['message-id']);
      log.debug({ deliveryId: sms.deliveryId, id: ids[0], segments }, 'vonage:sent');
      return {
        providerMessageId: ids[0] as string,
        // Vonage's count is the billed one; Herald's own is kept beside it. Delivery receipts
        // come per part, so a text of several parts keeps every part's id.
        details: {
          segments,
          heraldSegments: counted.segments,
          ...(ids.length > 1 ? { messageIds: ids } : {}),
        },
      };
    },
  };
}

/** The Vonage SMS provider of the configuration, or undefined when Vonage is not set up. */
export function vonageSmsFromConfig(config: HeraldConfig, log: Logger): Provider | undefined {
  const { vonageApiKey, vonageApiSecret, vonageFrom, vonageUrl } = config;
  if (!vonageApiKey || !vonageFrom) return undefined;
  if (!vonageApiSecret)
    throw new HeraldError(
      'config_invalid',
      'HERALD_VONAGE_API_SECRET is missing: copy the API secret from the Vonage API Dashboard (API settings)',
    );
  return makeVonageSmsProvider({
    apiKey: vonageApiKey,
    apiSecret: vonageApiSecret,
    from: vonageFrom,
    ...(vonageUrl ? { url: vonageUrl } : {}),
    log,
  });
}

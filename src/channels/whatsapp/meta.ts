/**
 * Meta's WhatsApp Cloud API (Graph API, pinned to `WHATSAPP_GRAPH_VERSION`).
 *
 * One send is `POST {url}/v21.0/{phone-number-id}/messages` with `Authorization: Bearer
 * <token>` and a JSON body; Meta answers `{messaging_product, contacts, messages: [{id}]}` and
 * the `wamid....` id is the delivery's provider message id.
 *
 * What is sent depends on the rendered content of the whatsapp channel:
 * - `text` only: a text message, `{type: 'text', text: {body}}`. WhatsApp delivers it only
 *   inside the 24-hour customer service window (else error 131047, permanent).
 * - `template` (an approved template's name): a template message, `{type: 'template',
 *   template: {name, language: {code}, components}}`, with `language` (default `en_US`) and
 *   `components` (optional: the JSON array of Meta's template components, e.g. body parameters)
 *   from the content too. `text` is then unused.
 *
 * Contract: `send` resolves once Meta accepted the message, or throws a `ProviderError` from
 * `classifyWhatsappError`. It never retries by itself.
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
  post,
  retryAfterMs,
  trimBase,
  type HttpAnswer,
} from '../http.js';
import { isE164 } from '../sms/segments.js';

/** The Graph API's public endpoint. */
export const WHATSAPP_URL = 'https://graph.facebook.com';
/** The Graph API version the requests name (Meta supports each for about two years). */
export const WHATSAPP_GRAPH_VERSION = 'v21.0';
/** How long a rate-limit answer waits when Meta gives no Retry-After. */
export const WHATSAPP_RATE_LIMIT_RETRY_MS = 1_000;

export interface WhatsappCloudOptions {
  /** An access token with whatsapp_business_messaging (a system user's permanent token). */
  token: string;
  /** The sender's phone number id (App Dashboard: WhatsApp > API Setup), not the number. */
  phoneNumberId: string;
  /** The Graph API base URL. Default `https://graph.facebook.com`. */
  url?: string;
  /** A request not answered in this time fails as transient. Default 10 s. */
  timeoutMs?: number;
  log: Logger;
}

/** Meta's error answer. */
interface GraphError {
  error?: {
    message?: string;
    type?: string;
    code?: number;
    error_subcode?: number;
    fbtrace_id?: string;
  };
}

// 4 app call limit, 80007 WABA rate limit, 130429 throughput, 131048 spam rate limit,
// 131056 too many messages to the same recipient.
const RATE_CODES = new Set([4, 80007, 130429, 131048, 131056]);
// 1 unknown, 2 service unavailable, 131000 something went wrong, 131016 service overloaded,
// 133004 server temporarily unavailable.
const TRANSIENT_CODES = new Set([1, 2, 131000, 131016, 133004]);
// The token or the app, not the message: 190 invalid/expired token, 10 and 200 permissions.
const SETUP_CODES = new Set([10, 190, 200]);

/**
 * The one place a WhatsApp Cloud API failure becomes a `ProviderError`:
 *
 * - no answer (connection refused or reset, DNS, timeout): transient;
 * - codes 4, 80007, 130429, 131048, 131056, or HTTP 429: rate_limited, after Retry-After when
 *   given, else 1 s;
 * - codes 1, 2, 131000, 131016, 133004, HTTP 408 and 5xx: transient;
 * - token and permission errors (190, 10, 200, HTTP 401/403): transient, since every message
 *   fails the same way until the operator renews the token;
 * - anything else, e.g. 131026 (undeliverable: not a WhatsApp user), 100 (invalid parameter),
 *   131047 (outside the 24-hour window), 132001 (no such template): permanent.
 *
 * `failure` is a non-2xx `HttpAnswer` or what fetch threw.
 * `providerCode` is Meta's code (with `/subcode` when given), else the HTTP status.
 */
export function classifyWhatsappError(failure: unknown): ProviderError {
  if (failure instanceof ProviderError) return failure;
  if (!isHttpAnswer(failure)) return noAnswerError('whatsapp', failure);
  const error = (failure.json as GraphError | undefined)?.error;
  const code = typeof error?.code === 'number' ? error.code : undefined;
  const sub = error?.error_subcode;
  const providerCode =
    code !== undefined ? (sub ? `${code}/${sub}` : String(code)) : String(failure.status);
  const text = error?.message ?? (failure.text.slice(0, 200) || 'no error message');
  const make = (kind: ProviderErrorKind, retryMs?: number) =>
    new ProviderError(
      kind,
      `whatsapp ${failure.status} (${providerCode}): ${text}`,
      retryMs,
      providerCode,
    );
  const { status } = failure;
  if (status === 429 || (code !== undefined && RATE_CODES.has(code)))
    return make(
      'rate_limited',
      retryAfterMs(failure.headers.get('retry-after'), WHATSAPP_RATE_LIMIT_RETRY_MS),
    );
  if ((code !== undefined && TRANSIENT_CODES.has(code)) || status === 408 || status >= 500)
    return make('transient');
  if ((code !== undefined && SETUP_CODES.has(code)) || status === 401 || status === 403)
    return make('transient');
  return make(status >= 400 ? 'permanent' : 'transient');
}

/** The request body for the rendered content (see the file comment). */
export function whatsappBody(to: string, content: Record<string, string>): Record<string, unknown> {
  const base = { messaging_product: 'whatsapp', recipient_type: 'individual', to };
  if (content.template) {
    let components: unknown;
    if (content.components) {
      try {
        components = JSON.parse(content.components);
      } catch {
        throw new ProviderError('permanent', 'the rendered whatsapp components are not JSON');
      }
      if (!Array.isArray(components))
        throw new ProviderError(
          'permanent',
          'the rendered whatsapp components must be a JSON array',
        );
    }
    return {
      ...base,
      type: 'template',
      template: {
        name: content.template,
        language: { code: content.language || 'en_US' },
        ...(components ? { components } : {}),
      },
    };
  }
  if (!content.text)
    throw new ProviderError('permanent', 'the rendered whatsapp message has no text');
  return { ...base, type: 'text', text: { preview_url: false, body: content.text } };
}

export function makeWhatsappCloudProvider(options: WhatsappCloudOptions): Provider {
  const base = trimBase(options.url ?? WHATSAPP_URL);
  const endpoint = `${base}/${WHATSAPP_GRAPH_VERSION}/${encodeURIComponent(options.phoneNumberId)}/messages`;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const log = options.log.child({ provider: 'whatsapp-cloud' });
  return {
    name: 'whatsapp-cloud',
    channel: 'whatsapp',
    async send(message: OutboundMessage, signal?: AbortSignal): Promise<SendResult> {
      if (message.channel !== 'whatsapp')
        throw new ProviderError(
          'permanent',
          `a whatsapp provider was given a ${message.channel} message`,
        );
      if (!isE164(message.to))
        throw new ProviderError('permanent', `"${message.to}" is not an E.164 phone number`);
      // The Cloud API takes the number with its country code and without the '+'.
      const body = whatsappBody(message.to.slice(1), message.content);
      let answer: HttpAnswer;
      try {
        answer = await post(
          endpoint,
          {
            headers: {
              authorization: `Bearer ${options.token}`,
              'content-type': 'application/json',
            },
            body: JSON.stringify(body),
          },
          timeoutMs,
          signal,
        );
      } catch (err) {
        throw classifyWhatsappError(err);
      }
      const id = (answer.json as { messages?: { id?: unknown }[] } | undefined)?.messages?.[0]?.id;
      if (answer.status >= 200 && answer.status < 300 && typeof id === 'string') {
        log.debug({ deliveryId: message.deliveryId, id }, 'whatsapp-cloud:sent');
        return { providerMessageId: id };
      }
      throw classifyWhatsappError(answer);
    },
  };
}

/** The WhatsApp Cloud API provider of the configuration, or undefined when not set up. */
export function whatsappCloudFromConfig(config: HeraldConfig, log: Logger): Provider | undefined {
  const { whatsappToken, whatsappPhoneNumberId, whatsappUrl } = config;
  if (!whatsappToken && !whatsappPhoneNumberId) return undefined;
  if (!whatsappToken || !whatsappPhoneNumberId)
    throw new HeraldError(
      'config_invalid',
      `${whatsappToken ? 'HERALD_WHATSAPP_PHONE_NUMBER_ID' : 'HERALD_WHATSAPP_TOKEN'} is missing: the WhatsApp Cloud API needs both (App Dashboard: WhatsApp > API Setup)`,
    );
  return makeWhatsappCloudProvider({
    token: whatsappToken,
    phoneNumberId: whatsappPhoneNumberId,
    ...(whatsappUrl ? { url: whatsappUrl } : {}),
    log,
  });
}

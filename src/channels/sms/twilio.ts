/**
 * Twilio's Programmable Messaging API, for SMS (this file) and WhatsApp
 * (`whatsapp/twilio.ts`, the same API with `whatsapp:` addresses).
 *
 * One send is `POST {url}/2010-04-01/Accounts/{AccountSid}/Messages.json` with HTTP Basic auth
 * (Account SID : Auth Token) and a form body `To`, `From` (or `MessagingServiceSid` when the
 * sender is a Messaging Service SID, `MG...`) and `Body`. Twilio answers 201 with the Message
 * resource; its `sid` (`SM...`) is the delivery's provider message id.
 *
 * Contract: `send` resolves once Twilio accepted the message (it is `queued` there, not yet on
 * the handset), or throws a `ProviderError` from `classifyTwilioError`. It never retries by
 * itself. An SMS recipient that is not an E.164 number fails at once, before any request.
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
  type TextMessage,
} from '../provider.js';
import { isHttpAnswer, noAnswerError, postForm, retryAfterMs, trimBase } from '../http.js';
import { isE164, smsSegments } from './segments.js';

/** Twilio's public API endpoint. */
export const TWILIO_URL = 'https://api.twilio.com';

/** How long a 429 without Retry-After waits. Twilio queues per sender, so a second is enough. */
export const TWILIO_RATE_LIMIT_RETRY_MS = 1_000;

export interface TwilioOptions {
  /** The Account SID, `AC` and 32 hex digits (console: Account Info). */
  accountSid: string;
  /** The account's Auth Token (console: Account Info). */
  authToken: string;
  /**
   * The sender: a Twilio number in E.164 (`+15017122661`), an alphanumeric sender id, or a
   * Messaging Service SID (`MG...`), which is sent as `MessagingServiceSid`.
   */
  from: string;
  /** The API base URL. Default `https://api.twilio.com`. */
  url?: string;
  /** A request not answered in this time fails as transient. Default 10 s. */
  timeoutMs?: number;
  log: Logger;
}

/** Twilio's error answer (https://www.twilio.com/docs/api/errors). */
interface TwilioErrorBody {
  code?: number;
  message?: string;
  more_info?: string;
  status?: number;
}

// Twilio error codes that mean "slow down" even when the HTTP status is not 429:
// 20429 too many requests, 14107 SMS send rate limit exceeded.
const RATE_CODES = new Set([20429, 14107]);

/**
 * The one place a Twilio failure becomes a `ProviderError`:
 *
 * - no answer (connection refused or reset, DNS, timeout): transient;
 * - 429, or error code 20429 / 14107: rate_limited, after Retry-After when given, else 1 s;
 * - 401 / 403 (code 20003, wrong SID or token; a suspended account): transient, since every
 *   message fails the same way until the operator fixes the settings;
 * - 408 and 5xx: transient;
 * - any other 4xx, e.g. 400 with 21211 (invalid To), 21610 (recipient unsubscribed with STOP),
 *   21614 (not a mobile number), 21408 (region not enabled): permanent.
 *
 * `failure` is a non-2xx `HttpAnswer` or what fetch threw.
 * `providerCode` is Twilio's error code when it sent one, else the HTTP status.
 */
export function classifyTwilioError(failure: unknown): ProviderError {
  if (failure instanceof ProviderError) return failure;
  if (!isHttpAnswer(failure)) return noAnswerError('twilio', failure);
  const body = (failure.json ?? {}) as TwilioErrorBody;
  const code = typeof body.code === 'number' ? body.code : undefined;
  const text = body.message ?? (failure.text.slice(0, 200) || 'no error message');
  const make = (kind: ProviderErrorKind, retryMs?: number) =>
    new ProviderError(
      kind,
      `twilio ${failure.status}${code ? ` (${code})` : ''}: ${text}`,
      retryMs,
      String(code ?? failure.status),
    );
  const { status } = failure;
  if (status === 429 || (code !== undefined && RATE_CODES.has(code)))
    return make(
      'rate_limited',
      retryAfterMs(failure.headers.get('retry-after'), TWILIO_RATE_LIMIT_RETRY_MS),
    );
  if (status === 401 || status === 403 || status === 408 || status >= 500) return make('transient');
  return make(status >= 400 ? 'permanent' : 'transient');
}

/** Twilio's Message resource, the fields Herald reads. */
interface TwilioMessage {
  sid?: string;
  status?: string;
  num_segments?: string | number;
}

/** Sends one message through the Messages API: the part SMS and WhatsApp share. */
export function makeTwilioClient(options: Omit<TwilioOptions, 'from' | 'log'>) {
  const base = trimBase(options.url ?? TWILIO_URL);
  const endpoint = `${base}/2010-04-01/Accounts/${encodeURIComponent(options.accountSid)}/Messages.json`;
  const auth = Buffer.from(`${options.accountSid}:${options.authToken}`).toString('base64');
  const timeoutMs = options.timeoutMs ?? 10_000;
  return async (
    fields: { To: string; From: string; Body: string },
    signal?: AbortSignal,
  ): Promise<TwilioMessage & { sid: string }> => {
    const form = new URLSearchParams({ To: fields.To, Body: fields.Body });
    if (/^MG[0-9a-f]{32}$/i.test(fields.From)) form.set('MessagingServiceSid', fields.From);
    else form.set('From', fields.From);
    const answer = await postForm(endpoint, form, timeoutMs, signal, {
      authorization: `Basic ${auth}`,
    }).catch((err: unknown) => {
      throw classifyTwilioError(err);
    });
    const resource = answer.json as TwilioMessage | undefined;
    if (answer.status >= 200 && answer.status < 300 && typeof resource?.sid === 'string')
      return resource as TwilioMessage & { sid: string };
    throw classifyTwilioError(answer);
  };
}

/** The text of an SMS or WhatsApp message, or a permanent error naming what is missing. */
export function textOf(message: OutboundMessage, channel: 'sms' | 'whatsapp'): TextMessage {
  if (message.channel !== channel)
    throw new ProviderError(
      'permanent',
      `a ${channel} provider was given a ${message.channel} message`,
    );
  if (!message.content.text)
    throw new ProviderError('permanent', `the rendered ${channel} message has no text`);
  return message;
}

export function makeTwilioSmsProvider(options: TwilioOptions): Provider {
  const send = makeTwilioClient(options);
  const log = options.log.child({ provider: 'twilio' });
  return {
    name: 'twilio',
    channel: 'sms',
    async send(message: OutboundMessage, signal?: AbortSignal): Promise<SendResult> {
      const sms = textOf(message, 'sms');
      if (!isE164(sms.to))
        throw new ProviderError('permanent', `"${sms.to}" is not an E.164 phone number`);
      const body = sms.content.text as string;
      const sent = await send({ To: sms.to, From: options.from, Body: body }, signal);
      // Twilio's count is the billed one; it is 0 until a Messaging Service picked a sender.
      const reported = Number(sent.num_segments);
      const segments = reported > 0 ? reported : smsSegments(body).segments;
      log.debug({ deliveryId: sms.deliveryId, sid: sent.sid, segments }, 'twilio:sent');
      return { providerMessageId: sent.sid, details: { segments } };
    },
  };
}

/** The Twilio SMS provider of the configuration, or undefined when Twilio SMS is not set up. */
export function twilioSmsFromConfig(config: HeraldConfig, log: Logger): Provider | undefined {
  const { twilioAccountSid, twilioAuthToken, twilioFrom, twilioUrl } = config;
  if (!twilioAccountSid || !twilioFrom) return undefined;
  if (!twilioAuthToken)
    throw new HeraldError(
      'config_invalid',
      'HERALD_TWILIO_AUTH_TOKEN is missing: copy the Auth Token from the Twilio console (Account Info)',
    );
  return makeTwilioSmsProvider({
    accountSid: twilioAccountSid,
    authToken: twilioAuthToken,
    from: twilioFrom,
    ...(twilioUrl ? { url: twilioUrl } : {}),
    log,
  });
}

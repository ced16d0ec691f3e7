/**
 * The Web Push sender: one push message to one browser subscription, through the push service
 * that issued it (RFC 8030), authenticated with VAPID (RFC 8292: an ES256 JWT for the push
 * service's origin, and our public key) and encrypted for the browser (RFC 8291, `aes128gcm`
 * of RFC 8188). The `web-push` package builds the request (JWT, ECDH, HKDF, AES-128-GCM);
 * this file sends it through the egress guard (net/egress.ts: the endpoint comes from an end
 * user's browser, so only public addresses, no redirects, a bounded answer) and reads the
 * status.
 *
 * Contract: `sendToSubscription` resolves when the push service accepted the message (2xx,
 * normally 201) with the message's URL from `Location`; otherwise it throws a `ProviderError`
 * from `classifyWebPushError`. A subscription the service no longer knows (404/410) is
 * `permanent` with `providerCode: 'gone'`: the caller disables the device and never retries.
 * An endpoint the guard refuses (`egress_refused`) or a redirect (`egress_redirect`) is
 * permanent; the push service's answer text never goes into the error.
 * A payload too large for one record (over `WEB_PUSH_MAX_PAYLOAD_BYTES`) is refused before
 * anything is sent. It never retries by itself.
 */
import { createECDH, createHash } from 'node:crypto';
import webpush from 'web-push';
import { HeraldError, toError } from '../../errors.js';
import type { Logger } from '../../obs/log.js';
import { ProviderError, type ProviderErrorKind } from '../provider.js';
import { parseRetryAfter } from '../http.js';
import { EgressError, egressFromConfig, makeEgress, type Egress } from '../../net/egress.js';

/** What a browser's `PushSubscription.toJSON()` gives (the keys base64url). */
export interface WebPushSubscription {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

/** RFC 8030 §5.3: how hard the push service should try to wake the device. */
export type WebPushUrgency = 'very-low' | 'low' | 'normal' | 'high';

export interface WebPushSendOptions {
  /** Seconds the push service keeps the message for an offline device. */
  ttl?: number;
  urgency?: WebPushUrgency;
  /** A newer message with the same topic replaces an undelivered one (≤ 32 base64url chars). */
  topic?: string;
}

export interface WebPushProviderOptions {
  /** The VAPID public key: an uncompressed P-256 point, base64url (87 characters). */
  vapidPublicKey: string;
  /** The VAPID private key: the 32-byte P-256 scalar, base64url (43 characters). */
  vapidPrivateKey: string;
  /** Who the push service contacts about our traffic: `mailto:ops@example.com` or an https URL. */
  subject: string;
  log: Logger;
  /** Default TTL of a message, in seconds. Default 86 400 (one day). */
  ttlSeconds?: number;
  /** Default urgency. Default `normal`. */
  urgency?: WebPushUrgency;
  /** A request without an answer after this long is abandoned (transient). Default 30 s. */
  timeoutMs?: number;
  /** Accept `http:` endpoints (local tests only; browsers always give https). Default false. */
  allowHttp?: boolean;
  /** The egress guard every push goes through. Default: one without an allow-list. */
  egress?: Egress;
}

export interface WebPushResult {
  /** The push service's status: 201 Created (RFC 8030 §5), or another 2xx. */
  status: number;
  /** The push message's URL from `Location` ('' when the service sent none). */
  messageId: string;
}

/**
 * The largest payload, in bytes of UTF-8 JSON: push services take one 4096-byte record, of
 * which the aes128gcm header takes 86 (salt, record size, our public key), the padding
 * delimiter 1 and the GCM tag 16 (RFC 8291 §4).
 */
export const WEB_PUSH_MAX_PAYLOAD_BYTES = 4096 - 86 - 1 - 16;

/** A `rate_limited` answer without a usable Retry-After waits this long. */
export const WEB_PUSH_RATE_LIMIT_RETRY_MS = 60_000;

const DEFAULT_TTL_SECONDS = 86_400;
const DEFAULT_TIMEOUT_MS = 30_000;
/** How much of a push service's answer is read: only its status and headers are used. */
const ANSWER_BYTES = 4096;

/** A non-2xx answer of the push service, before classification (its body is not kept). */
export class WebPushAnswerError extends Error {
  override readonly name = 'WebPushAnswerError';
  constructor(
    readonly status: number,
    readonly retryAfter: string | null,
  ) {
    super(`the push service answered ${status}`);
  }
}

// The one reading of Retry-After (channels/http.ts); exported here as it was before.
export { parseRetryAfter };

/**
 * The one place a Web Push failure becomes a `ProviderError`:
 *
 * - 404 Not Found, 410 Gone: the subscription expired or the user revoked it: permanent,
 *   `providerCode: 'gone'` (the device is disabled, never retried);
 * - 413 Payload Too Large: permanent (`payload_too_large`);
 * - 429 Too Many Requests: rate_limited, after `Retry-After` (else 60 s);
 * - 408 Request Timeout: transient;
 * - 400, 401, 403 and the other 4xx: permanent; 401/403 mean the VAPID keys or subject are
 *   wrong (or not the key the browser subscribed with), which no retry fixes;
 * - an endpoint the egress guard refuses, a redirect: permanent (`egress_refused`,
 *   `egress_redirect`);
 * - 5xx, other answers: transient; no answer (connection refused or reset, DNS, TLS, no answer
 *   within `timeoutMs`, the caller's abort): transient, `egress_unreachable`, one text
 *   whatever the cause.
 *
 * `providerCode` is `gone`, `payload_too_large`, the HTTP status, or the guard's code.
 */
export function classifyWebPushError(thrown: unknown): ProviderError {
  if (thrown instanceof ProviderError) return thrown;
  if (thrown instanceof WebPushAnswerError) {
    const { status } = thrown;
    const make = (kind: ProviderErrorKind, code = String(status), retryAfterMs?: number) =>
      new ProviderError(kind, thrown.message, retryAfterMs, code);
    if (status === 404 || status === 410) return make('permanent', 'gone');
    if (status === 413) return make('permanent', 'payload_too_large');
    if (status === 429) {
      const wait = parseRetryAfter(thrown.retryAfter) ?? WEB_PUSH_RATE_LIMIT_RETRY_MS;
      return make('rate_limited', '429', wait);
    }
    if (status === 401 || status === 403) {
      return new ProviderError(
        'permanent',
        `${thrown.message} (check HERALD_VAPID_PUBLIC_KEY, HERALD_VAPID_PRIVATE_KEY and HERALD_VAPID_SUBJECT: the browser must have subscribed with this public key)`,
        undefined,
        String(status),
      );
    }
    if (status === 408) return make('transient');
    if (status >= 400 && status < 500) return make('permanent');
    return make('transient');
  }
  const egress = thrown instanceof EgressError ? thrown : new EgressError('egress_unreachable');
  return new ProviderError(egress.kind, `push: ${egress.message}`, undefined, egress.code);
}

/** What `send` reads of a push delivery (the pipeline's `PushMessage`). */
export interface WebPushDelivery {
  deliveryId: string;
  content: Record<string, string>;
  priority?: 'low' | 'normal' | 'high' | 'urgent';
  collapseId?: string | undefined;
}

const URGENCY: Record<NonNullable<WebPushDelivery['priority']>, WebPushUrgency> = {
  low: 'low',
  normal: 'normal',
  high: 'high',
  urgent: 'high',
};

/** RFC 8030 §5.4: a topic is at most 32 base64url characters. */
export const webPushTopic = (collapseId: string): string =>
  /^[A-Za-z0-9_-]{1,32}$/.test(collapseId)
    ? collapseId
    : createHash('sha256').update(collapseId).digest('base64url').slice(0, 32);

export interface WebPushProvider {
  readonly name: 'webpush';
  readonly kind: 'webpush';
  sendToSubscription(
    subscription: WebPushSubscription,
    payload: object,
    options?: WebPushSendOptions,
    signal?: AbortSignal,
  ): Promise<WebPushResult>;
  /**
   * Sends a push delivery to one registered device (the push fan-out's device-sender shape):
   * the payload is the JSON `{...content, deliveryId}`; `priority` sets `Urgency` (low → low,
   * normal → normal, high and urgent → high); `collapseId` sets `Topic` (hashed to 32
   * base64url characters when it is not already such a string).
   */
  send(
    device: { subscription: unknown },
    message: WebPushDelivery,
    signal?: AbortSignal,
  ): Promise<{ messageId: string }>;
}

const bytesOf = (b64url: string) => Buffer.from(b64url, 'base64url');
const isBase64url = (s: unknown): s is string =>
  typeof s === 'string' && /^[A-Za-z0-9_-]+=*$/.test(s);

/** Checks the VAPID settings, with messages naming the environment variables. */
function checkVapid(
  options: Pick<WebPushProviderOptions, 'vapidPublicKey' | 'vapidPrivateKey' | 'subject'>,
) {
  const bad = (message: string) => new HeraldError('config_invalid', message);
  const pub = options.vapidPublicKey;
  if (!/^[A-Za-z0-9_-]{87}$/.test(pub) || bytesOf(pub)[0] !== 0x04)
    throw bad(
      'HERALD_VAPID_PUBLIC_KEY must be an uncompressed P-256 public key, base64url without padding (87 characters); generate a pair with `npx web-push generate-vapid-keys`',
    );
  if (!/^[A-Za-z0-9_-]{43}$/.test(options.vapidPrivateKey))
    throw bad(
      'HERALD_VAPID_PRIVATE_KEY must be a P-256 private key, base64url without padding (43 characters)',
    );
  if (!/^(mailto:\S+@\S+|https:\/\/\S+)$/.test(options.subject))
    throw bad(
      'HERALD_VAPID_SUBJECT must be a mailto: address or an https: URL, e.g. mailto:ops@example.com',
    );
}

export function makeWebPushProvider(options: WebPushProviderOptions): WebPushProvider {
  checkVapid(options);
  const log = options.log.child({ provider: 'webpush' });
  const vapidDetails = {
    subject: options.subject,
    publicKey: options.vapidPublicKey,
    privateKey: options.vapidPrivateKey,
  };
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const egress = options.egress ?? makeEgress();

  /** The request web-push builds (VAPID JWT + encrypted body), or a permanent error. */
  function buildRequest(
    subscription: WebPushSubscription,
    body: Buffer,
    opts: WebPushSendOptions,
  ): webpush.RequestDetails {
    const { endpoint, keys } = (subscription ?? {}) as Partial<WebPushSubscription>;
    let url: URL;
    try {
      url = new URL(endpoint ?? '');
    } catch {
      throw new ProviderError(
        'permanent',
        'the subscription has no valid endpoint URL',
        undefined,
        'bad_subscription',
      );
    }
    if (url.protocol !== 'https:' && !(options.allowHttp && url.protocol === 'http:'))
      throw new ProviderError(
        'permanent',
        `a push endpoint must be https (got ${url.protocol})`,
        undefined,
        'bad_subscription',
      );
    if (
      !isBase64url(keys?.p256dh) ||
      bytesOf(keys.p256dh).length !== 65 ||
      !isBase64url(keys.auth) ||
      bytesOf(keys.auth).length !== 16
    )
      throw new ProviderError(
        'permanent',
        'the subscription keys must be p256dh (65 bytes) and auth (16 bytes), base64url',
        undefined,
        'bad_subscription',
      );
    if (body.length > WEB_PUSH_MAX_PAYLOAD_BYTES)
      throw new ProviderError(
        'permanent',
        `the push payload is ${body.length} bytes; Web Push takes at most ${WEB_PUSH_MAX_PAYLOAD_BYTES} (shorten the push template)`,
        undefined,
        'payload_too_large',
      );
    try {
      return webpush.generateRequestDetails(subscription, body, {
        vapidDetails,
        TTL: opts.ttl ?? options.ttlSeconds ?? DEFAULT_TTL_SECONDS,
        urgency: opts.urgency ?? options.urgency ?? 'normal',
        contentEncoding: 'aes128gcm',
        ...(opts.topic ? { topic: opts.topic } : {}),
      });
    } catch (thrown) {
      // Bad subscription keys (not a P-256 point) or a bad topic: the same every time.
      throw new ProviderError(
        'permanent',
        `cannot build the push request: ${toError(thrown).message}`,
        undefined,
        'bad_request',
      );
    }
  }

  async function sendToSubscription(
    subscription: WebPushSubscription,
    payload: object,
    opts: WebPushSendOptions = {},
    signal?: AbortSignal,
  ): Promise<WebPushResult> {
    const request = buildRequest(subscription, Buffer.from(JSON.stringify(payload), 'utf8'), opts);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers)) headers[name] = String(value);
    try {
      const res = await egress.request(request.endpoint, {
        method: 'POST',
        headers,
        body: request.body ?? new Uint8Array(),
        timeoutMs,
        signal,
        maxAnswerBytes: ANSWER_BYTES,
      });
      if (res.status < 200 || res.status > 299)
        throw new WebPushAnswerError(res.status, res.headers.get('retry-after'));
      const messageId = res.headers.get('location') ?? '';
      log.debug({ origin: new URL(request.endpoint).origin, status: res.status }, 'push:sent');
      return { status: res.status, messageId };
    } catch (thrown) {
      const err = classifyWebPushError(thrown);
      log.debug(
        { origin: new URL(request.endpoint).origin, kind: err.kind, code: err.providerCode },
        'push:failed',
      );
      throw err;
    }
  }

  return {
    name: 'webpush',
    kind: 'webpush',
    sendToSubscription,
    async send(device, message, signal) {
      const { messageId } = await sendToSubscription(
        device.subscription as WebPushSubscription,
        { ...message.content, deliveryId: message.deliveryId },
        {
          ...(message.priority ? { urgency: URGENCY[message.priority] } : {}),
          ...(message.collapseId ? { topic: webPushTopic(message.collapseId) } : {}),
        },
        signal,
      );
      return { messageId };
    },
  };
}

/** The Web Push settings of the configuration (`HERALD_VAPID_*`). */
export interface WebPushConfig {
  vapidPublicKey?: string | undefined;
  vapidPrivateKey?: string | undefined;
  vapidSubject?: string | undefined;
  egressAllow?: readonly string[] | undefined;
}

/**
 * The Web Push sender of the configuration, or undefined when no VAPID keys are set. Fails fast
 * when only some settings are given, or the public key is not the private key's.
 */
export function webPushFromConfig(config: WebPushConfig, log: Logger): WebPushProvider | undefined {
  const { vapidPublicKey, vapidPrivateKey, vapidSubject } = config;
  if (!vapidPublicKey && !vapidPrivateKey) return undefined;
  if (!vapidPublicKey || !vapidPrivateKey || !vapidSubject)
    throw new HeraldError(
      'config_invalid',
      'Web Push needs HERALD_VAPID_PUBLIC_KEY, HERALD_VAPID_PRIVATE_KEY and HERALD_VAPID_SUBJECT together; set all three (docs/providers.md#web-push)',
    );
  const settings = { vapidPublicKey, vapidPrivateKey, subject: vapidSubject };
  checkVapid(settings);
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(bytesOf(vapidPrivateKey));
  if (!ecdh.getPublicKey().equals(bytesOf(vapidPublicKey)))
    throw new HeraldError(
      'config_invalid',
      'HERALD_VAPID_PUBLIC_KEY is not the public key of HERALD_VAPID_PRIVATE_KEY; set both from the same generated pair',
    );
  return makeWebPushProvider({ ...settings, log, egress: egressFromConfig(config, log) });
}

/**
 * A new VAPID key pair, base64url, for `HERALD_VAPID_PUBLIC_KEY` / `HERALD_VAPID_PRIVATE_KEY`.
 * Make it once and keep it: browsers subscribed with a public key accept pushes only from it.
 */
export function generateVapidKeys(): { publicKey: string; privateKey: string } {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  return {
    publicKey: ecdh.getPublicKey().toString('base64url'),
    // The scalar is 32 bytes; a leading zero byte is dropped by getPrivateKey.
    privateKey: Buffer.from(ecdh.getPrivateKey().toString('hex').padStart(64, '0'), 'hex').toString(
      'base64url',
    ),
  };
}

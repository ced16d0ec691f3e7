/**
 * The webhook channel: each notification is POSTed as JSON to the recipient's `webhookUrl`
 * (else the type's `webhook.url`), signed in the Standard Webhooks format (signature.ts) with
 * the key of that URL, derived from `webhookSecret` (keys.ts), so the receiver can tell it came
 * from Herald, was meant for it, and was not altered. docs/channels.md#webhook documents the
 * body and headers for receivers:
 *
 * - `Content-Type: application/json`, `User-Agent: Herald/<version>`;
 * - `webhook-id`: the delivery id, the same on every attempt (receivers dedupe on it);
 * - `webhook-timestamp`: unix seconds of this attempt;
 * - `webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`.
 *
 * Contract: `send` resolves on any 2xx answer (the delivery id is the provider message id), or
 * throws a `ProviderError` from `classifyWebhookError`. It never retries by itself and never
 * follows a redirect.
 */
import type { HeraldConfig } from '../../config.js';
import type { Logger } from '../../obs/log.js';
import { packageVersion } from '../../version.js';
import type { Provider, ProviderError, WebhookMessage } from '../provider.js';
import { classifyHookFailure, makeHookProvider } from './http.js';
import { destinationKeys } from './keys.js';
import { signedHeaders } from './signature.js';
import { egressFromConfig, type Egress } from '../../net/egress.js';

/** How long a 429 without Retry-After waits. */
export const WEBHOOK_RATE_LIMIT_RETRY_MS = 60_000;

export interface WebhookOptions {
  /**
   * The master secret each destination's key is derived from (`HERALD_WEBHOOK_SECRET`, at
   * least 32 characters; space-separated while one is rotated out, the first current).
   */
  secret: string;
  /** A request not answered in this time fails as transient. Default 10 s. */
  timeoutMs?: number;
  /** The clock of `webhook-timestamp` (tests). */
  now?: () => number;
  log: Logger;
  /** The egress guard every post goes through (egressFromConfig). */
  egress?: Egress;
}

/**
 * The one place a webhook failure becomes a `ProviderError`: no answer (connection refused,
 * DNS, TLS, timeout: `egress_unreachable`), 408 and 5xx are transient; 429 is rate_limited
 * after Retry-After (else 60 s); a URL the egress guard refuses (`egress_refused`), a redirect
 * (`egress_redirect`) and any other 4xx are permanent: 400, 401/403 (the receiver refused the
 * signature), 404, and 410 Gone, which says the endpoint is no more.
 */
export function classifyWebhookError(failure: unknown): ProviderError {
  return classifyHookFailure('webhook', failure, WEBHOOK_RATE_LIMIT_RETRY_MS);
}

/** The JSON body: what a receiver reads (docs/channels.md#the-body). */
export function webhookBody(m: WebhookMessage): string {
  return JSON.stringify({
    id: m.deliveryId,
    notificationId: m.notificationId,
    type: m.type,
    recipient: { id: m.recipientId },
    priority: m.priority,
    createdAt: m.createdAt,
    content: m.content,
    data: m.data,
  });
}

export function makeWebhookProvider(options: WebhookOptions): Provider {
  const now = options.now ?? Date.now;
  const userAgent = `Herald/${packageVersion()}`;
  return makeHookProvider({
    channel: 'webhook',
    request(message) {
      const body = webhookBody(message);
      const t = Math.floor(now() / 1000);
      // The destination's own key: a receiver's key verifies nothing sent to another URL.
      const keys = destinationKeys(options.secret, message.url);
      const headers = {
        'user-agent': userAgent,
        ...signedHeaders(keys, message.deliveryId, t, body),
      };
      return { url: message.url, headers, body };
    },
    classify: classifyWebhookError,
    timeoutMs: options.timeoutMs ?? 10_000,
    log: options.log,
    egress: options.egress,
  });
}

/** The webhook provider, or undefined when `webhookSecret` is not set (no unsigned webhooks). */
export function webhookFromConfig(
  config: HeraldConfig,
  log: Logger,
  egress: Egress = egressFromConfig(config, log),
): Provider | undefined {
  return config.webhookSecret
    ? makeWebhookProvider({ secret: config.webhookSecret, log, egress })
    : undefined;
}

/**
 * The provider interface: how the delivery pipeline hands a rendered message to a service
 * (SMTP, an email API, an SMS gateway, a push service, the inbox). The pipeline knows only
 * this file; a new provider implements `Provider` and is registered for its channel in
 * `channels/registry.ts`, without touching the pipeline.
 *
 * A provider answers a send with the service's message id, or throws a `ProviderError` that
 * says what kind of failure it was. Classifying is the provider's job, in one place per
 * provider, because only it knows what its service's answers mean:
 *
 * - permanent: the message can never be delivered as is (bad address, rejected content, a
 *   4xx other than 408/429). The delivery fails at once; no retry.
 * - transient: it may work later (5xx, timeout, connection refused). Retried with backoff.
 * - rate_limited: the service asked us to slow down; retried after `retryAfterMs`.
 *
 * Anything else a provider throws counts as transient.
 */
import type { Channel } from '../types.js';

/** A rendered email, ready to send. */
export interface EmailMessage {
  channel: 'email';
  /** The delivery id: providers use it as Message-ID seed / idempotency key / file name. */
  deliveryId: string;
  from: string;
  to: string;
  subject: string;
  html?: string;
  text?: string;
  /**
   * Extra headers: List-Unsubscribe and List-Unsubscribe-Post (RFC 8058) for marketing, and the
   * type's and trigger's own (checked in notify/email-options.ts: never one Herald writes).
   */
  headers: Record<string, string>;
  /** Where replies go: `addr@x` or `Name <addr@x>`. */
  replyTo?: string;
  /** Files to attach; one with a `contentId` is an inline part (`<img src="cid:...">`). */
  attachments?: EmailAttachment[];
}

/** An attachment of an email: `content` is base64 (standard, padded). */
export interface EmailAttachment {
  filename: string;
  /** `type/subtype`, e.g. `application/pdf`. */
  contentType: string;
  content: string;
  contentId?: string | undefined;
}

/** A rendered message for sms, whatsapp, slack (and inapp, which the pipeline keeps itself). */
export interface TextMessage {
  channel: Exclude<Channel, 'email' | 'push' | 'webhook'>;
  deliveryId: string;
  /** Phone number, the Slack incoming webhook URL, or recipient id (inapp). */
  to: string;
  /** The rendered template fields of the channel (text...). */
  content: Record<string, string>;
}

/** One of a recipient's push addresses, as registered. */
export interface PushDevice {
  id: string;
  kind: 'apns' | 'fcm' | 'webpush';
  /** The token, or a Web Push subscription's endpoint. */
  address: string;
  /** Web Push: `{endpoint, keys: {p256dh, auth}}`. */
  subscription: unknown;
}

/** A push notification for every active device of a recipient (the push provider fans out). */
export interface PushMessage {
  channel: 'push';
  deliveryId: string;
  devices: PushDevice[];
  /** The rendered push fields: title, body. */
  content: Record<string, string>;
  /** The notification's priority (APNs: low → apns-priority 5; FCM: android priority). */
  priority: 'low' | 'normal' | 'high' | 'urgent';
  /** Pushes with the same collapse id replace each other on the device. */
  collapseId?: string;
}

/** A notification for the webhook channel: posted as signed JSON to `url` (channels/webhook). */
export interface WebhookMessage {
  channel: 'webhook';
  deliveryId: string;
  url: string;
  notificationId: string;
  type: string;
  recipientId: string;
  priority: 'low' | 'normal' | 'high' | 'urgent';
  /** When the notification was triggered (ISO 8601). */
  createdAt: string;
  /** The rendered webhook template fields. */
  content: Record<string, string>;
  /** The trigger's data. */
  data: Record<string, unknown>;
}

export type OutboundMessage = EmailMessage | TextMessage | PushMessage | WebhookMessage;

export interface SendResult {
  /** The id the service gave the message (SMTP: the Message-ID; outbox: the file path). */
  providerMessageId: string;
  /** Anything else worth keeping on the delivery, e.g. `{ segments: 2 }` for an SMS. */
  details?: Record<string, unknown>;
}

export interface Provider {
  /** A short name recorded on the delivery, e.g. `smtp`, `outbox`, `inbox`. */
  readonly name: string;
  readonly channel: Channel;
  send(message: OutboundMessage, signal?: AbortSignal): Promise<SendResult>;
  /** Closes pooled connections at shutdown. */
  close?(): Promise<void>;
}

export type ProviderErrorKind = 'permanent' | 'transient' | 'rate_limited';

export class ProviderError extends Error {
  override readonly name = 'ProviderError';
  constructor(
    readonly kind: ProviderErrorKind,
    message: string,
    /** For rate_limited: when to try again (from Retry-After), in ms. */
    readonly retryAfterMs?: number,
    /** The service's own code or status, kept on the delivery for "why did it fail". */
    readonly providerCode?: string,
  ) {
    super(message);
  }
}

/** Narrowing helper: a ProviderError of this kind. */
export const isProviderError = (err: unknown, kind?: ProviderErrorKind): err is ProviderError =>
  err instanceof ProviderError && (kind === undefined || err.kind === kind);

/**
 * Postmark's webhooks: checking a request's credentials and reading its record.
 *
 * Postmark does not sign webhooks. It documents protecting them with HTTP basic
 * authentication (https://postmarkapp.com/developer/webhooks/webhooks-overview): the webhook
 * URL carries a user and password, `https://<user>:<password>@herald.example/v1/webhooks/postmark`,
 * and Postmark sends them as `Authorization: Basic base64(user:password)`. Herald compares both
 * with `HERALD_POSTMARK_WEBHOOK_USER` and `HERALD_POSTMARK_WEBHOOK_PASSWORD` in constant time.
 * There is no timestamp to bound a replay by, so the password is all there is: use a long random
 * one, and HTTPS.
 *
 * Postmark posts one JSON record per request, its kind in `RecordType`. Each carries the
 * message's `Metadata`, where postmark.ts puts `herald_delivery_id`, and `MessageID`,
 * Postmark's id, the delivery's provider message id.
 */
import type { DeliveryEvent } from '../../types.js';
import type { SuppressionReason } from '../../types.js';
import { constantTimeEqual, type Refusal } from '../webhook-check.js';

/**
 * Bounce types that say the address cannot receive mail: the address is suppressed
 * (https://postmarkapp.com/developer/api/bounce-api#bounce-types). HardBounce (unknown user,
 * mailbox not found), BadEmailAddress (an invalid address), ManuallyDeactivated (deactivated in
 * Postmark). Any bounce Postmark itself marks `Inactive` (it will not send to the address
 * again) counts as hard too; a bounce of type SpamComplaint is a complaint. The rest (Transient, SoftBounce,
 * DnsError, AutoResponder, Blocked, DMARCPolicy, Unknown...) is recorded only: the message did
 * not arrive, but the address may be fine.
 */
export const POSTMARK_HARD_BOUNCES = new Set([
  'HardBounce',
  'BadEmailAddress',
  'ManuallyDeactivated',
]);

/** Postmark's SuppressionReason in a SubscriptionChange, as Herald's. */
const SUPPRESSION_REASONS: Record<string, SuppressionReason> = {
  HardBounce: 'bounce',
  SpamComplaint: 'complaint',
  ManualSuppression: 'manual',
};

/** Why a request is refused, or null when it carries the configured user and password. */
export function checkPostmarkAuth(
  expected: { user: string; password: string },
  authorization: string | undefined,
): Refusal | null {
  const m = /^Basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(authorization ?? '');
  if (!m) return { status: 401, message: 'missing Basic Authorization header' };
  const decoded = Buffer.from(m[1] as string, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const user = colon < 0 ? decoded : decoded.slice(0, colon);
  const password = colon < 0 ? '' : decoded.slice(colon + 1);
  // Both compared, always: the time says nothing about which one was wrong.
  const userOk = constantTimeEqual(user, expected.user);
  const passwordOk = constantTimeEqual(password, expected.password);
  return userOk && passwordOk
    ? null
    : { status: 403, message: 'the Postmark webhook credentials do not match' };
}

type Json = Record<string, unknown>;
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/**
 * The record as delivery events:
 *
 * - Delivery → delivered; Open → opened; Click → clicked (the link in the detail);
 * - Bounce of a hard type (above) → bounced, the address suppressed (`bounce`); other types
 *   are recorded as `soft_bounced`, the status unchanged;
 * - SpamComplaint → complained, the address suppressed (`complaint`);
 * - SubscriptionChange with `SuppressSending: true` (Postmark stopped sending to the address:
 *   a hard bounce, a complaint, an unsubscribe or a manual suppression in Postmark) → the
 *   address suppressed with the matching reason (`manual` for unsubscribes and manual ones);
 *   the delivery is not changed (its Bounce or SpamComplaint record does that). A
 *   reactivation (`SuppressSending: false`) is ignored: Herald's list is changed by an
 *   operator (`DELETE /v1/admin/suppressions`).
 * - other records (Inbound, ...) are ignored.
 */
export function postmarkEvents(body: unknown): DeliveryEvent[] {
  if (Array.isArray(body)) return body.flatMap(postmarkEvents);
  if (!body || typeof body !== 'object') return [];
  const r = body as Json;
  const metadata = (r.Metadata && typeof r.Metadata === 'object' ? r.Metadata : {}) as Json;
  const deliveryId = str(metadata.herald_delivery_id) ?? null;
  const messageId = str(r.MessageID) ?? str(r.MessageId);
  const when = Date.parse(
    str(r.DeliveredAt) ?? str(r.BouncedAt) ?? str(r.ReceivedAt) ?? str(r.ChangedAt) ?? '',
  );
  const base = {
    deliveryId,
    ...(messageId ? { providerMessageId: messageId } : {}),
    at: Number.isNaN(when) ? new Date() : new Date(when),
  };
  const address = str(r.Email) ?? str(r.Recipient);
  const one = (
    status: DeliveryEvent['status'],
    detail: string,
    reason?: SuppressionReason,
  ): DeliveryEvent[] => [
    {
      ...base,
      status,
      detail: detail.slice(0, 2000),
      ...(reason && address ? { suppress: { channel: 'email', address, reason } } : {}),
    },
  ];
  switch (r.RecordType) {
    case 'Delivery':
      return one('delivered', str(r.Details) ?? 'delivered');
    case 'Open':
      return one('opened', 'opened');
    case 'Click':
      return one('clicked', str(r.OriginalLink) ?? 'click');
    case 'Bounce': {
      const type = str(r.Type) ?? 'Unknown';
      const detail = `${type}: ${str(r.Details) ?? str(r.Description) ?? ''}`.slice(0, 500);
      if (type === 'SpamComplaint') return one('complained', detail, 'complaint');
      return POSTMARK_HARD_BOUNCES.has(type) || r.Inactive === true
        ? one('bounced', detail, 'bounce')
        : one('soft_bounced', detail);
    }
    case 'SpamComplaint':
      return one('complained', 'spam complaint', 'complaint');
    case 'SubscriptionChange': {
      if (r.SuppressSending !== true || !address) return [];
      const reason = SUPPRESSION_REASONS[str(r.SuppressionReason) ?? ''] ?? 'manual';
      // No ids: only the address is acted on.
      return [
        {
          deliveryId: null,
          status: reason === 'complaint' ? 'complained' : 'bounced',
          detail: `suppressed in Postmark: ${str(r.SuppressionReason) ?? 'unknown'}`,
          at: base.at,
          suppress: { channel: 'email', address, reason },
        },
      ];
    }
    default:
      return [];
  }
}

/**
 * Resend's webhooks: verifying a request and reading its event.
 *
 * Resend signs its webhooks with Svix (https://docs.svix.com/receiving/verifying-payloads/how-manual):
 * `svix-signature` holds one or more space-separated `v1,<base64>` entries, each an
 * HMAC-SHA256 of `${svix-id}.${svix-timestamp}.${raw body}` keyed with the base64 part of the
 * endpoint's signing secret (`whsec_...`, Resend: Webhooks → the endpoint → Signing secret:
 * `HERALD_RESEND_WEBHOOK_SECRET`). `svix-timestamp` is Unix seconds; Svix's own libraries
 * refuse one more than 5 minutes from now, and so does Herald.
 *
 * Each event is one JSON object `{type, created_at, data}`; `data.tags` carries the
 * `herald_delivery_id` tag resend.ts sends with every message (as an object: Resend takes tags
 * as `[{name, value}]` and gives them back as `{name: value}`), and `data.email_id` is Resend's
 * id, the delivery's provider message id.
 */
import { createHmac } from 'node:crypto';
import type { DeliveryEvent } from '../../types.js';
import { suppressingEach } from './suppressing.js';
import { constantTimeEqual, type Refusal } from '../webhook-check.js';

export const SVIX_ID_HEADER = 'svix-id';
export const SVIX_TIMESTAMP_HEADER = 'svix-timestamp';
export const SVIX_SIGNATURE_HEADER = 'svix-signature';
/** A timestamp further than this from now is refused (a replayed request). */
export const SVIX_MAX_SKEW_MS = 5 * 60_000;

/** The HMAC key of a signing secret (`whsec_` + base64); throws with what to fix. */
export function resendWebhookKey(secret: string): Buffer {
  const b64 = secret.trim().replace(/^whsec_/, '');
  const key = /^[A-Za-z0-9+/]+={0,2}$/.test(b64) ? Buffer.from(b64, 'base64') : Buffer.alloc(0);
  if (key.length < 16)
    throw new Error(
      'HERALD_RESEND_WEBHOOK_SECRET is not a webhook signing secret: copy it from Resend ' +
        '(Webhooks, the endpoint, Signing secret); it starts with whsec_',
    );
  return key;
}

/** Svix's signature of a message: base64 HMAC-SHA256 of `id.timestamp.body`. */
export function svixSignature(key: Buffer, id: string, timestamp: string, body: string): string {
  return createHmac('sha256', key).update(`${id}.${timestamp}.${body}`, 'utf8').digest('base64');
}

/** Why a request is refused, or null when one of its signatures is by the key and it is recent. */
export function checkResendSignature(
  key: Buffer,
  headers: { id: string | undefined; timestamp: string | undefined; signature: string | undefined },
  rawBody: string,
  now = Date.now(),
): Refusal | null {
  const { id, timestamp, signature } = headers;
  if (!id || !timestamp || !signature)
    return { status: 401, message: 'missing svix-id, svix-timestamp or svix-signature header' };
  if (!/^\d{1,12}$/.test(timestamp) || Math.abs(now - Number(timestamp) * 1000) > SVIX_MAX_SKEW_MS)
    return { status: 403, message: 'the svix-timestamp is not within 5 minutes of now' };
  const want = `v1,${svixSignature(key, id, timestamp, rawBody)}`;
  // Every entry is compared (no early exit), so the time says nothing about which matched.
  let ok = false;
  for (const entry of signature.split(' ')) if (constantTimeEqual(entry, want)) ok = true;
  return ok ? null : { status: 403, message: 'the svix-signature does not match' };
}

type Json = Record<string, unknown>;
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** A tag's value from `{name: value}`, or from `[{name, value}]` as they are sent. */
function tag(tags: unknown, name: string): string | undefined {
  if (Array.isArray(tags))
    return str((tags as Json[]).find((t) => t && typeof t === 'object' && t.name === name)?.value);
  return tags && typeof tags === 'object' ? str((tags as Json)[name]) : undefined;
}

/**
 * The event as delivery events:
 *
 * - `email.delivered` → delivered; `email.opened` → opened; `email.clicked` → clicked (the
 *   link in the detail);
 * - `email.bounced` with `bounce.type` `Permanent` → bounced, each recipient suppressed
 *   (`bounce`); other types (`Transient`, `Undetermined`) are recorded as `soft_bounced`, the
 *   status unchanged;
 * - `email.complained` → complained, each recipient suppressed (`complaint`);
 * - `email.delivery_delayed` → recorded as `delayed`, the status unchanged;
 * - `email.failed` (Resend could not send it) and `email.suppressed` (the address is on
 *   Resend's own suppression list) → failed;
 * - anything else (`email.sent`, `contact.*`, `domain.*`...) is ignored.
 */
export function resendEvents(body: unknown): DeliveryEvent[] {
  if (!body || typeof body !== 'object') return [];
  const e = body as Json;
  const data = (e.data && typeof e.data === 'object' ? e.data : {}) as Json;
  const deliveryId = tag(data.tags, 'herald_delivery_id') ?? null;
  const emailId = str(data.email_id);
  if (!deliveryId && !emailId) return [];
  const created = Date.parse(str(e.created_at) ?? '');
  const base = {
    deliveryId,
    ...(emailId ? { providerMessageId: emailId } : {}),
    at: Number.isNaN(created) ? new Date() : new Date(created),
  };
  const to = (Array.isArray(data.to) ? data.to : [data.to]).filter(
    (a): a is string => typeof a === 'string' && a !== '',
  );
  const nested = (name: string) =>
    (data[name] && typeof data[name] === 'object' ? data[name] : {}) as Json;
  const one = (status: DeliveryEvent['status'], detail: string): DeliveryEvent[] => [
    { ...base, status, detail: detail.slice(0, 2000) },
  ];
  switch (e.type) {
    case 'email.delivered':
      return one('delivered', 'delivered');
    case 'email.opened':
      return one('opened', 'opened');
    case 'email.clicked':
      return one('clicked', str(nested('click').link) ?? 'click');
    case 'email.bounced': {
      const bounce = nested('bounce');
      const type = str(bounce.type) ?? 'Undetermined';
      const subType = str(bounce.subType);
      const message = str(bounce.message);
      const detail = `${type}${subType ? `/${subType}` : ''}${message ? `: ${message}` : ''}`;
      return type === 'Permanent'
        ? suppressingEach(
            { ...base, status: 'bounced', detail: detail.slice(0, 500) },
            to,
            'bounce',
          )
        : one('soft_bounced', detail.slice(0, 500));
    }
    case 'email.complained':
      return suppressingEach(
        { ...base, status: 'complained', detail: 'spam complaint' },
        to,
        'complaint',
      );
    case 'email.delivery_delayed':
      return one('delayed', 'delivery delayed');
    case 'email.failed':
      return one('failed', str(nested('failed').reason)?.slice(0, 500) ?? 'failed');
    case 'email.suppressed': {
      const why = str(nested('suppressed').message);
      return one('failed', `suppressed by Resend${why ? `: ${why.slice(0, 500)}` : ''}`);
    }
    default:
      return [];
  }
}

/**
 * SendGrid's signed Event Webhook: verifying a request and reading its events.
 *
 * SendGrid signs `timestamp + raw body` with ECDSA P-256 (SHA-256) and sends the signature,
 * base64 of the DER form, in `X-Twilio-Email-Event-Webhook-Signature` and the timestamp (Unix
 * seconds) in `X-Twilio-Email-Event-Webhook-Timestamp`. The verification key is shown in the
 * console (Settings, Mail Settings, Event Webhook, Signed Event Webhook) as base64 of the
 * public key's DER (SPKI) form: `HERALD_SENDGRID_WEBHOOK_PUBLIC_KEY`.
 *
 * Each event carries the message's `custom_args`, flattened into the event: the delivery id
 * Herald sent as `herald_delivery_id` (sendgrid.ts) comes back as a top-level field.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import type { DeliveryEvent } from '../../types.js';

export const SIGNATURE_HEADER = 'x-twilio-email-event-webhook-signature';
export const TIMESTAMP_HEADER = 'x-twilio-email-event-webhook-timestamp';
/** A timestamp further than this from now is refused (a replayed request). */
export const MAX_SKEW_MS = 10 * 60_000;

/** Parses the key as SendGrid shows it (base64 DER); throws with what to fix. */
export function sendgridWebhookKey(base64Der: string): KeyObject {
  try {
    const key = createPublicKey({
      key: Buffer.from(base64Der.trim(), 'base64'),
      format: 'der',
      type: 'spki',
    });
    if (key.asymmetricKeyType !== 'ec') throw new Error(`a ${key.asymmetricKeyType} key`);
    return key;
  } catch (err) {
    throw new Error(
      'HERALD_SENDGRID_WEBHOOK_PUBLIC_KEY is not an ECDSA public key in base64 DER: copy the ' +
        `verification key from SendGrid's Signed Event Webhook settings (${(err as Error).message})`,
      { cause: err },
    );
  }
}

/** Why a request is refused, or null when it is signed by the key and recent. */
export function checkSendgridSignature(
  key: KeyObject,
  headers: { signature: string | undefined; timestamp: string | undefined },
  rawBody: string,
  now = Date.now(),
): { status: 401 | 403; message: string } | null {
  const { signature, timestamp } = headers;
  if (!signature || !timestamp)
    return { status: 401, message: 'missing SendGrid signature or timestamp header' };
  if (!/^\d{1,12}$/.test(timestamp) || Math.abs(now - Number(timestamp) * 1000) > MAX_SKEW_MS)
    return { status: 403, message: 'the SendGrid timestamp is not within 10 minutes of now' };
  const ok = verify(
    'sha256',
    Buffer.from(timestamp + rawBody, 'utf8'),
    key,
    Buffer.from(signature, 'base64'),
  );
  return ok ? null : { status: 403, message: 'the SendGrid signature does not match' };
}

/**
 * The events Herald acts on: delivered, bounce (type `bounce`: a hard bounce; `blocked` is
 * temporary), spamreport, open, click. Others (processed, deferred, dropped, unsubscribe...)
 * are ignored, as are events without a `herald_delivery_id`.
 */
export function sendgridEvents(body: unknown): DeliveryEvent[] {
  if (!Array.isArray(body)) return [];
  const out: DeliveryEvent[] = [];
  for (const e of body as Record<string, unknown>[]) {
    if (!e || typeof e !== 'object') continue;
    const deliveryId = typeof e.herald_delivery_id === 'string' ? e.herald_delivery_id : null;
    const email = typeof e.email === 'string' ? e.email : null;
    const at = typeof e.timestamp === 'number' ? new Date(e.timestamp * 1000) : new Date();
    const reason = typeof e.reason === 'string' ? e.reason.slice(0, 500) : null;
    let event: Omit<DeliveryEvent, 'deliveryId' | 'at'> | null = null;
    switch (e.event) {
      case 'delivered':
        event = { status: 'delivered', detail: 'delivered' };
        break;
      case 'bounce':
        if (e.type === 'blocked') break;
        event = {
          status: 'bounced',
          detail: reason ?? 'bounce',
          ...(email ? { suppress: { channel: 'email', address: email, reason: 'bounce' } } : {}),
        };
        break;
      case 'spamreport':
        event = {
          status: 'complained',
          detail: 'spam report',
          ...(email ? { suppress: { channel: 'email', address: email, reason: 'complaint' } } : {}),
        };
        break;
      case 'open':
        event = { status: 'opened', detail: 'open' };
        break;
      case 'click':
        event = {
          status: 'clicked',
          detail: typeof e.url === 'string' ? e.url.slice(0, 2000) : 'click',
        };
        break;
    }
    if (event && (deliveryId || event.suppress)) out.push({ ...event, deliveryId, at });
  }
  return out;
}

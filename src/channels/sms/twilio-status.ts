/**
 * Twilio's message status callbacks: verifying `X-Twilio-Signature` and reading the status.
 *
 * Twilio signs each callback with the account's auth token: HMAC-SHA1 over the full URL it
 * posted to, followed by every form parameter's name and value in name order, base64. The URL
 * is Herald's public one (`HERALD_PUBLIC_URL`), since behind a proxy the request's own URL is
 * not what Twilio saw.
 */
import { createHmac } from 'node:crypto';
import type { DeliveryEvent } from '../../types.js';
import { constantTimeEqual } from '../webhook-check.js';

export const TWILIO_SIGNATURE_HEADER = 'x-twilio-signature';
/** Error codes that mean the number cannot receive messages: the phone is suppressed. */
export const UNREACHABLE_CODES = new Set(['30003', '30005', '30006']);

/** Twilio's signature of a form POST to `url`. */
export function twilioSignature(authToken: string, url: string, params: URLSearchParams): string {
  const pairs = [...params.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const data = url + pairs.map(([k, v]) => k + v).join('');
  return createHmac('sha1', authToken).update(data, 'utf8').digest('base64');
}

/** Whether `signature` is Twilio's for this request (constant-time comparison). */
export function checkTwilioSignature(
  authToken: string,
  url: string,
  params: URLSearchParams,
  signature: string,
): boolean {
  return constantTimeEqual(twilioSignature(authToken, url, params), signature);
}

/**
 * delivered → `delivered`; undelivered or failed → `failed`, or `bounced` with the phone
 * suppressed when the ErrorCode says the number cannot receive (30003 unreachable, 30005
 * unknown, 30006 landline). Other statuses (queued, sending, sent) say nothing new.
 */
export function twilioEvents(params: URLSearchParams): DeliveryEvent[] {
  const sid = params.get('MessageSid') ?? params.get('SmsSid');
  const status = params.get('MessageStatus') ?? params.get('SmsStatus');
  if (!sid) return [];
  const code = params.get('ErrorCode') ?? '';
  const to = params.get('To') ?? '';
  const whatsapp = to.startsWith('whatsapp:');
  const address = whatsapp ? to.slice('whatsapp:'.length) : to;
  const base = { deliveryId: null, providerMessageId: sid, at: new Date() };
  if (status === 'delivered') return [{ ...base, status: 'delivered', detail: 'delivered' }];
  if (status !== 'undelivered' && status !== 'failed') return [];
  const detail = code ? `${status} ${code}` : status;
  if (UNREACHABLE_CODES.has(code) && address)
    return [
      {
        ...base,
        status: 'bounced',
        detail,
        suppress: { channel: whatsapp ? 'whatsapp' : 'sms', address, reason: 'bounce' },
      },
    ];
  return [{ ...base, status: 'failed', detail }];
}

/**
 * The signature of a webhook (docs/channels.md#verifying-a-webhook), in the scheme of Stripe
 * and Standard Webhooks: `Herald-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`, the HMAC
 * keyed with the UTF-8 bytes of `webhookSecret` over `<t>.<the raw body>`. The time is signed
 * with the body, so a receiver that refuses old timestamps refuses replays too.
 */
import { createHmac } from 'node:crypto';

/** The `Herald-Signature` header value for `body` sent at `timestamp` (unix seconds). */
export function webhookSignature(secret: string, timestamp: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex');
  return `t=${timestamp},v1=${mac}`;
}

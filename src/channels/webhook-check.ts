/**
 * What the provider status webhooks' checks share (email/sendgrid-events.ts,
 * email/resend-events.ts, email/postmark-events.ts, email/sns.ts, sms/twilio-status.ts): the
 * shape of a refusal, and a comparison of secrets that takes the same time wherever they
 * differ.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Why a webhook request is refused: 400 it is not what the provider sends, 401 unsigned or
 * without credentials, 403 forged, stale or from a source not allowed, 502 a server the check
 * needs (the SNS signing certificate) did not answer.
 */
export interface Refusal {
  status: 400 | 401 | 403 | 502;
  message: string;
}

const digest = (x: string | Buffer) => createHash('sha256').update(x).digest();

/**
 * Whether two secrets (signatures, passwords) are equal, in time that does not depend on where
 * they differ, nor on their lengths: both are hashed first, so the comparison is always of 32
 * bytes.
 */
export function constantTimeEqual(a: string | Buffer, b: string | Buffer): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

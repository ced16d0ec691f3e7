/**
 * Signatures in the Standard Webhooks format (https://www.standardwebhooks.com), which
 * receivers have libraries for (`standardwebhooks` on npm and PyPI, and others): the headers
 *
 *   webhook-id: <message id, the same on every retry of one message>
 *   webhook-timestamp: <unix seconds of this attempt>
 *   webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<raw body>">
 *
 * keyed with the bytes of a `whsec_<base64>` secret. The id and the time are signed with the
 * body, so a receiver that refuses old timestamps (the libraries allow five minutes) refuses
 * replays, and one that remembers ids refuses duplicates. During a key rotation a request
 * carries one signature per key, space-separated; a receiver accepts any one it can verify.
 *
 * Used by the webhook channel (per-destination keys, keys.ts) and the data hook (its own key,
 * `dataHookSecret`): docs/security.md#secrets-and-signatures.
 */
import { createHmac } from 'node:crypto';

/** The prefix of a secret as Standard Webhooks shows it. */
export const WHSEC_PREFIX = 'whsec_';

/** The fewest key bytes a `whsec_` secret may have (the spec asks 24 to 64). */
export const MIN_KEY_BYTES = 24;

const WHSEC = /^whsec_[A-Za-z0-9+/]+={0,2}$/;

/** Why `secret` is not a usable `whsec_<base64>` secret, or null when it is. */
export function whsecProblem(secret: string): string | null {
  if (!WHSEC.test(secret)) return 'must be whsec_ followed by base64 (openssl rand -base64 32)';
  if (Buffer.from(secret.slice(WHSEC_PREFIX.length), 'base64').length < MIN_KEY_BYTES)
    return `must hold at least ${MIN_KEY_BYTES} bytes (openssl rand -base64 32)`;
  return null;
}

/** The key bytes of a `whsec_<base64>` secret (checked with whsecProblem first). */
export function whsecKey(secret: string): Buffer {
  return Buffer.from(secret.slice(WHSEC_PREFIX.length), 'base64');
}

/** `key` as a receiver configures it: `whsec_<base64>`. */
export function formatWhsec(key: Buffer): string {
  return `${WHSEC_PREFIX}${key.toString('base64')}`;
}

/** Space-separated secrets (the first is current, the rest are being rotated out). */
export function secretList(setting: string | undefined): string[] {
  return (setting ?? '').split(/\s+/).filter((s) => s !== '');
}

/** The `webhook-*` headers of `body`, signed with each of `keys`. */
export function signedHeaders(
  keys: readonly Buffer[],
  id: string,
  timestamp: number,
  body: string,
): { 'webhook-id': string; 'webhook-timestamp': string; 'webhook-signature': string } {
  const content = `${id}.${timestamp}.${body}`;
  const signatures = keys.map(
    (key) => `v1,${createHmac('sha256', key).update(content, 'utf8').digest('base64')}`,
  );
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signatures.join(' '),
  };
}

/**
 * Per-destination webhook keys. One key shared by every receiver would let any receiver sign
 * a request that another accepts, so each destination URL gets its own key, derived from
 * `webhookSecret` with HKDF-SHA256 (RFC 5869):
 *
 *   key(url) = HKDF(ikm = UTF-8 of the secret, salt = "", info = "herald/webhook/v1 " +
 *              hex SHA-256 of the URL as WHATWG URL serializes it, 32 bytes)
 *
 * The URL is hashed into `info` because Node limits `info` to 1024 bytes and URLs may have
 * 2048 characters. Derivation needs no storage and no migration; the app reads a destination's
 * key through the server API (GET /v1/recipients/{id}/webhook-signing-key,
 * GET /v1/types/{name}/webhook-signing-key) and hands it to the receiver. A key binds the
 * audience: a request signed for one URL does not verify with any other URL's key.
 */
import { createHash, hkdfSync } from 'node:crypto';
import { formatWhsec, secretList } from './signature.js';

const INFO_LABEL = 'herald/webhook/v1 ';

/** `url` in the one spelling both signing and the API use (so `HTTPS://X/` = `https://x/`). */
export function canonicalUrl(url: string): string {
  return new URL(url).href;
}

/** The signing key of destination `url` under one master secret. */
export function destinationKey(masterSecret: string, url: string): Buffer {
  const urlHash = createHash('sha256').update(canonicalUrl(url), 'utf8').digest('hex');
  return Buffer.from(hkdfSync('sha256', masterSecret, '', `${INFO_LABEL}${urlHash}`, 32));
}

/**
 * The keys a request to `url` is signed with: one per secret in `webhookSecret` (a
 * space-separated list while a secret is rotated; the first is current).
 */
export function destinationKeys(webhookSecret: string, url: string): Buffer[] {
  return secretList(webhookSecret).map((secret) => destinationKey(secret, url));
}

/** The current `whsec_` signing key of `url`, as the API answers it to the app. */
export function destinationSigningKey(webhookSecret: string, url: string): string {
  const current = secretList(webhookSecret)[0];
  if (!current) throw new Error('webhookSecret is empty');
  return formatWhsec(destinationKey(current, url));
}

/**
 * Personal data out of error text. Providers and SMTP servers quote what they refused
 * ("550 5.1.1 <ada@example.com> user unknown", "The 'To' number +15005550001 is not valid"),
 * and that text would otherwise land in `jobs.last_error`, `deliveries.error` and the log.
 * One function, applied where errors are stored (queue/worker.ts, notify/deliver.ts) and
 * in the logger (obs/log.ts), so every error column and log line goes through it.
 *
 * What it takes out: the recipient's own known values (address, email, phone) when the caller
 * has them; the path and query of URLs (webhook, Slack and Web Push URLs carry secrets there),
 * keeping scheme and host; credentials after `Bearer` or `Basic`; Herald API keys
 * (`hk_<id>_<secret>`) and signing secrets (`whsec_…`); JWTs and other signed base64url JSON
 * (`eyJ…` with one to four `.`-separated parts: recipient tokens, unsubscribe tokens); any
 * email address; long opaque tokens (device tokens, keys: 40+ letters, digits, `_` and `-`);
 * and phone numbers (a `+` and 7-15 digits, or 10-15 bare digits).
 */

const URL_PATH = /\b(https?:\/\/[^\s/?#"'<>]+)[/?#][^\s"'<>]*/gi;
const AUTH = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi;
const API_KEY = /\bhk_[A-Za-z0-9]+_[A-Za-z0-9_-]+/g;
const SIGNING_SECRET = /\bwhsec_[A-Za-z0-9+/=]+/g;
const JWT = /\beyJ[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*){1,4}/g;
const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g;
const TOKEN = /[A-Za-z0-9_-]{40,}/g;
const PHONE = /\+\d(?:[\s().-]?\d){6,14}\b|\b\d{10,15}\b/g;

export function redact(text: string, known: readonly (string | null | undefined)[] = []): string {
  let out = text;
  for (const value of known) {
    if (!value || value.length < 3) continue;
    out = out.split(value).join('[redacted]');
    // Servers often lower-case what they quote.
    const lower = value.toLowerCase();
    if (lower !== value) out = out.split(lower).join('[redacted]');
  }
  // In this order: a URL's path may hold anything below; a credential or a JWT is masked
  // whole before its long parts would be masked one by one as tokens.
  return out
    .replace(URL_PATH, '$1/[redacted]')
    .replace(AUTH, '$1 [redacted]')
    .replace(API_KEY, '[api-key]')
    .replace(SIGNING_SECRET, '[secret]')
    .replace(JWT, '[jwt]')
    .replace(EMAIL, '[email]')
    .replace(TOKEN, '[token]')
    .replace(PHONE, '[phone]');
}

/** `err` as a redacted "Name: message" with its stack frames (no message twice). */
export function redactError(err: Error, known?: readonly (string | null | undefined)[]): string {
  const text = err.stack ?? `${err.name}: ${err.message}`;
  return redact(text, known);
}

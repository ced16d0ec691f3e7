/**
 * Which URLs the webhook and Slack providers post to: only https, so a notification never
 * crosses the network in the clear; plain http only to this machine (127.0.0.1, localhost,
 * ::1), for development and tests. No user name or password in the URL (fetch refuses them; a
 * receiver checks the signature instead). notify/hook-urls.ts applies the same rule when a URL
 * is saved.
 */
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Why `url` cannot be a webhook URL, or null when it can. */
export function hookUrlProblem(url: string): string | null {
  if (url.length > 2048) return 'must be at most 2048 characters';
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'must be an https URL';
  }
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && LOOPBACK.has(u.hostname)))
    return 'must be an https URL (http only to 127.0.0.1, localhost or ::1)';
  if (u.username || u.password) return 'must not contain a user name or password';
  return null;
}

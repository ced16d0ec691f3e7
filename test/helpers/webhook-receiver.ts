/**
 * A webhook receiver written the way docs/channels.md tells receivers to write one: it checks
 * each request with the `standardwebhooks` library (the real receiver library, not Herald's
 * signer), keyed with the signing key the app read from Herald's API for that URL:
 *
 * 1. take the raw body, before any JSON parsing;
 * 2. `new Webhook(key).verify(raw, headers)`: the `webhook-signature` over
 *    `<webhook-id>.<webhook-timestamp>.<raw body>`, a timestamp within five minutes;
 * 3. dedupe on `webhook-id` (a retry carries the same id).
 *
 * Each path has its own key (`trust(path, key)`), as each destination URL has in Herald. It
 * answers 401 to a request that does not verify, else the next answer scripted for the
 * request's path, else 200. Every request is recorded with what verification said.
 */
import { Webhook } from 'standardwebhooks';
import { startHttpService, type RecordedRequest, type Reply } from './http-service.js';

/** Why the request does not verify with `key`, or null when it does. */
export function verifyStandardWebhook(
  key: string | undefined,
  headers: Record<string, string | string[] | undefined>,
  raw: string,
): string | null {
  if (!key) return 'no key for this URL';
  const h = (name: string) => String(headers[name] ?? '');
  try {
    new Webhook(key).verify(raw, {
      'webhook-id': h('webhook-id'),
      'webhook-timestamp': h('webhook-timestamp'),
      'webhook-signature': h('webhook-signature'),
    });
    return null;
  } catch (err) {
    return (err as Error).message; // "No matching signature found", "Message timestamp too old"
  }
}

export interface ReceivedWebhook extends RecordedRequest {
  /** Why it was refused (401), or null when the signature verified. */
  refused: string | null;
  /** A webhook-id already answered 2xx before (a receiver would not act on it again). */
  duplicate: boolean;
}

export interface WebhookReceiver {
  /** The URL of `path` on this receiver. */
  url(path: string): string;
  origin: string;
  requests: ReceivedWebhook[];
  /** The requests to `path`, in order. */
  at(path: string): ReceivedWebhook[];
  /** Verify requests to `path` (path and query) with `key` (`whsec_…`). */
  trust(path: string, key: string): void;
  /** Answers for requests to `path` that verify, each used once before the default 200. */
  script(path: string, ...answers: Reply[]): void;
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const keys = new Map<string, string>();
  const scripts = new Map<string, Reply[]>();
  const handled = new Set<string>();
  const requests: ReceivedWebhook[] = [];
  const service = await startHttpService({}, (req) => {
    const refused = verifyStandardWebhook(keys.get(req.path), req.headers, req.raw);
    const id = String(req.headers['webhook-id'] ?? '');
    const received: ReceivedWebhook = Object.assign(req, {
      refused,
      duplicate: refused === null && handled.has(id),
    });
    requests.push(received);
    if (refused) return { reply: { status: 401, body: { error: refused } } };
    const reply = scripts.get(req.path)?.shift() ?? { status: 200, body: 'ok' };
    if (reply.status >= 200 && reply.status < 300) handled.add(id);
    return { reply };
  });
  return {
    url: (path) => `${service.url}${path}`,
    origin: service.url,
    requests,
    at: (path) => requests.filter((r) => r.path === path),
    trust(path, key) {
      keys.set(path, key);
    },
    script(path, ...answers) {
      scripts.set(path, [...(scripts.get(path) ?? []), ...answers]);
    },
    close: () => service.close(),
  };
}

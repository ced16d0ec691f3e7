/**
 * A webhook receiver written the way docs/channels.md tells receivers to write one, with its
 * own verification code (it does not import Herald's signer):
 *
 * 1. take the raw body, before any JSON parsing;
 * 2. read `t` and the `v1` signatures from `Herald-Signature`;
 * 3. refuse a `t` more than 5 minutes from its own clock (a replay, or a clock far off);
 * 4. compute hex HMAC-SHA256 of `<t>.<raw body>` keyed with the secret, and compare it with
 *    each `v1` in constant time;
 * 5. dedupe on `Herald-Delivery-Id` (a retry carries the same id).
 *
 * It answers 401 to a request that does not verify, else the next answer scripted for the
 * request's path, else 200. Every request is recorded with what verification said.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { startHttpService, type RecordedRequest, type Reply } from './http-service.js';

/** Why the signature header does not verify for `raw`, or null when it does. */
export function verifyHeraldSignature(
  secret: string,
  header: string | undefined,
  raw: string,
  nowSeconds: number,
  toleranceSeconds = 300,
): string | null {
  if (!header) return 'no Herald-Signature header';
  const parts = header.split(',').map((p) => p.trim().split('='));
  const t = parts.find(([k]) => k === 't')?.[1];
  const signatures = parts.filter(([k]) => k === 'v1').map(([, v]) => v ?? '');
  if (!t || !/^\d+$/.test(t) || signatures.length === 0) return 'malformed Herald-Signature';
  if (Math.abs(nowSeconds - Number(t)) > toleranceSeconds) return 'timestamp outside the window';
  const expected = createHmac('sha256', secret).update(`${t}.${raw}`, 'utf8').digest();
  const ok = signatures.some((s) => {
    const given = Buffer.from(s, 'hex');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  return ok ? null : 'signature mismatch';
}

export interface ReceivedWebhook extends RecordedRequest {
  /** Why it was refused (401), or null when the signature verified. */
  refused: string | null;
  /** A delivery id already answered 2xx before (a receiver would not act on it again). */
  duplicate: boolean;
}

export interface WebhookReceiver {
  /** The URL of `path` on this receiver. */
  url(path: string): string;
  origin: string;
  requests: ReceivedWebhook[];
  /** The requests to `path`, in order. */
  at(path: string): ReceivedWebhook[];
  /** Answers for requests to `path` that verify, each used once before the default 200. */
  script(path: string, ...answers: Reply[]): void;
  close(): Promise<void>;
}

export async function startWebhookReceiver(options: {
  secret: string;
  /** The receiver's clock, in ms (a clock that is off, to test the window). */
  now?: () => number;
}): Promise<WebhookReceiver> {
  const now = options.now ?? Date.now;
  const scripts = new Map<string, Reply[]>();
  const handled = new Set<string>();
  const requests: ReceivedWebhook[] = [];
  const service = await startHttpService({}, (req) => {
    const header = req.headers['herald-signature'];
    const refused = verifyHeraldSignature(
      options.secret,
      typeof header === 'string' ? header : undefined,
      req.raw,
      Math.floor(now() / 1000),
    );
    const id = String(req.headers['herald-delivery-id'] ?? '');
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
    script(path, ...answers) {
      scripts.set(path, [...(scripts.get(path) ?? []), ...answers]);
    },
    close: () => service.close(),
  };
}

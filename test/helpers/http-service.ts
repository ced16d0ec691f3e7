/**
 * The base of the local email API servers (resend-server.ts, sendgrid-server.ts,
 * postmark-server.ts): a real HTTP server on 127.0.0.1 that records every request (method,
 * path, headers, raw and parsed body, time) and hands it to the service's own handler, plus
 * the per-recipient faults the tests use:
 *
 * - `permanent`: always refused the way the service refuses a bad or suppressed address;
 * - `unavailable`: always a 5xx;
 * - `flaky`: a 5xx on the first request for that recipient, then accepted;
 * - `rateLimited`: a 429 with the service's rate-limit headers on the first request, then accepted;
 * - `hang`: no answer at all (for timeouts);
 * - `lostAnswer`: on the first request for that recipient the service does its work (an
 *   email is sent) but the answer never comes, as when the sender crashes or the connection
 *   drops after the service accepted; later requests are answered. Services that keep
 *   idempotency keys (resend-server.ts) record the key first.
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  raw: string;
  /** The body parsed as JSON; undefined when it is not JSON. */
  json: unknown;
  at: number;
  /** What the server answered (status 0: nothing, the request hangs). */
  reply?: Reply;
}

export interface Faults {
  permanent?: RegExp;
  unavailable?: RegExp;
  flaky?: RegExp;
  rateLimited?: RegExp;
  hang?: RegExp;
  lostAnswer?: RegExp;
}

export type Fault = keyof Faults;
const FAULT_NAMES: Fault[] = [
  'hang',
  'permanent',
  'unavailable',
  'flaky',
  'rateLimited',
  'lostAnswer',
];

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  /** An object is sent as JSON; a string as text/plain; undefined: no body. */
  body?: unknown;
}

export interface ServiceContext {
  /** The fault for this recipient on this request, if any (flaky/rateLimited/lostAnswer once). */
  faultFor(recipient: string): Fault | undefined;
}

export interface HttpService {
  url: string;
  requests: RecordedRequest[];
  /** The requests whose recipient (as the handler reported it) matches. */
  requestsFor(recipient: string): RecordedRequest[];
  close(): Promise<void>;
}

export async function startHttpService(
  faults: Faults,
  handle: (req: RecordedRequest, ctx: ServiceContext) => { reply: Reply; recipient?: string },
): Promise<HttpService> {
  const requests: RecordedRequest[] = [];
  const byRecipient = new Map<string, RecordedRequest[]>();
  const seen = new Map<string, number>();
  const ctx: ServiceContext = {
    faultFor(recipient) {
      const n = (seen.get(recipient) ?? 0) + 1;
      seen.set(recipient, n);
      for (const fault of FAULT_NAMES) {
        if (!faults[fault]?.test(recipient)) continue;
        if ((fault === 'flaky' || fault === 'rateLimited' || fault === 'lostAnswer') && n > 1)
          continue;
        return fault;
      }
      return undefined;
    },
  };
  const send = (res: ServerResponse, reply: Reply) => {
    const headers: Record<string, string> = { ...reply.headers };
    let body = '';
    if (typeof reply.body === 'string') {
      headers['content-type'] ??= 'text/plain; charset=utf-8';
      body = reply.body;
    } else if (reply.body !== undefined) {
      headers['content-type'] ??= 'application/json; charset=utf-8';
      body = JSON.stringify(reply.body);
    }
    res.writeHead(reply.status, headers).end(body);
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = raw ? JSON.parse(raw) : undefined;
      } catch {
        json = undefined;
      }
      const recorded: RecordedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        raw,
        json,
        at: Date.now(),
      };
      requests.push(recorded);
      const { reply, recipient } = handle(recorded, ctx);
      recorded.reply = reply;
      if (recipient !== undefined) {
        const list = byRecipient.get(recipient) ?? [];
        list.push(recorded);
        byRecipient.set(recipient, list);
      }
      if (reply.status === 0) return; // hang: never answer
      send(res, reply);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    requestsFor: (recipient) => byRecipient.get(recipient) ?? [],
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The JSON object of a request, or undefined when the body is not an object. */
export const objectBody = (req: RecordedRequest): Record<string, unknown> | undefined =>
  req.json && typeof req.json === 'object' && !Array.isArray(req.json)
    ? (req.json as Record<string, unknown>)
    : undefined;

export const isJsonRequest = (req: RecordedRequest): boolean =>
  /^application\/json\b/i.test(req.headers['content-type'] ?? '');

/** Standard, padded base64 (what the email APIs take as attachment content). */
export const isBase64 = (s: unknown): s is string =>
  typeof s === 'string' && s.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(s);

/** `a@b.c` or `Name <a@b.c>`, as the email APIs accept an address. */
export const isMailboxText = (s: unknown): s is string =>
  typeof s === 'string' &&
  /^(?:[^<>\r\n]*<[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+>|[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+)$/.test(s.trim());

/**
 * The real-time protocol's words (API.md, "Real-time inbox"): what a client may send, and the
 * close codes and error events it gets back. Shared by the WebSocket and SSE routes.
 */
import { z } from 'zod';

/** Close codes beyond RFC 6455's: the HTTP status they stand for, plus 4000. */
export const CLOSE = {
  /** No token, a bad one, or one that expired. */
  unauthorized: 4401,
  /** The client did not read its events fast enough; it resumes from its last seq. */
  tooSlow: 4408,
  /** More messages in flight than a client may have (RFC 6455 policy violation). */
  policy: 1008,
  /** The server is shutting down; reconnect (to another process) and resume. */
  goingAway: 1001,
} as const;

/** The longest delay a Node timer takes (about 24.8 days): token expiries look again then. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A frame of this size or more is refused (ws closes with 1009). */
export const MAX_MESSAGE_BYTES = 64 * 1024;

/** Query parameters that would carry a token in the URL: refused, URLs end up in logs. */
export const TOKEN_PARAMS = ['token', 'access_token', 'jwt', 'auth', 'authorization', 'bearer'];

const id = z.string().min(1).max(100);
export const clientMessageSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('auth'),
    token: z
      .string()
      .min(1)
      .max(16 * 1024),
  }),
  z.strictObject({
    type: z.literal('resume'),
    after: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    epoch: z.string().min(1).max(100),
  }),
  z.strictObject({ type: z.literal('read'), id }),
  z.strictObject({ type: z.literal('unread'), id }),
  z.strictObject({ type: z.literal('read_all') }),
  z.strictObject({ type: z.literal('ping') }),
]);

export type ClientMessage = z.infer<typeof clientMessageSchema>;
export const MESSAGE_TYPES = ['auth', 'resume', 'read', 'unread', 'read_all', 'ping'];

/** The resume position in a URL (`?after=N&epoch=…`), or why it is not one. */
export function resumeFromQuery(
  query: URLSearchParams,
  allowed: string[],
): { after?: number; epoch?: string } | { status: 400 | 401; problem: string } {
  for (const key of query.keys()) {
    if (TOKEN_PARAMS.includes(key.toLowerCase()))
      return {
        status: 401,
        problem:
          'a token in the URL is refused (URLs are logged): send it in the Authorization header, the bearer.<JWT> subprotocol, or an {"type":"auth"} message',
      };
    if (!allowed.includes(key)) return { status: 400, problem: `unknown query parameter "${key}"` };
  }
  const after = query.get('after');
  const epoch = query.get('epoch');
  if (after === null) return epoch === null ? {} : { status: 400, problem: 'epoch needs after' };
  if (!/^\d{1,15}$/.test(after))
    return { status: 400, problem: 'after must be a seq (a whole number)' };
  if (epoch !== null && (epoch.length === 0 || epoch.length > 100))
    return { status: 400, problem: 'epoch is not one this server gave out' };
  return { after: Number(after), ...(epoch !== null ? { epoch } : {}) };
}

/** An error event: the connection stays open and nothing changed. */
export const errorEvent = (code: string, message: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ type: 'error', code, message, ...extra });

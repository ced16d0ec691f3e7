/**
 * Request body limits, applied to every route before anything reads a body (auth checks,
 * signature checks and handlers come after). A body with a Content-Length over the limit is
 * refused at once, unread; a chunked body (no length) is counted as the handler reads it and
 * the read fails as soon as the count passes the limit. Either way the answer is 413
 * `payload_too_large`, and the server stops reading and closes the connection rather than
 * draining (reading and discarding) what the client still sends; see `closeUnread`.
 */
import { IncomingMessage, type ServerResponse } from 'node:http';
import type { Context, MiddlewareHandler } from 'hono';
import { HeraldError } from '../errors.js';
import { problem } from './problem.js';

/** The limit of one request: its bytes and the setting that raises it (named in the 413). */
export interface BodyLimit {
  bytes: number;
  setting: string;
}

/** How long a refused request's connection stays open, unread, after the answer. */
const LINGER_MS = 2_000;

/** The 413 answer. */
function tooLarge(limit: BodyLimit): Response {
  return problem(413, 'payload_too_large', tooLargeMessage(limit));
}

const tooLargeMessage = (limit: BodyLimit) =>
  `the request body is over ${limit.bytes} bytes: send less (the limit is ${limit.setting})`;

/** Bounds every request body by `limitFor(c)` (see the module comment). */
export function limitBodies(limitFor: (c: Context) => BodyLimit): MiddlewareHandler {
  return async (c, next) => {
    const limit = limitFor(c);
    const headers = c.req.raw.headers;
    const length = headers.get('content-length');
    const chunked = headers.has('transfer-encoding');
    // With a length (and no chunking) the HTTP parser holds the body to it: one check suffices.
    if (length !== null && !chunked) {
      if (Number(length) <= limit.bytes) return next();
      closeUnread(c);
      return tooLarge(limit);
    }
    const body = c.req.raw.body;
    if (!body) return next();

    const source: ReadableStreamDefaultReader<Uint8Array> = body.getReader();
    let size = 0;
    let ended = false;
    const counted = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { done, value } = await source.read();
        if (done) {
          ended = true;
          controller.close();
          return;
        }
        size += value.byteLength;
        if (size > limit.bytes) {
          // Stop reading: the rest stays unread and the connection is closed after the 413.
          // (Not cancelled: on Node that destroys the socket before the answer is written.)
          controller.error(new HeraldError('payload_too_large', tooLargeMessage(limit)));
          return;
        }
        controller.enqueue(value);
      },
      // Left unread for the same reason; closeUnread ends the connection.
      cancel: () => source.releaseLock(),
    });
    c.req.raw = new Request(c.req.raw, { body: counted, duplex: 'half' });
    await next();
    // A body left partly unread (refused, or never needed) would otherwise be drained.
    if (!ended) closeUnread(c);
  };
}

/**
 * Ends the connection of a request whose body is left unread, without reading any more of it
 * (on Node's HTTP server; in-process requests have no connection). Left alone, Node would
 * read and discard the rest of the body to keep the connection for the next request: for a
 * 480 MB post, 480 MB read. Instead the request stops reading (at most one buffer more), and
 * once the answer is written the server half-closes; the socket is destroyed a moment later.
 * Destroying it at once, with unread data, would reset the connection and could make the
 * client lose the answer (RFC 9112, section 9.6: close in stages).
 */
function closeUnread(c: Context): void {
  const env = c.env as { incoming?: unknown; outgoing?: ServerResponse } | undefined;
  const incoming = env?.incoming;
  const outgoing = env?.outgoing;
  if (!(incoming instanceof IncomingMessage) || !outgoing || incoming.readableEnded) return;
  // Marks the body as being consumed, so Node does not drain it after the answer; paused, the
  // stream stops reading the socket once its small buffer is full.
  incoming.read(0);
  const socket = incoming.socket;
  outgoing.once('finish', () => {
    socket.end();
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  });
}

/**
 * `GET /v1/me/events`: the real-time inbox as Server-Sent Events, for clients that cannot hold
 * a WebSocket (API.md, "Real-time inbox"). Behind the recipient-token middleware of /v1/me.
 *
 * Each event is `event: <type>`, `id: <seq>`, `data: <json>`. A resume is `?after=N&epoch=…`
 * or the `Last-Event-ID` header an EventSource sends when it reconnects (the seq of the last
 * event it got; without an epoch the current one is assumed). Marking read goes over REST.
 *
 * The stream is a ReadableStream the Node adapter pulls only as fast as the client reads, so
 * its queue is the client's backlog: past `sendBufferBytes` the stream is ended (the client
 * reconnects with Last-Event-ID) and the queue is dropped. A comment line every
 * `pingIntervalMs` keeps proxies from closing an idle stream. The stream ends when the token
 * expires.
 */
import { decodeJwt } from 'jose';
import type { Context } from 'hono';
import type { Herald } from '../herald.js';
import type { Frame, Transport } from '../realtime/feed.js';
import type { RecipientEnv } from './auth.js';
import { problem } from './problem.js';
import { MAX_TIMER_MS, resumeFromQuery } from './realtime-messages.js';

const encoder = new TextEncoder();

const sseText = (frame: Frame) =>
  `event: ${frame.type}\n${frame.seq !== undefined ? `id: ${frame.seq}\n` : ''}data: ${frame.json}\n\n`;

export function sseRoute(herald: Herald) {
  const { realtime: hub, config } = herald;
  const limit = config.realtime.sendBufferBytes;

  return async (c: Context<RecipientEnv>): Promise<Response> => {
    const recipientId = c.get('recipientId');
    const query = resumeFromQuery(new URL(c.req.url).searchParams, ['after', 'epoch']);
    if ('problem' in query)
      return problem(
        query.status,
        query.status === 401 ? 'unauthorized' : 'validation_failed',
        query.problem,
      );
    const lastEventId = c.req.header('last-event-id');
    if (lastEventId !== undefined && !/^\d{1,15}$/.test(lastEventId))
      return problem(400, 'validation_failed', 'Last-Event-ID is not a seq this server sent');
    const after = lastEventId !== undefined ? Number(lastEventId) : query.after;
    // Verified by the middleware; read again only for its expiry.
    const token = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '')?.[1] ?? '';
    const exp = decodeJwt(token).exp;

    let controller!: ReadableStreamDefaultController<Uint8Array>;
    let drainWaiters: (() => void)[] = [];
    let ended = false;
    let timers: NodeJS.Timeout[] = [];
    const transport: Transport = {
      send(frame) {
        if (!ended) controller.enqueue(encoder.encode(sseText(frame)));
      },
      buffered: () => (ended ? 0 : limit - (controller.desiredSize ?? 0)),
      drained: () =>
        ended || (controller.desiredSize ?? 0) > 0
          ? Promise.resolve()
          : new Promise((resolve) => drainWaiters.push(resolve)),
      closeSlow() {
        hub.countSlow();
        end(new Error('too slow'));
      },
    };
    const attached = hub.attach(recipientId, transport);
    function end(err?: Error): void {
      if (ended) return;
      ended = true;
      for (const t of timers) clearTimeout(t);
      timers = [];
      void attached.then(({ feed }) => feed.close()).catch(() => undefined);
      for (const w of drainWaiters) w();
      drainWaiters = [];
      try {
        // An error drops what the client has not read; a plain end lets it drain.
        if (err) controller.error(err);
        else controller.close();
      } catch {
        // already closed by the client going away
      }
    }

    const body = new ReadableStream<Uint8Array>(
      {
        start(c) {
          controller = c;
        },
        pull() {
          const waiters = drainWaiters;
          drainWaiters = [];
          for (const w of waiters) w();
        },
        cancel() {
          end();
        },
      },
      { highWaterMark: limit, size: (chunk) => chunk.byteLength },
    );

    const { feed, head } = await attached;
    if (after !== undefined) {
      feed.start(head, true);
      void hub.resume(feed, after, query.epoch ?? head.epoch, head).catch(() => end());
    } else feed.start(head);
    const ping = setInterval(() => {
      if (!ended) controller.enqueue(encoder.encode(': ping\n\n'));
    }, config.realtime.pingIntervalMs);
    ping.unref();
    timers.push(ping);
    const expireAt = (exp: number) => {
      const ms = exp * 1000 - Date.now();
      if (ms <= 0) return end();
      // Looked at again at the latest in 24 days: a longer timer would fire at once.
      const expiry = setTimeout(() => expireAt(exp), Math.min(ms, MAX_TIMER_MS));
      expiry.unref();
      timers.push(expiry);
    };
    if (typeof exp === 'number') expireAt(exp);
    c.req.raw.signal.addEventListener('abort', () => end());

    return new Response(body, {
      headers: {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-accel-buffering': 'no',
      },
    });
  };
}

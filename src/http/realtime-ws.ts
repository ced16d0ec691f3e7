/**
 * `WS /v1/me/ws`: the real-time inbox over WebSocket (API.md, "Real-time inbox"), on the `ws`
 * package. The HTTP server hands every upgrade request here (server.ts).
 *
 * Auth comes before the upgrade when it can: `Authorization: Bearer <JWT>`, or from a browser
 * the subprotocols `herald.v1` and `bearer.<JWT>`; a bad token is a 401 and no socket. Without
 * either, the socket opens and must send `{"type":"auth","token"}` within `authTimeoutMs`. A
 * token in the URL is refused. The connection closes with 4401 when its token expires, unless
 * the client sent a fresh token of the same recipient (an `auth` message) before that.
 *
 * Each connection is a feed of the hub (feed.ts). The client's messages are handled one at a
 * time, in order; at most MAX_PENDING may wait, a client sending faster is closed (1008).
 */
import type { IncomingMessage } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { Herald } from '../herald.js';
import type { HeraldConfig } from '../config.js';
import type { Feed, Frame, Transport } from '../realtime/feed.js';
import { makeRecipientVerifier, type TokenCheck } from './auth.js';
import {
  CLOSE,
  MAX_MESSAGE_BYTES,
  MAX_TIMER_MS,
  MESSAGE_TYPES,
  clientMessageSchema,
  errorEvent,
  resumeFromQuery,
  type ClientMessage,
} from './realtime-messages.js';
import { egressFromConfig } from '../net/egress.js';

export const WS_PATH = '/v1/me/ws';
const PROTOCOL = 'herald.v1';
const BEARER_PROTOCOL = 'bearer.';
/** Messages of one client waiting to be handled; more is a flood (1008). */
const MAX_PENDING = 64;
/** How long a client closed as too slow has to read its close frame before the socket goes. */
const SLOW_CLOSE_GRACE_MS = 5_000;
/** How long a shutdown waits for clients to answer the going-away close. */
const CLOSE_WAIT_MS = 2_000;

export interface RealtimeServer {
  /** The HTTP server's 'upgrade' listener. */
  upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /** Connections now open (authenticated or not). */
  readonly size: number;
  /** Closes every connection with 1001 (going away): they reconnect elsewhere and resume. */
  close: () => Promise<void>;
}

/** The recipient token checker of this Herald's configuration (as /v1/me uses). */
export function recipientVerifier(
  herald: Herald,
): (token: string | undefined) => Promise<TokenCheck> {
  const { config } = herald;
  return makeRecipientVerifier({
    secret: config.jwtSecret,
    publicKey: config.jwtPublicKey,
    algorithm: config.jwtAlgorithm,
    jwksUrl: config.jwksUrl,
    egress: egressFromConfig(config, herald.log),
    claims: {
      audience: config.jwtAudience,
      issuer: config.jwtIssuer,
      maxLifetime: config.jwtMaxLifetime,
    },
  });
}

/** A text frame's data (a Buffer with ws's default binaryType; the other shapes for safety). */
const textOf = (data: RawData): string =>
  Array.isArray(data)
    ? Buffer.concat(data).toString()
    : Buffer.isBuffer(data)
      ? data.toString()
      : Buffer.from(data).toString();

/** Answers an upgrade request with an HTTP problem and no socket. */
function refuse(socket: Duplex, status: number, code: string, detail: string): void {
  const body = JSON.stringify({
    type: `https://herald.dev/problems/${code}`,
    title: code.replace(/_/g, ' '),
    status,
    detail,
    code,
  });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
      'Content-Type: application/problem+json\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** The token of an upgrade request: the Authorization header, or the bearer subprotocol. */
function tokenOf(req: IncomingMessage): string | undefined {
  const header = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  if (header?.[1]) return header[1];
  const protocols = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
  return protocols.find((p) => p.startsWith(BEARER_PROTOCOL))?.slice(BEARER_PROTOCOL.length);
}

export function makeRealtimeServer(
  herald: Herald,
  /** Settings of this server that differ from the configuration's (tests). */
  overrides: Partial<Pick<HeraldConfig['realtime'], 'pingIntervalMs' | 'authTimeoutMs'>> = {},
): RealtimeServer {
  const { realtime: hub, log, config } = herald;
  const verify = recipientVerifier(herald);
  const { authTimeoutMs, pingIntervalMs } = { ...config.realtime, ...overrides };
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_MESSAGE_BYTES,
    perMessageDeflate: false,
    clientTracking: true,
    // Only herald.v1 is ever selected: the bearer.<JWT> protocol is never echoed back.
    handleProtocols: (protocols) => (protocols.has(PROTOCOL) ? PROTOCOL : false),
  });
  const alive = new WeakSet<WebSocket>();

  // One timer for every connection: a peer that did not answer the last ping is gone.
  const pinger = setInterval(() => {
    for (const ws of wss.clients) {
      if (!alive.has(ws)) {
        ws.terminate();
        continue;
      }
      alive.delete(ws);
      ws.ping();
    }
  }, pingIntervalMs);
  pinger.unref();

  function connection(
    ws: WebSocket,
    verified: { sub: string; exp: number | undefined } | undefined,
    resume: { after?: number; epoch?: string },
  ): void {
    alive.add(ws);
    ws.on('pong', () => alive.add(ws));
    let recipientId: string | undefined;
    let feed: Feed | undefined;
    let expiry: NodeJS.Timeout | undefined;
    let pending = 0;
    let chain: Promise<void> = Promise.resolve();
    let closed = false;

    const sendError = (code: string, message: string, extra?: Record<string, unknown>) =>
      ws.send(errorEvent(code, message, extra));
    const close = (code: number, reason: string) => {
      if (!closed) ws.close(code, reason);
      closed = true;
    };

    // Writes are counted so a replay can wait until the client has taken what it was sent.
    let unwritten = 0;
    let drainWaiters: (() => void)[] = [];
    const written = () => {
      if (--unwritten > 0) return;
      const waiters = drainWaiters;
      drainWaiters = [];
      for (const w of waiters) w();
    };
    const transport: Transport = {
      send(frame: Frame) {
        if (ws.readyState !== ws.OPEN) return;
        unwritten++;
        ws.send(frame.json, written);
      },
      buffered: () => ws.bufferedAmount,
      drained: () =>
        unwritten === 0 || ws.readyState !== ws.OPEN
          ? Promise.resolve()
          : new Promise((resolve) => drainWaiters.push(resolve)),
      closeSlow() {
        hub.countSlow();
        close(CLOSE.tooSlow, 'too slow: reconnect and resume from your last seq');
        // The close frame waits behind what the client has not read; past the grace the
        // socket goes, and with it the memory.
        setTimeout(() => ws.terminate(), SLOW_CLOSE_GRACE_MS).unref();
      },
    };

    function expireAt(exp: number | undefined): void {
      if (expiry) clearTimeout(expiry);
      if (exp === undefined) return;
      const ms = exp * 1000 - Date.now();
      if (ms <= 0) return close(CLOSE.unauthorized, 'token expired');
      // Looked at again at the latest in 24 days: a longer timer would fire at once.
      expiry = setTimeout(() => expireAt(exp), Math.min(ms, MAX_TIMER_MS));
      expiry.unref();
    }

    async function authenticated(sub: string, exp: number | undefined): Promise<void> {
      recipientId = sub;
      expireAt(exp);
      const attached = await hub.attach(sub, transport);
      feed = attached.feed;
      if (closed) return feed.close();
      if (resume.after !== undefined) {
        feed.start(attached.head, true);
        const { head } = attached;
        await hub.resume(feed, resume.after, resume.epoch ?? head.epoch, head);
      } else feed.start(attached.head);
    }

    async function handle(message: ClientMessage): Promise<void> {
      if (message.type === 'auth') {
        const check = await verify(message.token);
        if (!check.ok) return close(CLOSE.unauthorized, check.detail.slice(0, 120));
        if (recipientId === undefined) {
          clearTimeout(authTimer);
          return authenticated(check.sub, check.exp);
        }
        // A fresh token for the same recipient extends the connection.
        if (check.sub !== recipientId)
          return close(CLOSE.unauthorized, 'the token is of another recipient');
        return expireAt(check.exp);
      }
      if (recipientId === undefined || !feed)
        return close(CLOSE.unauthorized, 'authenticate first: {"type":"auth","token":"<JWT>"}');
      switch (message.type) {
        case 'ping':
          ws.send(JSON.stringify({ type: 'pong' }));
          return;
        case 'resume':
          return hub.resume(feed, message.after, message.epoch);
        case 'read':
        case 'unread':
          // Answered by the `updated` event, on every connection of the recipient.
          if (!(await herald.inbox.markRead(recipientId, message.id, message.type === 'read')))
            sendError('not_found', `no notification "${message.id}" in your inbox`, {
              id: message.id,
            });
          return;
        case 'read_all':
          await herald.inbox.markAllRead(recipientId);
          return;
      }
    }

    function onMessage(data: RawData, isBinary: boolean): void {
      if (closed) return;
      if (isBinary) return sendError('invalid_message', 'send JSON text frames');
      let parsed: unknown;
      try {
        parsed = JSON.parse(textOf(data));
      } catch {
        return sendError('invalid_json', 'the message is not JSON');
      }
      const type = (parsed as { type?: unknown } | null)?.type;
      if (typeof type !== 'string' || !MESSAGE_TYPES.includes(type))
        return sendError(
          'unknown_type',
          `unknown message type; known: ${MESSAGE_TYPES.join(', ')}`,
        );
      const result = clientMessageSchema.safeParse(parsed);
      if (!result.success) {
        const issue = result.error.issues[0];
        return sendError(
          'invalid_message',
          `${type}: ${issue?.path.join('.') || 'message'} ${issue?.message ?? 'is not valid'}`,
        );
      }
      if (++pending > MAX_PENDING) return close(CLOSE.policy, 'too many messages at once');
      chain = chain
        .then(() => handle(result.data))
        .catch((err: unknown) => {
          log.warn({ err: (err as Error).message }, 'realtime:message-failed');
          sendError('internal', 'the server could not do that now; try again');
        })
        .finally(() => pending--);
    }

    const authTimer = verified
      ? undefined
      : setTimeout(
          () => close(CLOSE.unauthorized, 'no auth message in time'),
          authTimeoutMs,
        ).unref();
    ws.on('message', onMessage);
    ws.on('error', () => undefined); // a reset connection; 'close' follows
    ws.on('close', () => {
      closed = true;
      clearTimeout(authTimer);
      if (expiry) clearTimeout(expiry);
      feed?.close();
      for (const w of drainWaiters) w();
      drainWaiters = [];
    });
    if (verified)
      chain = authenticated(verified.sub, verified.exp).catch((err: unknown) => {
        log.warn({ err: (err as Error).message }, 'realtime:attach-failed');
        close(1011, 'the server could not start this connection; reconnect');
      });
  }

  return {
    upgrade: (req, socket, head) => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname !== WS_PATH)
        return refuse(socket, 404, 'not_found', `no WebSocket at ${url.pathname}`);
      const resume = resumeFromQuery(url.searchParams, ['after', 'epoch']);
      if ('problem' in resume)
        return refuse(
          socket,
          resume.status,
          resume.status === 401 ? 'unauthorized' : 'validation_failed',
          resume.problem,
        );
      const token = tokenOf(req);
      const accept = (verified?: { sub: string; exp: number | undefined }) =>
        wss.handleUpgrade(req, socket, head, (ws) => connection(ws, verified, resume));
      if (token === undefined) return accept();
      void verify(token).then(
        (check) =>
          check.ok
            ? accept({ sub: check.sub, exp: check.exp })
            : refuse(socket, 401, 'unauthorized', check.detail),
        () => refuse(socket, 500, 'internal', 'the token could not be checked'),
      );
    },
    get size() {
      return wss.clients.size;
    },
    async close() {
      clearInterval(pinger);
      for (const ws of wss.clients) ws.close(CLOSE.goingAway, 'server shutting down');
      // Clients that do not answer the close frame soon are cut.
      const deadline = Date.now() + CLOSE_WAIT_MS;
      while (wss.clients.size > 0 && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 20));
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

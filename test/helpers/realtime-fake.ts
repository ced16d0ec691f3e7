/**
 * A stand-in for Herald's real-time inbox, as API.md "Real-time inbox" specifies it: the
 * WebSocket at /v1/me/ws (subprotocol or first-message auth, ready, resume with replay or
 * reset, read/unread/read_all answered by `updated`, ping/pong) and the REST inbox beside it,
 * for one recipient's items held in memory. The browser client's tests drive it to reach the
 * cases a real server makes hard to time: a live event before the replay, a dead connection,
 * a token that expires mid-connection.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { jwtVerify, SignJWT } from 'jose';
import { WebSocketServer, type WebSocket } from 'ws';
import type { InboxItem } from '../../src/notify/inbox.js';

export const FAKE_SECRET = 'a-fake-realtime-secret-of-32-characters';

/** A recipient token for `sub`, living `seconds`. */
export function fakeToken(sub: string, seconds = 300): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + seconds)
    .sign(new TextEncoder().encode(FAKE_SECRET));
}

type Event = { seq: number } & Record<string, unknown>;

export class FakeHerald {
  url = '';
  epoch = 'epoch-1';
  /** Events, in seq order; those at or below `forgotten` are gone (a resume from there resets). */
  log: Event[] = [];
  forgotten = 0;
  items = new Map<string, InboxItem>();
  /** Every client message, with the connection's number. */
  received: { conn: number; message: Record<string, unknown> }[] = [];
  /** The subprotocols each connection offered. */
  offered: string[][] = [];
  /** Tokens each connection authenticated with, in order. */
  tokens: string[] = [];
  /** REST calls: `METHOD path`. */
  restCalls: string[] = [];
  answerPings = true;
  /** While set, every connection attempt fails as on a network that is down. */
  unreachable = false;
  /** Called when a resume arrives, before the replay (to slip a live event in first). */
  beforeReplay: (() => void) | undefined;
  private http: Server;
  private wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (p) => (p.has('herald.v1') ? 'herald.v1' : false),
  });
  private sockets = new Set<WebSocket>();
  private connections = 0;

  constructor() {
    this.http = createServer(
      (req, res) =>
        void this.rest(req.method ?? 'GET', req.url ?? '/', req.headers.authorization, res),
    );
    this.http.on('upgrade', (req, socket, head) => void this.upgrade(req, socket, head));
  }

  async start(port = 0): Promise<void> {
    await new Promise<void>((resolve) => this.http.listen(port, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.http.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const ws of this.sockets) ws.terminate();
    this.wss.close();
    this.http.closeAllConnections();
    await new Promise((resolve) => this.http.close(resolve));
  }

  get head(): number {
    return this.log.at(-1)?.seq ?? this.forgotten;
  }

  get unreadCount(): number {
    return [...this.items.values()].filter((i) => !i.read).length;
  }

  get open(): number {
    return this.sockets.size;
  }

  /** A new item: logged and sent to every open connection. */
  add(id: string, title = id): InboxItem {
    const item: InboxItem = {
      id,
      type: 'note',
      title,
      body: null,
      actionUrl: null,
      data: {},
      read: false,
      readAt: null,
      createdAt: new Date().toISOString(),
    };
    this.items.set(id, item);
    this.emit({ type: 'notification', item, unreadCount: this.unreadCount });
    return item;
  }

  setRead(id: string, read: boolean): void {
    const item = this.items.get(id);
    if (!item || item.read === read) return;
    item.read = read;
    item.readAt = read ? new Date().toISOString() : null;
    this.emit({ type: 'updated', id, read, deleted: false, unreadCount: this.unreadCount });
  }

  /** Closes every connection with `code`. */
  closeAll(code: number, reason = ''): void {
    for (const ws of this.sockets) ws.close(code, reason);
  }

  /** Drops every connection without a close frame (a dead network). */
  cut(): void {
    for (const ws of this.sockets) ws.terminate();
  }

  private emit(event: Record<string, unknown>): void {
    const e = { ...event, seq: this.head + 1 };
    this.log.push(e);
    for (const ws of this.sockets) ws.send(JSON.stringify(e));
  }

  private async verify(token: string | undefined): Promise<boolean> {
    if (!token) return false;
    try {
      await jwtVerify(token, new TextEncoder().encode(FAKE_SECRET));
      return true;
    } catch {
      return false;
    }
  }

  private async upgrade(
    req: import('node:http').IncomingMessage,
    socket: import('node:stream').Duplex,
    head: Buffer,
  ): Promise<void> {
    if (this.unreachable) return void socket.destroy();
    const offered = (req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean);
    const bearer = offered.find((p) => p.startsWith('bearer.'))?.slice('bearer.'.length);
    if (bearer !== undefined && !(await this.verify(bearer))) {
      socket.end('HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const conn = ++this.connections;
      this.offered.push(offered);
      this.sockets.add(ws);
      ws.on('close', () => this.sockets.delete(ws));
      const ready = () =>
        ws.send(
          JSON.stringify({
            type: 'ready',
            seq: this.head,
            epoch: this.epoch,
            unreadCount: this.unreadCount,
          }),
        );
      if (bearer !== undefined) {
        this.tokens.push(bearer);
        ready();
      }
      let authed = bearer !== undefined;
      ws.on(
        'message',
        (data: Buffer) =>
          void this.message(
            conn,
            ws,
            JSON.parse(data.toString()) as Record<string, unknown>,
            () => {
              if (!authed) ready();
              authed = true;
            },
          ),
      );
    });
  }

  private async message(
    conn: number,
    ws: WebSocket,
    m: Record<string, unknown>,
    authed: () => void,
  ): Promise<void> {
    this.received.push({ conn, message: m });
    switch (m.type) {
      case 'auth':
        if (!(await this.verify(String(m.token)))) return ws.close(4401, 'bad token');
        this.tokens.push(String(m.token));
        return authed();
      case 'ping':
        if (this.answerPings) ws.send(JSON.stringify({ type: 'pong' }));
        return;
      case 'resume': {
        const after = Number(m.after);
        if (m.epoch !== this.epoch || after < this.forgotten)
          return ws.send(JSON.stringify({ type: 'reset', epoch: this.epoch }));
        this.beforeReplay?.();
        for (const e of this.log.filter((x) => x.seq > after)) ws.send(JSON.stringify(e));
        return;
      }
      case 'read':
      case 'unread': {
        const id = String(m.id);
        if (!this.items.has(id))
          return ws.send(
            JSON.stringify({ type: 'error', code: 'not_found', message: 'no such item', id }),
          );
        return this.setRead(id, m.type === 'read');
      }
      case 'read_all':
        for (const id of this.items.keys()) this.setRead(id, true);
        return;
    }
  }

  private async rest(
    method: string,
    url: string,
    auth: string | undefined,
    res: import('node:http').ServerResponse,
  ): Promise<void> {
    this.restCalls.push(`${method} ${url}`);
    const json = (status: number, body?: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(body === undefined ? undefined : JSON.stringify(body));
    };
    if (!(await this.verify(/^Bearer (\S+)$/.exec(auth ?? '')?.[1])))
      return json(401, { code: 'unauthorized', status: 401, detail: 'bad token' });
    const path = new URL(url, 'http://x').pathname;
    const mark = /^\/v1\/me\/notifications\/([^/]+)\/(read|unread)$/.exec(path);
    if (method === 'GET' && path === '/v1/me/unread-count')
      return json(200, { count: this.unreadCount });
    if (method === 'GET' && path === '/v1/me/notifications')
      return json(200, { items: [...this.items.values()].reverse(), nextCursor: null });
    if (method === 'POST' && path === '/v1/me/notifications/read-all') {
      for (const id of this.items.keys()) this.setRead(id, true);
      return json(200, { updated: 0 });
    }
    if (method === 'POST' && mark?.[1] && this.items.has(mark[1])) {
      this.setRead(mark[1], mark[2] === 'read');
      res.writeHead(204).end();
      return;
    }
    json(404, { code: 'not_found', status: 404, detail: 'no such thing' });
  }
}

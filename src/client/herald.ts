/**
 * herald/client: the recipient's inbox in a browser (or Node), live over Herald's WebSocket
 * (`/v1/me/ws`) with the REST inbox beside it. No dependencies and no Node imports: Herald
 * serves this file as it is at `/client/herald.js`.
 *
 * ```js
 * import { connect } from 'https://herald.example.com/client/herald.js';
 * const herald = connect({ url: 'https://herald.example.com', getToken: () => myApp.heraldToken() });
 * herald.on('notification', ({ item }) => show(item));
 * herald.on('unread', (count) => (badge.textContent = String(count)));
 * ```
 *
 * What it does for the page (docs/realtime-client.md): reconnects with jittered exponential
 * backoff and resumes from the last event seen, so nothing is missed or applied twice; renews
 * the token before it expires; pings, since a page cannot see WebSocket pings, and reconnects
 * when the server stops answering; closes the socket in a tab hidden for a while and resumes
 * when it is shown again.
 */
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { Emitter } from './emitter.js';
import { Marks } from './marks.js';
import {
  parseServerMessage,
  SUBPROTOCOL,
  type ClientMessage,
  type InboxItem,
  type InboxPage,
  type ServerMessage,
} from './protocol.js';
import { HeraldError, Rest, type FetchLike, type ListOptions } from './rest.js';
import { Sequence } from './sequence.js';
import { TokenSource, refreshLead, type GetToken } from './token.js';

export type { BackoffOptions, FetchLike, GetToken, InboxItem, InboxPage, ListOptions };
export { HeraldError };

/**
 * The part of a WebSocket the client uses: the browser's, or the `ws` package's in Node
 * (`import { WebSocket } from 'ws'`).
 */
export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: string, listener: (event: SocketEvent) => void): void;
}
/** What the client reads of a socket's events: a message's `data`, a close's `code`. */
export interface SocketEvent {
  type: string;
  data?: unknown;
  code?: number;
}
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => SocketLike;

export interface ConnectOptions {
  /**
   * Herald's base URL, e.g. `https://herald.example.com` (a path prefix is kept), or one
   * relative to the page, e.g. `/herald` when the app's server passes that path on to Herald.
   */
  url: string;
  /** A recipient JWT. When it expires (close code 4401) the client stops: prefer `getToken`. */
  token?: string;
  /** Returns a fresh recipient JWT from the app; called at start, before `exp`, and on 4401. */
  getToken?: GetToken;
  /** The WebSocket class. Default the global one (browsers; Node 22+); Node 20: `ws`'s. */
  WebSocket?: WebSocketConstructor;
  /** The fetch function for the REST calls. Default the global `fetch`. */
  fetch?: FetchLike;
  /**
   * How the socket presents the token: `protocol` (default) as the subprotocol
   * `bearer.<JWT>` beside `herald.v1`; `message` as a first `{"type":"auth"}` message, which
   * keeps it out of the request headers proxies may log.
   */
  auth?: 'protocol' | 'message';
  /** How often to ping, ms. Default 25000. */
  pingIntervalMs?: number;
  /** No pong (or any frame) this long after a ping and the connection is dead, ms. Default 10000. */
  pongTimeoutMs?: number;
  /** Close the socket once the tab has been hidden this long, ms; `false` never. Default 60000. */
  hiddenCloseMs?: number | false;
  /** Reconnect delays (full jitter): `minMs` 1000, `maxMs` 30000 by default. */
  backoff?: BackoffOptions;
  /** How long a read sent over the socket waits for its answer before going over REST, ms. Default 5000. */
  answerTimeoutMs?: number;
}

/**
 * Where the connection is: `connecting`, `live` (ready, events flowing), `waiting` (to
 * reconnect after `retryInMs`), `paused` (hidden tab), `stopped` (the fixed token was refused:
 * only a new `connect` helps), `closed` (by `close()`).
 */
export type Status = 'connecting' | 'live' | 'waiting' | 'paused' | 'stopped' | 'closed';

export interface StatusChange {
  status: Status;
  /** With `waiting`: when the next attempt starts. */
  retryInMs?: number;
  /** The close code that ended the last connection, if it was closed. */
  code?: number;
}

export interface ClientEvents {
  /** Connected and authenticated; `resumed` when it carries on from an earlier connection. */
  ready: { seq: number; epoch: string; unreadCount: number; resumed: boolean };
  /** A new item, live or replayed after a reconnect. */
  notification: { seq: number; item: InboxItem; unreadCount: number };
  /** An item read, unread or deleted (by this page, another tab, or the app's server). */
  updated: { seq: number; id: string; read: boolean; deleted: boolean; unreadCount: number };
  /** The unread count changed. */
  unread: number;
  /** Events were lost (history gone): refetch the list with `list()`. */
  reset: { epoch: string };
  status: StatusChange;
  /** A refusal or failure: a server `error` event, a token that could not be had. */
  error: HeraldError;
}

const OPEN = 1;

interface Listenable {
  addEventListener(type: string, listener: () => void): void;
  removeEventListener(type: string, listener: () => void): void;
}

/**
 * What the client looks for on the global object. Typed here rather than through the DOM
 * library, so this file compiles against Node's types too (tests run it in Node).
 */
interface PageGlobals extends Listenable {
  WebSocket: WebSocketConstructor;
  fetch: FetchLike;
  document: Listenable & { visibilityState: string };
  location: { href: string };
}
const page = globalThis as unknown as Partial<PageGlobals>;

export class HeraldClient {
  private readonly events = new Emitter<ClientEvents>();
  private readonly rest: Rest;
  private readonly tokens: TokenSource;
  private readonly seq = new Sequence();
  private readonly marks: Marks;
  private readonly wsUrl: string;
  private readonly WS: WebSocketConstructor;
  private socket: SocketLike | undefined;
  /** This connection's `ready.seq`: events below it are replays and carry old unread counts. */
  private readySeq: number | undefined;
  private failures = 0;
  /** Counts open() calls, so a slow token fetch cannot start a second socket. */
  private attempt = 0;
  private unread: number | undefined;
  private state: Status = 'connecting';
  private timers = new Map<
    'retry' | 'ping' | 'pong' | 'refresh' | 'hidden',
    ReturnType<typeof setTimeout>
  >();
  private readonly detach: (() => void)[] = [];

  constructor(private readonly options: ConnectOptions) {
    // Relative to the page (`/herald` behind the app's own reverse proxy) or absolute.
    const absolute = new URL(options.url, page.location?.href).toString();
    const base = absolute.endsWith('/') ? absolute : `${absolute}/`;
    const ws = new URL('v1/me/ws', base);
    ws.protocol = ws.protocol === 'https:' ? 'wss:' : 'ws:';
    this.wsUrl = ws.toString();
    const WS = options.WebSocket ?? page.WebSocket;
    if (!WS)
      throw new TypeError('herald: no WebSocket here: pass `WebSocket` (in Node: the ws package)');
    this.WS = WS;
    const fetchFn = options.fetch ?? page.fetch?.bind(globalThis);
    if (!fetchFn) throw new TypeError('herald: no fetch here: pass `fetch`');
    this.tokens = new TokenSource(options.token, options.getToken);
    this.rest = new Rest(base, this.tokens, fetchFn);
    this.marks = new Marks(options.answerTimeoutMs ?? 5_000);
    this.watchPage();
    void this.open();
  }

  /** Listens for an event; returns the function that stops listening. */
  on<K extends keyof ClientEvents>(type: K, fn: (value: ClientEvents[K]) => void): () => void {
    return this.events.on(type, fn);
  }

  off<K extends keyof ClientEvents>(type: K, fn: (value: ClientEvents[K]) => void): void {
    this.events.off(type, fn);
  }

  get status(): Status {
    return this.state;
  }

  /** The last unread count seen (socket or REST), or undefined before the first. */
  get unreadCountNow(): number | undefined {
    return this.unread;
  }

  /** A page of the inbox over REST, newest first. */
  list(options: ListOptions = {}): Promise<InboxPage> {
    return this.rest.list(options);
  }

  /** The unread count: the live one when connected, else asked over REST. */
  async unreadCount(): Promise<number> {
    if (this.state === 'live' && this.unread !== undefined) return this.unread;
    const count = await this.rest.unreadCount();
    this.setUnread(count);
    return count;
  }

  markRead(id: string): Promise<void> {
    return this.mark(
      { type: 'read', id },
      id,
      (e) => e.id === id && e.read,
      () => this.rest.mark(id, true),
    );
  }

  markUnread(id: string): Promise<void> {
    return this.mark(
      { type: 'unread', id },
      id,
      (e) => e.id === id && !e.read,
      () => this.rest.mark(id, false),
    );
  }

  markAllRead(): Promise<void> {
    // Nothing unread: the server has nothing to change, so no event would answer.
    if (this.state === 'live' && this.unread === 0) return Promise.resolve();
    return this.mark(
      { type: 'read_all' },
      undefined,
      (e) => e.unreadCount === 0,
      () => this.rest.markAllRead(),
    );
  }

  /** Closes the connection for good and stops every timer. */
  close(): void {
    if (this.state === 'closed') return;
    this.setStatus({ status: 'closed' });
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.drop(1000, 'client closed');
    for (const undo of this.detach.splice(0)) undo();
    this.marks.rejectAll(new HeraldError('closed', 'the client was closed'));
  }

  // ---- the connection ----

  private async open(): Promise<void> {
    if (this.state === 'closed' || this.state === 'paused' || this.state === 'stopped') return;
    this.clearTimer('retry');
    this.setStatus({ status: 'connecting' });
    const attempt = ++this.attempt;
    let token: string;
    try {
      token = await this.tokens.current();
    } catch (err) {
      this.events.emit('error', asHeraldError(err, 'token_unavailable'));
      return this.retry();
    }
    // Closed, paused or started again meanwhile.
    if (this.state !== 'connecting' || attempt !== this.attempt) return;
    const protocols =
      this.options.auth === 'message' ? [SUBPROTOCOL] : [SUBPROTOCOL, `bearer.${token}`];
    let socket: SocketLike;
    try {
      socket = new this.WS(this.wsUrl, protocols);
    } catch (err) {
      this.events.emit('error', asHeraldError(err, 'connect_failed'));
      return this.retry();
    }
    this.socket = socket;
    this.readySeq = undefined;
    const mine = () => this.socket === socket;
    socket.addEventListener('open', () => {
      if (!mine()) return;
      if (this.options.auth === 'message') this.send({ type: 'auth', token });
      this.startPings();
    });
    socket.addEventListener('message', (event) => {
      if (!mine()) return;
      this.clearTimer('pong'); // any frame shows the connection is alive
      const message = parseServerMessage(event.data);
      if (message) this.receive(message);
    });
    // A close event follows every error; listening keeps `ws` (Node) from throwing it.
    socket.addEventListener('error', () => undefined);
    socket.addEventListener('close', (event) => {
      if (mine()) this.closed(event.code ?? 1006);
    });
  }

  private receive(m: ServerMessage): void {
    switch (m.type) {
      case 'ready': {
        this.readySeq = m.seq;
        this.failures = 0;
        const resume = this.seq.ready(m.seq, m.epoch);
        if (resume) this.send({ type: 'resume', ...resume });
        this.setUnread(m.unreadCount);
        this.setStatus({ status: 'live' });
        this.scheduleRefresh();
        this.events.emit('ready', {
          seq: m.seq,
          epoch: m.epoch,
          unreadCount: m.unreadCount,
          resumed: !!resume,
        });
        return;
      }
      case 'notification':
      case 'updated': {
        if (!this.seq.take(m.seq)) return;
        // A count is as of its event: only the newest event's is current (a replayed one may
        // come after a later live one), and none older than `ready`, which gave the current one.
        if (m.seq === this.seq.lastSeq && m.seq >= (this.readySeq ?? 0))
          this.setUnread(m.unreadCount);
        if (m.type === 'notification') {
          this.events.emit('notification', {
            seq: m.seq,
            item: m.item,
            unreadCount: m.unreadCount,
          });
        } else {
          const { seq, id, read, deleted, unreadCount } = m;
          this.events.emit('updated', { seq, id, read, deleted, unreadCount });
          this.marks.updated(m);
        }
        return;
      }
      case 'reset':
        this.seq.reset(m.epoch);
        this.events.emit('reset', { epoch: m.epoch });
        return;
      case 'error':
        this.marks.error(m);
        this.events.emit('error', new HeraldError(m.code, m.message));
        return;
      case 'pong':
        return;
    }
  }

  private closed(code: number): void {
    const wasLive = this.readySeq !== undefined;
    this.socket = undefined;
    this.stopConnectionTimers();
    this.marks.fallBackAll();
    if (this.state === 'closed' || this.state === 'paused') return;
    if (code === 4401) {
      if (!this.tokens.refreshable) return this.stop(code);
      this.tokens.refused(); // the next attempt asks the app for a new one first
      return this.retry(code);
    }
    if (!wasLive) {
      // Refused before `ready`: a 401 on the upgrade looks like any failure to a page (1006).
      // One REST call tells a refused token from a server that is away, and keeps the
      // unread count fresh meanwhile.
      this.rest.unreadCount().then(
        (count) => this.setUnread(count),
        (err: unknown) => {
          if (err instanceof HeraldError && err.status === 401 && !this.tokens.refreshable)
            this.stop(4401);
        },
      );
      return this.retry(code);
    }
    this.retry(code);
  }

  private retry(code?: number): void {
    if (this.state === 'closed' || this.state === 'paused' || this.state === 'stopped') return;
    const retryInMs = backoffDelay(this.failures, this.options.backoff);
    this.failures++;
    this.setStatus({ status: 'waiting', retryInMs, ...(code === undefined ? {} : { code }) });
    this.setTimer('retry', retryInMs, () => void this.open());
  }

  private stop(code: number): void {
    if (this.state === 'stopped' || this.state === 'closed') return;
    this.clearTimer('retry');
    this.drop(1000, 'stopped');
    this.setStatus({ status: 'stopped', code });
    this.events.emit(
      'error',
      new HeraldError('unauthorized', 'the recipient token was refused or expired'),
    );
  }

  /** Forgets the socket (its events are ignored from now on) and closes it. */
  private drop(code: number, reason: string): void {
    const socket = this.socket;
    this.socket = undefined;
    this.stopConnectionTimers();
    try {
      socket?.close(code, reason);
    } catch {
      // Already closing: nothing to do.
    }
    this.marks.fallBackAll();
  }

  private send(message: ClientMessage): boolean {
    if (!this.socket || this.socket.readyState !== OPEN) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  // ---- reads ----

  private async mark(
    message: ClientMessage,
    id: string | undefined,
    answers: (e: ClientEvents['updated']) => boolean,
    viaRest: () => Promise<void>,
  ): Promise<void> {
    const rest = async () => {
      await viaRest();
      // Not live: no event will bring the new count.
      if (this.state !== 'live') this.setUnread(await this.rest.unreadCount());
    };
    if (this.state === 'live' && this.send(message)) return this.marks.expect(id, answers, rest);
    return rest();
  }

  private setUnread(count: number): void {
    if (count === this.unread) return;
    this.unread = count;
    this.events.emit('unread', count);
  }

  private setStatus(change: StatusChange): void {
    this.state = change.status;
    this.events.emit('status', change);
  }

  // ---- timers: pings, token refresh, hidden tabs ----

  private startPings(): void {
    const ping = () => {
      this.send({ type: 'ping' });
      if (!this.timers.has('pong'))
        this.setTimer('pong', this.options.pongTimeoutMs ?? 10_000, () => {
          // No answer: the connection is dead even if the browser has not noticed.
          this.drop(4000, 'no pong');
          this.retry();
        });
      this.setTimer('ping', this.options.pingIntervalMs ?? 25_000, ping);
    };
    this.setTimer('ping', this.options.pingIntervalMs ?? 25_000, ping);
  }

  private scheduleRefresh(): void {
    const exp = this.tokens.expiresAt;
    if (!this.tokens.refreshable || exp === undefined) return;
    const now = Date.now();
    // At least a second apart, even if getToken hands out tokens that are already running out.
    const delay = Math.min(2 ** 31 - 1, Math.max(1_000, exp - refreshLead(exp, now) - now));
    this.setTimer('refresh', delay, () => {
      this.tokens.fresh().then(
        (token) => {
          // The server extends this connection's expiry; the next refresh is then due.
          if (this.send({ type: 'auth', token })) this.scheduleRefresh();
        },
        (err: unknown) => this.events.emit('error', asHeraldError(err, 'token_unavailable')),
      );
    });
  }

  private stopConnectionTimers(): void {
    for (const name of ['ping', 'pong', 'refresh'] as const) this.clearTimer(name);
  }

  /** Hidden tabs close their socket after a while; shown again, they reconnect and resume. */
  private watchPage(): void {
    const listen = (target: Partial<Listenable> | undefined, type: string, fn: () => void) => {
      if (!target?.addEventListener || !target.removeEventListener) return;
      const t = target as Listenable;
      t.addEventListener(type, fn);
      this.detach.push(() => t.removeEventListener(type, fn));
    };
    const doc = page.document;
    const hiddenCloseMs = this.options.hiddenCloseMs ?? 60_000;
    if (doc && hiddenCloseMs !== false) {
      const onVisibility = () => {
        if (doc.visibilityState === 'hidden') {
          this.setTimer('hidden', hiddenCloseMs, () => this.pause());
        } else {
          this.clearTimer('hidden');
          if (this.state === 'paused') this.resumeNow();
        }
      };
      listen(doc, 'visibilitychange', onVisibility);
      if (doc.visibilityState === 'hidden') onVisibility();
    }
    // Back online: no need to sit out the backoff.
    if (doc)
      listen(page, 'online', () => {
        if (this.state === 'waiting') this.resumeNow();
      });
  }

  private pause(): void {
    if (this.state === 'closed' || this.state === 'stopped') return;
    this.clearTimer('retry');
    this.setStatus({ status: 'paused' });
    this.drop(1000, 'tab hidden');
  }

  private resumeNow(): void {
    this.failures = 0;
    this.state = 'connecting';
    void this.open();
  }

  private setTimer(
    name: Parameters<HeraldClient['clearTimer']>[0],
    ms: number,
    fn: () => void,
  ): void {
    this.clearTimer(name);
    this.timers.set(
      name,
      setTimeout(() => {
        this.timers.delete(name);
        fn();
      }, ms),
    );
  }

  private clearTimer(name: 'retry' | 'ping' | 'pong' | 'refresh' | 'hidden'): void {
    const timer = this.timers.get(name);
    if (timer !== undefined) clearTimeout(timer);
    this.timers.delete(name);
  }
}

function asHeraldError(err: unknown, code: string): HeraldError {
  if (err instanceof HeraldError) return err;
  return new HeraldError(code, err instanceof Error ? err.message : String(err));
}

/** Connects to Herald's real-time inbox as the recipient the token names. */
export function connect(options: ConnectOptions): HeraldClient {
  return new HeraldClient(options);
}

/**
 * The browser client (herald/client) in Node, against a stand-in that speaks the real-time
 * inbox protocol as API.md specifies it (helpers/realtime-fake.ts), over real sockets from the
 * `ws` package: auth by subprotocol and by first message, live events applied once, resume
 * after a reconnect (a live event slipping in before the replay included), reset, reads over
 * the socket and over REST, token refresh and 4401, dead connections found by ping. Then the
 * pure parts: backoff, token expiry, the feed's order. test/inbox-browser.test.ts drives the
 * same client in Chromium against Herald itself.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import {
  connect,
  type ConnectOptions,
  type HeraldClient,
  type InboxItem,
  type Status,
} from '../src/client/herald.js';
import { backoffDelay } from '../src/client/backoff.js';
import { Feed } from '../src/client/feed.js';
import { Sequence } from '../src/client/sequence.js';
import { refreshLead, tokenExpiry } from '../src/client/token.js';
import type { InboxItem as ServerInboxItem } from '../src/notify/inbox.js';
import { waitFor } from './helpers/db.js';
import { fakeToken, FakeHerald } from './helpers/realtime-fake.js';

// The client writes the inbox item out (it imports nothing from the server): the same type.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const sameItem: Same<InboxItem, ServerInboxItem> = true;
void sameItem;

const WAIT = 10_000;

describe('herald/client against the protocol', () => {
  let fake: FakeHerald;
  const clients: HeraldClient[] = [];

  /** A client of `fake`, with everything it emits recorded. */
  function client(options: Partial<ConnectOptions> = {}) {
    const seen = {
      notifications: [] as number[],
      updated: [] as { id: string; read: boolean }[],
      unread: [] as number[],
      statuses: [] as Status[],
      readies: [] as { resumed: boolean }[],
      resets: [] as string[],
      errors: [] as string[],
    };
    const c = connect({ url: fake.url, WebSocket, getToken: () => fakeToken('ann'), ...options });
    clients.push(c);
    c.on('notification', (e) => seen.notifications.push(e.seq));
    c.on('updated', (e) => seen.updated.push({ id: e.id, read: e.read }));
    c.on('unread', (n) => seen.unread.push(n));
    c.on('status', (s) => seen.statuses.push(s.status));
    c.on('ready', (r) => seen.readies.push({ resumed: r.resumed }));
    c.on('reset', (r) => seen.resets.push(r.epoch));
    c.on('error', (e) => seen.errors.push(e.code));
    return { c, seen };
  }
  const live = (c: HeraldClient) =>
    waitFor(() => c.status === 'live', WAIT, 'the client to be live');
  /** Where this test's client messages start in `fake.received`. */
  let from = 0;
  const sent = (type: string) =>
    fake.received
      .slice(from)
      .filter((r) => r.message.type === type)
      .map((r) => r.message);
  const resumes = () => sent('resume');

  before(async () => {
    fake = new FakeHerald();
    await fake.start();
  });
  beforeEach(() => {
    from = fake.received.length;
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
    fake.answerPings = true;
    fake.beforeReplay = undefined;
  });
  after(() => fake.stop());

  it('authenticates with the subprotocols, reports the unread count, and applies live events once', async () => {
    fake.add('a1');
    const { c, seen } = client();
    await live(c);
    assert.equal(fake.offered.at(-1)?.[0], 'herald.v1');
    assert.match(fake.offered.at(-1)?.[1] ?? '', /^bearer\.ey/);
    assert.deepEqual(seen.unread, [1]);
    fake.add('a2');
    await waitFor(() => seen.notifications.length === 1, WAIT, 'the live notification');
    assert.deepEqual(seen.notifications, [fake.head]);
    assert.deepEqual(seen.unread, [1, 2]);
    assert.equal(await c.unreadCount(), 2, 'the live count, no REST call');
    assert.ok(!fake.restCalls.some((r) => r.includes('unread-count')));
  });

  it('authenticates with a first message when asked to', async () => {
    const { c } = client({ auth: 'message' });
    await live(c);
    assert.deepEqual(fake.offered.at(-1), ['herald.v1']);
    const first = fake.received.find((r) => r.conn === fake.received.at(-1)?.conn);
    assert.equal(first?.message.type, 'auth');
  });

  it('reconnects after the server goes away, resumes from the last event, and misses nothing', async () => {
    const { c, seen } = client({ backoff: { minMs: 50, maxMs: 200 } });
    await live(c);
    const lastSeen = fake.head;
    // Away until the test says: its reconnects fail meanwhile (with a 50 ms backoff it could
    // otherwise be back before the test looked).
    fake.unreachable = true;
    fake.closeAll(1001, 'going away');
    await waitFor(() => c.status !== 'live', WAIT, 'the client to notice');
    // Two events while it is away, and one live event that overtakes the replay.
    fake.add('away-1');
    fake.add('away-2');
    fake.beforeReplay = () => {
      fake.beforeReplay = undefined;
      fake.add('overtaking');
    };
    fake.unreachable = false;
    await waitFor(() => seen.notifications.length === 3, WAIT, 'the replay and the live event');
    assert.deepEqual(resumes().at(-1), { type: 'resume', after: lastSeen, epoch: fake.epoch });
    assert.deepEqual(
      [...seen.notifications].sort((a, b) => a - b),
      [lastSeen + 1, lastSeen + 2, lastSeen + 3],
      'each event once',
    );
    assert.deepEqual(
      seen.readies.map((r) => r.resumed),
      [false, true],
    );
    assert.equal(seen.unread.at(-1), fake.unreadCount);
  });

  it('answers a reset with the new epoch, and resumes in it next time', async () => {
    const { c, seen } = client({ backoff: { minMs: 50, maxMs: 200 } });
    await live(c);
    fake.epoch = 'epoch-2';
    fake.closeAll(1001);
    await waitFor(() => seen.resets.length === 1, WAIT, 'the reset');
    assert.deepEqual(seen.resets, ['epoch-2']);
    fake.closeAll(1001);
    await waitFor(() => resumes().at(-1)?.epoch === 'epoch-2', WAIT, 'a resume in the new epoch');
    assert.equal(seen.resets.length, 1);
  });

  it('marks read over the socket when live, and over REST when not', async () => {
    fake.add('r1');
    fake.add('r2');
    const { c, seen } = client({ backoff: { minMs: 5_000, maxMs: 5_000 } });
    await live(c);
    await c.markRead('r1');
    assert.deepEqual(fake.received.at(-1)?.message, { type: 'read', id: 'r1' });
    assert.ok(seen.updated.some((u) => u.id === 'r1' && u.read));
    await assert.rejects(c.markRead('nope'), { code: 'not_found' });
    await c.markUnread('r1');
    assert.equal(fake.items.get('r1')?.read, false);
    // Away (and not back for 5 s): the same calls go over REST.
    fake.closeAll(1001);
    await waitFor(() => c.status === 'waiting', WAIT, 'the client to be away');
    await c.markAllRead();
    assert.ok(fake.restCalls.includes('POST /v1/me/notifications/read-all'));
    assert.equal(fake.unreadCount, 0);
    assert.equal(seen.unread.at(-1), 0, 'the count from REST');
  });

  it('refreshes the token before it expires and sends it on the open socket', async () => {
    let handedOut = 0;
    const { c } = client({
      getToken: () => {
        handedOut++;
        return fakeToken('ann', 3); // refreshed a second before its end
      },
    });
    await live(c);
    await waitFor(() => sent('auth').length > 0, WAIT, 'the new token');
    assert.equal(c.status, 'live', 'same connection');
    assert.ok(handedOut >= 2);
  });

  it('on 4401 gets a new token and reconnects; a fixed token stops instead', async () => {
    let handedOut = 0;
    const a = client({
      backoff: { minMs: 50, maxMs: 100 },
      getToken: () => {
        handedOut++;
        return fakeToken('ann');
      },
    });
    await live(a.c);
    const b = client({
      token: await fakeToken('ann'),
      getToken: undefined,
      backoff: { minMs: 50, maxMs: 100 },
    });
    await live(b.c);
    fake.closeAll(4401, 'token expired');
    await waitFor(() => a.seen.readies.length === 2, WAIT, 'the reconnect with a new token');
    assert.equal(handedOut, 2);
    await waitFor(() => b.c.status === 'stopped', WAIT, 'the fixed-token client to stop');
    assert.ok(b.seen.errors.includes('unauthorized'));
  });

  it('stops when a fixed token is refused at the upgrade', async () => {
    const expired = await fakeToken('ann', -10);
    const { c, seen } = client({
      token: expired,
      getToken: undefined,
      backoff: { minMs: 50, maxMs: 100 },
    });
    await waitFor(() => c.status === 'stopped', WAIT, 'the client to stop');
    assert.deepEqual(seen.readies, []);
  });

  it('pings, and reconnects when the pongs stop', async () => {
    const { c, seen } = client({
      pingIntervalMs: 100,
      pongTimeoutMs: 300,
      backoff: { minMs: 50, maxMs: 100 },
    });
    await live(c);
    await waitFor(() => sent('ping').length >= 2, WAIT, 'pings');
    assert.equal(seen.readies.length, 1, 'answered pings keep the connection');
    fake.answerPings = false;
    await waitFor(() => seen.readies.length === 2, WAIT, 'a new connection');
    assert.ok(seen.statuses.includes('waiting'));
  });

  it('closes the socket in a tab hidden for a while, and resumes when it is shown', async () => {
    // A stand-in for the page's document: the client looks for `document` on the global object.
    const doc = Object.assign(new EventTarget(), { visibilityState: 'visible' });
    const show = (state: 'visible' | 'hidden') => {
      doc.visibilityState = state;
      doc.dispatchEvent(new Event('visibilitychange'));
    };
    (globalThis as { document?: unknown }).document = doc;
    try {
      const { c, seen } = client({ hiddenCloseMs: 100 });
      await live(c);
      show('hidden');
      await waitFor(() => c.status === 'paused' && fake.open === 0, WAIT, 'the socket closed');
      fake.add('while-hidden');
      assert.equal(seen.notifications.length, 0);
      show('visible');
      await waitFor(() => seen.notifications.includes(fake.head), WAIT, 'the missed event');
      assert.equal(resumes().length, 1);
      assert.equal(c.status, 'live');
    } finally {
      delete (globalThis as { document?: unknown }).document;
    }
  });

  it('close() ends the connection and every timer', async () => {
    const { c, seen } = client({ pingIntervalMs: 50 });
    await live(c);
    c.close();
    await waitFor(() => fake.open === 0, WAIT, 'the server to see the close');
    assert.equal(seen.statuses.at(-1), 'closed');
  });
});

describe('herald/client parts', () => {
  it('backoff: full jitter under a doubling cap', () => {
    assert.equal(backoffDelay(0, {}, 0.5), 500);
    assert.equal(backoffDelay(3, {}, 0.5), 4000);
    assert.equal(backoffDelay(20, {}, 0.999), 29970);
    assert.equal(backoffDelay(0, {}, 0), 100, 'never quite 0');
  });

  it('reads exp from a JWT without verifying it, and refreshes a minute or a fifth early', async () => {
    const jwt = await fakeToken('ann', 120);
    const exp = tokenExpiry(jwt)!;
    assert.ok(Math.abs(exp - (Date.now() + 120_000)) < 2_000);
    assert.equal(tokenExpiry('not.a-jwt'), undefined);
    assert.equal(refreshLead(Date.now() + 3_600_000, Date.now()), 60_000);
    assert.equal(refreshLead(30_000, 0), 6_000);
  });

  it('sequence: applies each seq once, replays inside the window even after a later live event', () => {
    const s = new Sequence();
    assert.equal(s.ready(5, 'e'), undefined);
    assert.equal(s.take(5), false);
    assert.equal(s.take(6), true);
    assert.deepEqual(s.ready(9, 'e'), { after: 6, epoch: 'e' });
    assert.equal(s.take(10), true, 'live, before the replay');
    assert.deepEqual(
      [7, 8, 9, 8, 10, 11].map((n) => s.take(n)),
      [true, true, true, false, false, true],
    );
    // Another epoch, head 3: the resume asks from the old position (and gets a reset), and
    // the new sequence's live events are taken meanwhile.
    assert.deepEqual(s.ready(3, 'e2'), { after: 11, epoch: 'e' });
    assert.equal(s.take(4), true);
    s.reset('e2');
    assert.deepEqual([s.lastSeq, s.epoch], [4, 'e2']);
    assert.equal(s.take(4), false);
    assert.equal(s.take(5), true);
  });

  it('feed: newest first whatever the arrival order, each item once', () => {
    const item = (id: string, at: string): InboxItem => ({
      id,
      type: 't',
      title: id,
      body: null,
      actionUrl: null,
      data: {},
      read: false,
      readAt: null,
      createdAt: `2030-01-01T00:00:${at}.000Z`,
    });
    const f = new Feed();
    f.put(item('live', '09'));
    f.page([item('c', '03'), item('b', '02')], 'next', true);
    f.page([item('b', '02'), item('a', '01')], null, false);
    f.put(item('d', '04'));
    assert.deepEqual(
      f.items.map((i) => i.id),
      ['live', 'd', 'c', 'b', 'a'],
    );
    assert.equal(f.nextCursor, null);
    f.setRead('c', true);
    f.remove('b');
    assert.deepEqual(
      f.items.map((i) => `${i.id}${i.read ? '*' : ''}`),
      ['live', 'd', 'c*', 'a'],
    );
  });
});

/**
 * The real-time inbox (API.md "Real-time inbox", docs/realtime.md) with real WebSocket clients
 * against a served Herald, on both backends: every event reaches every connection of its
 * recipient once and nobody else's; read/unread/read_all over the socket with exact unread
 * counts; resume after an absence with every event, in order, once, and `reset` where a
 * position cannot be resumed; the auth matrix; bad input; a dead peer and a slow consumer cut
 * off; 1,000 sockets of one recipient; the SSE stream and its Last-Event-ID resume.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import type { Herald } from '../src/index.js';
import { builtinHandlers } from '../src/handlers.js';
import { serveHerald, type RunningServer } from '../src/http/server.js';
import type { RealtimeServer } from '../src/http/realtime-ws.js';
import type { SendResult } from '../src/notify/send.js';
import { BACKENDS, closeHerald, openHerald, pgSkipReason, waitFor } from './helpers/db.js';
import { recipientToken } from './helpers/api.js';
import {
  closeCode,
  connectClient,
  rawClient,
  upgradeStatus,
  type Client,
  type Event,
} from './helpers/realtime.js';

const pgSkip = await pgSkipReason();
const KEY = 'realtime-test-key-0123456789abc';
const SECRET = 'a-jwt-secret-of-at-least-32-characters!';
const tokenFor = (sub: string) => recipientToken(sub, SECRET);

/** Seqs strictly rising: in order, none twice. */
function assertInOrder(events: Event[]): void {
  for (let i = 1; i < events.length; i++)
    assert.ok(
      (events[i]!.seq as number) > (events[i - 1]!.seq as number),
      `seq ${events[i]!.seq} after ${events[i - 1]!.seq}`,
    );
}

const itemIds = (events: Event[]) =>
  events.filter((e) => e.type === 'notification').map((e) => (e.item as { id: string }).id);

for (const backend of BACKENDS) {
  describe(`real-time inbox on ${backend}`, { skip: backend === 'pg' ? pgSkip : undefined }, () => {
    let herald: Herald;
    let server: RunningServer & { realtime: RealtimeServer };
    let base: string;
    const open: Client[] = [];

    const api = async (method: string, path: string, body?: unknown, auth = KEY) => {
      const res = await fetch(base + path, {
        method,
        headers: { authorization: `Bearer ${auth}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return res;
    };
    /** Triggers one `note` to `to`; resolves with the notification id once it is in the inbox. */
    const trigger = async (to: string, data: Record<string, unknown> = {}) => {
      const res = await api('POST', '/v1/notifications', { type: 'note', to, data });
      assert.equal(res.status, 202, await res.clone().text());
      return ((await res.json()) as SendResult).notifications[0]!.id;
    };
    const unread = async (sub: string) => {
      const res = await api('GET', '/v1/me/unread-count', undefined, await tokenFor(sub));
      return ((await res.json()) as { count: number }).count;
    };
    const client = async (sub: string, options: Parameters<typeof connectClient>[1] = {}) => {
      const c = await connectClient(base, { token: await tokenFor(sub), ...options });
      open.push(c);
      await c.waitForEvent((e) => e.type === 'ready', 'ready');
      return c;
    };
    /** Everything of the inbox, to prove a refused message changed nothing. */
    const snapshot = async () =>
      JSON.stringify(
        (
          await herald.db.query(
            `SELECT n.id, n.read_at, n.archived_at, (SELECT count(*) FROM "${herald.config.schema}".inbox_changes) AS changes
             FROM "${herald.config.schema}".notifications n ORDER BY n.id`,
          )
        ).rows,
      );

    before(async () => {
      herald = await openHerald(backend, {
        apiKey: KEY,
        jwtSecret: SECRET,
        realtime: {
          authTimeoutMs: 1_000,
          sendBufferBytes: 64 * 1024,
          pollIntervalMs: 500,
        },
      });
      server = await serveHerald(herald, 0, '127.0.0.1');
      base = `http://127.0.0.1:${server.port}`;
      await api('PUT', '/v1/types/note', {
        channels: ['inapp'],
        templates: { inapp: { title: 'Note {{n}}', body: 'body {{n}}' } },
      });
      for (const r of ['ann', 'bob', 'cat', 'dan', 'eve'])
        await api('PUT', `/v1/recipients/${r}`, {});
      const worker = herald.worker({ handlers: builtinHandlers(herald), pollIntervalMs: 50 });
      await worker.start();
    });

    after(async () => {
      for (const c of open) c.ws.terminate();
      await server.close();
      await closeHerald(herald);
    });

    it('every event reaches every connection of its recipient exactly once, and no one else', async () => {
      // One connection per way of authenticating, and a second recipient beside them.
      const anns = [
        await client('ann', { via: 'header' }),
        await client('ann', { via: 'protocol' }),
        await client('ann', { via: 'message' }),
      ];
      assert.equal(anns[1]!.ws.protocol, 'herald.v1', 'the bearer subprotocol is never echoed');
      const bob = await client('bob');
      const ready = anns[0]!.events[0]!;
      assert.deepEqual(Object.keys(ready).sort(), ['epoch', 'seq', 'type', 'unreadCount']);
      const metrics = await (await fetch(`${base}/metrics`)).text();
      assert.match(metrics, /^herald_realtime_connections 4$/m);
      assert.match(metrics, /^herald_realtime_recipients 2$/m);
      assert.equal(ready.seq, 0);

      const annIds: string[] = [];
      const bobIds: string[] = [];
      for (let n = 1; n <= 10; n++) {
        annIds.push(await trigger('ann', { n }));
        if (n % 2 === 0) bobIds.push(await trigger('bob', { n }));
      }
      for (const c of anns) {
        const events = await c.waitForChanges(10);
        assertInOrder(events);
        assert.deepEqual(new Set(itemIds(events)), new Set(annIds));
        assert.deepEqual(
          events.map((e) => e.unreadCount),
          [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
          'the unread count as of each event',
        );
        const first = events[0]!;
        assert.deepEqual(Object.keys(first).sort(), ['item', 'seq', 'type', 'unreadCount']);
        const item = first.item as Record<string, unknown>;
        assert.equal(item.read, false);
        assert.match(String(item.title), /^Note \d+$/);
      }
      const bobEvents = await bob.waitForChanges(5);
      assert.deepEqual(new Set(itemIds(bobEvents)), new Set(bobIds));
      // A last event behind everything: by the time it arrives, nothing came twice.
      await trigger('ann', { n: 11 });
      for (const c of anns) {
        const events = await c.waitForChanges(11);
        assert.equal(events.length, 11);
        assert.equal(new Set(events.map((e) => e.seq)).size, 11);
      }
      assert.equal(bob.changes().length, 5, "no other recipient's event reaches bob");
      for (const c of [...anns, bob]) await c.close();
    });

    it('read, unread and read_all over the socket change the inbox and reach every connection with exact counts', async () => {
      const a = await client('ann');
      const b = await client('ann', { via: 'protocol' });
      const ready = a.events[0]!;
      assert.equal(ready.unreadCount, 11);
      const page = (await (
        await api('GET', '/v1/me/notifications?limit=100', undefined, await tokenFor('ann'))
      ).json()) as { items: { id: string }[] };
      const [first, second] = page.items;

      a.send({ type: 'read', id: first!.id });
      for (const c of [a, b]) {
        const [e] = await c.waitForChanges(1);
        assert.deepEqual(
          { ...e, seq: undefined },
          {
            type: 'updated',
            seq: undefined,
            id: first!.id,
            read: true,
            deleted: false,
            unreadCount: 10,
          },
        );
      }
      assert.equal(await unread('ann'), 10);
      b.send({ type: 'unread', id: first!.id });
      await a.waitForEvent((e) => e.type === 'updated' && e.unreadCount === 11, 'unread event');
      a.send({ type: 'read', id: first!.id });
      a.send({ type: 'read', id: first!.id }); // already read: found, and nothing to record
      b.send({ type: 'read_all' });
      const all = await b.waitForEvent(
        (e) => e.type === 'updated' && e.unreadCount === 0,
        'read_all reaching 0',
      );
      assert.equal(all.read, true);
      assert.equal(await unread('ann'), 0);
      // 1 read + 1 unread + 1 read + 10 by read_all, on both connections, in order.
      for (const c of [a, b]) {
        const events = await c.waitForChanges(13);
        assertInOrder(events);
        assert.equal(events.length, 13);
        assert.deepEqual(
          events.slice(3).map((e) => e.unreadCount),
          [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
        );
      }
      // A delete over REST reaches the socket too.
      await api('DELETE', `/v1/me/notifications/${second!.id}`, undefined, await tokenFor('ann'));
      const deleted = await a.waitForEvent((e) => e.deleted === true, 'deleted event');
      assert.deepEqual(
        { id: deleted.id, read: deleted.read, unreadCount: deleted.unreadCount },
        { id: second!.id, read: true, unreadCount: 0 },
      );
      await a.close();
      await b.close();
    });

    it('a client away while 100 notifications arrive resumes with all 100, in order, once', async () => {
      const c = await client('cat');
      const { seq, epoch } = c.events[0]!;
      await c.close();
      await waitFor(
        () => herald.realtime.connectionsOf('cat') === 0,
        10_000,
        'the server to let go of the connection',
      );
      const ids: string[] = [];
      for (let n = 0; n < 100; n += 10)
        ids.push(
          ...(await Promise.all(
            Array.from({ length: 10 }, (_, i) => trigger('cat', { n: n + i })),
          )),
        );
      await waitFor(async () => (await unread('cat')) === 100, 30_000, '100 in the inbox');

      // Back by the URL, and by a resume message: the same 100, in order, once.
      const byUrl = await client('cat', { query: `after=${String(seq)}&epoch=${String(epoch)}` });
      const byMessage = await client('cat');
      byMessage.send({ type: 'resume', after: seq, epoch });
      for (const r of [byUrl, byMessage]) {
        const events = await r.waitForChanges(100);
        assertInOrder(events);
        assert.equal(events.length, 100);
        assert.deepEqual(new Set(itemIds(events)), new Set(ids));
        assert.equal(events.at(-1)!.unreadCount, 100);
      }
      // Positions that cannot be resumed: another epoch, a seq from the future.
      const stale = await client('cat', { query: `after=3&epoch=not-this-one` });
      const reset = await stale.waitForEvent((e) => e.type === 'reset', 'reset');
      assert.deepEqual(reset, { type: 'reset', epoch });
      byUrl.send({ type: 'resume', after: 10_000, epoch });
      await byUrl.waitForEvent((e) => e.type === 'reset', 'reset for a future seq');
      // And each keeps receiving live.
      await trigger('cat', { n: 'live' });
      for (const r of [byUrl, byMessage, stale])
        await r.waitForEvent((e) => e.type === 'notification' && e.unreadCount === 101, 'live');
      for (const r of [byUrl, byMessage, stale]) await r.close();
    });

    it('numbers concurrent changes in commit order: a live client sees every seq, no gap, exact counts', async () => {
      await waitFor(
        () => herald.realtime.connectionsOf('bob') === 0,
        10_000,
        'earlier clients gone',
      );
      const watcher = await client('bob');
      const start = watcher.events[0]!.seq as number;
      const page = (await (
        await api('GET', '/v1/me/notifications?limit=100', undefined, await tokenFor('bob'))
      ).json()) as { items: { id: string }[] };
      const token = await tokenFor('bob');
      // Reads, unreads, read-alls and new items of one recipient, all at once, from REST and
      // from two sockets: each change takes the next seq as its statement commits.
      const sockets = [await client('bob'), await client('bob')];
      const work: Promise<unknown>[] = [];
      for (let round = 0; round < 10; round++) {
        for (const [i, item] of page.items.entries()) {
          const verb = (round + i) % 2 ? 'read' : 'unread';
          work.push(api('POST', `/v1/me/notifications/${item.id}/${verb}`, undefined, token));
          sockets[i % 2]!.send({ type: verb === 'read' ? 'unread' : 'read', id: item.id });
        }
        if (round % 3 === 0)
          work.push(api('POST', '/v1/me/notifications/read-all', undefined, token));
        work.push(trigger('bob', { n: `c${round}` }));
      }
      await Promise.all(work);
      // Each socket handles its messages in order: its pong comes after its reads are done.
      for (const s of sockets) s.send({ type: 'ping' });
      await Promise.all(sockets.map((s) => s.waitForEvent((e) => e.type === 'pong', 'pong')));
      const inInbox = async () =>
        (
          (await (await api('GET', '/v1/me/notifications?limit=100', undefined, token)).json()) as {
            items: unknown[];
          }
        ).items.length;
      await waitFor(
        async () => (await inInbox()) === page.items.length + 10,
        30_000,
        'the new items in the inbox',
      );
      // Settled: the live stream has every seq from the start to the head, once, in order.
      const head = await herald.realtime.head('bob');
      const events = await watcher.waitForChanges(head.seq - start);
      assert.deepEqual(
        events.map((e) => e.seq),
        Array.from({ length: head.seq - start }, (_, i) => start + i + 1),
      );
      // Each event's count is the count as of that change; the last is the inbox's own.
      assert.equal(events.at(-1)!.unreadCount, await unread('bob'));
      assert.equal(head.unreadCount, await unread('bob'));
      for (const s of [watcher, ...sockets]) await s.close();
    });

    it('tells open connections of an erased recipient to refetch, and follows the new sequence', async () => {
      await api('PUT', '/v1/recipients/fay', {});
      const c = await client('fay');
      await trigger('fay', { n: 'before' });
      const [first] = await c.waitForChanges(1);
      const oldEpoch = c.events[0]!.epoch;
      assert.equal((await api('DELETE', '/v1/recipients/fay')).status, 204);
      await api('PUT', '/v1/recipients/fay', {});
      const id = await trigger('fay', { n: 'after' });
      const after = await c.waitForEvent(
        (e) => e.type === 'notification' && (e.item as { id: string }).id === id,
        'the new sequence',
      );
      const resets = c.events.filter((e) => e.type === 'reset');
      assert.ok(resets.length >= 1, 'told to refetch');
      const epoch = resets.at(-1)!.epoch;
      assert.notEqual(epoch, oldEpoch);
      assert.equal(after.seq, 1, 'from the start of the new sequence');
      assert.equal(first!.seq, 1);
      // A resume in the old epoch is answered with reset, in the new one it works.
      const back = await client('fay', { query: `after=1&epoch=${String(oldEpoch)}` });
      assert.deepEqual(await back.waitForEvent((e) => e.type === 'reset', 'reset'), {
        type: 'reset',
        epoch,
      });
      for (const x of [c, back]) await x.close();
    });

    it('refuses the auth matrix: none, forged, expired, wrong realm, a token in the query string', async () => {
      const ann = await tokenFor('ann');
      const forged = await recipientToken('ann', 'another-secret-of-at-least-32-characters');
      const expired = await new SignJWT({})
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('ann')
        .setIssuedAt(Math.floor(Date.now() / 1000) - 120)
        .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
        .sign(new TextEncoder().encode(SECRET));
      const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
      assert.equal(await upgradeStatus(base, bearer(forged)), 401);
      assert.equal(await upgradeStatus(base, bearer(expired)), 401);
      assert.equal(
        await upgradeStatus(base, bearer(KEY)),
        401,
        'a server API key is not a recipient token',
      );
      assert.equal(await upgradeStatus(base, {}, '', ['herald.v1', `bearer.${forged}`]), 401);
      assert.equal(await upgradeStatus(base, bearer(ann), `?token=${ann}`), 401);
      assert.equal(await upgradeStatus(base, {}, `?access_token=${ann}`), 401);
      assert.equal(await upgradeStatus(base, bearer(ann)), 0, 'the same token in the header opens');
      // Not a handshake: told to use a WebSocket.
      const plain = await fetch(`${base}/v1/me/ws`, { headers: bearer(ann) });
      assert.equal(plain.status, 426);
      assert.equal(((await plain.json()) as { code: string }).code, 'upgrade_required');

      // No token at all: the socket opens, and closes with 4401 when no auth message comes.
      const silent = await connectClient(base);
      assert.equal((await silent.closed).code, 4401);
      assert.deepEqual(silent.events, [], 'nothing is sent before auth');
      // A message other than auth first, and a forged token in the auth message.
      const eager = await connectClient(base);
      eager.send({ type: 'read_all' });
      assert.equal((await eager.closed).code, 4401);
      const lying = await connectClient(base, { token: forged, via: 'message' });
      assert.equal((await lying.closed).code, 4401);
      assert.deepEqual(lying.events, []);
      // A fresh token of another recipient on an open connection.
      const switching = await client('ann');
      switching.send({ type: 'auth', token: await tokenFor('bob') });
      assert.equal((await switching.closed).code, 4401);
    });

    it('closes with 4401 when the token expires, unless a fresh one came first', async () => {
      const short = (sub: string) =>
        new SignJWT({})
          .setProtectedHeader({ alg: 'HS256' })
          .setSubject(sub)
          .setExpirationTime(Math.floor(Date.now() / 1000) + 2)
          .sign(new TextEncoder().encode(SECRET));
      const expiring = await connectClient(base, { token: await short('ann') });
      const refreshed = await connectClient(base, { token: await short('ann') });
      await refreshed.waitForEvent((e) => e.type === 'ready', 'ready');
      refreshed.send({ type: 'auth', token: await tokenFor('ann') });
      const { code } = await expiring.closed;
      assert.equal(code, 4401);
      // The refreshed one is still open: it answers a ping after the other's expiry.
      refreshed.send({ type: 'ping' });
      await refreshed.waitForEvent((e) => e.type === 'pong', 'pong');
      assert.equal(refreshed.ws.readyState, refreshed.ws.OPEN);
      await refreshed.close();
    });

    it('answers bad input with an error event or a close code, and changes nothing', async () => {
      const c = await client('ann');
      const before = await snapshot();
      const bobItem = (
        (await (
          await api('GET', '/v1/me/notifications', undefined, await tokenFor('bob'))
        ).json()) as {
          items: { id: string }[];
        }
      ).items[0]!.id;
      c.send('{not json');
      c.send({ type: 'explode' });
      c.send({ type: 'read' });
      c.send({ type: 'read', id: bobItem, extra: 1 });
      c.send({ type: 'read', id: bobItem });
      c.send({ type: 'resume', after: -1, epoch: 'x' });
      c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
      const errors = await waitFor(
        () => {
          const e = c.events.filter((x) => x.type === 'error');
          return e.length >= 7 ? e : undefined;
        },
        10_000,
        'seven error events',
      );
      assert.deepEqual(errors.map((e) => e.code).sort(), [
        'invalid_json',
        'invalid_message',
        'invalid_message',
        'invalid_message',
        'invalid_message',
        'not_found',
        'unknown_type',
      ]);
      assert.equal(errors.find((e) => e.code === 'not_found')!.id, bobItem);
      assert.equal(c.ws.readyState, c.ws.OPEN, 'errors leave the connection open');
      // A frame over 64 KiB closes with 1009 (message too big).
      c.send(JSON.stringify({ type: 'read', id: 'x'.repeat(70 * 1024) }));
      assert.equal((await c.closed).code, 1009);
      assert.equal(await snapshot(), before);
      assert.deepEqual(c.changes(), []);
    });

    it('closes a peer that stops answering pings, and a consumer too slow to read with 4408; both resume', async () => {
      // A dead peer: a bare socket that never answers a ping, on a server that pings often.
      // (Only here: a busy machine can hold a live client's pong past so short an interval.)
      const eager = await serveHerald(herald, 0, '127.0.0.1', { pingIntervalMs: 300 });
      after(() => eager.close());
      const dead = await rawClient(`http://127.0.0.1:${eager.port}`, await tokenFor('dan'));
      await waitFor(() => dead.frames.length > 0, 10_000, 'ready');
      await dead.ended;
      await waitFor(() => herald.realtime.connectionsOf('dan') === 0, 10_000, 'dead peer let go');

      // A slow consumer: stops reading while events pile up past the 64 KiB send buffer. (On the
      // main server, whose pings are 30 s apart: a client that reads nothing answers no ping
      // either, and would be closed as dead first.)
      const slow = await rawClient(base, await tokenFor('eve'));
      await waitFor(() => slow.frames.length > 0, 10_000, 'ready');
      const ready = JSON.parse(slow.frames[0]!.payload.toString()) as Event;
      slow.socket.pause();
      const slowBefore = herald.realtime.stats().slowClosed;
      const cutOff = () => herald.realtime.stats().slowClosed > slowBefore;
      const pad = 'p'.repeat(16_000);
      let sent = 0;
      // Events pile up in the background until the server cuts the client off.
      const piling = (async () => {
        while (!cutOff()) {
          assert.ok(sent < 1_000, 'the slow consumer is cut off within 1,000 events of 16 KB');
          await Promise.all(Array.from({ length: 25 }, () => trigger('eve', { n: 0, pad })));
          sent += 25;
        }
      })();
      await waitFor(() => cutOff() || sent >= 1_000, 120_000, 'the slow consumer cut off');
      // Let go at once: no connection of eve's is left in the hub holding events.
      assert.equal(herald.realtime.connectionsOf('eve'), 0);
      // It reads again at once (the server destroys the socket 5 s after the close): what was
      // queued, then the 4408 close.
      slow.socket.resume();
      await piling;
      // More events now cost the slow client nothing: they are not queued for it.
      await Promise.all(Array.from({ length: 25 }, () => trigger('eve', { n: 0, pad })));
      sent += 25;
      await slow.ended;
      const close = slow.frames.findLast((f) => f.opcode === 8);
      assert.ok(close, 'a close frame');
      assert.equal(closeCode(close), 4408);
      const got = slow.frames
        .filter((f) => f.opcode === 1)
        .map((f) => JSON.parse(f.payload.toString()) as Event)
        .filter((e) => e.type === 'notification');
      assert.ok(got.length < sent, 'cut off before everything was sent');
      // It resumes from the last seq it got, and has every event once.
      const back = await client('eve', {
        query: `after=${got.at(-1)?.seq ?? ready.seq}&epoch=${String(ready.epoch)}`,
      });
      await waitFor(async () => (await unread('eve')) === sent, 30_000, 'all in the inbox');
      const rest = await back.waitForChanges(sent - got.length);
      const all = [...got, ...rest];
      assertInOrder(all);
      assert.equal(all.length, sent);
      await back.close();
    });

    it('1,000 sockets of one recipient all receive a burst', async () => {
      const token = await tokenFor('dan');
      const many: Client[] = [];
      for (let i = 0; i < 1_000; i += 100)
        many.push(
          ...(await Promise.all(Array.from({ length: 100 }, () => connectClient(base, { token })))),
        );
      open.push(...many);
      await waitFor(
        () => many.every((c) => c.events.some((e) => e.type === 'ready')),
        60_000,
        'every socket ready',
      );
      const ids = await Promise.all(Array.from({ length: 20 }, (_, n) => trigger('dan', { n })));
      await waitFor(
        () => many.every((c) => c.changes().length >= 20),
        120_000,
        'the burst on every socket',
      );
      for (const c of many) {
        const events = c.changes();
        assert.equal(events.length, 20);
        assertInOrder(events);
        assert.deepEqual(new Set(itemIds(events)), new Set(ids));
      }
      for (const c of many) c.ws.terminate();
      await waitFor(() => herald.realtime.connectionsOf('dan') === 0, 30_000, 'all let go');
    });

    it('streams the same events over SSE, with ids, and resumes from Last-Event-ID', async () => {
      const token = await tokenFor('bob');
      const stream = async (headers: Record<string, string> = {}, query = '') => {
        const controller = new AbortController();
        const res = await fetch(`${base}/v1/me/events${query}`, {
          headers: { authorization: `Bearer ${token}`, ...headers },
          signal: controller.signal,
        });
        const events: { event: string; id?: string; data: Event }[] = [];
        if (res.ok && res.body) {
          const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
          let text = '';
          void (async () => {
            for (;;) {
              const { done, value } = await reader.read().catch(() => ({ done: true, value: '' }));
              if (done) return;
              text += value;
              let end: number;
              while ((end = text.indexOf('\n\n')) >= 0) {
                const block = text.slice(0, end);
                text = text.slice(end + 2);
                if (block.startsWith(':')) continue;
                const field = (name: string) =>
                  block
                    .split('\n')
                    .find((l) => l.startsWith(`${name}: `))
                    ?.slice(name.length + 2);
                events.push({
                  event: field('event')!,
                  ...(field('id') !== undefined ? { id: field('id') } : {}),
                  data: JSON.parse(field('data')!) as Event,
                });
              }
            }
          })();
        }
        return { res, events, stop: () => controller.abort() };
      };
      const refused = await fetch(`${base}/v1/me/events?token=${token}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(refused.status, 401);
      assert.equal((await fetch(`${base}/v1/me/events`)).status, 401);

      const s = await stream();
      assert.equal(s.res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
      await waitFor(() => s.events.length > 0, 10_000, 'ready');
      assert.equal(s.events[0]!.event, 'ready');
      await trigger('bob', { n: 'sse1' });
      await trigger('bob', { n: 'sse2' });
      await waitFor(() => s.events.length >= 3, 10_000, 'two events');
      const [, one, two] = s.events;
      assert.equal(one!.event, 'notification');
      assert.equal(one!.id, String(one!.data.seq));
      assert.ok(Number(two!.id) > Number(one!.id));
      s.stop();
      await trigger('bob', { n: 'sse3' });
      await trigger('bob', { n: 'sse4' });
      const again = await stream({ 'last-event-id': String(one!.id) });
      await waitFor(() => again.events.length >= 4, 10_000, 'ready and three replayed');
      assert.deepEqual(
        again.events.slice(1).map((e) => (e.data.item as { data: { n: string } }).data.n),
        ['sse2', 'sse3', 'sse4'],
      );
      again.stop();
    });
  });
}

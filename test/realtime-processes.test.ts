/**
 * The real-time inbox across `herald start` processes on one PostgreSQL: a notification
 * triggered through one process reaches the recipient's sockets on every process, once (with
 * the poll set to ten minutes, so only the NOTIFY wake-up can carry it); a client away for 30 s
 * while 100 arrive through the other process gets all of them back; and a process killed
 * in the middle of a stream loses nothing a resuming client asks for, whether the client comes
 * back to the other process or to the killed one restarted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PG_URL, dropSchema, freshSchema, pgSkipReason, sleep, waitFor } from './helpers/db.js';
import { startHeraldServer, type HeraldServerProcess } from './helpers/processes.js';
import { recipientToken } from './helpers/api.js';
import { connectClient, type Client, type Event } from './helpers/realtime.js';

const pgSkip = await pgSkipReason();
const KEY = 'realtime-processes-key-0123456789';
const SECRET = 'a-jwt-secret-of-at-least-32-characters!';

describe('real-time inbox across Herald processes on one PostgreSQL', { skip: pgSkip }, () => {
  const schema = freshSchema('rtp');
  const env = {
    DATABASE_URL: PG_URL,
    HERALD_SCHEMA: schema,
    HERALD_API_KEY: KEY,
    HERALD_JWT_SECRET: SECRET,
    HERALD_POOL_SIZE: '4',
    HERALD_POLL_INTERVAL_MS: '200',
    // The killed process's claimed deliveries go back to the queue when their leases end.
    HERALD_LEASE_MS: '3000',
    // Only the NOTIFY wake-up moves events between processes in these tests.
    HERALD_REALTIME_POLL_MS: '600000',
  };
  let a: HeraldServerProcess;
  let b: HeraldServerProcess;
  const clients: Client[] = [];
  const children: HeraldServerProcess[] = [];

  const api = (url: string, method: string, path: string, body?: unknown) =>
    fetch(url + path, {
      method,
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const trigger = async (url: string, to: string, n: number) => {
    const res = await api(url, 'POST', '/v1/notifications', { type: 'note', to, data: { n } });
    assert.equal(res.status, 202, await res.clone().text());
  };
  const connect = async (url: string, sub: string, query?: string) => {
    const c = await connectClient(url, {
      token: await recipientToken(sub, SECRET),
      ...(query ? { query } : {}),
    });
    clients.push(c);
    await c.waitForEvent((e) => e.type === 'ready', 'ready');
    return c;
  };
  const ns = (events: Event[]) => events.map((e) => (e.item as { data: { n: number } }).data.n);

  before(async () => {
    a = await startHeraldServer(env);
    b = await startHeraldServer(env);
    children.push(a, b);
    await api(a.url, 'PUT', '/v1/types/note', {
      channels: ['inapp'],
      templates: { inapp: { title: 'Note {{n}}', body: 'n = {{n}}' } },
    });
    for (const r of ['ann', 'bob', 'cat']) await api(a.url, 'PUT', `/v1/recipients/${r}`, {});
  });

  after(async () => {
    for (const c of clients) c.ws.terminate();
    const running = children.filter((p) => p.child.exitCode === null && !p.child.signalCode);
    await Promise.all(
      running.map((p) => {
        const exited = new Promise((r) => p.child.once('exit', r));
        p.child.kill('SIGKILL');
        return exited;
      }),
    );
    await dropSchema(schema);
  });

  it('reaches every connection of the recipient on both processes once, and no one else', async () => {
    const anns = [
      await connect(a.url, 'ann'),
      await connect(b.url, 'ann'),
      await connect(b.url, 'ann'),
    ];
    const bob = await connect(a.url, 'bob');
    for (let n = 0; n < 20; n++) await trigger(n % 2 ? a.url : b.url, 'ann', n);
    await trigger(b.url, 'bob', 100);
    for (const c of anns) {
      const events = await c.waitForChanges(20);
      assert.deepEqual(
        ns(events).sort((x, y) => x - y),
        Array.from({ length: 20 }, (_, n) => n),
      );
      const seqs = events.map((e) => e.seq as number);
      assert.deepEqual(
        seqs,
        [...seqs].sort((x, y) => x - y),
        'in seq order',
      );
    }
    const [bobEvent] = await bob.waitForChanges(1);
    assert.deepEqual(ns([bobEvent!]), [100]);
    // A read on one process reaches the others with the count.
    const id = (anns[0]!.changes()[0]!.item as { id: string }).id;
    anns[1]!.send({ type: 'read', id });
    for (const c of anns)
      await c.waitForEvent(
        (e) => e.type === 'updated' && e.id === id && e.unreadCount === 19,
        'the read on every process',
      );
    for (const c of anns) assert.equal(c.changes().length, 21, 'nothing twice');
    assert.equal(bob.changes().length, 1);
  });

  it('a client away for 30 s while 100 notifications arrive through the other process resumes with all 100, in order, once', async () => {
    const c = await connect(a.url, 'bob');
    const { seq, epoch } = c.events[0]!;
    await c.close();
    // Away for 30 s (the scenario, not a wait for work): 10 every 3 s, through the other process.
    for (let round = 0; round < 10; round++) {
      await Promise.all(
        Array.from({ length: 10 }, (_, i) => trigger(b.url, 'bob', 1_000 + round * 10 + i)),
      );
      await sleep(3_000);
    }
    const back = await connect(a.url, 'bob', `after=${String(seq)}&epoch=${String(epoch)}`);
    const events = await back.waitForChanges(100);
    assert.deepEqual(
      ns(events).sort((x, y) => x - y),
      Array.from({ length: 100 }, (_, i) => 1_000 + i),
    );
    const seqs = events.map((e) => e.seq as number);
    assert.deepEqual(
      seqs,
      Array.from({ length: 100 }, (_, i) => (seq as number) + i + 1),
    );
    // Once: a live event after them is the 101st.
    await trigger(b.url, 'bob', 2_000);
    await back.waitForChanges(101);
    assert.equal(back.changes().length, 101);
  });

  it('loses nothing a resuming client asks for when a process is killed mid-stream', async () => {
    const total = 60;
    const c = await connect(a.url, 'cat');
    const { epoch } = c.events[0]!;
    // A steady stream through b, while a (holding the client) is killed part-way.
    const stream = (async () => {
      for (let n = 0; n < total; n++) await trigger(b.url, 'cat', n);
    })();
    await c.waitForChanges(10);
    a.child.kill('SIGKILL');
    await c.closed;
    const got = c.changes();
    // Back on the other process, from the last seq it had.
    const onB = await connect(b.url, 'cat', `after=${got.at(-1)!.seq}&epoch=${String(epoch)}`);
    await stream;
    const rest = await onB.waitForChanges(total - got.length);
    const all = [...got, ...rest];
    // Seq order is the order the workers put items in the inbox, not the order of the triggers.
    assert.deepEqual(
      ns(all).sort((x, y) => x - y),
      Array.from({ length: total }, (_, n) => n),
      'all, once',
    );
    const seqs = all.map((e) => e.seq as number);
    assert.deepEqual(
      seqs,
      [...seqs].sort((x, y) => x - y),
      'in seq order',
    );

    // And on the killed process restarted on its port, from a point in the middle.
    const port = new URL(a.url).port;
    const again = await startHeraldServer({ ...env, HERALD_PORT: port });
    children.push(again);
    const middle = all[24]!;
    const onA = await connect(again.url, 'cat', `after=${middle.seq}&epoch=${String(epoch)}`);
    const replayed = await onA.waitForChanges(total - 25);
    assert.deepEqual(ns(replayed), ns(all.slice(25)));
    await trigger(b.url, 'cat', total);
    await waitFor(() => ns(onA.changes()).includes(total), 20_000, 'live after the restart');
  });
});

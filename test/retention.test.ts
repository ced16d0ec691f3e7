/**
 * Retention on both backends, run by batches of one row so the batching is exercised:
 * notifications past their age go with their deliveries, inbox changes and idempotency keys,
 * a notification with a queued delivery stays, the unread count stays exact and the floor is
 * raised, so a client resuming from before it gets `reset`; old inbox changes, finished cron
 * runs (a schedule's latest kept), dead and cancelled jobs and expired console sessions go;
 * everything younger stays. The scheduler queues the job once per interval, after the first.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Herald } from '../src/index.js';
import { builtinHandlers } from '../src/handlers.js';
import { serveHerald, type RunningServer } from '../src/http/server.js';
import { makeRetention } from '../src/scheduler/retention.js';
import { makeScheduler } from '../src/scheduler/scheduler.js';
import { recipientToken } from './helpers/api.js';
import { connectClient } from './helpers/realtime.js';
import { BACKENDS, closeHerald, openHerald, pgSkipReason, sleep, waitFor } from './helpers/db.js';

const pgSkip = await pgSkipReason();
const SECRET = 'a-retention-test-jwt-secret-of-32-chars';
const DAY = 86_400_000;

for (const backend of BACKENDS) {
  describe(`retention on ${backend}`, { skip: backend === 'pg' ? pgSkip : undefined }, () => {
    let herald: Herald;
    let server: RunningServer;
    const q = async <T>(sql: string, params: unknown[] = []) =>
      (await herald.db.query<T>(sql.replaceAll('$S', `"${herald.config.schema}"`), params)).rows;
    const count = async (sql: string, params: unknown[] = []) =>
      Number((await q<{ n: number }>(`SELECT count(*)::int AS n FROM ${sql}`, params))[0]?.n);

    before(async () => {
      herald = await openHerald(backend, { jwtSecret: SECRET });
      await herald.worker({ handlers: builtinHandlers(herald), pollIntervalMs: 50 }).start();
      server = await serveHerald(herald, 0, '127.0.0.1');
    });
    after(async () => {
      await server.close();
      await closeHerald(herald);
    });

    it('removes what is past its age in small batches, and nothing younger', async () => {
      await herald.types.put('note', {
        channels: ['inapp'],
        templates: { inapp: { title: '{{n}}', body: 'b' } },
      });
      await herald.recipients.upsert('ret-a', {});
      const send = async (n: string, options: { idempotencyKey?: string; sendAt?: string } = {}) =>
        (await herald.send({ type: 'note', to: 'ret-a', data: { n }, ...options }))
          .notifications[0]!.id;
      const old1 = await send('old-1', { idempotencyKey: 'ret-key-1' });
      const old2 = await send('old-2');
      // Due in a year: its delivery is still queued, so it stays however old.
      const pending = await send('pending', {
        sendAt: new Date(Date.now() + 365 * DAY).toISOString(),
      });
      await sleep(2); // the cut-off is the next millisecond's first id
      const cut = Date.now();
      const young = await send('young');
      await waitFor(
        async () => (await herald.inbox.unreadCount('ret-a')) === 3,
        20_000,
        'three items in the inbox',
      );
      await herald.inbox.markRead('ret-a', old2, true);
      const [stream] = await q<{ seq: string; epoch: string }>(
        `SELECT seq::text, epoch FROM $S.inbox_streams WHERE recipient_id = 'ret-a'`,
      );

      // Other kinds, made old by hand: two finished runs of one schedule, a dead and a
      // cancelled job, an expired console session; and one of each that is young.
      await q(
        `INSERT INTO $S.job_runs (schedule, tick, manual, status, finished_at) VALUES
           ('nightly', now() - interval '40 days', false, 'succeeded', now() - interval '40 days'),
           ('nightly', now() - interval '39 days', false, 'succeeded', now() - interval '39 days'),
           ('weekly', now() - interval '60 days', false, 'failed', now() - interval '60 days'),
           ('nightly', now() - interval '1 day', true, 'succeeded', now() - interval '1 day')`,
      );
      for (const [kind, status, age] of [
        ['x.dead', 'dead', '31 days'],
        ['x.cancelled', 'cancelled', '31 days'],
        ['x.young', 'dead', '1 day'],
      ] as const) {
        const { job } = await herald.queue.enqueue({ kind, queue: 'ret-q' });
        await q(`UPDATE $S.jobs SET status = $2, updated_at = now() - $3::interval WHERE id = $1`, [
          job.id,
          status,
          age,
        ]);
      }
      await q(
        `INSERT INTO $S.admin_sessions (id, key_id, read_only, csrf, expires_at) VALUES
           ('gone', 'k', false, 'c', now() - interval '1 second'),
           ('live', 'k', false, 'c', now() + interval '1 hour')`,
      );

      const retention = makeRetention(
        herald.db,
        herald.config.schema,
        {
          notificationsDays: 90,
          inboxChangesDays: 30,
          jobRunsDays: 30,
          deadJobsDays: 30,
          batchSize: 1,
        },
        herald.log,
      );
      const counts = await retention.run(cut + 90 * DAY);
      assert.deepEqual(counts, {
        notifications: 2,
        idempotencyKeys: 0, // its own clock: the key is minutes old
        inboxChanges: 0,
        jobRuns: 2, // nightly's two old runs; weekly's only run is its latest, and stays
        jobs: 2,
        sessions: 1,
      });
      const left = (await q<{ id: string }>(`SELECT id FROM $S.notifications ORDER BY id`)).map(
        (r) => r.id,
      );
      assert.deepEqual(left, [pending, young].sort());
      assert.equal(
        await count(`$S.deliveries WHERE notification_id = ANY($1::uuid[])`, [[old1, old2]]),
        0,
      );
      assert.equal(
        await count(`$S.inbox_changes WHERE notification_id = ANY($1::uuid[])`, [[old1, old2]]),
        0,
      );
      // old1 was unread, old2 read: the stream's count drops by one and agrees with the inbox.
      const [after1] = await q<{ unread: number; floor_seq: string; seq: string }>(
        `SELECT unread, floor_seq::text, seq::text FROM $S.inbox_streams WHERE recipient_id = 'ret-a'`,
      );
      assert.equal(after1?.unread, 1);
      assert.equal(await herald.inbox.unreadCount('ret-a'), 1);
      assert.ok(Number(after1?.floor_seq) >= 3, `floor ${after1?.floor_seq}`);
      assert.equal(after1?.seq, stream?.seq, 'no change was recorded');
      assert.deepEqual(
        (await q<{ schedule: string }>(`SELECT schedule FROM $S.job_runs ORDER BY id`)).map(
          (r) => r.schedule,
        ),
        ['weekly', 'nightly'],
      );
      assert.deepEqual(
        (await q<{ kind: string }>(`SELECT kind FROM $S.jobs WHERE queue = 'ret-q'`)).map(
          (r) => r.kind,
        ),
        ['x.young'],
      );
      assert.deepEqual(
        (await q<{ id: string }>(`SELECT id FROM $S.admin_sessions`)).map((r) => r.id),
        ['live'],
      );

      // A client resuming from before the floor is told to start over.
      const base = `http://127.0.0.1:${server.port}`;
      const client = await connectClient(base, {
        token: await recipientToken('ret-a', SECRET),
        query: `after=1&epoch=${stream?.epoch}`,
      });
      await client.waitForEvent((e) => e.type === 'reset', 'reset below the floor');
      await client.close();

      // Age by the database's clock: the key and the young item's changes, made old.
      await q(`UPDATE $S.idempotency_keys SET created_at = now() - interval '91 days'`);
      await q(`UPDATE $S.inbox_changes SET at = now() - interval '31 days'`);
      const again = await retention.run(cut + 90 * DAY);
      assert.equal(again.idempotencyKeys, 1);
      assert.ok(again.inboxChanges >= 1);
      assert.equal(await count(`$S.inbox_changes`), 0);
      const [after2] = await q<{ floor_seq: string; seq: string }>(
        `SELECT floor_seq::text, seq::text FROM $S.inbox_streams WHERE recipient_id = 'ret-a'`,
      );
      assert.equal(after2?.floor_seq, after2?.seq, 'the floor is at the head: all history gone');
    });

    it('the scheduler queues the retention job one interval after it starts, then each interval', async () => {
      let queued = 0;
      const everyMs = 1_000;
      const started = Date.now();
      const scheduler = makeScheduler({
        cron: herald.schedules,
        local: herald.localSchedules,
        log: herald.log,
        retention: {
          everyMs,
          enqueue: () => {
            queued++;
            return Promise.resolve();
          },
        },
      });
      // Each check holds only while the machine kept within the interval (a busy one may not).
      await scheduler.tick();
      if (Date.now() - started < everyMs) assert.equal(queued, 0, 'not at start');
      await sleep(everyMs + 50);
      await scheduler.tick();
      const first = Date.now();
      await scheduler.tick();
      assert.ok(queued >= 1, 'queued once the interval passed');
      if (Date.now() - first < everyMs) assert.equal(queued, 1, 'once per interval');
    });
  });
}

/**
 * The scheduler on both backends: cron schedules through the admin API (validation, runs,
 * /jobs/status), firing each tick once, the catch-up policies after downtime, run records and
 * the alert after three failed runs; recipients' local-time schedules from their preferences
 * (next run, preview, a change of zone), their runs with content from the app (a function, or
 * a signed data hook over HTTP), each sent once.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Webhook } from 'standardwebhooks';
import type { Hono } from 'hono';
import { builtinHandlers } from '../src/handlers.js';
import { makeApp } from '../src/http/app.js';
import type { Herald } from '../src/index.js';
import type { Schedule } from '../src/scheduler/cron-schedules.js';
import { nextTick, parseCron } from '../src/time/cron.js';
import { toLocal } from '../src/time/zoned.js';
import type { ContentItem } from '../src/scheduler/local-run.js';
import { apiCaller, type Call, type Problem } from './helpers/api.js';
import { BACKENDS, closeHerald, openHerald, pgSkipReason, sleep, waitFor } from './helpers/db.js';

const pgSkip = await pgSkipReason();
const KEY = 'scheduler-test-server-key-0123456789';
const ADMIN = 'scheduler-test-admin-key-0123456789';
const SECRET = 'scheduler-test-webhook-secret-0123456789';
/** The data hook's own key (Standard Webhooks `whsec_`), distinct from the webhook secret. */
const HOOK_SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;

const inappType = (title: string) => ({
  channels: ['inapp'],
  templates: { inapp: { title, body: 'x' } },
});

for (const backend of BACKENDS) {
  describe(`scheduler on ${backend}`, { skip: backend === 'pg' ? pgSkip : undefined }, () => {
    let herald: Herald;
    let app: Hono;
    let call: Call;
    let admin: Call;
    const contentCalls: ContentItem[][] = [];
    let hook: Server;
    let hookBodies: { body: string; headers: Record<string, string> }[];
    const s = () => `"${herald.config.schema}"`;

    before(async () => {
      hookBodies = [];
      hook = createServer((req, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          hookBodies.push({ body, headers: req.headers as Record<string, string> });
          const { items } = JSON.parse(body) as { items: { recipientId: string }[] };
          const results = Object.fromEntries(
            items.map((i) => [
              i.recipientId,
              i.recipientId.startsWith('quiet') ? { skip: true } : { data: { tasks: 3 } },
            ]),
          );
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ results }));
        });
      });
      await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
      herald = await openHerald(backend, {
        apiKey: KEY,
        adminKey: ADMIN,
        opsRecipient: 'ops',
        webhookSecret: SECRET,
        dataHookSecret: HOOK_SECRET,
        egressAllow: ['127.0.0.1/32'], // the data hook runs on loopback
        localSchedules: {
          standup: {
            type: 'standup',
            hookUrl: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`,
          },
        },
      });
      app = makeApp(herald);
      call = apiCaller(app, KEY);
      admin = apiCaller(app, ADMIN);
      await herald
        .worker({
          handlers: builtinHandlers(herald, {
            tasks: {
              boom: () => {
                throw new Error('the report database is down');
              },
              count: (payload) => ({ counted: payload.n }),
            },
            content: {
              daily_briefing: ({ items }) => {
                contentCalls.push(items);
                return Object.fromEntries(
                  items.map((i) => [
                    i.recipientId,
                    i.recipientId === 'bob'
                      ? { skip: true }
                      : { data: { agenda: `for ${i.recipientId}` } },
                  ]),
                );
              },
            },
          }),
          pollIntervalMs: 20,
        })
        .start();
      for (const id of ['ann', 'bob', 'ops', 'cy', 'quiet1'])
        assert.ok((await call('PUT', `/v1/recipients/${id}`, { timezone: 'Europe/Berlin' })).ok);
      for (const [name, title] of [
        ['tick', 'Tick {{n}}'],
        ['daily_briefing', 'Your day {{agenda}}'],
        ['standup', 'Standup: {{tasks}} tasks'],
      ] as const)
        assert.ok((await call('PUT', `/v1/types/${name}`, inappType(title))).ok);
    });
    after(async () => {
      await closeHerald(herald);
      await new Promise<void>((r) => hook.close(() => r()));
    });

    const runsOf = async (name: string) =>
      (
        await herald.db.query<{
          tick: Date;
          status: string;
          attempts: number;
          error: string | null;
          result: unknown;
        }>(
          `SELECT tick, status, attempts, error, result FROM ${s()}.job_runs WHERE schedule = $1 ORDER BY tick`,
          [name],
        )
      ).rows;

    it('defines schedules through the admin API, refusing bad ones field by field', async () => {
      const bad = await admin('PUT', '/v1/admin/schedules/nightly', {
        cron: '61 * * * *',
        timezone: 'Mars/Olympus',
        task: 'notify',
        extra: 1,
      });
      assert.equal(bad.status, 400);
      const problem = (await bad.json()) as Problem;
      assert.equal(problem.code, 'validation_failed');
      const fields = problem.errors?.map((e) => e.field).sort();
      assert.deepEqual(fields, ['cron', 'extra', 'timezone']);
      assert.equal((await admin('GET', '/v1/admin/schedules/nightly')).status, 404);
      assert.equal((await call('PUT', '/v1/admin/schedules/nightly', {})).status, 403);

      const put = await admin('PUT', '/v1/admin/schedules/nightly', {
        cron: '0 2 * * *',
        timezone: 'Europe/Berlin',
        task: 'count',
        payload: { n: 1 },
      });
      assert.equal(put.status, 201);
      const sc = (await put.json()) as Schedule;
      const expected = nextTick(parseCron('0 2 * * *'), 'Europe/Berlin', Date.now());
      assert.equal(sc.nextRunAt, new Date(expected as number).toISOString());
      assert.equal(sc.catchUp, 'latest');
      const list = (await (await admin('GET', '/v1/admin/schedules')).json()) as {
        items: Schedule[];
      };
      assert.ok(list.items.some((i) => i.name === 'nightly'));

      // A manual run is recorded and run by a worker; /jobs/status shows it.
      const run = await admin('POST', '/v1/admin/schedules/nightly/run');
      assert.equal(run.status, 202);
      const status = await waitFor(
        async () => {
          const body = (await (await admin('GET', '/v1/admin/jobs/status')).json()) as {
            schedules: Schedule[];
          };
          const n = body.schedules.find((x) => x.name === 'nightly');
          return n?.lastRun?.status === 'succeeded' ? n : null;
        },
        10_000,
        'the manual run',
      );
      assert.deepEqual(status.lastRun?.result, { counted: 1 });
      assert.equal(status.lastRun?.manual, true);
      assert.equal((await admin('POST', '/v1/admin/schedules/nope/run')).status, 404);
      assert.equal((await admin('DELETE', '/v1/admin/schedules/nightly')).status, 204);
      assert.equal((await admin('DELETE', '/v1/admin/schedules/nightly')).status, 404);
    });

    it('fires every tick of a schedule once, and the notify task sends once per tick', async () => {
      await herald.schedules.put('every-second', {
        cron: '* * * * * *',
        task: 'notify',
        payload: { type: 'tick', to: 'ann', data: { n: 1 } },
      });
      const scheduler = herald.scheduler({ intervalMs: 50 });
      scheduler.start();
      // A second scheduler over the same database: they share the ticks, never fire one twice.
      const twin = herald.scheduler({ intervalMs: 50 });
      twin.start();
      await sleep(3_200);
      await scheduler.stop();
      await twin.stop();
      await herald.schedules.remove('every-second');
      const runs = await waitFor(
        async () => {
          const r = await runsOf('every-second');
          return r.every((x) => x.status === 'succeeded') ? r : null;
        },
        10_000,
        'the runs to finish',
      );
      assert.ok(runs.length >= 2, `${runs.length} runs`);
      const ticks = runs.map((r) => r.tick.getTime());
      for (let i = 1; i < ticks.length; i++)
        assert.equal((ticks[i] as number) - (ticks[i - 1] as number), 1000);
      const { rows } = await herald.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${s()}.notifications WHERE type = 'tick'`,
      );
      assert.equal(rows[0]?.n, runs.length);
    });

    it('after downtime fires the latest missed tick once, every one, or none', async () => {
      for (const catchUp of ['latest', 'all', 'none'] as const) {
        const name = `missed-${catchUp}`;
        // `none` on a minute 30 away from now, so its latest missed tick is never on time.
        const cron =
          catchUp === 'none' ? `${(new Date().getUTCMinutes() + 30) % 60} * * * *` : '*/5 * * * *';
        await herald.schedules.put(name, { cron, task: 'count', catchUp });
        // As if every scheduler had been down for an hour.
        await herald.db.query(
          `UPDATE ${s()}.schedules SET next_tick = date_trunc('hour', now()) - interval '1 hour' WHERE name = $1`,
          [name],
        );
      }
      // Taken before firing: a run on a 5-minute boundary may set the next tick to a moment the
      // test's clock has already passed by the time it looks.
      const firedAt = Date.now();
      await herald.schedules.fireDue();
      const latest = await runsOf('missed-latest');
      const all = await runsOf('missed-all');
      const none = await runsOf('missed-none');
      assert.equal(latest.length, 1);
      assert.ok(all.length >= 12 && all.length <= 24, `${all.length} ticks`);
      assert.equal(
        latest[0]?.tick.getTime(),
        all.at(-1)?.tick.getTime(),
        'latest is the last missed tick',
      );
      assert.equal(none.length, 0);
      for (const name of ['missed-latest', 'missed-all', 'missed-none']) {
        const sc = await herald.schedules.get(name);
        // The next run is no longer in the hour of downtime.
        assert.ok(Date.parse(sc?.nextRunAt as string) > firedAt - 1_000, `${name} moved on`);
        await herald.schedules.remove(name);
      }
      // Firing again finds nothing due.
      assert.equal(await herald.schedules.fireDue(), 0);
    });

    it('records failed runs and alerts the ops recipient on the third in a row', async () => {
      await herald.schedules.put('fragile', { cron: '0 3 * * *', task: 'boom' });
      for (let i = 1; i <= 4; i++) {
        await herald.schedules.runNow('fragile');
        await waitFor(
          async () => (await herald.schedules.get('fragile'))?.failureStreak === i,
          10_000,
          `failed run ${i}`,
        );
      }
      const runs = (
        await herald.db.query<{ status: string; error: string }>(
          `SELECT status, error FROM ${s()}.job_runs WHERE schedule = 'fragile'`,
        )
      ).rows;
      assert.equal(runs.length, 4);
      assert.ok(
        runs.every((r) => r.status === 'failed' && /report database is down/.test(r.error)),
      );
      const alerts = await waitFor(
        async () => {
          const { rows } = await herald.db.query<{
            recipient_id: string;
            data: { streak: number };
          }>(
            `SELECT recipient_id, data FROM ${s()}.notifications WHERE type = 'herald.schedule-failed'`,
          );
          return rows.length > 0 ? rows : null;
        },
        10_000,
        'the alert',
      );
      assert.equal(alerts.length, 1, 'one alert at the third failure, not one per failure');
      assert.equal(alerts[0]?.recipient_id, 'ops');
      assert.equal(alerts[0]?.data.streak, 3);
      const metrics = await (await app.request('/metrics')).text();
      assert.match(metrics, /herald_schedule_runs_total\{schedule="fragile",status="failed"\} 4/);
      await herald.schedules.remove('fragile');
    });

    it("keeps each recipient's local-time schedules from their preferences", async () => {
      const bad = await call('PUT', '/v1/recipients/ann/preferences', {
        schedules: { moonly_digest: { time: '08:00' } },
      });
      assert.equal(bad.status, 400);
      assert.match(JSON.stringify(await bad.json()), /schedules\.moonly_digest/);

      const prefs = {
        schedules: {
          daily_briefing: { time: '08:00', skipWeekends: true },
          weekly_summary: { time: '09:00' },
        },
      };
      assert.ok((await call('PUT', '/v1/recipients/ann/preferences', prefs)).ok);
      type Listed = {
        items: {
          name: string;
          cron: string;
          timezone: string;
          nextRunAt: string;
          runs?: string[];
        }[];
      };
      const listed = (await (await call('GET', '/v1/recipients/ann/schedules')).json()) as Listed;
      const briefing = listed.items.find((i) => i.name === 'daily_briefing');
      const weekly = listed.items.find((i) => i.name === 'weekly_summary');
      assert.equal(briefing?.cron, '0 8 * * 1-5');
      assert.equal(weekly?.cron, '0 9 * * 1', 'a weekly summary without a day is on Monday');
      assert.equal(
        briefing?.nextRunAt,
        new Date(
          nextTick(parseCron('0 8 * * 1-5'), 'Europe/Berlin', Date.now()) as number,
        ).toISOString(),
      );
      // A preview across Berlin's spring-forward weekend: Friday, then Monday, at 08:00 local.
      const preview = (await (
        await call('GET', '/v1/recipients/ann/schedules?from=2027-03-26T12:00:00Z&count=2')
      ).json()) as Listed;
      assert.deepEqual(preview.items.find((i) => i.name === 'daily_briefing')?.runs, [
        '2027-03-29T06:00:00.000Z',
        '2027-03-30T06:00:00.000Z',
      ]);
      assert.equal((await call('GET', '/v1/recipients/ann/schedules?count=0')).status, 400);
      assert.equal((await call('GET', '/v1/recipients/nobody/schedules')).status, 404);

      // A new zone moves the next run; so does the preferences' own zone.
      await call('PUT', '/v1/recipients/ann', { timezone: 'Asia/Kathmandu' });
      const moved = (await (await call('GET', '/v1/recipients/ann/schedules')).json()) as Listed;
      const kathmandu = moved.items.find((i) => i.name === 'daily_briefing');
      assert.equal(kathmandu?.timezone, 'Asia/Kathmandu');
      assert.equal(
        kathmandu?.nextRunAt,
        new Date(
          nextTick(parseCron('0 8 * * 1-5'), 'Asia/Kathmandu', Date.now()) as number,
        ).toISOString(),
      );
      await call('PUT', '/v1/recipients/ann/preferences', {
        ...prefs,
        timezone: 'America/New_York',
      });
      const overridden = (await (
        await call('GET', '/v1/recipients/ann/schedules')
      ).json()) as Listed;
      assert.ok(overridden.items.every((i) => i.timezone === 'America/New_York'));
      // Switched off, it goes.
      await call('PUT', '/v1/recipients/ann/preferences', {
        schedules: { daily_briefing: { time: '08:00', enabled: false } },
      });
      assert.deepEqual(
        ((await (await call('GET', '/v1/recipients/ann/schedules')).json()) as Listed).items,
        [],
      );
    });

    it('sends a due local-time run once, with the content the app gives (or skips)', async () => {
      contentCalls.length = 0;
      for (const id of ['ann', 'bob'])
        await call('PUT', `/v1/recipients/${id}/preferences`, {
          schedules: { daily_briefing: { time: '08:00' } },
        });
      // Due a minute ago, as if 08:00 had just passed.
      await herald.db.query(
        `UPDATE ${s()}.recipient_schedules SET next_run_at = now() - interval '1 minute'
         WHERE name = 'daily_briefing'`,
      );
      const scheduler = herald.scheduler();
      const fired = await scheduler.tick();
      assert.equal(fired.local, 2);
      assert.equal((await scheduler.tick()).local, 0, 'moved on: nothing due any more');
      const sent = await waitFor(
        async () => {
          const { rows } = await herald.db.query<{
            recipient_id: string;
            data: { agenda?: string };
          }>(
            `SELECT n.recipient_id, n.data FROM ${s()}.notifications n
             JOIN ${s()}.deliveries d ON d.notification_id = n.id
             WHERE n.type = 'daily_briefing' AND d.status = 'sent'`,
          );
          return rows.length > 0 ? rows : null;
        },
        10_000,
        'the briefing',
      );
      assert.deepEqual(
        sent.map((r) => [r.recipient_id, r.data.agenda]),
        [['ann', 'for ann']],
      );
      assert.equal(contentCalls.length, 1, 'one call for the batch');
      assert.deepEqual(contentCalls[0]?.map((i) => i.recipientId).sort(), ['ann', 'bob']);
      const item = contentCalls[0]?.[0] as ContentItem;
      // The window runs from the previous 08:00 in the recipient's zone to this run.
      const from = toLocal(item.window.from.getTime(), item.timezone);
      assert.deepEqual([from.hour, from.minute], [8, 0]);
      const span = item.window.to.getTime() - item.window.from.getTime();
      assert.ok(span > 0 && span <= 86_400_000, `window of ${span} ms`);
      const rows = (
        await herald.db.query<{ next_run_at: Date }>(
          `SELECT next_run_at FROM ${s()}.recipient_schedules WHERE name = 'daily_briefing'`,
        )
      ).rows;
      assert.ok(rows.every((r) => r.next_run_at.getTime() > Date.now()));
    });

    it('asks the data hook of a service-use schedule, signed with the data hook’s own key', async () => {
      for (const id of ['cy', 'quiet1'])
        await call('PUT', `/v1/recipients/${id}/preferences`, {
          schedules: { standup: { time: '09:30' } },
        });
      await herald.db.query(
        `UPDATE ${s()}.recipient_schedules SET next_run_at = now() - interval '1 second' WHERE name = 'standup'`,
      );
      await herald.scheduler().tick();
      const sent = await waitFor(
        async () => {
          const { rows } = await herald.db.query<{
            recipient_id: string;
            inbox: { title: string } | null;
          }>(
            `SELECT recipient_id, inbox FROM ${s()}.notifications WHERE type = 'standup' AND inbox IS NOT NULL`,
          );
          return rows.length > 0 ? rows : null;
        },
        10_000,
        'the standup',
      );
      assert.deepEqual(
        sent.map((r) => [r.recipient_id, r.inbox?.title]),
        [['cy', 'Standup: 3 tasks']],
      );
      assert.equal(hookBodies.length, 1);
      const { body, headers } = hookBodies[0]!;
      // A real Standard Webhooks receiver library verifies it with the data hook's key.
      assert.doesNotThrow(() => new Webhook(HOOK_SECRET).verify(body, headers));
      assert.match(headers['webhook-id'] ?? '', /^batch_[A-Za-z0-9_-]{32}$/);
      assert.equal(headers['herald-signature'], undefined);
      const parsed = JSON.parse(body) as {
        schedule: string;
        items: { recipientId: string; window: unknown }[];
      };
      assert.equal(parsed.schedule, 'standup');
      assert.deepEqual(parsed.items.map((i) => i.recipientId).sort(), ['cy', 'quiet1']);
    });
  });
}

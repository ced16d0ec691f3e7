/**
 * Event-relative reminders through the HTTP API, on both backends, with a worker running the
 * built-in handlers: PUT plans one job per recipient × offset; each offset fires at its time;
 * a move changes the run time and the old plan never fires; DELETE cancels; past offsets are
 * skipped unless `late: "send"`; removed offsets and recipients are cancelled; refusals are
 * field by field and write nothing; auth; erase; and the idempotency key behind the row.
 *
 * Offsets have minute granularity, so a test that wants one to fire soon puts `dueAt` at
 * now + offset + a few hundred ms.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Hono } from 'hono';
import type { z } from 'zod';
import type { Herald } from '../src/index.js';
import { builtinHandlers } from '../src/handlers.js';
import { makeApp } from '../src/http/app.js';
import { openApiDocument } from '../src/http/openapi.js';
import type { SCHEMAS } from '../src/http/openapi-schemas.js';
import type { Reminder, ReminderItem } from '../src/scheduler/reminders.js';
import { apiCaller, recipientToken, type Call, type Problem } from './helpers/api.js';
import { BACKENDS, closeHerald, openHerald, pgSkipReason, sleep, waitFor } from './helpers/db.js';
import { schemaErrors, type Schema } from './helpers/json-schema.js';

const pgSkip = await pgSkipReason();
const KEY = 'reminders-test-key-0123456789';
const SECRET = 'a-reminders-test-jwt-secret-of-32-chars';
const MIN = 60_000;

// The response schema written out for the OpenAPI document stays the interface's type.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const sameShape: Same<z.output<(typeof SCHEMAS)['Reminder']['schema']>, Reminder> = true;
const components = openApiDocument('0.0.0').components.schemas as Record<string, Schema>;

const at = (ms: number) => new Date(Date.now() + ms).toISOString();
const item = (r: Reminder, recipientId: string, offset: string) =>
  r.items.find((i) => i.recipientId === recipientId && i.offset === offset) as ReminderItem;

for (const backend of BACKENDS) {
  describe(`reminders on ${backend}`, { skip: backend === 'pg' ? pgSkip : undefined }, () => {
    let herald: Herald;
    let app: Hono;
    let call: Call;
    const q = async <T>(sql: string, params: unknown[] = []) =>
      (await herald.db.query<T>(sql.replaceAll('$S', `"${herald.config.schema}"`), params)).rows;
    const count = async (table: string, where = 'true', params: unknown[] = []) =>
      (
        await q<{ n: number }>(`SELECT count(*)::int AS n FROM $S.${table} WHERE ${where}`, params)
      )[0]!.n;
    /** Notifications a reminder produced (the data carries its key). */
    const sentFor = (key: string) => count('notifications', "data->'reminder'->>'key' = $1", [key]);
    const queuedJobs = (key: string) =>
      q<{ key: string; run_at: Date; payload: { dueAt: string; runAt: string } }>(
        `SELECT key, run_at, payload FROM $S.jobs
         WHERE kind = 'reminder' AND status = 'queued' AND key LIKE $1 ORDER BY key`,
        [`reminder:${key}:%`],
      );
    const put = async (key: string, body: unknown, status?: number) => {
      const res = await call('PUT', `/v1/reminders/${key}`, body);
      if (status !== undefined) assert.equal(res.status, status, await res.clone().text());
      return res;
    };
    const read = async (key: string): Promise<Reminder> => {
      const res = await call('GET', `/v1/reminders/${key}`);
      assert.equal(res.status, 200, await res.clone().text());
      const body = (await res.json()) as Reminder;
      assert.deepEqual(
        schemaErrors({ $ref: '#/components/schemas/Reminder' }, body, components),
        [],
        'the answer matches the OpenAPI schema',
      );
      return body;
    };
    const settled = (key: string, recipientId: string, offset: string, status = 'sent') =>
      waitFor(
        async () => {
          const i = item(await read(key), recipientId, offset);
          return i.status === status ? i : null;
        },
        10_000,
        `${key} ${recipientId} ${offset} to be ${status}`,
      );

    before(async () => {
      herald = await openHerald(backend, { apiKey: KEY, jwtSecret: SECRET, poolSize: 10 });
      app = makeApp(herald);
      call = apiCaller(app, KEY);
      const type = {
        channels: ['inapp'],
        templates: { inapp: { title: '{{title}}', body: 'due {{reminder.dueAt}}' } },
      };
      assert.equal((await call('PUT', '/v1/types/due', type)).status, 201);
      for (const id of ['ann', 'bob', 'cy'])
        assert.equal((await call('PUT', `/v1/recipients/${id}`, { timezone: 'UTC' })).status, 201);
      await herald.worker({ handlers: builtinHandlers(herald), pollIntervalMs: 50 }).start();
    });
    after(() => closeHerald(herald));

    it('plans one job per recipient × offset; GET lists each runAt; PUT again changes nothing', async () => {
      assert.equal(sameShape, true);
      const dueAt = at(3 * 24 * 60 * MIN);
      const body = {
        to: ['ann', 'bob', 'ann'],
        type: 'due',
        dueAt,
        offsets: ['24h', '2h', '30m'],
        data: { title: 'Report' },
      };
      const res = await put('plan-1', body, 201);
      const created = (await res.json()) as Reminder;
      assert.deepEqual(created.to, ['ann', 'bob'], 'repeats ignored');
      assert.equal(created.late, 'skip', 'the default');
      assert.equal(created.status, 'active');
      const r = await read('plan-1');
      assert.equal(r.items.length, 6);
      for (const i of r.items) {
        const offsetMs = { '24h': 24 * 60, '2h': 120, '30m': 30 }[i.offset]! * MIN;
        assert.equal(i.status, 'scheduled');
        assert.equal(i.runAt, new Date(Date.parse(dueAt) - offsetMs).toISOString());
        assert.equal(i.dueAt, new Date(dueAt).toISOString());
        assert.equal(i.notificationId, null);
      }
      const jobs = await queuedJobs('plan-1');
      assert.deepEqual(
        jobs.map((j) => j.key),
        [
          'reminder:plan-1:ann:24h',
          'reminder:plan-1:ann:2h',
          'reminder:plan-1:ann:30m',
          'reminder:plan-1:bob:24h',
          'reminder:plan-1:bob:2h',
          'reminder:plan-1:bob:30m',
        ],
      );
      for (const j of jobs)
        assert.equal(
          j.run_at.toISOString(),
          item(r, j.key.split(':')[2]!, j.key.split(':')[3]!).runAt,
        );

      const jobsBefore = await count('jobs');
      await put('plan-1', body, 200);
      assert.deepEqual(await read('plan-1').then((x) => x.items), r.items);
      assert.equal(await count('jobs'), jobsBefore, 'no job added, none cancelled');
    });

    it('fires an offset at its time, once, with the reminder in the data; a past one is skipped', async () => {
      const dueAt = at(MIN + 400);
      await put(
        'fire-1',
        { to: 'ann', type: 'due', dueAt, offsets: ['1m', '2m'], data: { title: 'T' } },
        201,
      );
      const r = await read('fire-1');
      assert.equal(item(r, 'ann', '1m').status, 'scheduled');
      assert.deepEqual(
        [item(r, 'ann', '2m').status, item(r, 'ann', '2m').reason],
        ['skipped', 'past'],
        'an offset already past is recorded, not sent late',
      );
      assert.equal((await queuedJobs('fire-1')).length, 1);
      const sent = await settled('fire-1', 'ann', '1m');
      assert.ok(
        Date.parse(sent.sentAt!) >= Date.parse(sent.runAt),
        `sent at ${sent.sentAt}, not before its time ${sent.runAt}`,
      );
      // Not a minute late (the offsets are minutes apart); a busy machine may add seconds.
      assert.ok(Date.parse(sent.sentAt!) < Date.parse(sent.runAt) + 30_000, 'and not much after');
      const n = await herald.notifications.get(sent.notificationId!);
      assert.equal(n?.recipientId, 'ann');
      assert.deepEqual(n?.data.reminder, {
        key: 'fire-1',
        dueAt: new Date(dueAt).toISOString(),
        offset: '1m',
      });
      await sleep(300);
      assert.equal(await sentFor('fire-1'), 1);
      assert.equal(
        await count('idempotency_keys', 'key = $1', [
          `reminder:fire-1:ann:1m:${new Date(dueAt).toISOString()}`,
        ]),
        1,
        'the trigger carried the idempotency key',
      );
    });

    it('a move changes the runAt of the queued job; the old plan never fires', async () => {
      // Due soon, then moved a day later before it fires.
      await put(
        'move-1',
        { to: 'ann', type: 'due', dueAt: at(MIN + 3_000), offsets: ['1m'], data: { title: 'M' } },
        201,
      );
      const [before] = await queuedJobs('move-1');
      const later = at(24 * 60 * MIN);
      const moved = (await (
        await put(
          'move-1',
          { to: 'ann', type: 'due', dueAt: later, offsets: ['1m'], data: { title: 'M' } },
          200,
        )
      ).json()) as Reminder;
      const expected = new Date(Date.parse(later) - MIN).toISOString();
      assert.equal(item(moved, 'ann', '1m').runAt, expected);
      const jobs = await queuedJobs('move-1');
      assert.equal(jobs.length, 1);
      assert.equal(jobs[0]!.run_at.toISOString(), expected, 'the job moved');
      assert.equal(jobs[0]!.payload.dueAt, new Date(later).toISOString());
      assert.notEqual(before!.run_at.toISOString(), expected);
      assert.equal(
        await count(
          'jobs',
          "kind = 'reminder' AND status = 'cancelled' AND key LIKE 'reminder:move-1:%'",
        ),
        0,
        'replaced in place, not cancelled and added',
      );

      // A job left from before the move (its plan in the payload) runs and does nothing.
      await herald.queue.enqueue({
        kind: 'reminder',
        payload: { ...before!.payload, key: 'move-1', recipientId: 'ann', offset: '1m' },
      });
      await waitFor(
        async () =>
          (await count(
            'jobs',
            "kind = 'reminder' AND key IS NULL AND status IN ('queued', 'processing')",
          )) === 0,
        10_000,
        'the stale job to run',
      );
      await sleep(Math.max(0, before!.run_at.getTime() - Date.now()) + 500); // past the old time
      assert.equal(await sentFor('move-1'), 0);
      assert.equal(item(await read('move-1'), 'ann', '1m').status, 'scheduled');

      // Moved to soon: fires at the new time.
      const soon = at(MIN + 400);
      await put(
        'move-1',
        { to: 'ann', type: 'due', dueAt: soon, offsets: ['1m'], data: { title: 'M' } },
        200,
      );
      const sent = await settled('move-1', 'ann', '1m');
      assert.equal(sent.dueAt, new Date(soon).toISOString());
      await sleep(300);
      assert.equal(await sentFor('move-1'), 1);
    });

    it('DELETE cancels what is not sent; the reminder stays readable; unknown keys are 404', async () => {
      await put(
        'del-1',
        {
          to: ['ann', 'bob'],
          type: 'due',
          dueAt: at(MIN + 2_000),
          offsets: ['1m', '5m'],
          data: { title: 'D' },
        },
        201,
      );
      const res = await call('DELETE', '/v1/reminders/del-1');
      assert.equal(res.status, 200);
      const gone = (await res.json()) as Reminder;
      assert.equal(gone.status, 'cancelled');
      assert.deepEqual(
        gone.items.map((i) => [i.status, i.reason]),
        Array(4).fill(['cancelled', 'deleted']),
      );
      assert.equal((await queuedJobs('del-1')).length, 0);
      await sleep(2_500);
      assert.equal(await sentFor('del-1'), 0, 'nothing fired');
      assert.equal((await read('del-1')).status, 'cancelled');
      assert.equal(
        (await call('DELETE', '/v1/reminders/del-1')).status,
        200,
        'again: the same answer',
      );
      for (const [method, path] of [
        ['GET', '/v1/reminders/nope'],
        ['DELETE', '/v1/reminders/nope'],
        ['GET', '/v1/reminders/..bad key'],
      ] as const) {
        const r = await call(method, path);
        assert.equal(r.status, 404, `${method} ${path}`);
        assert.equal(((await r.json()) as Problem).code, 'not_found');
      }
      // A PUT sets it again.
      const again = (await (
        await put('del-1', { to: 'ann', type: 'due', dueAt: at(60 * MIN), offsets: ['5m'] }, 200)
      ).json()) as Reminder;
      assert.equal(again.status, 'active');
      assert.equal(item(again, 'ann', '5m').status, 'scheduled');
    });

    it('late: "send" sends an offset already past at once; the others keep their times', async () => {
      const dueAt = at(30 * MIN);
      const body = {
        to: 'bob',
        type: 'due',
        dueAt,
        offsets: ['1h', '15m'],
        late: 'send',
        data: { title: 'L' },
      };
      const r = (await (await put('late-1', body, 201)).json()) as Reminder;
      const late = item(r, 'bob', '1h');
      assert.deepEqual([late.status, late.reason], ['scheduled', 'late']);
      assert.ok(Math.abs(Date.parse(late.runAt) - Date.now()) < 60_000, 'now, not an hour ago');
      assert.equal(
        item(r, 'bob', '15m').runAt,
        new Date(Date.parse(dueAt) - 15 * MIN).toISOString(),
      );
      const sent = await settled('late-1', 'bob', '1h');
      assert.ok(sent.notificationId);
      // The same PUT again neither sends it twice nor plans it again.
      await put('late-1', body, 200);
      await sleep(500);
      assert.equal(item(await read('late-1'), 'bob', '1h').status, 'sent');
      assert.equal(await sentFor('late-1'), 1);
    });

    it('offsets and recipients no longer named are cancelled; added ones scheduled', async () => {
      const dueAt = at(5 * 60 * MIN);
      await put('edit-1', { to: ['ann', 'bob'], type: 'due', dueAt, offsets: ['2h', '1h'] }, 201);
      const r = (await (
        await put('edit-1', { to: ['ann', 'cy'], type: 'due', dueAt, offsets: ['1h', '30m'] }, 200)
      ).json()) as Reminder;
      const states = Object.fromEntries(
        r.items.map((i) => [
          `${i.recipientId} ${i.offset}`,
          `${i.status} ${i.reason ?? ''}`.trim(),
        ]),
      );
      assert.deepEqual(states, {
        'ann 2h': 'cancelled removed',
        'ann 1h': 'scheduled',
        'ann 30m': 'scheduled',
        'bob 2h': 'cancelled removed',
        'bob 1h': 'cancelled removed',
        'cy 1h': 'scheduled',
        'cy 30m': 'scheduled',
      });
      assert.deepEqual(r.to, ['ann', 'cy']);
      assert.deepEqual(r.offsets, ['1h', '30m']);
      assert.deepEqual(
        (await queuedJobs('edit-1')).map((j) => j.key),
        [
          'reminder:edit-1:ann:1h',
          'reminder:edit-1:ann:30m',
          'reminder:edit-1:cy:1h',
          'reminder:edit-1:cy:30m',
        ],
      );
      // Named again: scheduled again.
      const back = (await (
        await put(
          'edit-1',
          { to: ['ann', 'bob', 'cy'], type: 'due', dueAt, offsets: ['2h', '1h', '30m'] },
          200,
        )
      ).json()) as Reminder;
      assert.ok(back.items.every((i) => i.status === 'scheduled'));
      assert.equal((await queuedJobs('edit-1')).length, 9);
    });

    it('refuses bad input field by field, unknown types and recipients as the trigger does, and writes nothing', async () => {
      await put('keep-1', { to: 'ann', type: 'due', dueAt: at(60 * MIN), offsets: ['15m'] }, 201);
      const kept = await read('keep-1');
      const tables = ['reminders', 'reminder_offsets', 'jobs', 'notifications'];
      const counts = async () => Promise.all(tables.map((t) => count(t)));
      const before = await counts();
      const good = { to: 'ann', type: 'due', dueAt: at(60 * MIN), offsets: ['15m'] };
      const cases: [string, unknown, number, string, string[]][] = [
        [
          'keep-1',
          { ...good, offsets: ['15m', '2x', '-1h', '1.5h'] },
          400,
          'validation_failed',
          ['offsets.1', 'offsets.2', 'offsets.3'],
        ],
        ['keep-1', { ...good, offsets: ['1h', '60m'] }, 400, 'validation_failed', ['offsets.1']],
        ['keep-1', { ...good, offsets: ['367d'] }, 400, 'validation_failed', ['offsets.0']],
        [
          'keep-1',
          { ...good, offsets: Array.from({ length: 21 }, (_, i) => `${i + 1}m`) },
          400,
          'validation_failed',
          ['offsets'],
        ],
        ['keep-1', { ...good, offsets: [] }, 400, 'validation_failed', ['offsets']],
        ['keep-1', { ...good, dueAt: 'tomorrow at nine' }, 400, 'validation_failed', ['dueAt']],
        ['keep-1', { ...good, dueAt: '2030-01-01T09:00:00' }, 400, 'validation_failed', ['dueAt']],
        [
          'keep-1',
          { ...good, late: 'maybe', extra: 1 },
          400,
          'validation_failed',
          ['late', 'extra'],
        ],
        ['keep-1', { ...good, to: [] }, 400, 'validation_failed', ['to']],
        ['keep-1', { offsets: ['1h'] }, 400, 'validation_failed', ['to', 'type', 'dueAt']],
        ['bad:key', good, 400, 'validation_failed', ['key']],
        ['keep-1', { ...good, type: 'no-such-type' }, 422, 'unknown_type', []],
        ['keep-1', { ...good, to: ['ann', 'ghost'] }, 422, 'unknown_recipient', ['to']],
        ['new-1', { ...good, to: 'ghost' }, 422, 'unknown_recipient', ['to']],
        ['keep-1', '{"to": ', 400, 'validation_failed', ['(body)']],
      ];
      for (const [key, body, status, code, fields] of cases) {
        const res = await put(key, body);
        const p = (await res.json()) as Problem;
        const what = `${key} ${JSON.stringify(body).slice(0, 80)}`;
        assert.equal(res.status, status, `${what}: ${JSON.stringify(p)}`);
        assert.equal(p.code, code, what);
        assert.deepEqual(
          (p.errors ?? []).map((e) => e.field),
          fields,
          what,
        );
        assert.ok(p.detail.length > 0);
      }
      assert.deepEqual(await counts(), before, 'nothing written');
      assert.deepEqual(await read('keep-1'), kept, 'the reminder is as it was');
    });

    it('needs a server API key: none is 401, a recipient token is refused', async () => {
      const token = await recipientToken('ann', SECRET);
      for (const auth of [null, token, 'not-a-key']) {
        for (const method of ['PUT', 'GET', 'DELETE']) {
          const res = await call(
            method,
            '/v1/reminders/auth-1',
            method === 'PUT'
              ? { to: 'ann', type: 'due', dueAt: at(60 * MIN), offsets: ['1m'] }
              : undefined,
            auth,
          );
          assert.equal(
            res.status,
            401,
            `${method} with ${auth === null ? 'no key' : auth.slice(0, 10)}`,
          );
          assert.equal(((await res.json()) as Problem).code, 'unauthorized');
        }
      }
      assert.equal(await count('reminders', 'key = $1', ['auth-1']), 0);
    });

    it('erasing a recipient removes their reminder rows', async () => {
      await call('PUT', '/v1/recipients/erased', {});
      await put(
        'erase-1',
        { to: ['erased', 'ann'], type: 'due', dueAt: at(60 * MIN), offsets: ['30m', '15m'] },
        201,
      );
      assert.equal((await call('DELETE', '/v1/recipients/erased')).status, 204);
      assert.equal(await count('reminder_offsets', 'recipient_id = $1', ['erased']), 0);
      const r = await read('erase-1');
      assert.deepEqual(r.to, ['ann']);
      assert.deepEqual([...new Set(r.items.map((i) => i.recipientId))], ['ann']);
    });

    it('the idempotency key stands behind the row: a due time sent once is not sent again after moves', async () => {
      const dueAt = at(MIN + 300);
      await put(
        'idem-1',
        { to: 'cy', type: 'due', dueAt, offsets: ['1m'], data: { title: 'first' } },
        201,
      );
      const first = await settled('idem-1', 'cy', '1m');
      // Away and back with other data and late: "send": the row plans the offset again, and the
      // trigger answers the first notification instead of writing a second.
      await put('idem-1', { to: 'cy', type: 'due', dueAt: at(60 * MIN), offsets: ['1m'] }, 200);
      await put(
        'idem-1',
        { to: 'cy', type: 'due', dueAt, offsets: ['1m'], data: { title: 'second' }, late: 'send' },
        200,
      );
      const again = await settled('idem-1', 'cy', '1m');
      assert.equal(again.notificationId, first.notificationId);
      assert.equal(await sentFor('idem-1'), 1);
    });

    it('herald.reminders.put inside a transaction that rolls back writes nothing', async () => {
      await assert.rejects(
        herald.db.transaction(async (tx) => {
          await herald.reminders.put(
            'tx-1',
            { to: 'ann', type: 'due', dueAt: at(60 * MIN), offsets: ['1m'] },
            { tx },
          );
          throw new Error('the app changed its mind');
        }),
        /changed its mind/,
      );
      assert.equal(await herald.reminders.get('tx-1'), null);
      assert.equal((await queuedJobs('tx-1')).length, 0);
      await assert.rejects(herald.reminders.put('tx-1', { to: 'ann' }), {
        code: 'validation_failed',
      });
    });
  });
}

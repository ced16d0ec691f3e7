/**
 * The local-schedule job on both backends, as a busy instant runs it: many batches at once in
 * one worker write their triggers at most two at a time (so the deliveries they make are not
 * kept from the connection pool), every recipient of every batch still gets one notification,
 * and a batch applies each recipient's own preferences (an opt-out skips, quiet hours defer).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { builtinHandlers } from '../src/handlers.js';
import type { Herald } from '../src/index.js';
import { makeLocalRun } from '../src/scheduler/local-run.js';
import type { Job } from '../src/types.js';
import { BACKENDS, closeHerald, openHerald, pgSkipReason } from './helpers/db.js';

const pgSkip = await pgSkipReason();
const RUN_AT = '2030-03-04T08:00:00.000Z';

for (const backend of BACKENDS) {
  describe(
    `local-schedule batches on ${backend}`,
    { skip: backend === 'pg' ? pgSkip : undefined },
    () => {
      let herald: Herald;
      const ctx = () => ({
        job: { attempts: 1, maxAttempts: 10 } as Job,
        signal: new AbortController().signal,
        log: herald.log,
      });

      before(async () => {
        herald = await openHerald(backend, {
          emailFrom: 'herald@example.test',
          smtpUrl: 'smtp://127.0.0.1:9', // nothing is sent: no worker runs
        });
        await herald.types.put('daily_briefing', {
          channels: ['email', 'inapp'],
          templates: {
            email: { subject: 'Briefing', text: 'Good morning {{recipient.id}}' },
            inapp: { title: 'Briefing', body: 'Good morning' },
          },
        });
      });
      after(() => closeHerald(herald));

      it('writes at most two batches at once and sends every recipient once', async () => {
        const ids = Array.from({ length: 48 }, (_, i) => `busy-${String(i).padStart(2, '0')}`);
        for (const id of ids) {
          await herald.recipients.upsert(id, { email: `${id}@example.test`, timezone: 'UTC' });
          await herald.preferences.put(id, { schedules: { daily_briefing: { time: '08:00' } } });
        }
        let running = 0;
        let most = 0;
        const run = makeLocalRun({
          db: herald.db,
          schema: herald.config.schema,
          definitions: herald.localSchedules.definitions,
          content: {},
          log: herald.log,
          send: async (input, options) => {
            running++;
            most = Math.max(most, running);
            try {
              return await herald.send(input, options);
            } finally {
              running--;
            }
          },
        });
        // Twelve batches of four, all started together as a worker with free slots would.
        const batches = Array.from({ length: 12 }, (_, b) => ids.slice(4 * b, 4 * b + 4));
        const results = await Promise.all(
          batches.map((batch) =>
            run({ schedule: 'daily_briefing', items: batch.map((id) => [id, RUN_AT]) }, ctx()),
          ),
        );
        assert.deepEqual(
          results,
          batches.map(() => ({ sent: 4, skipped: 0 })),
        );
        assert.equal(most, 2);
        const { rows } = await herald.db.query<{ recipient_id: string; n: number }>(
          `SELECT recipient_id, count(*)::int AS n FROM "${herald.config.schema}".notifications
         WHERE recipient_id LIKE 'busy-%' GROUP BY recipient_id ORDER BY recipient_id`,
        );
        assert.deepEqual(
          rows,
          ids.map((id) => ({ recipient_id: id, n: 1 })),
        );
      });

      it("applies each recipient's preferences in a batch: opt-outs skip, quiet hours defer", async () => {
        const prefs: Record<string, object> = {
          'pref-plain': {},
          'pref-off': { types: { daily_briefing: false } },
          'pref-no-email': { types: { daily_briefing: { email: false } } },
          'pref-quiet': { quietHours: { start: '00:00', end: '23:59' }, timezone: 'UTC' },
        };
        for (const [id, p] of Object.entries(prefs)) {
          await herald.recipients.upsert(id, { email: `${id}@example.test`, timezone: 'UTC' });
          await herald.preferences.put(id, {
            ...p,
            schedules: { daily_briefing: { time: '08:00' } },
          });
        }
        const run = builtinHandlers(herald)['local-schedule']!;
        const items = Object.keys(prefs).map((id) => [id, RUN_AT]);
        assert.deepEqual(await run({ schedule: 'daily_briefing', items }, ctx()), {
          sent: 4,
          skipped: 0,
        });
        const { rows } = await herald.db.query<{
          recipient_id: string;
          channel: string;
          status: string;
          reason: string | null;
          deferred: boolean;
        }>(
          `SELECT n.recipient_id, d.channel, d.status, d.reason, d.run_at > n.send_at AS deferred
         FROM "${herald.config.schema}".notifications n
         JOIN "${herald.config.schema}".deliveries d ON d.notification_id = n.id
         WHERE n.recipient_id LIKE 'pref-%' ORDER BY n.recipient_id, d.channel`,
        );
        const got = rows.map((r) => [r.recipient_id, r.channel, r.status, r.reason, r.deferred]);
        assert.deepEqual(got, [
          ['pref-no-email', 'email', 'skipped', 'opted_out', null],
          ['pref-no-email', 'inapp', 'queued', null, false],
          ['pref-off', 'email', 'skipped', 'opted_out', null],
          ['pref-off', 'inapp', 'skipped', 'opted_out', null],
          ['pref-plain', 'email', 'queued', null, false],
          ['pref-plain', 'inapp', 'queued', null, false],
          // Quiet hours all day (00:00-23:59): email waits for their end; the inbox does not.
          ['pref-quiet', 'email', 'queued', 'quiet_hours', true],
          ['pref-quiet', 'inapp', 'queued', null, false],
        ]);
      });
    },
  );
}

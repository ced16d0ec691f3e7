/**
 * Per-provider send-rate limits: the limiter on both backends (even spacing across concurrent
 * takers, deferral when the next slot is far), and the issue's scenario on PostgreSQL: with a
 * limit of 50 sends/s on Twilio and two `herald worker` processes, a burst of 500 SMS takes at
 * least 10 s and no one-second window holds more than 50 sends. The sends are timed by the
 * senders' own clocks (each worker's `delivery:sending` log line, written when its slot has
 * come): what the limiter controls. Arrival times at the local Twilio server add the jitter of
 * a busy machine (a stalled process delivers a bunch at once) and are reported, not asserted.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type { Herald } from '../src/index.js';
import { makeRateLimiter } from '../src/channels/rate-limit.js';
import { DeferError } from '../src/queue/errors.js';
import {
  BACKENDS,
  closeHerald,
  openHerald,
  pgSkipReason,
  PG_URL,
  waitForProgress,
} from './helpers/db.js';
import { startHeraldWorker } from './helpers/processes.js';
import { startTwilioServer, type TwilioServer } from './helpers/twilio-server.js';

const pgSkip = await pgSkipReason();

/** The most timestamps that fall in any window [t, t + windowMs). */
function busiestWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while ((sorted[j] as number) < (sorted[i] as number) - windowMs + 1) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

for (const backend of BACKENDS) {
  describe(`rate limiter on ${backend}`, { skip: backend === 'pg' ? pgSkip : undefined }, () => {
    let herald: Herald;
    before(async () => {
      herald = await openHerald(backend);
    });
    after(() => closeHerald(herald));

    it('spaces the sends of one provider evenly, whoever takes the slots', async () => {
      const limiter = makeRateLimiter({
        db: herald.db,
        schema: herald.config.schema,
        limits: { twilio: 20 },
        maxWaitMs: 10_000,
      });
      const started: number[] = [];
      await Promise.all(
        Array.from({ length: 30 }, async () => {
          await limiter.take('twilio');
          started.push(Date.now());
        }),
      );
      started.sort((a, b) => a - b);
      // 20/s with 10 % headroom: slots 55 ms apart, so 30 sends span at least 29 of them. The
      // provider's limit is 20 in any second: the headroom (19 slots a second) absorbs the
      // jitter of a busy machine, where a send may be stalled between its slot and the
      // timestamp here, so the check is the limit itself, not 19.
      const span = (started.at(-1) as number) - (started[0] as number);
      // A send may start up to a quarter spacing after its slot (later ones take a new slot).
      assert.ok(span >= 29 * 55 - 55, `span ${span} ms`);
      assert.ok(
        busiestWindow(started, 1000) <= 20,
        `${busiestWindow(started, 1000)} in one second (the limit is 20)`,
      );
    });

    it('defers a send whose slot is further away than it may wait, taking no slot', async () => {
      const limiter = makeRateLimiter({
        db: herald.db,
        schema: herald.config.schema,
        limits: { ses: 4 },
        maxWaitMs: 600,
      });
      const outcomes = await Promise.allSettled(
        Array.from({ length: 6 }, () => limiter.take('ses')),
      );
      const deferred = outcomes.filter((o) => o.status === 'rejected');
      // Slots 0, 275, 550 ms are within 600 ms; the rest are deferred, not slept on. (The
      // fourth would fit only if its statement ran 225 ms after the first.)
      assert.equal(outcomes.length - deferred.length, 3);
      for (const o of deferred) {
        assert.ok(o.reason instanceof DeferError);
        assert.ok(o.reason.delayMs >= 50);
      }
      // A provider without a limit is never held: it does not even wait for the next turn of
      // the event loop (no timer, no query).
      const first = await Promise.race([
        limiter.take('smtp').then(() => 'taken'),
        new Promise((resolve) => setImmediate(() => resolve('held'))),
      ]);
      assert.equal(first, 'taken');
      assert.equal(limiter.limited('smtp'), false);
      assert.equal(limiter.limited('ses'), true);
    });
  });
}

describe('a send-rate limit across two worker processes', { skip: pgSkip }, () => {
  let herald: Herald;
  let twilio: TwilioServer;
  const workers: ChildProcess[] = [];
  const stderr: string[] = [];

  before(async () => {
    twilio = await startTwilioServer();
    // This process only triggers (it runs no worker), but it decides that SMS can be sent.
    herald = await openHerald('pg', {
      twilioAccountSid: twilio.accountSid,
      twilioAuthToken: twilio.authToken,
      twilioFrom: '+15005550006',
      twilioUrl: twilio.url,
    });
  });
  after(async () => {
    for (const w of workers) w.kill('SIGKILL');
    await twilio.close();
    await closeHerald(herald);
  });

  it('sends a burst of 500 in at least 10 s and never more than 50 in any second', async (t) => {
    await herald.types.put('ping', {
      channels: ['sms'],
      templates: { sms: { text: 'ping {{n}}' } },
    });
    const ids = Array.from({ length: 500 }, (_, i) => `r${i}`);
    for (const [i, id] of ids.entries())
      await herald.recipients.upsert(id, { phone: `+1555${String(1_000_000 + i).slice(1)}` });

    // When each send began, by its worker's clock: `delivery:sending` at debug level.
    const sendStarts: number[] = [];
    for (let i = 0; i < 2; i++) {
      const child = await startHeraldWorker(
        {
          DATABASE_URL: PG_URL,
          HERALD_SCHEMA: herald.config.schema,
          HERALD_LOG_LEVEL: 'debug',
          HERALD_RATE_LIMITS: 'twilio=50',
          HERALD_TWILIO_ACCOUNT_SID: twilio.accountSid,
          HERALD_TWILIO_AUTH_TOKEN: twilio.authToken,
          HERALD_TWILIO_FROM: '+15005550006',
          HERALD_TWILIO_URL: twilio.url,
          HERALD_CONCURRENCY: '20',
          HERALD_POLL_INTERVAL_MS: '200',
        },
        stderr,
      );
      let partial = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        const lines = (partial + chunk.toString()).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          if (!line.includes('"delivery:sending"')) continue;
          const entry = JSON.parse(line) as { time: number; provider: string };
          if (entry.provider === 'twilio') sendStarts.push(entry.time);
        }
      });
      workers.push(child);
    }

    await herald.send({ type: 'ping', to: ids, data: { n: 1 } });
    // The burst takes 11 s at the limit; however long a busy machine makes it, wait while
    // sends keep arriving.
    await waitForProgress(
      () => twilio.accepted.length >= 500,
      () => twilio.accepted.length,
      15_000,
      '500 SMS at Twilio',
    );
    assert.equal(twilio.accepted.length, 500, 'each SMS sent once');
    assert.equal(new Set(twilio.accepted.map((a) => a.form.To)).size, 500);
    await waitForProgress(
      () => sendStarts.length >= 500,
      () => sendStarts.length,
      5_000,
      "the workers' log lines",
    );
    assert.equal(sendStarts.length, 500, 'one send start logged per SMS');

    const span = Math.max(...sendStarts) - Math.min(...sendStarts);
    const busiest = busiestWindow(sendStarts, 1000);
    const arrivals = twilio.requests.map((r) => r.at);
    t.diagnostic(
      `500 sends in ${span} ms; busiest one-second window: ${busiest} sends, ` +
        `${busiestWindow(arrivals, 1000)} arrivals at the server`,
    );
    assert.ok(busiest <= 50, `${busiest} sends in one second`);
    // 499 gaps of 22 ms (50/s with 10 % headroom) = 11 s; pino's times are whole ms.
    assert.ok(span >= 499 * 22 - 10, `the burst took ${span} ms`);
    // Twilio has all 500, but a worker records `sent` only after Twilio's answer reaches it:
    // on a busy machine the last few can still be on their way.
    const statuses = async () =>
      (
        await herald.db.query<{ status: string; n: number }>(
          `SELECT status, count(*)::int AS n FROM "${herald.config.schema}".deliveries GROUP BY status`,
        )
      ).rows;
    await waitForProgress(
      async () => (await statuses()).every((r) => r.status === 'sent'),
      async () => (await statuses()).find((r) => r.status === 'sent')?.n ?? 0,
      10_000,
      'every delivery recorded as sent',
    );
    assert.deepEqual(await statuses(), [{ status: 'sent', n: 500 }]);
  });
});

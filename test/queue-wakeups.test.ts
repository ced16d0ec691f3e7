/**
 * The claim loop's timed wake-ups (src/queue/wakeups.ts). A wake-up that finds nothing due must
 * not forget a later one: the old loop kept only the earliest pending wake-up, so a job whose
 * retry was claimed early by another path (a notification, another claim) had its next retry's
 * wake-up dropped, and waited for the poll. First the wake-ups on mocked timers, then a worker
 * on PGlite driven into exactly that order.
 */
import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { RetryLaterError } from '../src/index.js';
import { makeWakeups } from '../src/queue/wakeups.js';
import { closeHerald, openHerald, waitFor } from './helpers/db.js';

describe('wake-ups', () => {
  /** Wake-ups on a clock the test moves, with node's mocked setTimeout moved alongside. */
  function clocked() {
    mock.timers.enable({ apis: ['setTimeout'] });
    let t = 0;
    const woke: number[] = [];
    const wakeups = makeWakeups({ onWake: () => woke.push(t), slackMs: 10, now: () => t });
    const advance = (ms: number) => {
      for (let i = 0; i < ms; i++) {
        t++;
        mock.timers.tick(1);
      }
    };
    return { wakeups, woke, advance, done: () => mock.timers.reset() };
  }

  it('comes back for a later moment after an earlier wake-up found nothing', () => {
    const { wakeups, woke, advance, done } = clocked();
    try {
      wakeups.at(100);
      wakeups.at(300); // later than the pending one: kept, not dropped
      advance(150);
      assert.deepEqual(woke, [110]);
      advance(250);
      assert.deepEqual(woke, [110, 310]);
      assert.equal(wakeups.pending, 0);
    } finally {
      done();
    }
  });

  it('moves the timer to an earlier moment, wakes at once for one passed, and shares near moments', () => {
    const { wakeups, woke, advance, done } = clocked();
    try {
      wakeups.at(500);
      wakeups.at(200);
      wakeups.at(205); // within the slack of 200: one wake-up for both
      assert.equal(wakeups.pending, 2);
      wakeups.at(0); // passed: at once
      assert.deepEqual(woke, [0]);
      advance(600);
      assert.deepEqual(woke, [0, 210, 510]);
    } finally {
      done();
    }
  });

  it('keeps at most max moments, dropping the latest (the poll covers them), and none after stop', () => {
    const { wakeups, woke, advance, done } = clocked();
    try {
      const bounded = makeWakeups({ onWake: () => undefined, slackMs: 0, max: 3 });
      for (const at of [
        Date.now() + 5_000,
        Date.now() + 1_000,
        Date.now() + 3_000,
        Date.now() + 2_000,
      ])
        bounded.at(at);
      assert.equal(bounded.pending, 3);
      bounded.stop();
      assert.equal(bounded.pending, 0);
      wakeups.at(50);
      wakeups.stop();
      advance(100);
      assert.deepEqual(woke, []);
    } finally {
      done();
    }
  });
});

describe('a worker whose retry is claimed before its wake-up', () => {
  it('still wakes for the next retry, long before the poll', async () => {
    const herald = await openHerald('pglite');
    const starts: number[] = [];
    // A 120 s poll: only the worker's own wake-ups can start the third attempt within the test.
    const worker = herald.worker({
      queue: 'wake-q',
      pollIntervalMs: 120_000,
      handlers: {
        // 1st: retry in 10 s (a wake-up is pending for then); 2nd: retry in 12 s (later than
        // that pending one); 3rd: done. 10 s leaves a busy machine ample time for the test's
        // own two statements that bring the second attempt forward.
        flaky: () => {
          starts.push(Date.now());
          if (starts.length === 1) throw new RetryLaterError(10_000);
          if (starts.length === 2) throw new RetryLaterError(12_000);
        },
        nudge: () => undefined,
      },
    });
    await worker.start();
    try {
      const { job } = await herald.queue.enqueue({ kind: 'flaky', queue: 'wake-q' });
      await waitFor(
        async () => (await herald.queue.get(job.id))?.status === 'queued' && starts.length === 1,
        30_000,
        'the first attempt to fail',
      );
      // Make the retry due now and wake the worker with another job: the second attempt is
      // claimed long before the 10 s wake-up, which will then find nothing due.
      await herald.db.query(
        `UPDATE "${herald.config.schema}".jobs SET run_at = now() WHERE id = $1`,
        [job.id],
      );
      await herald.queue.enqueue({ kind: 'nudge', queue: 'wake-q' });
      await waitFor(() => starts.length >= 2, 30_000, 'the second attempt');
      await waitFor(() => starts.length >= 3, 60_000, 'the third attempt (before the 120 s poll)');
      const gap = (starts[2] as number) - (starts[1] as number);
      assert.ok(gap >= 11_900, `the third attempt waited its 12 s Retry-After (${gap} ms)`);
      assert.ok(gap < 60_000, `and came by its own wake-up, not the poll (${gap} ms)`);
      assert.ok((starts[1] as number) - (starts[0] as number) < 10_000, 'the second came early');
    } finally {
      await worker.stop();
      await closeHerald(herald);
    }
  });
});

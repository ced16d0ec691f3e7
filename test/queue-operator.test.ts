/**
 * The operator's queue actions on both backends: a paused kind is not claimed until resumed
 * (other kinds go on), and dead letters by filter (kind, error text) are listed, counted,
 * replayed and discarded together, leaving the rest dead.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PermanentError, type Herald } from '../src/index.js';
import { BACKENDS, closeHerald, openHerald, pgSkipReason, waitFor } from './helpers/db.js';

const pgSkip = await pgSkipReason();

for (const backend of BACKENDS) {
  describe(
    `operator queue actions on ${backend}`,
    { skip: backend === 'pg' ? pgSkip : undefined },
    () => {
      let herald: Herald;
      before(async () => {
        herald = await openHerald(backend);
      });
      after(() => closeHerald(herald));

      it('a paused kind waits, the others run, and it runs once resumed', async () => {
        const ran: string[] = [];
        await herald.pauses.pause('slow', 'pause-q');
        assert.deepEqual(
          (await herald.pauses.list()).map((p) => `${p.queue}/${p.kind}`),
          ['pause-q/slow'],
        );
        const worker = herald.worker({
          queue: 'pause-q',
          pollIntervalMs: 50,
          handlers: {
            slow: (p: { n: string }) => void ran.push(p.n),
            fast: (p: { n: string }) => void ran.push(p.n),
          },
        });
        await worker.start();
        try {
          await herald.queue.enqueue({ kind: 'slow', queue: 'pause-q', payload: { n: 'slow' } });
          await herald.queue.enqueue({ kind: 'fast', queue: 'pause-q', payload: { n: 'fast' } });
          // The fast job was enqueued after the paused one and has run: the claim passed it by.
          await waitFor(() => ran.includes('fast'), 5_000, 'the unpaused kind');
          const status = await herald.queue.status();
          assert.ok(
            status.some((r) => r.queue === 'pause-q' && r.kind === 'slow' && r.status === 'queued'),
          );
          assert.deepEqual(ran, ['fast']);
          assert.equal(await herald.pauses.resume('slow', 'pause-q'), true);
          assert.equal(await herald.pauses.resume('slow', 'pause-q'), false, 'already resumed');
          await waitFor(() => ran.includes('slow'), 5_000, 'the resumed kind');
        } finally {
          await worker.stop();
        }
      });

      it('replays and discards the dead letters that match a filter, and only those', async () => {
        const worker = herald.worker({
          queue: 'dead-q',
          pollIntervalMs: 50,
          handlers: {
            'mail.send': (p: { why: string }) => {
              throw new PermanentError(p.why);
            },
            'sms.send': (p: { why: string }) => {
              throw new PermanentError(p.why);
            },
          },
        });
        const jobs = [
          ['mail.send', 'SMTP 421 try later'],
          ['mail.send', 'SMTP 421 try later'],
          ['mail.send', 'mailbox full'],
          ['sms.send', 'SMTP 421 nonsense'],
          ['sms.send', 'carrier refused'],
        ] as const;
        for (const [kind, why] of jobs)
          await herald.queue.enqueue({ kind, queue: 'dead-q', payload: { why }, maxAttempts: 1 });
        await worker.start();
        try {
          await waitFor(
            async () => (await herald.deadLetters.list({})).total >= jobs.length,
            10_000,
            'every job dead',
          );
        } finally {
          await worker.stop();
        }
        const mail421 = { kind: 'mail.send', error: 'smtp 421' };
        const listed = await herald.deadLetters.list(mail421, 1);
        assert.equal(listed.total, 2);
        assert.equal(listed.items.length, 1, 'the page is bounded, the total is not');
        assert.match(listed.items[0]!.lastError ?? '', /SMTP 421/);
        assert.deepEqual(await herald.deadLetters.kinds(), [
          { kind: 'mail.send', count: 3 },
          { kind: 'sms.send', count: 2 },
        ]);

        assert.equal(await herald.deadLetters.replay(mail421), 2);
        const { rows } = await herald.db.query<{ kind: string; status: string; n: number }>(
          `SELECT kind, status, count(*)::int AS n FROM "${herald.config.schema}".jobs
         WHERE queue = 'dead-q' GROUP BY kind, status ORDER BY kind, status`,
        );
        assert.deepEqual(
          rows.map((r) => `${r.kind} ${r.status} ${r.n}`),
          ['mail.send dead 1', 'mail.send queued 2', 'sms.send dead 2'],
        );
        assert.equal(await herald.deadLetters.discard({ error: 'CARRIER' }), 1);
        assert.equal((await herald.deadLetters.list({ kind: 'sms.send' })).total, 1);
        await assert.rejects(
          herald.deadLetters.list({ kind: 'x', state: 'y' }),
          (err: Error & { code?: string }) => err.code === 'validation_failed',
        );
      });
    },
  );
}

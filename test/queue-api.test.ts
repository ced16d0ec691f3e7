/**
 * The queue's API on both backends: enqueue, keys, transactions, bad input, cancel, the
 * unknown-kind rule, retries with backoff, dead letters and replay, wake-up by NOTIFY.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  DeferError,
  HeraldError,
  PermanentError,
  RetryLaterError,
  type Herald,
} from '../src/index.js';
import { backoffCeiling } from '../src/queue/backoff.js';
import { makeWorker } from '../src/queue/worker.js';
import type { Db } from '../src/db/db.js';
import {
  BACKENDS,
  closeHerald,
  openHerald,
  pgClient,
  pgSkipReason,
  sleep,
  waitFor,
} from './helpers/db.js';

const pgSkip = await pgSkipReason();

for (const backend of BACKENDS) {
  describe(`queue API on ${backend}`, { skip: backend === 'pg' ? pgSkip : undefined }, () => {
    let herald: Herald;
    before(async () => {
      herald = await openHerald(backend);
    });
    after(async () => {
      await closeHerald(herald);
    });

    const countJobs = async (where = 'true', params: unknown[] = []) => {
      const { rows } = await herald.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM "${herald.config.schema}".jobs WHERE ${where}`,
        params,
      );
      return Number(rows[0]?.n);
    };

    it('enqueues one job and many, keeping order and defaults', async () => {
      const { job, created } = await herald.queue.enqueue({ kind: 'k.one', payload: { a: 1 } });
      assert.equal(created, true);
      assert.match(job.id, /^\d+$/);
      assert.deepEqual(job.payload, { a: 1 });
      assert.equal(job.status, 'queued');
      assert.equal(job.maxAttempts, 25);
      const many = await herald.queue.enqueueMany(
        Array.from({ length: 20 }, (_, n) => ({ kind: 'k.many', payload: { n }, priority: n % 3 })),
      );
      assert.equal(many.length, 20);
      many.forEach((r, n) => assert.deepEqual(r.job.payload, { n }));
      assert.equal(await countJobs(`kind = 'k.many'`), 20);
    });

    it('refuses bad input with a clear error and writes nothing', async () => {
      const before = await countJobs();
      const circular: Record<string, unknown> = {};
      circular.self = circular;
      const cases: [string, () => Promise<unknown>, string, string][] = [
        [
          'bigint payload',
          () => herald.queue.enqueue({ kind: 'bad', payload: { n: 10n } }),
          'validation_failed',
          'payload',
        ],
        [
          'circular payload',
          () => herald.queue.enqueue({ kind: 'bad', payload: circular }),
          'validation_failed',
          'payload',
        ],
        [
          'function payload',
          () => herald.queue.enqueue({ kind: 'bad', payload: { f: () => 1 } }),
          'validation_failed',
          'payload',
        ],
        [
          'NUL in a string',
          () => herald.queue.enqueue({ kind: 'bad', payload: { s: 'a\u0000b' } }),
          'validation_failed',
          'payload',
        ],
        [
          'a lone surrogate',
          () => herald.queue.enqueue({ kind: 'bad', payload: { s: 'a\udc00' } }),
          'validation_failed',
          'payload',
        ],
        [
          'NaN payload',
          () => herald.queue.enqueue({ kind: 'bad', payload: { n: NaN } }),
          'validation_failed',
          'payload',
        ],
        [
          'oversized payload',
          () => herald.queue.enqueue({ kind: 'bad', payload: { s: 'x'.repeat(256 * 1024) } }),
          'payload_too_large',
          'payload',
        ],
        [
          'negative delay',
          () => herald.queue.enqueue({ kind: 'bad', delayMs: -1 }),
          'validation_failed',
          'delayMs',
        ],
        [
          'maxAttempts 0',
          () => herald.queue.enqueue({ kind: 'bad', maxAttempts: 0 }),
          'validation_failed',
          'maxAttempts',
        ],
        ['empty kind', () => herald.queue.enqueue({ kind: '' }), 'validation_failed', 'kind'],
        [
          'invalid date',
          () => herald.queue.enqueue({ kind: 'bad', runAt: new Date('nope') }),
          'validation_failed',
          'runAt',
        ],
        [
          'one bad job in a batch',
          () =>
            herald.queue.enqueueMany([
              { kind: 'ok' },
              { kind: 'bad', maxAttempts: -3 },
              { kind: 'ok' },
            ]),
          'validation_failed',
          '[1].maxAttempts',
        ],
      ];
      for (const [name, call, code, field] of cases) {
        await assert.rejects(call, (err: unknown) => {
          assert.ok(err instanceof HeraldError, `${name}: a HeraldError`);
          assert.equal(err.code, code, name);
          assert.ok(
            err.issues.some((i) => i.field === field),
            `${name}: names field ${field}, got ${err.message}`,
          );
          return true;
        });
      }
      assert.equal(await countJobs(), before, 'nothing written');
    });

    it('a payload just under the limit is accepted and the database constraint agrees', async () => {
      // Many separators: jsonb's text form is longest for this shape (", " and ": ").
      const payload = Array.from({ length: 28_000 }, (_, i) => ({ [`k${i % 10}`]: i % 10 }));
      const size = Buffer.byteLength(JSON.stringify(payload));
      assert.ok(size < 256 * 1024 && size > 200 * 1024, `size ${size}`);
      const { job } = await herald.queue.enqueue({ kind: 'big', payload });
      assert.equal((job.payload as unknown[]).length, 28_000);
      await herald.queue.cancel(job.id);
    });

    it('a live key yields one job; replace updates it while queued', async () => {
      const a = await herald.queue.enqueue({ kind: 'keyed', key: 'k-1', payload: { v: 1 } });
      const b = await herald.queue.enqueue({ kind: 'keyed', key: 'k-1', payload: { v: 2 } });
      assert.equal(a.created, true);
      assert.equal(b.created, false);
      assert.equal(b.job.id, a.job.id);
      assert.deepEqual(b.job.payload, { v: 1 }, 'no-op keeps the first');
      const c = await herald.queue.enqueue({
        kind: 'keyed',
        key: 'k-1',
        payload: { v: 3 },
        replace: true,
        delayMs: 60_000,
      });
      assert.equal(c.job.id, a.job.id);
      assert.equal(c.created, false);
      assert.deepEqual(c.job.payload, { v: 3 });
      assert.ok(c.job.runAt.getTime() > Date.now() + 50_000);
      assert.equal(await countJobs(`key = 'k-1'`), 1);
      // In a batch too, duplicates inside and outside the batch map to the same job.
      const batch = await herald.queue.enqueueMany([
        { kind: 'keyed', key: 'k-1' },
        { kind: 'keyed', key: 'k-2' },
        { kind: 'keyed', key: 'k-2' },
      ]);
      assert.deepEqual(
        batch.map((r) => r.created),
        [false, true, false],
      );
      assert.equal(batch[0]?.job.id, a.job.id);
      assert.equal(batch[1]?.job.id, batch[2]?.job.id);
    });

    it('concurrent enqueues with one key, some in rolled-back transactions, create one job', async () => {
      const key = `race-${backend}`;
      const calls = Array.from({ length: 50 }, async (_, i) => {
        if (i % 5 === 0) {
          // 10 of them enqueue inside a transaction that then rolls back.
          await herald.db
            .transaction(async (tx) => {
              await herald.queue.enqueue({ kind: 'race', key, payload: { i } }, { tx });
              throw new Error('rollback');
            })
            .catch(() => undefined);
          return undefined;
        }
        return (await herald.queue.enqueue({ kind: 'race', key, payload: { i } })).job.id;
      });
      const ids = (await Promise.all(calls)).filter((id): id is string => id !== undefined);
      assert.equal(ids.length, 40);
      assert.equal(new Set(ids).size, 1, 'every committed caller gets the same id');
      assert.equal(await countJobs(`key = $1`, [key]), 1);
    });

    it('enqueue inside a transaction: rollback leaves no job, commit leaves one', async () => {
      await assert.rejects(
        herald.db.transaction(async (tx) => {
          await herald.queue.enqueue({ kind: 'outbox', payload: { x: 'rolled back' } }, { tx });
          await herald.queue.enqueueMany([{ kind: 'outbox' }, { kind: 'outbox' }], { tx });
          throw new Error('business write failed');
        }),
        /business write failed/,
      );
      assert.equal(await countJobs(`kind = 'outbox'`), 0);
      await herald.db.transaction(async (tx) => {
        await herald.queue.enqueue({ kind: 'outbox', payload: { x: 'committed' } }, { tx });
        // On a server, another connection does not see the job before the commit. (PGlite is
        // one connection: a query outside the transaction would wait for it to end.)
        if (backend === 'pg') assert.equal(await countJobs(`kind = 'outbox'`), 0);
      });
      assert.equal(await countJobs(`kind = 'outbox'`), 1);
    });

    // A pg client of the app's own is a PostgreSQL-server thing: only on that backend.
    if (backend === 'pg')
      it("enqueue inside the app's own pg transaction (its client, its BEGIN)", async () => {
        const app = await pgClient();
        try {
          await app.query('BEGIN');
          await herald.queue.enqueue({ kind: 'app-tx', payload: { order: 1 } }, { tx: app });
          await app.query('ROLLBACK');
          assert.equal(await countJobs(`kind = 'app-tx'`), 0);
          await app.query('BEGIN');
          const { job } = await herald.queue.enqueue(
            { kind: 'app-tx', payload: { order: 2 } },
            { tx: app },
          );
          await app.query('COMMIT');
          assert.deepEqual((await herald.queue.get(job.id))?.payload, { order: 2 });
        } finally {
          await app.end();
        }
      });

    it('cancel stops a queued job', async () => {
      const { job } = await herald.queue.enqueue({ kind: 'cancel-me', delayMs: 60_000 });
      const cancelled = await herald.queue.cancel(job.id);
      assert.equal(cancelled?.status, 'cancelled');
      assert.equal(await herald.queue.cancel(job.id), null, 'only once');
      await assert.rejects(
        herald.queue.cancel('not-an-id'),
        (e: unknown) => e instanceof HeraldError && e.code === 'validation_failed',
      );
    });

    it('runs jobs woken by NOTIFY, retries with jittered backoff, kills after maxAttempts keeping every error, and replays', async () => {
      const starts: number[] = [];
      const worker = herald.worker({
        queue: 'retry-q',
        // A 30 s poll, started with the worker: only a notification can start the first attempt
        // within seconds, and only the worker's own retry timers keep retries within bounds.
        // (The bounds below leave a busy machine seconds of slack, all far below the poll.)
        pollIntervalMs: 30_000,
        backoff: { baseMs: 200, capMs: 600 },
        handlers: {
          flaky: () => {
            starts.push(Date.now());
            throw new Error(`failure ${starts.length}`);
          },
        },
      });
      await worker.start();
      try {
        const t0 = Date.now();
        const { job } = await herald.queue.enqueue({
          kind: 'flaky',
          queue: 'retry-q',
          maxAttempts: 4,
        });
        await waitFor(() => starts.length >= 1, 10_000, 'the first attempt');
        assert.ok((starts[0] as number) - t0 < 10_000, 'woken by NOTIFY, not the 30 s poll');
        await waitFor(
          async () => (await herald.queue.get(job.id))?.status === 'dead',
          20_000,
          'the job to die',
        );
        assert.equal(starts.length, 4);
        for (let attempt = 1; attempt < 4; attempt++) {
          const gap = (starts[attempt] as number) - (starts[attempt - 1] as number);
          const ceiling = backoffCeiling(attempt, { baseMs: 200, capMs: 600 });
          assert.ok(
            // The slack is for a busy machine; it stays far below the 30 s poll, so a retry
            // that waited for the poll instead of its own run_at still fails.
            gap >= 0 && gap <= ceiling + 5_000,
            `retry ${attempt}: waited ${gap} ms, at most ${ceiling} ms + slack`,
          );
        }
        const dead = await herald.queue.get(job.id);
        assert.equal(dead?.attempts, 4);
        assert.deepEqual(
          dead?.errors.map((e) => e.attempt),
          [1, 2, 3, 4],
        );
        assert.match(dead?.errors[3]?.error ?? '', /failure 4/);
        assert.ok((await herald.queue.dead()).some((d) => d.id === job.id));

        // Replay: a new series of attempts.
        assert.deepEqual(await herald.queue.replay([job.id]), [job.id]);
        await waitFor(
          async () => starts.length >= 8 && (await herald.queue.get(job.id))?.status === 'dead',
          10_000,
          'the replayed series',
        ).catch(async (err: Error) => {
          // What the worker had done, to tell a lost wake-up from a slow machine.
          const row = await herald.queue.get(job.id);
          throw new Error(
            `${err.message}: ${starts.length} attempts in all, at +${starts.map((t) => t - t0).join(', +')} ms; job ${row?.status}, attempts ${row?.attempts}, run_at ${row?.runAt?.toISOString()}, now ${new Date().toISOString()}`,
          );
        });
        const replayed = await herald.queue.get(job.id);
        assert.equal(replayed?.attempts, 4, 'attempts count anew');
        assert.equal(replayed?.errors.length, 8, 'the first series errors are kept');
      } finally {
        await worker.stop();
      }
    });

    it('a PermanentError kills at once; RetryLaterError retries after its delay, not the backoff', async () => {
      const seen: { kind: string; at: number }[] = [];
      let retried = false;
      const worker = herald.worker({
        queue: 'perm-q',
        backoff: { baseMs: 60_000, capMs: 60_000 },
        handlers: {
          permanent: () => {
            seen.push({ kind: 'permanent', at: Date.now() });
            throw new PermanentError('no such address');
          },
          later: () => {
            seen.push({ kind: 'later', at: Date.now() });
            if (!retried) {
              retried = true;
              throw new RetryLaterError(300);
            }
          },
        },
      });
      await worker.start();
      try {
        const p = await herald.queue.enqueue({
          kind: 'permanent',
          queue: 'perm-q',
          maxAttempts: 5,
        });
        const l = await herald.queue.enqueue({ kind: 'later', queue: 'perm-q', maxAttempts: 5 });
        await waitFor(
          async () => (await herald.queue.get(p.job.id))?.status === 'dead',
          5_000,
          'permanent → dead',
        );
        assert.equal((await herald.queue.get(p.job.id))?.attempts, 1);
        await waitFor(
          async () => (await herald.queue.get(l.job.id)) === null,
          30_000,
          'later → completed',
        );
        const laters = seen.filter((s) => s.kind === 'later');
        assert.equal(laters.length, 2);
        const gap = (laters[1]?.at ?? 0) - (laters[0]?.at ?? 0);
        // At least the 300 ms asked for, and far below the 60 s backoff (a busy machine may
        // add seconds, never a minute).
        assert.ok(
          gap >= 250 && gap < 30_000,
          `retried after ${gap} ms (Retry-After 300 ms; the backoff is 60 s)`,
        );
      } finally {
        await worker.stop();
      }
    });

    it('a DeferError puts the job back for its delay without counting the attempt or an error', async () => {
      const runs: { attempts: number; at: number }[] = [];
      const worker = herald.worker({
        queue: 'defer-q',
        pollIntervalMs: 50,
        handlers: {
          // Deferred three times (more than maxAttempts allows failures), then done.
          wait: (_p: unknown, ctx: { job: { attempts: number } }) => {
            runs.push({ attempts: ctx.job.attempts, at: Date.now() });
            // The third deferral is long enough to look at the job between runs.
            if (runs.length <= 3) throw new DeferError(runs.length === 3 ? 1_500 : 200);
          },
        },
      });
      await worker.start();
      try {
        const { job } = await herald.queue.enqueue({
          kind: 'wait',
          queue: 'defer-q',
          maxAttempts: 2,
        });
        await waitFor(() => runs.length === 3, 5_000, 'three deferrals');
        const between = await waitFor(
          async () => {
            const j = await herald.queue.get(job.id);
            return j?.status === 'queued' ? j : null;
          },
          1_000,
          'the third deferral',
        );
        assert.equal(between?.status, 'queued');
        assert.equal(between?.attempts, 0);
        assert.deepEqual(between?.errors, []);
        await waitFor(async () => (await herald.queue.get(job.id)) === null, 5_000, 'completed');
        assert.deepEqual(
          runs.map((r) => r.attempts),
          [1, 1, 1, 1],
        );
        for (let i = 1; i < runs.length; i++) {
          const gap = (runs[i]?.at ?? 0) - (runs[i - 1]?.at ?? 0);
          assert.ok(gap >= 150, `deferred ${gap} ms (asked at least 200)`);
        }
      } finally {
        await worker.stop();
      }
    });

    it('a job whose kind no worker handles stays queued, shows in status, and is never dead-lettered', async () => {
      const ran: string[] = [];
      const worker = herald.worker({
        queue: 'kinds-q',
        pollIntervalMs: 50,
        handlers: { known: (p: { n: string }) => void ran.push(p.n) },
      });
      await worker.start();
      try {
        const mystery = await herald.queue.enqueue({
          kind: 'mystery',
          queue: 'kinds-q',
          maxAttempts: 1,
        });
        await herald.queue.enqueue({ kind: 'known', queue: 'kinds-q', payload: { n: 'k' } });
        await waitFor(() => ran.length === 1, 3_000, 'the known job');
        const job = await herald.queue.get(mystery.job.id);
        assert.equal(job?.status, 'queued');
        assert.equal(job?.attempts, 0);
        const rows = (await herald.queue.status()).filter((r) => r.queue === 'kinds-q');
        const row = rows.find((r) => r.kind === 'mystery');
        assert.equal(row?.status, 'queued');
        assert.equal(row?.count, 1);
        assert.equal(row?.handled, false, 'no live worker handles it');
        assert.ok((row?.oldestDueLagMs ?? -1) >= 0);
      } finally {
        await worker.stop();
      }
    });

    it('a handler past its timeout fails with a timeout error and its signal fires', async () => {
      const aborted: string[] = [];
      const worker = herald.worker({
        queue: 'timeout-q',
        jobTimeoutMs: 200,
        handlers: {
          slow: (_p: unknown, { signal }) =>
            new Promise<void>((resolve) => {
              signal.addEventListener('abort', () => aborted.push(String(signal.reason)));
              setTimeout(resolve, 5_000).unref();
            }),
        },
      });
      await worker.start();
      try {
        const { job } = await herald.queue.enqueue({
          kind: 'slow',
          queue: 'timeout-q',
          maxAttempts: 1,
        });
        await waitFor(
          async () => (await herald.queue.get(job.id))?.status === 'dead',
          5_000,
          'the timed-out job',
        );
        const dead = await herald.queue.get(job.id);
        assert.match(dead?.lastError ?? '', /timed out after 200 ms/);
        assert.deepEqual(aborted, ['Error: timed out after 200 ms']);
      } finally {
        await worker.stop();
      }
    });

    it('an idle worker does not spin: after its jobs it claims only on notifications and polls', async () => {
      let claims = 0;
      const counting: Db = {
        ...herald.db,
        query: (text, params) => {
          if (text === herald.queue.sql.claim) claims++;
          return herald.db.query(text, params);
        },
      };
      const ran: number[] = [];
      const worker = makeWorker(
        { db: counting, queue: herald.queue, log: herald.log },
        {
          queue: 'idle-q',
          pollIntervalMs: 500,
          handlers: { tick: (p: { n: number }) => void ran.push(p.n) },
        },
      );
      await worker.start();
      try {
        await herald.queue.enqueueMany(
          [1, 2, 3].map((n) => ({ kind: 'tick', queue: 'idle-q', payload: { n } })),
        );
        await waitFor(() => ran.length === 3, 3_000, 'three jobs');
        await sleep(100);
        const before = claims;
        await sleep(1_000);
        assert.ok(
          claims - before <= 3,
          `${claims - before} claims in 1 s of idling (poll every 500 ms)`,
        );
      } finally {
        await worker.stop();
      }
    });

    it('a stale attempt cannot record its result after its lease was taken over', async () => {
      const { sql } = herald.queue;
      const { job } = await herald.queue.enqueue({ kind: 'fence', queue: 'fence-q' });
      const claim = (worker: string) =>
        herald.db.query<{ id: string; attempts: number }>(sql.claim, [
          'fence-q',
          ['fence'],
          1,
          worker,
          50,
        ]);
      const first = (await claim('A')).rows[0];
      assert.equal(first?.attempts, 1);
      await waitFor(
        async () => (await herald.db.query(sql.reclaim)).rows.length === 1,
        2_000,
        'the lease to expire',
      );
      const second = (await claim('B')).rows[0];
      assert.equal(second?.attempts, 2);
      // A reports late: neither its completion nor its failure is recorded.
      assert.equal((await herald.db.query(sql.complete, [[job.id], [1]])).rows.length, 0);
      assert.equal((await herald.db.query(sql.fail, [job.id, 1, 0, 'late', false])).rows.length, 0);
      const row = await herald.queue.get(job.id);
      assert.equal(row?.status, 'processing');
      assert.equal(row?.attempts, 2);
      // B, the current attempt, records its completion.
      assert.equal((await herald.db.query(sql.complete, [[job.id], [2]])).rows.length, 1);
      assert.equal(await herald.queue.get(job.id), null);
    });
  });
}

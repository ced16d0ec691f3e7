/**
 * The claim loop acts on a job's notification, whatever the worker holds (src/queue/claims.ts).
 * The old loop claimed in half batches while it held jobs, so a worker with free handler slots
 * but too few of them for half a batch ignored a new job's notification, and the poll too:
 * the job waited until a running one finished. Here the poll is two minutes away and the
 * running jobs never finish until the test lets them, so only the notification can start the
 * new job. On PostgreSQL the job is enqueued through a second Herald instance (its own pool),
 * so the notification crosses the server as it does between an API and a worker process.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createHerald, type Herald } from '../src/index.js';
import { BACKENDS, closeHerald, openHerald, PG_URL, pgSkipReason, waitFor } from './helpers/db.js';

const pgSkip = await pgSkipReason();

for (const backend of BACKENDS) {
  describe(`claims on ${backend}`, { skip: backend === 'pg' ? pgSkip : undefined }, () => {
    let herald: Herald;
    let producer: Herald;
    before(async () => {
      herald = await openHerald(backend);
      producer =
        backend === 'pg'
          ? await createHerald({
              databaseUrl: PG_URL,
              schema: herald.config.schema,
              logLevel: 'warn',
            })
          : herald;
    });
    after(async () => {
      if (producer !== herald) await producer.close();
      await closeHerald(herald);
    });

    it('starts a job on its notification while the worker holds others and has a free slot', async () => {
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      const started: string[] = [];
      // concurrency 10, nothing claimed ahead: eight running jobs leave two free slots, fewer
      // than half a batch (five).
      const worker = herald.worker({
        queue: 'claims-q',
        concurrency: 10,
        prefetch: 0,
        pollIntervalMs: 120_000,
        handlers: {
          hold: async (payload: { n: number }) => {
            started.push(`hold-${payload.n}`);
            await released;
          },
          quick: () => {
            started.push('quick');
          },
        },
      });
      await worker.start();
      try {
        await producer.queue.enqueueMany(
          Array.from({ length: 8 }, (_, n) => ({
            kind: 'hold',
            queue: 'claims-q',
            payload: { n },
          })),
        );
        await waitFor(() => started.length === 8, 60_000, 'eight held jobs to start');
        await producer.queue.enqueue({ kind: 'quick', queue: 'claims-q' });
        // Well before the 120 s poll; the held jobs are still running.
        await waitFor(() => started.includes('quick'), 60_000, 'the new job to start');
        assert.equal(worker.inFlight, 8, 'the eight held jobs are still running');
      } finally {
        release();
        await worker.stop();
      }
    });
  });
}

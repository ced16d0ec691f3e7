/**
 * A worker that dies while running a schedule's run (its lease expires) does not lose the run,
 * even for a schedule of one attempt (the default): the run goes back to the queue, another
 * worker runs it, and it is recorded once, with one notification. A failing task still stops
 * at the schedule's own attempts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Herald } from '../src/index.js';
import { builtinHandlers } from '../src/handlers.js';
import { closeHerald, openHerald, waitFor } from './helpers/db.js';

describe('a schedule run held by a worker that died', () => {
  let herald: Herald;
  before(async () => {
    herald = await openHerald('pglite');
    await herald.types.put('tick', {
      channels: ['inapp'],
      templates: { inapp: { title: 't', body: 'b' } },
    });
    await herald.recipients.upsert('ops', {});
  });
  after(() => closeHerald(herald));

  it('runs again on another worker and is recorded once', async () => {
    const s = `"${herald.config.schema}"`;
    // Once a year: only the manual run below happens.
    await herald.schedules.put('yearly', {
      cron: '0 0 1 1 *',
      task: 'notify',
      payload: { type: 'tick', to: 'ops', data: {} },
    });
    const { runId } = await herald.schedules.runNow('yearly');
    // What a worker killed in the middle of the run leaves: the job claimed (its first attempt
    // taken) and a lease that has run out.
    await herald.db.query(
      `UPDATE ${s}.jobs SET status = 'processing', attempts = 1, locked_by = 'dead-worker',
         locked_until = now() - interval '1 second' WHERE kind = 'schedule'`,
    );
    await herald.db.query(`UPDATE ${s}.job_runs SET status = 'running' WHERE id = $1`, [runId]);
    const worker = herald.worker({
      handlers: builtinHandlers(herald),
      leaseMs: 1_000,
      pollIntervalMs: 50,
    });
    await worker.start();
    try {
      const run = await waitFor(
        async () => {
          const { rows } = await herald.db.query<{ status: string; attempts: number }>(
            `SELECT status, attempts FROM ${s}.job_runs WHERE id = $1`,
            [runId],
          );
          return rows[0]?.status === 'succeeded' ? rows[0] : undefined;
        },
        20_000,
        'the run to succeed on the live worker',
      );
      assert.equal(run.status, 'succeeded');
      const { rows } = await herald.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${s}.notifications WHERE type = 'tick'`,
      );
      assert.equal(rows[0]?.n, 1, 'one notification');
    } finally {
      await worker.stop();
    }
  });
});

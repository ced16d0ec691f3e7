/**
 * Lease renewal (src/queue/leases.ts) and finished jobs. A finished job's completion and the
 * heartbeat run on different connections: when the completion's DELETE commits first, the
 * renewal no longer finds the row. That job was not lost, and saying so (a `job:lease-lost`
 * warning telling operators another worker holds it) was wrong; the completion's own fenced
 * answer decides. A job still running whose row is gone is lost. Both on a real database, the
 * worker's state set by hand at the moment between the two answers.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { after, before, describe, it } from 'node:test';
import type { Herald } from '../src/index.js';
import { makeLeases } from '../src/queue/leases.js';
import { noop, type Held, type Pool, type WorkerEvents } from '../src/queue/pool.js';
import { makeLogger } from '../src/obs/log.js';
import { closeHerald, openHerald } from './helpers/db.js';

describe('lease renewal of finished jobs', () => {
  let herald: Herald;
  before(async () => {
    herald = await openHerald('pglite');
  });
  after(async () => {
    await closeHerald(herald);
  });

  /** Two jobs claimed by hand (attempt 1), then deleted as a committed completion would. */
  async function twoClaimedThenDeleted() {
    const sql = herald.queue.sql;
    await herald.queue.enqueueMany([
      { kind: 'lease', queue: 'lease-q' },
      { kind: 'lease', queue: 'lease-q' },
    ]);
    const { rows } = await herald.db.query<{ id: string }>(sql.claim, [
      'lease-q',
      ['lease'],
      2,
      'test-worker',
      30_000,
    ]);
    assert.equal(rows.length, 2);
    const ids = rows.map((r) => r.id);
    await herald.db.query(sql.complete, [ids, [1, 1]]);
    const held = (id: string): Held => ({
      job: { id } as Held['job'],
      attempt: 1,
      controller: undefined,
      abort: noop,
      started: true,
      lost: false,
    });
    return { finished: held(ids[0] as string), running: held(ids[1] as string) };
  }

  it('does not call a finished job lost when its completion committed first; a running one is', async () => {
    const { finished, running } = await twoClaimedThenDeleted();
    const events = new EventEmitter<WorkerEvents>();
    const lost: string[] = [];
    events.on('job:lease-lost', (job) => lost.push(job.id));
    const pool: Pool = {
      state: 'running',
      held: new Map([[running.job.id, running]]),
      buffer: [],
      running: 1,
      completing: new Map([[finished.job.id, finished]]),
      events,
      log: makeLogger('silent'),
    };
    const leases = makeLeases({ db: herald.db, sql: herald.queue.sql, pool, leaseMs: 30_000 });
    await leases.heartbeat();
    assert.deepEqual(lost, [running.job.id], 'only the running job is lost');
    assert.equal(finished.lost, false);
    assert.equal(running.lost, true);
  });
});

/**
 * pg-boss 10 behind the benchmark seam, in its own schema of the shared PostgreSQL.
 *
 * pg-boss 10 has no per-worker concurrency option (teamSize/teamConcurrency were removed in v10):
 * each `work()` call adds one polling loop that fetches up to `batchSize` jobs, hands them to the
 * handler as an array, completes them, and then waits out the rest of its polling interval before
 * fetching again. The maintainer's advice for concurrency is to call `work()` more than once
 * (github.com/timgit/pg-boss/issues/483), so concurrency N here is N `work()` loops, and each loop
 * runs the jobs of its batch one after another, so that at most N handlers run at once.
 *
 * - defaults: N × `work(name, handler)`: batchSize 1, pollingIntervalSeconds 2 (the documented
 *   default of "1 job every 2 seconds" per worker).
 * - tuned: N × `work(name, { batchSize: 100, pollingIntervalSeconds: 0.5 }, handler)`; 0.5 s is
 *   the shortest interval pg-boss accepts, and batchSize is its documented lever for fetching
 *   (and completing) many jobs per round trip.
 *
 * Both: `createQueue()` (standard policy) in setup, `send()` per job, `insert()` for bulk, the
 * constructor's defaults otherwise (pool of 10).
 */
import pg from 'pg';
import PgBoss from 'pg-boss';
import type { BenchJob, QueueAdapter } from '../adapter.js';
import { DATABASE_URL, progress, sleep } from '../env.js';

const SCHEMA = 'bench_pgboss';
const QUEUE = 'bench';
const TUNED_BATCH_SIZE = Number(process.env.HERALD_BENCH_PGBOSS_BATCH_SIZE ?? 100);
const TUNED_POLLING_INTERVAL_S = 0.5;
const OFFWORK_GRACE_MS = 1_500;

async function dropSchema(): Promise<void> {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  } finally {
    await client.end();
  }
}

class PgBossAdapter implements QueueAdapter {
  readonly name = 'pg-boss';
  readonly settings: string;
  private boss: PgBoss | null = null;
  private errorsLogged = 0;

  constructor(readonly variant: 'defaults' | 'tuned') {
    const common = 'createQueue (standard policy), send() per job, insert() for bulk, pool 10';
    this.settings =
      variant === 'tuned'
        ? `concurrency × work(name, { batchSize: ${TUNED_BATCH_SIZE}, pollingIntervalSeconds: ` +
          `${TUNED_POLLING_INTERVAL_S} }) with the batch run sequentially; ${common}`
        : `concurrency × work(name, handler) (batchSize 1, pollingIntervalSeconds 2); ${common}`;
  }

  async setup(): Promise<void> {
    await this.stopBoss();
    await dropSchema();
    const boss = new PgBoss({ connectionString: DATABASE_URL, schema: SCHEMA });
    boss.on('error', (error) => {
      // A polling error is retried by pg-boss itself; say so a few times, not 10,000 times.
      if (this.errorsLogged++ < 5) progress(`pg-boss error: ${error.message}`);
    });
    await boss.start();
    this.boss = boss;
    await boss.createQueue(QUEUE);
  }

  async enqueueOne(job: BenchJob): Promise<void> {
    await this.requireBoss().send(QUEUE, job);
  }

  async enqueueBulk(jobs: BenchJob[]): Promise<void> {
    await this.requireBoss().insert(jobs.map((data) => ({ name: QUEUE, data })));
  }

  async startWorkers(concurrency: number, onJob: (job: BenchJob) => void): Promise<void> {
    const boss = this.requireBoss();
    const handler = (jobs: PgBoss.Job<BenchJob>[]): Promise<void> => {
      for (const job of jobs) onJob(job.data);
      return Promise.resolve();
    };
    const options: PgBoss.WorkOptions =
      this.variant === 'tuned'
        ? { batchSize: TUNED_BATCH_SIZE, pollingIntervalSeconds: TUNED_POLLING_INTERVAL_S }
        : {};
    for (let i = 0; i < concurrency; i++) await boss.work<BenchJob>(QUEUE, options, handler);
  }

  /**
   * Stops the polling loops, then the whole instance; the next `setup()` starts a fresh one.
   *
   * `stop()` alone can leave the process hanging: it closes the pool while a worker's fetch may
   * still be queued for a pool client, and pg-pool never settles a request queued while it ends,
   * so that worker never reports stopped and pg-boss's `offWork` clean-up polls for it every
   * second forever. pg-boss has no public way to wait for the loops, so `offWork()` first and give
   * the in-flight fetches time to return while the pool is still open.
   */
  async stopWorkers(): Promise<void> {
    if (this.boss) {
      await this.boss.offWork(QUEUE);
      await sleep(OFFWORK_GRACE_MS);
    }
    await this.stopBoss();
  }

  async teardown(): Promise<void> {
    await this.stopBoss();
    await dropSchema();
  }

  private requireBoss(): PgBoss {
    if (!this.boss) throw new Error('pg-boss: setup() has not run (or workers were stopped)');
    return this.boss;
  }

  private async stopBoss(): Promise<void> {
    const boss = this.boss;
    this.boss = null;
    if (boss) await boss.stop({ graceful: true, wait: true, timeout: 5_000 });
  }
}

export function makeAdapter(variant: 'defaults' | 'tuned'): QueueAdapter {
  return new PgBossAdapter(variant);
}

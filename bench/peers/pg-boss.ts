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
 * - tuned: N × `work(name, { batchSize: 500, pollingIntervalSeconds: 0.5 }, handler)`; 0.5 s is
 *   the shortest interval pg-boss accepts, and batchSize is its documented lever for fetching (and
 *   completing) many jobs per round trip. Its docs give no figure; 500 is the per-fetch size of
 *   graphile-worker's documented local queue. HERALD_BENCH_PGBOSS_BATCH_SIZE overrides it.
 *
 * Both: `createQueue()` (standard policy) in setup, `send()` per job, `insert()` for bulk, the
 * constructor's defaults otherwise. The pool is passed in as `db` (see CountingDb) but is the one
 * pg-boss would build itself: a pg.Pool with node-postgres' default size of 10.
 */
import pg from 'pg';
import PgBoss from 'pg-boss';
import type { BenchJob, QueueAdapter } from '../adapter.js';
import { DATABASE_URL, dropSchema, progress, sleep } from '../env.js';

const SCHEMA = 'bench_pgboss';
const QUEUE = 'bench';
const TUNED_BATCH_SIZE = Number(process.env.HERALD_BENCH_PGBOSS_BATCH_SIZE ?? 500);
const TUNED_POLLING_INTERVAL_S = 0.5;

/**
 * The pool pg-boss would make for itself (its Db is `new pg.Pool(config)`), plus a count of the
 * queries in flight, so that shutdown can wait for them.
 *
 * Why: `stop()` closes the pool without waiting for the workers' last fetches and the completions
 * it fires without awaiting. pg-pool never settles a request still queued for a client when it
 * ends, so such a worker never reports stopped, and pg-boss's `offWork` clean-up then polls for it
 * every second forever, keeping the process alive. With batchSize 500 and 10–50 loops on a pool of
 * 10, dozens of queries are queued at any moment, so this happens on most runs.
 */
class CountingDb implements PgBoss.Db {
  private readonly pool = new pg.Pool({
    connectionString: DATABASE_URL,
    application_name: 'pgboss',
  });
  private inflight = 0;

  constructor() {
    this.pool.on('error', (error) => progress(`pg-boss pool error: ${error.message}`));
  }

  async executeSql(text: string, values?: unknown[]): Promise<{ rows: unknown[] }> {
    this.inflight++;
    try {
      return await this.pool.query(text, values);
    } finally {
      this.inflight--;
    }
  }

  /** Resolves once no query has been in flight for `quietMs` (or after `timeoutMs`). */
  async quiesce(quietMs = 100, timeoutMs = 30_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    let quietSince = this.inflight === 0 ? performance.now() : Number.POSITIVE_INFINITY;
    while (performance.now() < deadline) {
      if (this.inflight > 0) quietSince = Number.POSITIVE_INFINITY;
      else if (quietSince === Number.POSITIVE_INFINITY) quietSince = performance.now();
      else if (performance.now() - quietSince >= quietMs) return;
      await sleep(20);
    }
    progress(`pg-boss: ${this.inflight} queries still in flight after ${timeoutMs} ms`);
  }

  end(): Promise<void> {
    return this.pool.end();
  }
}

class PgBossAdapter implements QueueAdapter {
  readonly name = 'pg-boss';
  readonly settings: string;
  private boss: PgBoss | null = null;
  private db: CountingDb | null = null;
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
    await dropSchema(SCHEMA);
    const boss = await this.open();
    await boss.createQueue(QUEUE);
  }

  /** The queue was created by setup() in the benchmark process. */
  async attach(): Promise<void> {
    await this.open();
  }

  async detach(): Promise<void> {
    await this.stopWorkers();
  }

  private async open(): Promise<PgBoss> {
    const db = new CountingDb();
    this.db = db;
    const boss = new PgBoss({ schema: SCHEMA, db });
    boss.on('error', (error) => {
      // A polling error is retried by pg-boss itself; say so a few times, not 10,000 times.
      if (this.errorsLogged++ < 5) progress(`pg-boss error: ${error.message}`);
    });
    this.boss = boss;
    await boss.start();
    return boss;
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
   * Stops the polling loops, lets their last fetches and completions finish, then stops the whole
   * instance; the next `setup()` starts a fresh one.
   */
  async stopWorkers(): Promise<void> {
    if (this.boss) await this.boss.offWork(QUEUE);
    await this.stopBoss();
  }

  async teardown(): Promise<void> {
    await this.stopBoss();
    await dropSchema(SCHEMA);
  }

  private requireBoss(): PgBoss {
    if (!this.boss) throw new Error('pg-boss: setup() has not run (or workers were stopped)');
    return this.boss;
  }

  private async stopBoss(): Promise<void> {
    const boss = this.boss;
    const db = this.db;
    this.boss = null;
    this.db = null;
    if (db) await db.quiesce();
    // pg-boss does not close a pool it was given; it is ended below once every query is done.
    if (boss) await boss.stop({ graceful: true, wait: true, timeout: 5_000 });
    if (db) {
      await db.quiesce();
      await db.end();
    }
  }
}

export function makeAdapter(variant: 'defaults' | 'tuned'): QueueAdapter {
  return new PgBossAdapter(variant);
}

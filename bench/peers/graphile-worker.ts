/**
 * graphile-worker 0.17 behind the benchmark seam, in its own schema of the shared PostgreSQL.
 *
 * - defaults: `run({ concurrency })`, everything else as installed (pool of 10, no local queue,
 *   one `complete_job` round trip per job, LISTEN/NOTIFY for new jobs).
 * - tuned: the batching settings of https://worker.graphile.org/docs/performance (the config its
 *   quick stats were measured with): `localQueue: { size: 500 }`, `completeJobBatchDelay: 0`,
 *   `failJobBatchDelay: 0`, and `maxPoolSize` = max(10, concurrency + 2), the pool size its
 *   `maxPoolSize` option documentation recommends.
 *
 * Enqueueing is the same in both: `WorkerUtils.addJob` per job and `WorkerUtils.addJobs` (one
 * `add_jobs` call per chunk, the fast path the docs quote for queueing) for bulk.
 */
import { Logger, makeWorkerUtils, run } from 'graphile-worker';
import type { Runner, RunnerOptions, Task, WorkerUtils } from 'graphile-worker';
import type { BenchJob, QueueAdapter } from '../adapter.js';
import { DATABASE_URL, dropSchema, progress } from '../env.js';

const SCHEMA = 'bench_graphile';
const TASK = 'bench';
const LOCAL_QUEUE_SIZE = 500;

/** Graphile logs every start and stop at info level; keep only warnings and errors. */
const logger = new Logger(() => (level, message) => {
  const lvl: string = level;
  if (lvl === 'error' || lvl === 'warning') progress(`graphile-worker ${lvl}: ${message}`);
});

class GraphileWorkerAdapter implements QueueAdapter {
  readonly name = 'graphile-worker';
  readonly settings: string;
  private utils: WorkerUtils | null = null;
  private runner: Runner | null = null;

  constructor(readonly variant: 'defaults' | 'tuned') {
    const enqueue = 'enqueue via WorkerUtils.addJob, bulk via WorkerUtils.addJobs (utils pool 10)';
    this.settings =
      variant === 'tuned'
        ? `run({ concurrency, maxPoolSize: max(10, concurrency + 2) }) + preset.worker ` +
          `{ localQueue: { size: ${LOCAL_QUEUE_SIZE} }, completeJobBatchDelay: 0, ` +
          `failJobBatchDelay: 0 }; ${enqueue}`
        : `run({ concurrency }), all else as installed (maxPoolSize 10, no local queue, ` +
          `unbatched completion); ${enqueue}`;
  }

  async setup(): Promise<void> {
    await this.stopWorkers();
    await this.releaseUtils();
    await dropSchema(SCHEMA);
    const utils = await makeWorkerUtils({ connectionString: DATABASE_URL, schema: SCHEMA, logger });
    this.utils = utils;
    await utils.migrate();
  }

  async enqueueOne(job: BenchJob): Promise<void> {
    await this.requireUtils().addJob(TASK, job);
  }

  async enqueueBulk(jobs: BenchJob[]): Promise<void> {
    await this.requireUtils().addJobs(jobs.map((payload) => ({ identifier: TASK, payload })));
  }

  async startWorkers(concurrency: number, onJob: (job: BenchJob) => void): Promise<void> {
    if (this.runner) throw new Error('graphile-worker: workers already running');
    const bench: Task = (payload) => {
      onJob(payload as BenchJob);
    };
    const options: RunnerOptions = {
      connectionString: DATABASE_URL,
      schema: SCHEMA,
      logger,
      concurrency,
      noHandleSignals: true,
      taskList: { [TASK]: bench },
      // No crontab: without this, run() looks for ./crontab in the working directory.
      parsedCronItems: [],
    };
    if (this.variant === 'tuned') {
      options.maxPoolSize = Math.max(10, concurrency + 2);
      options.preset = {
        worker: {
          localQueue: { size: LOCAL_QUEUE_SIZE },
          completeJobBatchDelay: 0,
          failJobBatchDelay: 0,
        },
      };
    }
    this.runner = await run(options);
  }

  async stopWorkers(): Promise<void> {
    const runner = this.runner;
    this.runner = null;
    if (runner) await runner.stop();
  }

  /** run() opens its own pool: nothing to connect beforehand. */
  async attach(): Promise<void> {}

  async detach(): Promise<void> {
    await this.stopWorkers();
  }

  async teardown(): Promise<void> {
    await this.stopWorkers();
    await this.releaseUtils();
    await dropSchema(SCHEMA);
  }

  private requireUtils(): WorkerUtils {
    if (!this.utils) throw new Error('graphile-worker: setup() has not run');
    return this.utils;
  }

  private async releaseUtils(): Promise<void> {
    const utils = this.utils;
    this.utils = null;
    if (utils) await utils.release();
  }
}

export function makeAdapter(variant: 'defaults' | 'tuned'): QueueAdapter {
  return new GraphileWorkerAdapter(variant);
}

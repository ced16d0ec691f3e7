/**
 * BullMQ behind the benchmark seam, on the local Redis, under its own key prefix so that setup can
 * wipe exactly its keys (never FLUSHALL).
 *
 * - defaults: `new Worker(name, processor, { concurrency })`, jobs added with no options, so every
 *   finished job is kept in the completed set (BullMQ's default).
 * - tuned: auto-removal of finished jobs, which BullMQ's docs recommend for production
 *   (docs.bullmq.io/guide/queues/auto-removal-of-jobs and guide/workers/auto-removal-of-jobs):
 *   `removeOnComplete: true, removeOnFail: true` as the queue's default job options and
 *   `{ count: 0 }` on the worker. Concurrency is the worker's `concurrency` option in both.
 *
 * Enqueueing: `Queue.add` per job and `Queue.addBulk` (one MULTI per call) for bulk.
 * The Redis client is ioredis, BullMQ's default driver.
 */
import { Queue, Worker } from 'bullmq';
import type { DefaultJobOptions, WorkerOptions } from 'bullmq';
import { Redis } from 'ioredis';
import type { BenchJob, QueueAdapter } from '../adapter.js';
import { REDIS_URL, progress } from '../env.js';

const PREFIX = 'herald-bench-bullmq';
const QUEUE = 'bench';
const JOB_NAME = 'bench';

/** Deletes every key under the benchmark's prefix: a scoped equivalent of `obliterate()`. */
async function wipePrefix(): Promise<void> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 3 });
  await redis.connect();
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${PREFIX}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    await redis.quit();
  }
}

class BullMqAdapter implements QueueAdapter {
  readonly name = 'bullmq';
  readonly settings: string;
  private queue: Queue<BenchJob> | null = null;
  private worker: Worker<BenchJob> | null = null;

  constructor(readonly variant: 'defaults' | 'tuned') {
    const common = 'Queue.add per job, Queue.addBulk for bulk, ioredis client';
    this.settings =
      variant === 'tuned'
        ? `Worker { concurrency, removeOnComplete: { count: 0 }, removeOnFail: { count: 0 } } + ` +
          `queue defaultJobOptions { removeOnComplete: true, removeOnFail: true }; ${common}`
        : `Worker { concurrency }, finished jobs kept (as installed); ${common}`;
  }

  async setup(): Promise<void> {
    await this.stopWorkers();
    await this.closeQueue();
    await wipePrefix();
    const defaultJobOptions: DefaultJobOptions | undefined =
      this.variant === 'tuned' ? { removeOnComplete: true, removeOnFail: true } : undefined;
    const queue = new Queue<BenchJob>(QUEUE, {
      connection: { url: REDIS_URL },
      prefix: PREFIX,
      ...(defaultJobOptions ? { defaultJobOptions } : {}),
    });
    queue.on('error', (error) => progress(`bullmq queue error: ${error.message}`));
    this.queue = queue;
    await queue.waitUntilReady();
  }

  async enqueueOne(job: BenchJob): Promise<void> {
    await this.requireQueue().add(JOB_NAME, job);
  }

  async enqueueBulk(jobs: BenchJob[]): Promise<void> {
    await this.requireQueue().addBulk(jobs.map((data) => ({ name: JOB_NAME, data })));
  }

  async startWorkers(concurrency: number, onJob: (job: BenchJob) => void): Promise<void> {
    if (this.worker) throw new Error('bullmq: workers already running');
    const options: WorkerOptions = { connection: { url: REDIS_URL }, prefix: PREFIX, concurrency };
    if (this.variant === 'tuned') {
      options.removeOnComplete = { count: 0 };
      options.removeOnFail = { count: 0 };
    }
    const worker = new Worker<BenchJob>(
      QUEUE,
      (job) => {
        onJob(job.data);
        return Promise.resolve();
      },
      options,
    );
    worker.on('error', (error) => progress(`bullmq worker error: ${error.message}`));
    this.worker = worker;
    await worker.waitUntilReady();
  }

  async stopWorkers(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    if (worker) await worker.close();
  }

  /** The Worker opens its own connections: nothing to connect beforehand. */
  async attach(): Promise<void> {}

  async detach(): Promise<void> {
    await this.stopWorkers();
  }

  async teardown(): Promise<void> {
    await this.stopWorkers();
    await this.closeQueue();
    await wipePrefix();
  }

  private requireQueue(): Queue<BenchJob> {
    if (!this.queue) throw new Error('bullmq: setup() has not run');
    return this.queue;
  }

  private async closeQueue(): Promise<void> {
    const queue = this.queue;
    this.queue = null;
    if (queue) await queue.close();
  }
}

export function makeAdapter(variant: 'defaults' | 'tuned'): QueueAdapter {
  return new BullMqAdapter(variant);
}

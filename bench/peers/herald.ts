/**
 * Herald behind the benchmark seam, in its own schema of the shared PostgreSQL.
 *
 * - defaults: `createHerald()` and `herald.worker({ concurrency })` as shipped: prefetch equal
 *   to the concurrency, pool of 10.
 * - tuned: the throughput settings of docs/queue.md for short jobs: `prefetch: 500` (claim up
 *   to 500 jobs ahead of free slots, as graphile-worker's local queue does) and
 *   `completionDelayMs: 5` (record completions in one statement per 5 ms, fewer commits), and
 *   the whole pool opened at start (`poolMin: 10`, for the first burst).
 *
 * Enqueueing is the same in both: `queue.enqueue` per job, `queue.enqueueMany` for bulk.
 */
import {
  createHerald,
  type CreateHeraldOptions,
  type Herald,
  type Worker,
} from '../../src/index.js';
import type { BenchJob, QueueAdapter } from '../adapter.js';
import { DATABASE_URL, dropSchema } from '../env.js';

const SCHEMA = 'bench_herald';
const TUNED_PREFETCH = 500;
const TUNED_COMPLETION_DELAY_MS = 5;
/** Tuned: every connection of the pool opened at start (HERALD_POOL_MIN = HERALD_POOL_SIZE). */
const TUNED_POOL_MIN = 10;

class HeraldAdapter implements QueueAdapter {
  readonly name = 'herald';
  readonly settings: string;
  private herald: Herald | null = null;
  private worker: Worker | null = null;

  constructor(readonly variant: 'defaults' | 'tuned') {
    this.settings =
      variant === 'tuned'
        ? `worker({ concurrency, prefetch: ${TUNED_PREFETCH}, completionDelayMs: ${TUNED_COMPLETION_DELAY_MS} }), pool 10 all opened at start (poolMin ${TUNED_POOL_MIN}); enqueue via queue.enqueue, bulk via queue.enqueueMany`
        : 'worker({ concurrency }) as shipped (prefetch = concurrency, pool 10 of which 2 opened at start); enqueue via queue.enqueue, bulk via queue.enqueueMany';
  }

  async setup(): Promise<void> {
    await this.teardown();
    await dropSchema(SCHEMA);
    this.herald = await createHerald(this.options());
  }

  async attach(): Promise<void> {
    this.herald = await createHerald(this.options());
  }

  async detach(): Promise<void> {
    await this.stopWorkers();
    await this.herald?.close();
    this.herald = null;
  }

  private options(): CreateHeraldOptions {
    return {
      databaseUrl: DATABASE_URL,
      schema: SCHEMA,
      logLevel: 'warn',
      ...(this.variant === 'tuned' ? { poolMin: TUNED_POOL_MIN } : {}),
    };
  }

  private get h(): Herald {
    if (!this.herald) throw new Error('setup() first');
    return this.herald;
  }

  async enqueueOne(job: BenchJob): Promise<void> {
    await this.h.queue.enqueue({ kind: 'bench', payload: job });
  }

  async enqueueBulk(jobs: BenchJob[]): Promise<void> {
    await this.h.queue.enqueueMany(jobs.map((payload) => ({ kind: 'bench', payload })));
  }

  async startWorkers(concurrency: number, onJob: (job: BenchJob) => void): Promise<void> {
    this.worker = this.h.worker({
      concurrency,
      ...(this.variant === 'tuned'
        ? { prefetch: TUNED_PREFETCH, completionDelayMs: TUNED_COMPLETION_DELAY_MS }
        : {}),
      handlers: { bench: (job: BenchJob) => onJob(job) },
    });
    await this.worker.start();
  }

  async stopWorkers(): Promise<void> {
    await this.worker?.stop();
    this.worker = null;
  }

  async teardown(): Promise<void> {
    await this.stopWorkers();
    if (this.herald) {
      await this.herald.close();
      await dropSchema(SCHEMA);
    }
    this.herald = null;
  }
}

export function makeAdapter(variant: 'defaults' | 'tuned'): QueueAdapter {
  return new HeraldAdapter(variant);
}

/**
 * The seam every queue in the side-by-side benchmark implements: Herald and each peer
 * (graphile-worker, pg-boss, BullMQ) get the same no-op jobs through the same calls.
 */
export interface BenchJob {
  /** process.hrtime-based milliseconds (performance.now()) taken just before enqueue. */
  t: number;
  /** A sequence number, so handlers can count distinct jobs. */
  n: number;
}

export interface QueueAdapter {
  /** The row name in queue.json: 'herald', 'graphile-worker', 'pg-boss', 'bullmq'. */
  readonly name: string;
  /** 'defaults' (as installed) or 'tuned' (the settings the project's docs recommend for throughput). */
  readonly variant: 'defaults' | 'tuned';
  /** One line saying which settings this variant uses (printed and written to RESULTS.md). */
  readonly settings: string;
  /** Creates a fresh, empty queue (drops whatever an earlier run left). */
  setup(): Promise<void>;
  enqueueOne(job: BenchJob): Promise<void>;
  enqueueBulk(jobs: BenchJob[]): Promise<void>;
  /** Starts consuming with at most `concurrency` handlers running at once; `onJob` is the no-op handler. */
  startWorkers(concurrency: number, onJob: (job: BenchJob) => void): Promise<void>;
  /** Stops consuming; resolves when the workers have stopped. */
  stopWorkers(): Promise<void>;
  /** Closes every connection. */
  teardown(): Promise<void>;
}

export interface QueueMetrics {
  enqueue_seq_per_s: number;
  enqueue_concurrent_per_s: number;
  enqueue_bulk_per_s: number;
  process_c10_per_s: number;
  process_c50_per_s: number;
  latency_p50_ms: number;
  latency_p95_ms: number;
  latency_p99_ms: number;
}

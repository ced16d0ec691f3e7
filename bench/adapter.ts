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
  /**
   * In another process: connects to the queue that `setup()` made in the benchmark process,
   * without wiping it, so that `startWorkers` there consumes what the benchmark enqueues.
   */
  attach(): Promise<void>;
  /** Stops the workers and closes what `attach()` opened, leaving the queue as it is. */
  detach(): Promise<void>;
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
  /** Enqueue to handler start with the workers in a separate process, after the warm-up. */
  latency_xproc_p50_ms: number;
  latency_xproc_p95_ms: number;
  latency_xproc_p99_ms: number;
  /** The same, over every job of the run: the warm-up (cold start) included. */
  latency_xproc_cold_p50_ms: number;
  latency_xproc_cold_p95_ms: number;
  latency_xproc_cold_p99_ms: number;
  /** The same, over the warm-up alone (the first `latencyWarmupS` seconds). */
  latency_xproc_warmup_p99_ms: number;
}

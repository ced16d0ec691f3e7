/**
 * The six scenarios of the queue benchmark, run against any QueueAdapter, each on a fresh
 * `setup()`. Sizes come from the environment (see `sizesFromEnv`) so a quick run is
 * `HERALD_BENCH_SCALE=0.1`.
 */
import type { BenchJob, QueueAdapter, QueueMetrics } from './adapter.js';
import { progress, sleep } from './env.js';
import type { XprocResult } from './xproc.js';

export interface BenchSizes {
  /** enqueue_seq: jobs enqueued one at a time, each awaited. */
  seqJobs: number;
  /** enqueue_concurrent: jobs in total, spread over `producers` concurrent producers. */
  concurrentJobs: number;
  producers: number;
  /** enqueue_bulk: jobs in total, in `bulkChunk`-sized enqueueBulk calls. */
  bulkJobs: number;
  bulkChunk: number;
  /** process_c10 / process_c50: jobs preloaded before the workers start. */
  processJobs: number;
  /** A processing run that has not finished by then is cut off and reported as partial. */
  processTimeoutS: number;
  /** latency: paced producer rate, measured seconds, and the uncounted warm-up before them. */
  latencyRate: number;
  latencySeconds: number;
  latencyWarmupS: number;
  /** How long the latency run waits, after the producer stops, for the last jobs to be handled. */
  latencyDrainTimeoutS: number;
  latencyConcurrency: number;
}

function envNumber(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
  return value;
}

/**
 * Full-scale sizes, multiplied by HERALD_BENCH_SCALE (default 1); each can be set outright:
 * HERALD_BENCH_SEQ, _CONCURRENT, _PRODUCERS, _BULK, _PROCESS, _PROCESS_TIMEOUT_S,
 * _LATENCY_RATE, _LATENCY_S, _LATENCY_WARMUP_S, _LATENCY_DRAIN_S.
 */
export function sizesFromEnv(env: NodeJS.ProcessEnv = process.env): BenchSizes {
  const scale = envNumber(env, 'HERALD_BENCH_SCALE', 1);
  const scaled = (name: string, full: number, min: number): number =>
    Math.round(envNumber(env, name, Math.max(min, Math.round(full * scale))));
  return {
    seqJobs: scaled('HERALD_BENCH_SEQ', 3_000, 50),
    concurrentJobs: scaled('HERALD_BENCH_CONCURRENT', 10_000, 100),
    producers: Math.round(envNumber(env, 'HERALD_BENCH_PRODUCERS', 50)),
    bulkJobs: scaled('HERALD_BENCH_BULK', 50_000, 1_000),
    bulkChunk: 1_000,
    processJobs: scaled('HERALD_BENCH_PROCESS', 20_000, 200),
    processTimeoutS: scaled('HERALD_BENCH_PROCESS_TIMEOUT_S', 20, 5),
    latencyRate: Math.round(envNumber(env, 'HERALD_BENCH_LATENCY_RATE', 500)),
    latencySeconds: scaled('HERALD_BENCH_LATENCY_S', 10, 1),
    latencyWarmupS: envNumber(env, 'HERALD_BENCH_LATENCY_WARMUP_S', 1),
    latencyDrainTimeoutS: scaled('HERALD_BENCH_LATENCY_DRAIN_S', 10, 3),
    latencyConcurrency: 10,
  };
}

export type MetricName = keyof QueueMetrics;

export const METRIC_NAMES: readonly MetricName[] = [
  'enqueue_seq_per_s',
  'enqueue_concurrent_per_s',
  'enqueue_bulk_per_s',
  'process_c10_per_s',
  'process_c50_per_s',
  'latency_p50_ms',
  'latency_p95_ms',
  'latency_p99_ms',
  'latency_xproc_p50_ms',
  'latency_xproc_p95_ms',
  'latency_xproc_p99_ms',
  'latency_xproc_cold_p50_ms',
  'latency_xproc_cold_p95_ms',
  'latency_xproc_cold_p99_ms',
  'latency_xproc_warmup_p99_ms',
];

/**
 * What a figure is when it is not a plain measurement:
 * - 'partial': the processing run hit its time limit; the figure is jobs handled ÷ time allowed.
 * - 'lower-bound': some latency jobs were never handled; their latency is counted as the time
 *   they had waited when the run was cut off, so the true percentile is at least this.
 */
export type MetricFlag = 'partial' | 'lower-bound';

export interface Measurement extends QueueMetrics {
  flags: Partial<Record<MetricName, MetricFlag>>;
  /** Anything worth a human's attention: duplicates, failed enqueues, cut-off runs. */
  notes: string[];
  /** Wall-clock seconds each scenario took, setup included. */
  seconds: Record<string, number>;
}

export interface MeasureOptions {
  sizes: BenchSizes;
  /** The separate-process latency scenario (xproc.ts), run on a fresh `setup()`. */
  latencyXproc: (adapter: QueueAdapter, sizes: BenchSizes) => Promise<XprocResult>;
}

const round = (value: number, digits: number): number => {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
};

function makeJobs(from: number, count: number): BenchJob[] {
  const jobs: BenchJob[] = new Array<BenchJob>(count);
  for (let i = 0; i < count; i++) jobs[i] = { t: performance.now(), n: from + i };
  return jobs;
}

async function enqueueBulkInChunks(
  adapter: QueueAdapter,
  from: number,
  total: number,
  chunk: number,
): Promise<void> {
  for (let done = 0; done < total; done += chunk) {
    await adapter.enqueueBulk(makeJobs(from + done, Math.min(chunk, total - done)));
  }
}

/** Resolves after `ms`, or earlier when `until` resolves; never leaves a timer behind. */
export async function waitAtMost(ms: number, until: Promise<void>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([until.then(() => true), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/** Prints `describe()` every 5 s while a long phase runs. */
export function ticker(describe: () => string): () => void {
  const timer = setInterval(() => progress(`    … ${describe()}`), 5_000);
  timer.unref();
  return () => clearInterval(timer);
}

/** Counts distinct `n` in [0, total) and duplicates; `done` resolves when all were seen. */
class JobCounter {
  readonly seen: Uint8Array;
  distinct = 0;
  duplicates = 0;
  strays = 0;
  lastAt = 0;
  readonly done: Promise<void>;
  private resolveDone!: () => void;

  constructor(readonly total: number) {
    this.seen = new Uint8Array(total);
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
  }

  /** Returns true the first time `n` is seen. */
  count(n: number): boolean {
    if (!Number.isInteger(n) || n < 0 || n >= this.total) {
      this.strays++;
      return false;
    }
    if (this.seen[n] === 1) {
      this.duplicates++;
      return false;
    }
    this.seen[n] = 1;
    this.distinct++;
    if (this.distinct === this.total) {
      this.lastAt = performance.now();
      this.resolveDone();
    }
    return true;
  }
}

async function enqueueSequential(adapter: QueueAdapter, total: number): Promise<number> {
  const warmup = Math.min(100, Math.ceil(total * 0.05));
  for (let i = 0; i < warmup; i++) await adapter.enqueueOne({ t: performance.now(), n: -1 - i });
  const start = performance.now();
  for (let n = 0; n < total; n++) await adapter.enqueueOne({ t: performance.now(), n });
  return total / ((performance.now() - start) / 1000);
}

async function enqueueConcurrent(
  adapter: QueueAdapter,
  total: number,
  producers: number,
): Promise<number> {
  // One job per producer first, uncounted, so that pools have opened their connections.
  await Promise.all(
    Array.from({ length: producers }, (_, i) =>
      adapter.enqueueOne({ t: performance.now(), n: -1 - i }),
    ),
  );
  let next = 0;
  const producer = async (): Promise<void> => {
    for (let n = next++; n < total; n = next++)
      await adapter.enqueueOne({ t: performance.now(), n });
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: producers }, producer));
  return total / ((performance.now() - start) / 1000);
}

async function enqueueBulk(adapter: QueueAdapter, total: number, chunk: number): Promise<number> {
  await adapter.enqueueBulk(makeJobs(-chunk, chunk)); // uncounted warm-up chunk
  const start = performance.now();
  await enqueueBulkInChunks(adapter, 0, total, chunk);
  return total / ((performance.now() - start) / 1000);
}

interface ProcessResult {
  perSecond: number;
  partial: boolean;
  notes: string[];
}

async function processPreloaded(
  adapter: QueueAdapter,
  concurrency: number,
  sizes: BenchSizes,
): Promise<ProcessResult> {
  const total = sizes.processJobs;
  await enqueueBulkInChunks(adapter, 0, total, sizes.bulkChunk);
  const counter = new JobCounter(total);
  const onJob = (job: BenchJob): void => {
    counter.count(job.n);
  };
  const stopTicker = ticker(() => `c${concurrency}: ${counter.distinct}/${total} handled`);
  const start = performance.now();
  let finished: boolean;
  try {
    await adapter.startWorkers(concurrency, onJob);
    const remaining = sizes.processTimeoutS * 1000 - (performance.now() - start);
    finished = await waitAtMost(Math.max(0, remaining), counter.done);
  } finally {
    stopTicker();
  }
  const end = finished ? counter.lastAt : performance.now();
  const handled = counter.distinct;
  await adapter.stopWorkers();
  const notes: string[] = [];
  if (!finished) {
    notes.push(
      `process_c${concurrency}_per_s: cut off after ${sizes.processTimeoutS} s with ` +
        `${handled}/${total} jobs handled`,
    );
  }
  if (counter.duplicates > 0) {
    notes.push(`process_c${concurrency}_per_s: ${counter.duplicates} duplicate deliveries`);
  }
  if (counter.strays > 0) {
    notes.push(`process_c${concurrency}_per_s: ${counter.strays} jobs with an unknown n`);
  }
  return { perSecond: handled / ((end - start) / 1000), partial: !finished, notes };
}

/** Nearest-rank percentile of an ascending array. */
export function nearestRank(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1] ?? Number.NaN;
}

export interface PacedProducer {
  /** Jobs sent so far. */
  readonly sent: number;
  /** Resolves when every job has been sent and every send has returned. */
  readonly done: Promise<{ enqueueErrors: number; firstError: unknown }>;
}

/**
 * Open-loop paced producer: job n is due at start + n / rate, and is sent then whether or not
 * earlier sends have returned, so a slow enqueue shows up as latency instead of a lower rate.
 * Each job carries `t = clock()` taken just before its enqueue, also kept in `sentAt[n]`.
 */
export function pacedProducer(
  adapter: QueueAdapter,
  opts: { total: number; rate: number; sentAt: Float64Array; clock: () => number },
): PacedProducer {
  return pacedCalls((n, t) => adapter.enqueueOne({ t, n }), opts);
}

/**
 * An open-loop sender: calls `send(n, t)` for n = 0 .. total-1 at `rate` per second whatever
 * earlier calls are doing, `t` = `clock()` taken just before the call (also kept in `sentAt[n]`);
 * a failed call is counted, never retried.
 */
export function pacedCalls(
  send: (n: number, t: number) => Promise<unknown>,
  opts: { total: number; rate: number; sentAt: Float64Array; clock: () => number },
): PacedProducer {
  const { total, rate, sentAt, clock } = opts;
  let next = 0;
  let enqueueErrors = 0;
  let firstError: unknown;
  const inflight = new Set<Promise<void>>();
  const run = async () => {
    const start = performance.now();
    while (next < total) {
      const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
      while (next < due) {
        const n = next++;
        const t = clock();
        sentAt[n] = t;
        const sending = send(n, t).then(
          () => undefined,
          (error: unknown) => {
            enqueueErrors++;
            firstError ??= error;
          },
        );
        inflight.add(sending);
        void sending.finally(() => inflight.delete(sending));
      }
      await sleep(1);
    }
    await Promise.all(inflight);
    return { enqueueErrors, firstError };
  };
  const done = run();
  return {
    get sent() {
      return next;
    },
    done,
  };
}

interface LatencyResult extends LatencySummary {
  notes: string[];
}

async function latency(adapter: QueueAdapter, sizes: BenchSizes): Promise<LatencyResult> {
  const rate = sizes.latencyRate;
  const warm = Math.round(rate * sizes.latencyWarmupS);
  const measured = Math.round(rate * sizes.latencySeconds);
  const total = warm + measured;
  const sentAt = new Float64Array(total).fill(Number.NaN);
  const latencies = new Float64Array(total).fill(Number.NaN);
  const counter = new JobCounter(total);
  let measuredHandled = 0;
  let resolveMeasured!: () => void;
  const allMeasured = new Promise<void>((resolve) => {
    resolveMeasured = resolve;
  });
  const onJob = (job: BenchJob): void => {
    const now = performance.now();
    if (!counter.count(job.n)) return;
    latencies[job.n] = now - job.t;
    if (job.n >= warm && ++measuredHandled === measured) resolveMeasured();
  };

  await adapter.startWorkers(sizes.latencyConcurrency, onJob);
  const sending = pacedProducer(adapter, { total, rate, sentAt, clock: () => performance.now() });
  const stopTicker = ticker(
    () => `latency: ${counter.distinct}/${total} handled, ${sending.sent}/${total} sent`,
  );
  let enqueueErrors: number;
  let firstError: unknown;
  try {
    ({ enqueueErrors, firstError } = await sending.done);
    await waitAtMost(sizes.latencyDrainTimeoutS * 1000, allMeasured);
  } finally {
    stopTicker();
  }
  const cutOffAt = performance.now();
  await adapter.stopWorkers();

  if (enqueueErrors === total) throw new Error(`every enqueue failed: ${String(firstError)}`);
  const summary = summarize(latencies, sentAt, cutOffAt, warm, total);
  const notes: string[] = [];
  if (summary.censored > 0) {
    notes.push(
      `latency: ${summary.censored}/${measured} measured jobs not handled within ` +
        `${sizes.latencyDrainTimeoutS} s after the producer stopped; percentiles are lower bounds`,
    );
  }
  if (enqueueErrors > 0) {
    notes.push(`latency: ${enqueueErrors} enqueues failed (first: ${String(firstError)})`);
  }
  if (counter.duplicates > 0) notes.push(`latency: ${counter.duplicates} duplicate deliveries`);
  return { ...summary, notes };
}

export interface LatencySummary {
  p50: number;
  p95: number;
  p99: number;
  lowerBound: { p50: boolean; p95: boolean; p99: boolean };
  /** Jobs sent but never handled before the cut-off. */
  censored: number;
}

/**
 * Nearest-rank percentiles of jobs [from, to): `latencies[n]` where handled, else (sent but never
 * handled) the time it had waited at `cutOffAt`, which makes a percentile it can reach a lower
 * bound. Jobs never sent (a failed enqueue) are left out.
 */
export function summarize(
  latencies: Float64Array,
  sentAt: Float64Array,
  cutOffAt: number,
  from: number,
  to: number,
): LatencySummary {
  const values: number[] = [];
  let censored = 0;
  let minCensored = Number.POSITIVE_INFINITY;
  for (let n = from; n < to; n++) {
    const value = latencies[n] ?? Number.NaN;
    const sent = sentAt[n] ?? Number.NaN;
    if (!Number.isNaN(value)) {
      values.push(value);
    } else if (!Number.isNaN(sent)) {
      const waited = cutOffAt - sent;
      values.push(waited);
      censored++;
      minCensored = Math.min(minCensored, waited);
    }
  }
  values.sort((a, b) => a - b);
  const [p50, p95, p99] = [50, 95, 99].map((p) => nearestRank(values, p)) as [
    number,
    number,
    number,
  ];
  // A percentile is exact if every censored value already sorts above it: raising those values
  // cannot move it. Otherwise the true percentile is at least the figure.
  const isLowerBound = (value: number): boolean => censored > 0 && minCensored <= value;
  return {
    p50,
    p95,
    p99,
    lowerBound: { p50: isLowerBound(p50), p95: isLowerBound(p95), p99: isLowerBound(p99) },
    censored,
  };
}

/** Runs all six scenarios, each on a fresh `setup()`. The caller tears the adapter down. */
export async function measure(adapter: QueueAdapter, opts: MeasureOptions): Promise<Measurement> {
  const { sizes } = opts;
  const label = `${adapter.name}/${adapter.variant}`;
  const seconds: Record<string, number> = {};
  const flags: Measurement['flags'] = {};
  const notes: string[] = [];

  const scenario = async <T>(name: string, what: string, body: () => Promise<T>): Promise<T> => {
    progress(`${label}: ${name} — ${what}`);
    const began = performance.now();
    await adapter.setup();
    const result = await body();
    seconds[name] = round((performance.now() - began) / 1000, 1);
    return result;
  };
  const fmt = (value: number): string => Math.round(value).toLocaleString('en-US');

  const seq = await scenario('enqueue_seq', `${fmt(sizes.seqJobs)} jobs one at a time`, () =>
    enqueueSequential(adapter, sizes.seqJobs),
  );
  progress(`${label}:   enqueue_seq_per_s = ${fmt(seq)}`);

  const concurrent = await scenario(
    'enqueue_concurrent',
    `${fmt(sizes.concurrentJobs)} jobs from ${sizes.producers} concurrent producers`,
    () => enqueueConcurrent(adapter, sizes.concurrentJobs, sizes.producers),
  );
  progress(`${label}:   enqueue_concurrent_per_s = ${fmt(concurrent)}`);

  const bulk = await scenario(
    'enqueue_bulk',
    `${fmt(sizes.bulkJobs)} jobs in chunks of ${fmt(sizes.bulkChunk)}`,
    () => enqueueBulk(adapter, sizes.bulkJobs, sizes.bulkChunk),
  );
  progress(`${label}:   enqueue_bulk_per_s = ${fmt(bulk)}`);

  const runProcess = async (concurrency: 10 | 50): Promise<number> => {
    const result = await scenario(
      `process_c${concurrency}`,
      `${fmt(sizes.processJobs)} preloaded jobs, concurrency ${concurrency}`,
      () => processPreloaded(adapter, concurrency, sizes),
    );
    notes.push(...result.notes);
    if (result.partial) flags[`process_c${concurrency}_per_s`] = 'partial';
    progress(
      `${label}:   process_c${concurrency}_per_s = ${fmt(result.perSecond)}` +
        (result.partial ? ' (cut off: partial)' : ''),
    );
    return result.perSecond;
  };
  const c10 = await runProcess(10);
  const c50 = await runProcess(50);

  const lat = await scenario(
    'latency',
    `${sizes.latencyRate} jobs/s for ${sizes.latencySeconds} s after ${sizes.latencyWarmupS} s ` +
      `warm-up, concurrency ${sizes.latencyConcurrency}`,
    () => latency(adapter, sizes),
  );
  notes.push(...lat.notes);
  if (lat.lowerBound.p50) flags.latency_p50_ms = 'lower-bound';
  if (lat.lowerBound.p95) flags.latency_p95_ms = 'lower-bound';
  if (lat.lowerBound.p99) flags.latency_p99_ms = 'lower-bound';
  const bound = (value: number, lower: boolean): string => `${lower ? '≥' : ''}${value.toFixed(1)}`;
  progress(
    `${label}:   latency p50/p95/p99 = ${bound(lat.p50, lat.lowerBound.p50)}/` +
      `${bound(lat.p95, lat.lowerBound.p95)}/${bound(lat.p99, lat.lowerBound.p99)} ms`,
  );

  const xproc = await scenario(
    'latency_xproc',
    `the same with the workers in a separate process, no warm-up left out of the run`,
    () => opts.latencyXproc(adapter, sizes),
  );
  notes.push(...xproc.notes);
  const flagXproc = (summary: LatencySummary, prefix: string, pcts: (50 | 95 | 99)[]): void => {
    for (const p of pcts) {
      if (summary.lowerBound[`p${p}`]) flags[`${prefix}_p${p}_ms` as MetricName] = 'lower-bound';
    }
  };
  flagXproc(xproc.afterWarmup, 'latency_xproc', [50, 95, 99]);
  flagXproc(xproc.all, 'latency_xproc_cold', [50, 95, 99]);
  flagXproc(xproc.warmup, 'latency_xproc_warmup', [99]);
  const triple = (s: LatencySummary): string =>
    `${bound(s.p50, s.lowerBound.p50)}/${bound(s.p95, s.lowerBound.p95)}/` +
    `${bound(s.p99, s.lowerBound.p99)}`;
  progress(
    `${label}:   latency_xproc p50/p95/p99 = ${triple(xproc.afterWarmup)} ms after the warm-up, ` +
      `${triple(xproc.all)} ms over every job, p99 ${bound(xproc.warmup.p99, xproc.warmup.lowerBound.p99)} ms in the warm-up`,
  );
  for (const note of notes) progress(`${label}:   note: ${note}`);

  return {
    enqueue_seq_per_s: round(seq, 0),
    enqueue_concurrent_per_s: round(concurrent, 0),
    enqueue_bulk_per_s: round(bulk, 0),
    process_c10_per_s: round(c10, 0),
    process_c50_per_s: round(c50, 0),
    latency_p50_ms: round(lat.p50, 2),
    latency_p95_ms: round(lat.p95, 2),
    latency_p99_ms: round(lat.p99, 2),
    latency_xproc_p50_ms: round(xproc.afterWarmup.p50, 2),
    latency_xproc_p95_ms: round(xproc.afterWarmup.p95, 2),
    latency_xproc_p99_ms: round(xproc.afterWarmup.p99, 2),
    latency_xproc_cold_p50_ms: round(xproc.all.p50, 2),
    latency_xproc_cold_p95_ms: round(xproc.all.p95, 2),
    latency_xproc_cold_p99_ms: round(xproc.all.p99, 2),
    latency_xproc_warmup_p99_ms: round(xproc.warmup.p99, 2),
    flags,
    notes,
    seconds,
  };
}

/**
 * Latency in the shape people run a queue: this process enqueues (as an app or `herald api`
 * does) and the workers run in another process (as `herald worker` does), on the same database
 * or Redis. The worker process is bench/queue-worker.ts; handler start minus enqueue start is
 * read off one wall clock that both processes share (performance.timeOrigin + performance.now()).
 *
 * No warm-up is left out of the run: the producer starts right after `setup()` and the worker
 * process right after `attach()`, so connection pools fill, statements are planned and code is
 * compiled while jobs flow. Percentiles are reported three ways: after the warm-up (the first
 * `latencyWarmupS` seconds), over every job (cold start included), and over the warm-up alone.
 */
import { fork } from 'node:child_process';
import path from 'node:path';
import type { QueueAdapter } from './adapter.js';
import { benchDir } from './report.js';
import type { Variant } from './queue-adapters.js';
import type { FromWorker } from './queue-worker.js';
import {
  pacedProducer,
  summarize,
  ticker,
  waitAtMost,
  type BenchSizes,
  type LatencySummary,
} from './scenarios.js';

export interface RemoteWorkers {
  /** Resolves once every job has started in the worker process. */
  readonly allStarted: Promise<void>;
  /** Stops the workers; the wall-clock start of each job's handler (null: never started). */
  stop(): Promise<{ startedAt: (number | null)[]; duplicates: number; strays: number }>;
}

/** Starts a worker process for `total` jobs with `concurrency` handlers; resolves once it runs. */
export type WorkerForker = (concurrency: number, total: number) => Promise<RemoteWorkers>;

/** A WorkerForker for one queue and variant, running bench/queue-worker.ts under tsx. */
export function forkQueueWorker(name: string, variant: Variant): WorkerForker {
  return async (concurrency, total) => {
    const child = fork(
      path.join(benchDir, 'queue-worker.ts'),
      [name, variant, String(concurrency), String(total)],
      { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
    );
    let failure: Error | undefined;
    const exited = new Promise<never>((_, reject) => {
      child.once('exit', (code, signal) => {
        reject(failure ?? new Error(`worker process exited (${signal ?? `code ${code}`})`));
      });
    });
    exited.catch(() => undefined); // observed below; never an unhandled rejection
    const next = (type: FromWorker['type']): Promise<FromWorker> =>
      Promise.race([
        new Promise<FromWorker>((resolve) => {
          const onMessage = (message: FromWorker): void => {
            if (message.type === 'error') failure = new Error(message.message);
            if (message.type !== type) return;
            child.off('message', onMessage);
            resolve(message);
          };
          child.on('message', onMessage);
        }),
        exited,
      ]);
    const all = next('all');
    await next('ready');
    return {
      allStarted: all.then(() => undefined),
      async stop() {
        const done = next('done');
        child.send({ type: 'stop' });
        const message = await done;
        if (message.type !== 'done') throw new Error('unexpected answer from the worker process');
        return message;
      },
    };
  };
}

export interface XprocResult {
  afterWarmup: LatencySummary;
  all: LatencySummary;
  warmup: LatencySummary;
  notes: string[];
}

const wallClock = (): number => performance.timeOrigin + performance.now();

/** The separate-process latency scenario; `adapter` has just been set up (nothing warm). */
export async function latencyXproc(
  adapter: QueueAdapter,
  sizes: BenchSizes,
  forkWorkers: WorkerForker,
): Promise<XprocResult> {
  const rate = sizes.latencyRate;
  const warm = Math.round(rate * sizes.latencyWarmupS);
  const total = warm + Math.round(rate * sizes.latencySeconds);
  const sentAt = new Float64Array(total).fill(Number.NaN);
  const remote = await forkWorkers(sizes.latencyConcurrency, total);
  let allStarted = false;
  void remote.allStarted.then(
    () => (allStarted = true),
    () => undefined,
  );
  const sending = pacedProducer(adapter, { total, rate, sentAt, clock: wallClock });
  const stopTicker = ticker(
    () => `latency_xproc: ${sending.sent}/${total} sent${allStarted ? ', all started' : ''}`,
  );
  let sent: Awaited<PacedProducerDone>;
  try {
    sent = await sending.done;
    await waitAtMost(sizes.latencyDrainTimeoutS * 1000, remote.allStarted);
  } finally {
    stopTicker();
  }
  const cutOffAt = wallClock();
  const result = await remote.stop();
  if (sent.enqueueErrors === total) {
    throw new Error(`every enqueue failed: ${String(sent.firstError)}`);
  }
  const latencies = new Float64Array(total).fill(Number.NaN);
  result.startedAt.forEach((t, n) => {
    if (t !== null) latencies[n] = t - (sentAt[n] ?? Number.NaN);
  });
  const all = summarize(latencies, sentAt, cutOffAt, 0, total);
  const notes: string[] = [];
  if (all.censored > 0) {
    notes.push(
      `latency_xproc: ${all.censored}/${total} jobs not started within ` +
        `${sizes.latencyDrainTimeoutS} s after the producer stopped; percentiles are lower bounds`,
    );
  }
  if (sent.enqueueErrors > 0) {
    notes.push(
      `latency_xproc: ${sent.enqueueErrors} enqueues failed (first: ${String(sent.firstError)})`,
    );
  }
  if (result.duplicates > 0) {
    notes.push(`latency_xproc: ${result.duplicates} duplicate deliveries`);
  }
  if (result.strays > 0) notes.push(`latency_xproc: ${result.strays} jobs with an unknown n`);
  return {
    afterWarmup: summarize(latencies, sentAt, cutOffAt, warm, total),
    all,
    warmup: summarize(latencies, sentAt, cutOffAt, 0, warm),
    notes,
  };
}

type PacedProducerDone = ReturnType<typeof pacedProducer>['done'];

/**
 * The worker process of the separate-process latency scenario (xproc.ts): attaches to the queue
 * the benchmark process set up, runs its workers, and records when each job's handler starts.
 *
 *   node --import tsx bench/queue-worker.ts QUEUE VARIANT CONCURRENCY TOTAL
 *
 * Talks to its parent over the IPC channel: sends `{ type: 'ready' }` once the workers run and
 * `{ type: 'all' }` once every job 0..TOTAL-1 has started; on `{ type: 'stop' }` it stops the
 * workers and answers `{ type: 'done', startedAt, duplicates, strays }` before exiting.
 * `startedAt[n]` is the wall-clock millisecond (performance.timeOrigin + performance.now(), which
 * every process on the machine reads from the same clock) at which job n's handler began.
 */
import type { BenchJob } from './adapter.js';
import { FACTORIES, isQueueName } from './queue-adapters.js';
import { progress } from './env.js';

export type FromWorker =
  | { type: 'ready' }
  | { type: 'all' }
  | { type: 'done'; startedAt: (number | null)[]; duplicates: number; strays: number }
  | { type: 'error'; message: string };

async function main(): Promise<void> {
  const [name = '', variant = '', concurrencyText = '', totalText = ''] = process.argv.slice(2);
  if (!isQueueName(name)) throw new Error(`unknown queue '${name}'`);
  if (variant !== 'defaults' && variant !== 'tuned')
    throw new Error(`unknown variant '${variant}'`);
  const concurrency = Number(concurrencyText);
  const total = Number(totalText);
  const send = (message: FromWorker): void => {
    process.send?.(message);
  };

  const adapter = FACTORIES[name](variant);
  const startedAt = new Float64Array(total).fill(Number.NaN);
  let distinct = 0;
  let duplicates = 0;
  let strays = 0;
  const onJob = (job: BenchJob): void => {
    const now = performance.timeOrigin + performance.now();
    const n = job.n;
    if (!Number.isInteger(n) || n < 0 || n >= total) {
      strays++;
      return;
    }
    if (!Number.isNaN(startedAt[n] ?? Number.NaN)) {
      duplicates++;
      return;
    }
    startedAt[n] = now;
    if (++distinct === total) send({ type: 'all' });
  };

  // A benchmark process that dies takes its worker process with it.
  process.on('disconnect', () => process.exit(1));
  await adapter.attach();
  await adapter.startWorkers(concurrency, onJob);
  process.on('message', (message: { type?: string }) => {
    if (message.type !== 'stop') return;
    void adapter
      .detach()
      .catch((error: unknown) => progress(`${name}/${variant} worker: ${String(error)}`))
      .then(() => {
        const list = Array.from(startedAt, (t) => (Number.isNaN(t) ? null : t));
        process.send?.({ type: 'done', startedAt: list, duplicates, strays }, () =>
          process.exit(0),
        );
      });
  });
  send({ type: 'ready' });
}

main().catch((error: unknown) => {
  process.send?.({ type: 'error', message: (error as Error).stack ?? String(error) }, () =>
    process.exit(1),
  );
});

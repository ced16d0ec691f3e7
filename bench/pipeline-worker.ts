/**
 * A worker process of the pipeline benchmark, forked by bench/pipeline.ts with the run's
 * `WorkerSpec` as JSON in argv[2]. Over IPC: it answers `ready` once connected and loaded,
 * starts on `start` (answering `started`), and on `stop` stops, answers `stopped` and exits.
 * It exits too when the parent goes away.
 */
import { progress } from './env.js';
import { prepareHeraldWorker } from './peers/pipeline-herald.js';
import { prepareHandRolledWorker } from './peers/pipeline-handrolled.js';
import type { PreparedWorker, WorkerSpec } from './peers/pipeline.js';

type Command = { type: 'start' } | { type: 'stop' };

function send(message: object): void {
  process.send?.(message);
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '') as WorkerSpec;
  const worker: PreparedWorker =
    spec.system === 'herald'
      ? await prepareHeraldWorker(spec)
      : await prepareHandRolledWorker(spec);
  process.on('message', (command: Command) => {
    const step = command.type === 'start' ? worker.start() : worker.stop();
    step.then(
      () => {
        send({ type: command.type === 'start' ? 'started' : 'stopped' });
        if (command.type === 'stop') process.disconnect();
      },
      (error: unknown) => fail(error),
    );
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready' });
}

function fail(error: unknown): void {
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  progress(`worker process ${process.pid}: ${message}`);
  send({ type: 'error', message });
  process.exit(1);
}

main().catch(fail);

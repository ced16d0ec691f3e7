/**
 * Runs Herald's parts until SIGTERM or SIGINT, then shuts down gracefully: stop accepting
 * HTTP, stop claiming jobs, let running jobs finish within the grace period, give back what
 * remains, close the database, exit 0. A second signal exits at once; so does a shutdown that
 * overruns its deadline (grace + 10 s), so a stuck database cannot hang the process.
 *
 * Call it before saying the process is ready (and await it after): until it has run, a
 * SIGTERM from whoever read "ready" kills the process without a shutdown.
 */
import type { Herald } from './herald.js';
import type { RunningServer } from './http/server.js';
import type { Worker } from './queue/worker.js';

export interface RunningParts {
  herald: Herald;
  workers?: Worker[];
  server?: RunningServer;
}

export function runUntilSignal(parts: RunningParts): Promise<void> {
  const { herald } = parts;
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        herald.log.warn({ signal }, 'process:second-signal (exiting now)');
        process.exit(1);
      }
      stopping = true;
      herald.log.info({ signal }, 'process:stopping');
      const deadline = setTimeout(() => {
        herald.log.error('process:shutdown-overran (exiting)');
        process.exit(1);
      }, herald.config.worker.shutdownGraceMs + 10_000);
      deadline.unref();
      void (async () => {
        try {
          await parts.server?.close();
          await Promise.all((parts.workers ?? []).map((w) => w.stop()));
          await herald.close();
          herald.log.info('process:stopped');
          resolve();
        } catch (err) {
          herald.log.error({ err }, 'process:shutdown-failed');
          process.exit(1);
        }
      })();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

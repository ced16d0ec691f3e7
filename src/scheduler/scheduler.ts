/**
 * The scheduler role (`herald scheduler`, and part of `herald start`): a loop that fires what is
 * due, cron ticks (cron-schedules.ts) and recipients' local-time runs (local-schedules.ts),
 * then sleeps until the next thing is due, at most `intervalMs`. Any number of schedulers may
 * run on any number of machines: each due row is claimed in a transaction with SKIP LOCKED, so
 * they share the work and never fire anything twice. A failing round (the database away) is
 * logged and tried again; the loop never dies of it.
 */
import { toError } from '../errors.js';
import type { Logger } from '../obs/log.js';
import type { CronSchedules } from './cron-schedules.js';
import type { LocalSchedules } from './local-schedules.js';

export interface SchedulerOptions {
  cron: CronSchedules;
  local: LocalSchedules;
  log: Logger;
  /** The longest sleep between rounds. Default 1,000 ms. */
  intervalMs?: number;
  /** Told after each round that completed (metrics: the scheduler is alive). */
  ticked?: () => void;
  /** Queues the retention job every `everyMs` (retention.ts); the job's key keeps it single. */
  retention?: { everyMs: number; enqueue: () => Promise<void> };
}

export interface Scheduler {
  start(): void;
  /** Stops after the round in progress. */
  stop(): Promise<void>;
  /** One round now (tests, `herald jobs run`): what it enqueued. */
  tick(): Promise<{ cron: number; local: number }>;
}

export function makeScheduler(options: SchedulerOptions): Scheduler {
  const intervalMs = options.intervalMs ?? 1_000;
  let running = false;
  let timer: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;
  let loop: Promise<void> | undefined;

  // The first pass one interval after start: a restart loop must not run it each time.
  let retentionDueAt = Date.now() + (options.retention?.everyMs ?? 0);
  async function tick() {
    if (options.retention && Date.now() >= retentionDueAt) {
      await options.retention.enqueue();
      retentionDueAt = Date.now() + options.retention.everyMs;
    }
    const cron = await options.cron.fireDue();
    const local = await options.local.fireDue();
    if (cron + local > 0) options.log.info({ cron, local }, 'scheduler:fired');
    options.ticked?.();
    return { cron, local };
  }

  async function sleepUntilNext(): Promise<void> {
    let ms = intervalMs;
    try {
      const [a, b] = await Promise.all([options.cron.nextDue(), options.local.nextDue()]);
      const next = Math.min(a?.getTime() ?? Infinity, b?.getTime() ?? Infinity);
      // Wake a little after the due instant: the database's clock decides what is due.
      ms = Math.max(10, Math.min(intervalMs, next - Date.now() + 10));
    } catch {
      // the round below will report it
    }
    await new Promise<void>((resolve) => {
      wake = resolve;
      timer = setTimeout(resolve, ms);
    });
  }

  async function run(): Promise<void> {
    while (running) {
      try {
        await tick();
      } catch (err) {
        options.log.error({ err: toError(err).message }, 'scheduler:error (retrying)');
      }
      if (running) await sleepUntilNext();
    }
  }

  return {
    start() {
      if (running) return;
      running = true;
      options.log.info({ intervalMs }, 'scheduler:start');
      loop = run();
    },
    async stop() {
      running = false;
      clearTimeout(timer);
      wake?.();
      await loop;
      options.log.info('scheduler:stopped');
    },
    tick,
  };
}

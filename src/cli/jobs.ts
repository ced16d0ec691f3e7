/** `herald jobs status|dead|replay|run`: the operator's view of the queue and the schedules. */
import { Command } from 'commander';
import { openForCommand, withDbFlags, type SettingsFlags } from './common.js';
import { ValidationError } from '../errors.js';
import { viaHttp } from './startup.js';
import { count, duration, print, table } from './format.js';
import { makeProgress } from './progress.js';

export function jobsCommand(): Command {
  const jobs = new Command('jobs').description('inspect and repair the job queue');

  withDbFlags(jobs.command('status'))
    .description(
      'counts by queue, kind and status; the lag of the oldest due job; whether a worker handles it',
    )
    .option('--json', 'print JSON')
    .action(async (flags: SettingsFlags & { json?: boolean }) => {
      const herald = await openForCommand(flags, viaHttp('GET /v1/admin/jobs/status'));
      try {
        const rows = await herald.queue.status();
        if (flags.json) return print(JSON.stringify(rows, null, 2));
        const schedules = await herald.schedules.list();
        if (schedules.length > 0) {
          print(
            table(
              ['SCHEDULE', 'CRON', 'ZONE', 'NEXT RUN', 'LAST RUN', 'STATUS'],
              schedules.map((sc) => [
                sc.name,
                sc.cron,
                sc.timezone,
                sc.nextRunAt ?? '-',
                sc.lastRun?.tick ?? '-',
                sc.lastRun
                  ? `${sc.lastRun.status}${sc.lastRun.error ? `: ${sc.lastRun.error.slice(0, 60)}` : ''}`
                  : '-',
              ]),
            ) + '\n',
          );
        }
        if (rows.length === 0) return print('no jobs');
        print(
          table(
            ['QUEUE', 'KIND', 'STATUS', 'COUNT', 'OLDEST DUE LAG', 'WORKER'],
            rows.map((r) => [
              r.queue,
              r.kind,
              r.status,
              String(r.count),
              r.oldestDueLagMs === null ? '-' : duration(r.oldestDueLagMs),
              r.handled ? 'running' : r.status === 'queued' ? 'NONE handles this kind' : '-',
            ]),
          ),
        );
      } finally {
        await herald.close();
      }
    });

  withDbFlags(jobs.command('dead'))
    .description(
      'dead jobs (failed every attempt, or permanently), newest first, with their last error',
    )
    .option('--limit <n>', 'how many', '20')
    .option('--json', "print JSON, with every attempt's error")
    .action(async (flags: SettingsFlags & { json?: boolean; limit: string }) => {
      const limit = Number(flags.limit);
      if (!Number.isInteger(limit) || limit < 1)
        throw new ValidationError([{ field: '--limit', message: 'must be a positive integer' }]);
      const herald = await openForCommand(flags, viaHttp('GET /v1/admin/jobs/dead'));
      try {
        const dead = await herald.queue.dead(limit);
        if (flags.json) return print(JSON.stringify(dead, null, 2));
        if (dead.length === 0) return print('no dead jobs');
        print(
          table(
            ['ID', 'KIND', 'ATTEMPTS', 'DIED', 'LAST ERROR'],
            dead.map((j) => [
              j.id,
              j.kind,
              `${j.attempts}/${j.maxAttempts}`,
              j.updatedAt.toISOString(),
              (j.lastError ?? '').split('\n')[0]?.slice(0, 80) ?? '',
            ]),
          ),
        );
      } finally {
        await herald.close();
      }
    });

  withDbFlags(jobs.command('replay'))
    .description('queue dead jobs again as a new series of attempts')
    .argument('[id]', 'the dead job to replay')
    .option(
      '--all',
      'replay every dead job, 1,000 per statement (progress on stderr when it is a terminal)',
    )
    .action(async (id: string | undefined, flags: SettingsFlags & { all?: boolean }) => {
      if (!id === !flags.all) {
        throw new ValidationError([
          { field: 'id', message: 'give one job id, or --all (not both)' },
        ]);
      }
      const herald = await openForCommand(flags, viaHttp('POST /v1/admin/jobs/replay'));
      try {
        if (!flags.all) {
          const replayed = await herald.queue.replay([id as string]);
          if (replayed.length === 0) {
            process.stderr.write(
              `herald: job ${id} is not dead (or its key is live in another job); nothing replayed\n`,
            );
            process.exitCode = 1;
            return;
          }
          return print('replayed 1 job');
        }
        const progress = makeProgress({
          doing: 'replaying',
          what: 'jobs',
          total: await herald.queue.replayable(),
        });
        progress.update(0);
        const replayed = await herald.queue
          .replay('all', { onBatch: (n) => progress.update(n) })
          .finally(() => progress.end());
        print(`replayed ${count(replayed.length, 'job')}`);
      } finally {
        await herald.close();
      }
    });

  withDbFlags(jobs.command('run'))
    .description('run a cron schedule now (a manual run, recorded in job_runs)')
    .argument('<name>', 'the schedule')
    .action(async (name: string, flags: SettingsFlags) => {
      const herald = await openForCommand(flags, viaHttp(`POST /v1/admin/schedules/${name}/run`));
      try {
        const { runId, tick } = await herald.schedules.runNow(name);
        print(`queued run ${runId} of ${name} (tick ${tick}); a worker runs it`);
      } finally {
        await herald.close();
      }
    });

  return jobs;
}

/**
 * `herald status`: one screen for the operator: which processes run which roles, how far behind
 * each kind of job is, what failed in the last hour, and what the schedulers fire next.
 * `--json` prints the same report for machines (status-report.ts).
 */
import { Command } from 'commander';
import { openForCommand, withDbFlags, type SettingsFlags } from './common.js';
import { viaHttp } from './startup.js';
import { count, duration, print, table } from './format.js';
import { statusReport, type StatusReport } from './status-report.js';

export function statusCommand(): Command {
  return withDbFlags(new Command('status'))
    .description(
      'processes and their roles, queue depth and lag per kind, the last hour’s failures, next schedule runs',
    )
    .option('--json', 'print the report as JSON')
    .action(async (flags: SettingsFlags & { json?: boolean }) => {
      const herald = await openForCommand(flags, viaHttp('GET /v1/admin/jobs/status'));
      try {
        const report = await statusReport(herald);
        print(flags.json ? JSON.stringify(report, null, 2) : statusText(report));
      } finally {
        await herald.close();
      }
    });
}

/** The report for a person: a heading and a table (or a line saying there is nothing) each. */
export function statusText(r: StatusReport): string {
  const now = Date.parse(r.at);
  const since = (iso: string) => `${duration(Math.max(0, now - Date.parse(iso)))} ago`;
  const until = (iso: string) => {
    const ms = Date.parse(iso) - now;
    return `${short(iso)} (${ms >= 0 ? `in ${duration(ms)}` : `${duration(-ms)} late`})`;
  };
  const db =
    r.database.kind === 'pg'
      ? `PostgreSQL at ${r.database.where}, schema ${r.database.schema}`
      : `the embedded database in ${r.database.where}`;
  const sections = [`Herald on ${db}, at ${r.at}`];
  const section = (title: string, body: string) => sections.push(`${title}\n${body}`);

  section(
    'Processes',
    r.processes.length === 0
      ? 'none recorded: no Herald process runs on this database'
      : table(
          ['HOST', 'PID', 'ROLES', 'QUEUES', 'STARTED', 'LAST HEARTBEAT'],
          r.processes.map((p) => [
            p.host,
            p.pid === null ? '-' : String(p.pid),
            p.roles.join(', '),
            p.queues.map((q) => `${q.queue} (${count(q.kinds, 'kind')})`).join(', ') || '-',
            since(p.startedAt),
            `${duration(p.lastSeenMsAgo)} ago${p.live ? '' : ': GONE (stopped or frozen)'}`,
          ]),
        ),
  );

  section(
    'Queues',
    r.queues.length === 0
      ? 'no jobs'
      : table(
          ['QUEUE', 'KIND', 'QUEUED', 'PROCESSING', 'DEAD', 'OLDEST DUE LAG', 'WORKER'],
          r.queues.map((q) => [
            q.queue,
            q.kind,
            String(q.queued),
            String(q.processing),
            String(q.dead),
            q.oldestDueLagMs === null ? '-' : duration(q.oldestDueLagMs),
            q.paused
              ? 'PAUSED (resume it in the console)'
              : q.handled
                ? 'running'
                : q.queued > 0
                  ? 'NONE handles this kind'
                  : '-',
          ]),
        ),
  );

  const { deliveries, deadJobs, windowMs } = r.failures;
  const failures: string[] = [];
  if (deliveries.length > 0)
    failures.push(
      table(
        ['CHANNEL', 'PROVIDER', 'STATUS', 'REASON', 'DELIVERIES'],
        deliveries.map((f) => [
          f.channel,
          f.provider ?? '-',
          f.status,
          f.reason ?? '-',
          String(f.count),
        ]),
      ),
    );
  if (deadJobs.length > 0)
    failures.push(
      table(
        ['QUEUE', 'KIND', 'DEAD JOBS'],
        deadJobs.map((d) => [d.queue, d.kind, String(d.count)]),
      ) + '\n(`herald jobs dead` shows their errors; `herald jobs replay` runs them again)',
    );
  section(
    windowMs === 3_600_000
      ? 'Failures in the last hour'
      : `Failures in the last ${duration(windowMs)}`,
    failures.length === 0 ? 'none' : failures.join('\n\n'),
  );

  section(
    'Cron schedules',
    r.schedules.length === 0
      ? 'none'
      : table(
          ['NAME', 'CRON', 'ZONE', 'NEXT RUN', 'LAST RUN', 'RESULT'],
          r.schedules.map((sc) => [
            sc.name,
            sc.cron,
            sc.timezone,
            !sc.enabled ? 'disabled' : sc.nextRunAt ? until(sc.nextRunAt) : 'never again',
            sc.lastRun ? short(sc.lastRun.tick) : '-',
            sc.lastRun
              ? `${sc.lastRun.status}${sc.lastRun.error ? `: ${firstLine(sc.lastRun.error, 60)}` : ''}`
              : '-',
          ]),
        ),
  );

  section(
    'Next local-time runs',
    r.localRuns.length === 0
      ? 'none: no recipient has a local-time schedule'
      : table(
          ['AT (UTC)', 'SCHEDULE', 'ZONE', 'LOCAL TIME', 'RECIPIENTS'],
          r.localRuns.map((run) => [
            until(run.at),
            run.name,
            run.timezone,
            localTime(run.at, run.timezone),
            String(run.recipients),
          ]),
        ),
  );
  return sections.join('\n\n');
}

/** An ISO instant without zero milliseconds: 2025-05-01T06:00:00Z. */
function short(iso: string): string {
  return iso.replace('.000Z', 'Z');
}

function firstLine(text: string, max: number): string {
  const line = text.split('\n')[0] ?? '';
  return line.length > max ? `${line.slice(0, max)}…` : line;
}

/** `Mon 08:00` in the zone. */
function localTime(iso: string, timeZone: string): string {
  return new Intl.DateTimeFormat('en-GB', {
    timeZone,
    weekday: 'short',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).format(new Date(iso));
}

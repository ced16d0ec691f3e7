/**
 * `herald status` on PostgreSQL while a `herald start` runs beside it: the process is listed
 * with its three roles, the queue per kind (a kind no worker handles, a dead job, a paused
 * kind), a delivery
 * refused by the SMTP server and a job that died in the last hour, the next cron tick with its
 * last run, and the next local-time run; `--json` gives the same as data. Once the server
 * stops, its roles are gone from the list.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type { Herald } from '../src/index.js';
import type { StatusReport } from '../src/cli/status-report.js';
import { closeHerald, openHerald, pgSkipReason, PG_URL, waitFor } from './helpers/db.js';
import { startHeraldServer, type HeraldServerProcess } from './helpers/processes.js';
import { startSmtpSink, type SmtpSink } from './helpers/smtp-sink.js';

const BIN = new URL('../bin/herald.js', import.meta.url).pathname;
const pgSkip = await pgSkipReason();
/** An instant as the table shows it (no zero milliseconds), as a pattern. */
const shown = (iso: string) => iso.replace('.000Z', 'Z').replaceAll('.', '\\.');

describe('herald status', { skip: pgSkip }, () => {
  let h: Herald;
  let sink: SmtpSink;
  let server: HeraldServerProcess | undefined;
  const status = (...args: string[]) => {
    const r = spawnSync(
      process.execPath,
      [BIN, 'status', '--database-url', PG_URL, '--schema', h.config.schema, ...args],
      { encoding: 'utf8' },
    );
    return { code: r.status, out: r.stdout, err: r.stderr };
  };

  before(async () => {
    sink = await startSmtpSink({ reject: /^bounce@/ });
    h = await openHerald('pg');
    await h.types.put('alert', {
      channels: ['email'],
      templates: { email: { subject: 'Alert', text: 'Something happened' } },
    });
    await h.recipients.upsert('ann', { email: 'bounce@example.com', timezone: 'Europe/Berlin' });
    await h.preferences.put('ann', { schedules: { daily_briefing: { time: '08:00' } } });
    await h.schedules.put('nightly', {
      cron: '0 3 1 1 *', // New Year's night: it does not tick during the test
      timezone: 'Europe/Berlin',
      task: 'notify',
      payload: { type: 'alert', to: 'ann' },
    });
    // A run of the schedule, so it has a last run to show (the server's worker runs it).
    await h.schedules.runNow('nightly');
    await h.queue.enqueueMany([{ kind: 'orphan.kind' }, { kind: 'orphan.kind' }]);
    await h.pauses.pause('held.kind');
    // A job that dies at once, run here: the server has no handler for its kind.
    const doomed = h.worker({
      handlers: {
        doomed: () => {
          throw new Error('no such thing');
        },
      },
      pollIntervalMs: 50,
    });
    await doomed.start();
    await h.queue.enqueue({ kind: 'doomed', maxAttempts: 1 });
    await waitFor(async () => (await h.queue.dead()).length === 1, 10_000, 'the dead job');
    await doomed.stop();
    // The SMTP server refuses this address for good: a failed delivery.
    await h.send({ type: 'alert', to: 'ann' });
    server = await startHeraldServer({
      DATABASE_URL: PG_URL,
      HERALD_SCHEMA: h.config.schema,
      HERALD_SMTP_URL: sink.url,
      HERALD_EMAIL_FROM: 'ops@example.com',
    });
    await waitFor(
      async () => {
        const { rows } = await h.db.query<{ failed: number; ran: number }>(
          `SELECT (SELECT count(*)::int FROM "${h.config.schema}".deliveries WHERE status = 'failed') AS failed,
             (SELECT count(*)::int FROM "${h.config.schema}".job_runs WHERE status IN ('succeeded', 'failed')) AS ran`,
        );
        return rows[0]?.failed === 2 && rows[0].ran === 1;
      },
      20_000,
      'the refused deliveries (the trigger’s and the schedule run’s) and the finished run',
    );
  });
  after(async () => {
    if (server && server.child.exitCode === null) server.child.kill('SIGKILL');
    await closeHerald(h);
    await sink.close();
  });

  it('lists the running roles, the queue per kind, the last hour’s failures and the next runs', async () => {
    const r = status();
    assert.equal(r.code, 0, r.err);
    // The server: one process with its three roles, its worker pool on the default queue.
    assert.match(
      r.out,
      new RegExp(
        `^\\S+\\s+${server?.child.pid}\\s+api, worker, scheduler\\s+default \\(\\d+ kinds\\)\\s+[\\d.]+ m?s ago\\s+[\\d.]+ m?s ago$`,
        'm',
      ),
    );
    // The queue per kind: queued, processing, dead, the lag, whether a worker handles it.
    assert.match(
      r.out,
      /^default\s+orphan\.kind\s+2\s+0\s+0\s+[\d.]+ m?s\s+NONE handles this kind$/m,
    );
    assert.match(r.out, /^default\s+doomed\s+0\s+0\s+1\s+-\s+-$/m);
    assert.match(
      r.out,
      /^default\s+held\.kind\s+0\s+0\s+0\s+-\s+PAUSED \(resume it in the console\)$/m,
    );
    // The last hour's failures: the refused deliveries, and the job that died.
    assert.match(r.out, /^email\s+smtp\s+failed\s+permanent_error\s+2$/m);
    assert.match(r.out, /^default\s+doomed\s+1$/m);
    const nightly = await h.schedules.get('nightly');
    assert.ok(nightly?.nextRunAt);
    assert.match(
      r.out,
      new RegExp(
        `^nightly\\s+0 3 1 1 \\*\\s+Europe/Berlin\\s+${shown(nightly.nextRunAt)} \\(in [\\d.]+ (min|h)\\)\\s+\\S+\\s+succeeded$`,
        'm',
      ),
    );
    const [briefing] = await h.localSchedules.list('ann');
    assert.ok(briefing?.nextRunAt);
    assert.match(
      r.out,
      new RegExp(
        `^${shown(briefing.nextRunAt)} \\(in [\\d.]+ (ms|s|min|h)\\)\\s+daily_briefing\\s+Europe/Berlin\\s+\\w{3} 08:00\\s+1$`,
        'm',
      ),
    );
  });

  it('--json gives the same report as data', async () => {
    const r = status('--json');
    assert.equal(r.code, 0, r.err);
    const report = JSON.parse(r.out) as StatusReport;
    assert.deepEqual(Object.keys(report), [
      'at',
      'database',
      'processes',
      'queues',
      'failures',
      'schedules',
      'localRuns',
    ]);
    const url = new URL(PG_URL);
    assert.deepEqual(report.database, {
      kind: 'pg',
      where: `${url.hostname}:${url.port || '5432'}${url.pathname}`,
      schema: h.config.schema,
    });
    const mine = report.processes.find((p) => p.pid === server?.child.pid);
    assert.deepEqual(mine?.roles, ['api', 'worker', 'scheduler']);
    assert.equal(mine?.live, true);
    const orphan = report.queues.find((q) => q.kind === 'orphan.kind');
    assert.ok(orphan && typeof orphan.oldestDueLagMs === 'number' && orphan.oldestDueLagMs >= 0);
    assert.deepEqual(
      { ...orphan, oldestDueLagMs: 0 },
      {
        queue: 'default',
        kind: 'orphan.kind',
        queued: 2,
        processing: 0,
        dead: 0,
        cancelled: 0,
        oldestDueLagMs: 0,
        handled: false,
        paused: false,
      },
    );
    assert.equal(report.queues.find((q) => q.kind === 'held.kind')?.paused, true);
    assert.equal(report.queues.find((q) => q.kind === 'doomed')?.dead, 1);
    assert.deepEqual(report.failures.deliveries, [
      { channel: 'email', provider: 'smtp', status: 'failed', reason: 'permanent_error', count: 2 },
    ]);
    assert.deepEqual(report.failures.deadJobs, [{ queue: 'default', kind: 'doomed', count: 1 }]);
    const [nightly] = report.schedules;
    assert.equal(nightly?.name, 'nightly');
    assert.equal(nightly.nextRunAt, (await h.schedules.get('nightly'))?.nextRunAt);
    assert.equal(nightly.lastRun?.status, 'succeeded');
    const [briefing] = await h.localSchedules.list('ann');
    assert.deepEqual(report.localRuns, [
      {
        at: briefing?.nextRunAt,
        name: 'daily_briefing',
        timezone: 'Europe/Berlin',
        recipients: 1,
      },
    ]);
  });

  it('forgets the roles of a server that stopped', async () => {
    const child = server?.child;
    assert.ok(child);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    const report = JSON.parse(status('--json').out) as StatusReport;
    assert.equal(
      report.processes.find((p) => p.pid === child.pid),
      undefined,
    );
  });
});

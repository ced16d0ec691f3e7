/**
 * Exactly once across processes (PostgreSQL): three `herald scheduler` processes and two
 * `herald worker` processes, with schedulers and a worker killed by SIGKILL at random moments
 * and restarted. Every tick of five every-second cron schedules runs once (no tick missing,
 * none twice), and every due local-time schedule of 300 recipients produces exactly one
 * notification.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type { Herald } from '../src/index.js';
import {
  closeHerald,
  openHerald,
  pgSkipReason,
  PG_URL,
  sleep,
  waitForProgress,
} from './helpers/db.js';

const pgSkip = await pgSkipReason();
const BIN = new URL('../bin/herald.js', import.meta.url).pathname;
const SCHEDULES = ['s1', 's2', 's3', 's4', 's5'];
const RECIPIENTS = 300;

describe('scheduler processes under SIGKILL', { skip: pgSkip }, () => {
  let herald: Herald;
  const children = new Set<ChildProcess>();
  /** Processes that said they started. */
  const up = new Set<ChildProcess>();
  const stderr: string[] = [];

  function spawnRole(role: 'scheduler' | 'worker'): ChildProcess {
    const child = spawn(process.execPath, [BIN, role], {
      env: {
        ...process.env,
        DATABASE_URL: PG_URL,
        HERALD_SCHEMA: herald.config.schema,
        // info: the `scheduler:start` / `worker:start` line says the process is up.
        HERALD_LOG_LEVEL: 'info',
        HERALD_SCHEDULER_INTERVAL_MS: '100',
        HERALD_POLL_INTERVAL_MS: '100',
        HERALD_LEASE_MS: '2000',
        // A busy machine can run a job past its 2 s lease: its retry should not then wait out
        // a growing backoff (this test is about exactly once, not about backoff).
        HERALD_BACKOFF_CAP_MS: '1000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (c: Buffer) => {
      if (c.toString().includes(`${role}:start`)) up.add(child);
    });
    child.stderr?.on('data', (c: Buffer) => stderr.push(c.toString()));
    children.add(child);
    child.on('exit', () => children.delete(child));
    return child;
  }

  before(async () => {
    herald = await openHerald('pg');
  });
  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await closeHerald(herald);
  });

  it('runs every tick once and sends every local-time run once', async () => {
    const s = `"${herald.config.schema}"`;
    await herald.types.put('tick', {
      channels: ['inapp'],
      templates: { inapp: { title: 't', body: 'b' } },
    });
    await herald.types.put('daily_briefing', {
      channels: ['inapp'],
      templates: { inapp: { title: 'Your day', body: 'b' } },
    });
    await herald.recipients.upsert('ops', {});
    for (let i = 0; i < RECIPIENTS; i++) {
      await herald.recipients.upsert(`r${i}`, { timezone: 'Europe/Berlin' });
      await herald.preferences.put(`r${i}`, { schedules: { daily_briefing: { time: '08:00' } } });
    }
    // Due at moments spread over the next 8 seconds, as a busy 08:00 would be.
    await herald.db.query(
      `UPDATE ${s}.recipient_schedules SET next_run_at = now() + random() * interval '8 seconds'`,
    );

    const schedulers = [spawnRole('scheduler'), spawnRole('scheduler'), spawnRole('scheduler')];
    const workers = [spawnRole('worker'), spawnRole('worker')];
    for (const name of SCHEDULES) {
      await herald.schedules.put(name, {
        cron: '* * * * * *',
        task: 'notify',
        catchUp: 'all',
        payload: { type: 'tick', to: 'ops', data: { s: name } },
      });
    }

    // Kill a random started scheduler every 0.7–1.5 s and start another, leaving at least one
    // started one running (so ticks go on however slowly a busy machine starts processes);
    // kill a worker once. Until every schedule has ticked 8 times and 6 schedulers were
    // killed; fail if no run is added for 30 s.
    let kills = 0;
    let seen = -1;
    let movedAt = Date.now();
    for (;;) {
      await sleep(700 + Math.random() * 800);
      const { rows } = await herald.db.query<{ schedule: string; n: number }>(
        `SELECT schedule, count(*)::int AS n FROM ${s}.job_runs GROUP BY 1`,
      );
      const fewest = Math.min(
        ...SCHEDULES.map((name) => rows.find((r) => r.schedule === name)?.n ?? 0),
      );
      if (fewest >= 8 && kills >= 6) break;
      const total = rows.reduce((sum, r) => sum + r.n, 0);
      // The clock for a stall starts once a scheduler is up (starting one can take seconds).
      if (total !== seen || !schedulers.some((c) => up.has(c)))
        [seen, movedAt] = [total, Date.now()];
      else if (Date.now() - movedAt > 30_000)
        throw new Error(`no schedule ran for 30 s (${total} runs, ${kills} kills)`);
      const started = schedulers.filter((c) => up.has(c));
      if (started.length < 2) continue;
      const i = schedulers.indexOf(started[Math.floor(Math.random() * started.length)]!);
      schedulers[i]?.kill('SIGKILL');
      schedulers[i] = spawnRole('scheduler');
      kills++;
      if (kills === 4) {
        workers[0]?.kill('SIGKILL');
        workers[0] = spawnRole('worker');
      }
    }
    const count = async (sql: string) =>
      (await herald.db.query<{ n: number }>(sql)).rows[0]?.n ?? 0;
    const briefings = await waitForProgress(
      async () => {
        const { rows } = await herald.db.query<{ recipient_id: string; n: number }>(
          `SELECT recipient_id, count(*)::int AS n FROM ${s}.notifications
           WHERE type = 'daily_briefing' GROUP BY 1`,
        );
        return rows.length >= RECIPIENTS ? rows : null;
      },
      () =>
        count(`SELECT count(*)::int AS n FROM ${s}.notifications WHERE type = 'daily_briefing'`),
      20_000,
      `${RECIPIENTS} briefings`,
    );
    // Stop the ticks by stopping every scheduler, then let the workers finish the runs queued
    // (removing the schedules first would fail the runs still queued: 'the schedule was
    // deleted').
    for (const c of schedulers) {
      const gone = new Promise((resolve) => c.once('exit', resolve));
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      else continue;
      await gone;
    }
    const runs = await waitForProgress(
      async () => {
        const { rows } = await herald.db.query<{ schedule: string; tick: Date; status: string }>(
          `SELECT schedule, tick, status FROM ${s}.job_runs ORDER BY schedule, tick`,
        );
        return rows.every((r) => r.status === 'succeeded') ? rows : null;
      },
      () => count(`SELECT count(*)::int AS n FROM ${s}.job_runs WHERE status = 'succeeded'`),
      20_000,
      'every run to finish',
    ).catch(async (err: unknown) => {
      // This wait has stalled now and then on a loaded machine, since before issue 10, with
      // the cause not found: say which runs and jobs were stuck, and what the processes said.
      const stuck = await herald.db.query(
        `SELECT r.schedule, r.tick, r.status, r.attempts, r.error, j.status AS job_status,
           j.attempts AS job_attempts, j.run_at, j.locked_by, j.locked_until, j.last_error, now()
         FROM ${s}.job_runs r LEFT JOIN ${s}.jobs j ON j.key = 'schedule:' || r.id
         WHERE r.status <> 'succeeded'`,
      );
      throw new Error(
        `${(err as Error).message}\nruns not finished: ${JSON.stringify(stuck.rows)}\n` +
          `process output (end): ${stderr.join('').slice(-3_000)}`,
      );
    });
    for (const name of SCHEDULES) {
      const ticks = runs.filter((r) => r.schedule === name).map((r) => r.tick.getTime());
      assert.ok(ticks.length >= 8, `${name}: ${ticks.length} runs`);
      for (let i = 1; i < ticks.length; i++)
        assert.equal(
          (ticks[i] as number) - (ticks[i - 1] as number),
          1000,
          `${name}: a tick missing or twice`,
        );
    }
    const perSchedule = await herald.db.query<{ s: string; n: number; ticks: number }>(
      `SELECT data ->> 's' AS s, count(*)::int AS n FROM ${s}.notifications WHERE type = 'tick' GROUP BY 1`,
    );
    for (const row of perSchedule.rows)
      assert.equal(
        row.n,
        runs.filter((r) => r.schedule === row.s).length,
        `${row.s}: one notification a tick`,
      );

    for (const name of SCHEDULES) await herald.schedules.remove(name);
    assert.equal(briefings.length, RECIPIENTS);
    assert.ok(
      briefings.every((b) => b.n === 1),
      'each recipient briefed once',
    );
    assert.ok(kills >= 6, `${kills} schedulers killed`);
  });
});

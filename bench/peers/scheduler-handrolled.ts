/**
 * The hand-rolled peer of the scheduler benchmark: the design the seeds describe, "a cron
 * script that scans all users every minute". Users carry their zone and briefing time in plain
 * columns; each minute the script asks PostgreSQL whose local time is their briefing time
 * (`now() AT TIME ZONE timezone` over the whole table) and enqueues one graphile-worker job
 * per user due; the pipeline benchmark's peer worker (bench/peers/pipeline-handrolled.ts:
 * graphile-worker, nodemailer pool, Handlebars) sends them.
 *
 * What it leaves out, to its advantage: nothing records that a user was sent today, so a
 * second run in the same minute (two scripts, a retry) would send twice.
 */
import { makeWorkerUtils, type WorkerUtils } from 'graphile-worker';
import pg from 'pg';
import type { SmtpSink } from '../../test/helpers/smtp-sink.js';
import { startCpuWindow, type CpuWindow } from '../cpu.js';
import { DATABASE_URL, dropSchema, progress, sleep } from '../env.js';
import { prepareHandRolledWorker, TASK, workerSchema } from './pipeline-handrolled.js';
import type { WorkerSettings } from './pipeline.js';
import { summarize, type ExplainRoot, type Rounds } from './scheduler-herald.js';
import { BRIEFING_EMAIL, BRIEFING_TIME, BRIEFING_TYPE, chunks, planRows } from './scheduler.js';
import type { ZonePlan } from './scheduler.js';

export const PEER_SCHEMA = 'bench_scheduler_peer';
const s = PEER_SCHEMA;

/** The script's question each minute: who is at their briefing time now ($1, "now"). */
const DUE_SQL = `SELECT id FROM ${s}.users
  WHERE briefing_time = date_trunc('minute', $1::timestamptz AT TIME ZONE timezone)::time`;

export interface PeerBusyMinute {
  n: number;
  /** The scan's share of the enqueue time. */
  scan_s: number;
  enqueue_s: number;
  deliver_s: number | null;
  /** Until every job had completed (polled every 500 ms). */
  recorded_s: number | null;
  complete: boolean;
  sink_count: number;
  cpu: CpuWindow;
}

export class HandRolledScheduler {
  private pool: pg.Pool | null = null;
  private utils: WorkerUtils | null = null;

  get db(): pg.Pool {
    if (!this.pool) throw new Error('hand-rolled: setup() first');
    return this.pool;
  }

  async setup(): Promise<void> {
    await this.teardown();
    const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
    this.pool = pool;
    await pool.query(`CREATE SCHEMA ${s}`);
    await pool.query(
      `CREATE TABLE ${s}.users (id text PRIMARY KEY, email text NOT NULL, timezone text NOT NULL,
         briefing_time time NOT NULL)`,
    );
    this.utils = await makeWorkerUtils({ connectionString: DATABASE_URL, schema: workerSchema(s) });
    await this.utils.migrate();
  }

  async addUsers(plan: ZonePlan, from: number, to: number): Promise<void> {
    const began = performance.now();
    for (const [a, b] of chunks(from, to, 100_000)) {
      const rows = planRows(plan, a, b);
      await this.db.query(
        `INSERT INTO ${s}.users (id, email, timezone, briefing_time)
         SELECT g.id, g.email, ($5::text[])[g.zone_no], $6::time FROM (${rows.sql}) g`,
        [...rows.params, plan.zones, BRIEFING_TIME],
      );
      progress(
        `  hand-rolled: ${b.toLocaleString('en-US')} users (${((performance.now() - began) / 1000).toFixed(1)} s)`,
      );
    }
    await this.db.query(`VACUUM ANALYZE ${s}.users`);
  }

  /** The users due at `at` and how long the scan took. */
  async scan(at: Date): Promise<{ ids: string[]; ms: number }> {
    const began = performance.now();
    const { rows } = await this.db.query<{ id: string }>(DUE_SQL, [at]);
    return { ids: rows.map((r) => r.id), ms: performance.now() - began };
  }

  /**
   * Rounds of the minute's scan at the real time, at most `rounds` or until `budgetMs` is
   * spent (at least 5); a round that finds users due is counted apart, not timed.
   */
  async idleRounds(rounds: number, budgetMs: number, warmup = 2): Promise<Rounds> {
    for (let i = 0; i < warmup; i++) await this.scan(new Date());
    const times: number[] = [];
    let fired = 0;
    const began = performance.now();
    while (times.length < rounds && (times.length < 5 || performance.now() - began < budgetMs)) {
      const { ids, ms } = await this.scan(new Date());
      if (ids.length > 0) fired++;
      else times.push(ms);
    }
    return { times_ms: times, fired_rounds: fired };
  }

  async explainScan(): Promise<{ plan: string; execution_ms: number; buffers: number }> {
    const { rows } = await this.db.query<{ 'QUERY PLAN': [ExplainRoot] }>(
      `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${DUE_SQL}`,
      [new Date()],
    );
    return summarize(rows[0]?.['QUERY PLAN'][0]);
  }

  /**
   * The busiest minute as the script sees it: its run `leadMs` ahead asks who is due at the
   * busy zone's 08:00 (`dueAt`: the script's clock says that minute), enqueues a job per user
   * in addJobs batches of 5,000; the worker (in this process) sends them.
   */
  async busyMinute(opts: {
    n: number;
    dueAt: number;
    sink: SmtpSink;
    settings: WorkerSettings;
    leadMs: number;
    limitS: number;
  }): Promise<PeerBusyMinute> {
    const { n, sink } = opts;
    const utils = this.utils;
    if (!utils) throw new Error('hand-rolled: setup() first');
    const worker = await prepareHandRolledWorker({
      system: 'hand-rolled',
      schema: s,
      sinkUrl: sink.url,
      settings: opts.settings,
      email: BRIEFING_EMAIL,
    });
    await worker.start();
    try {
      const start = Date.now() + opts.leadMs;
      await sleep(start - Date.now());
      const endCpu = startCpuWindow({ bench: process.pid, sink: sink.pid });
      const { ids, ms: scanMs } = await this.scan(new Date(opts.dueAt));
      if (ids.length !== n) throw new Error(`the scan found ${ids.length} users due, not ${n}`);
      const runAt = new Date(opts.dueAt).toISOString();
      for (const [a, b] of chunks(0, ids.length, 5_000)) {
        await utils.addJobs(
          ids.slice(a, b).map((userId) => ({
            identifier: TASK.email,
            payload: { userId, data: { schedule: BRIEFING_TYPE, runAt } },
          })),
        );
      }
      const enqueuedAt = Date.now();
      let deliveredAt: number | undefined;
      let recordedAt: number | undefined;
      let lastPoll = 0;
      let lastReport = Date.now();
      for (;;) {
        const now = Date.now();
        if (deliveredAt === undefined && sink.count() >= n) deliveredAt = now;
        if (recordedAt === undefined && now - lastPoll >= 500) {
          lastPoll = now;
          const { rows } = await this.db.query<{ left: number }>(
            `SELECT count(*)::int AS left FROM ${workerSchema(s)}._private_jobs`,
          );
          if ((rows[0]?.left ?? 1) === 0) recordedAt = Date.now();
        }
        if (now - lastReport >= 5_000) {
          lastReport = now;
          progress(
            `  hand-rolled busy minute: ${Math.round((now - start) / 1000)} s, ${sink.count()} at the sink`,
          );
        }
        if (deliveredAt !== undefined && recordedAt !== undefined) break;
        if (now - start > opts.limitS * 1000) break;
        await sleep(20);
      }
      const cpu = endCpu();
      const secs = (t: number | undefined) =>
        t === undefined ? null : Math.round(t - start) / 1000;
      return {
        n,
        scan_s: Math.round(scanMs) / 1000,
        enqueue_s: secs(enqueuedAt) as number,
        deliver_s: secs(deliveredAt),
        recorded_s: secs(recordedAt),
        complete: deliveredAt !== undefined && recordedAt !== undefined,
        sink_count: sink.count(),
        cpu,
      };
    } finally {
      await worker.stop();
    }
  }

  async teardown(): Promise<void> {
    const [utils, pool] = [this.utils, this.pool];
    [this.utils, this.pool] = [null, null];
    await utils?.release();
    await pool?.end();
    await dropSchema(s);
    await dropSchema(workerSchema(s));
  }
}

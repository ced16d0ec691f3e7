/**
 * Herald in the scheduler benchmark: recipients with a daily briefing in their preferences,
 * written in bulk as the API writes them; the idle cost of `herald.scheduler().tick()`; and the
 * busiest minute run by `herald scheduler` and `herald worker` processes of the compiled CLI
 * (bin/herald.js), sending through SMTP to the count-only sink.
 *
 * Set-up in bulk: `herald.recipients.upsert` and `herald.preferences.put` take one recipient
 * at a time (a million would take hours), so the rows are written with INSERT ... SELECT from
 * generate_series, with what those calls would store: the preferences document as
 * `preferencesSchema` fills it in, the cron text of `preferenceCron()` and the next run of
 * `nextTick()` in the recipient's zone. `checkRowsAsApi` proves it on a few recipients made
 * through the API.
 */
import type { ChildProcess } from 'node:child_process';
import { createHerald, type Herald } from '../../src/index.js';
import { preferencesSchema } from '../../src/notify/preferences.js';
import { nextTick, parseCron } from '../../src/time/cron.js';
import { preferenceCron, RECIPES } from '../../src/scheduler/local-schedules.js';
import type { SmtpSink } from '../../test/helpers/smtp-sink.js';
import { startHeraldWorker } from '../../test/helpers/processes.js';
import { startCpuWindow, type CpuWindow } from '../cpu.js';
import { DATABASE_URL, dropSchema, progress, sleep } from '../env.js';
import { prepareHeraldWorker } from './pipeline-herald.js';
import { EMAIL_FROM, type PreparedWorker } from './pipeline.js';
import {
  BRIEFING_EMAIL,
  BRIEFING_TIME,
  BRIEFING_TYPE,
  chunks,
  planRows,
  type ZonePlan,
} from './scheduler.js';

export const HERALD_SCHEMA = 'bench_scheduler_herald';
const s = HERALD_SCHEMA;

const PREFERENCES = { schedules: { [BRIEFING_TYPE]: { time: BRIEFING_TIME } } };
/** The document `herald.preferences.put(id, PREFERENCES)` stores. */
const DOCUMENT = preferencesSchema.parse(PREFERENCES);
/** The cron text the preference becomes: `0 8 * * *`. */
export const CRON = preferenceCron(DOCUMENT.schedules[BRIEFING_TYPE] as { time: string }, {
  ...RECIPES[BRIEFING_TYPE],
});
const SPEC = parseCron(CRON);

/** The next daily briefing in `zone` after `after` (ms). */
export const nextBriefing = (zone: string, after: number) => nextTick(SPEC, zone, after) as number;

/** Round times in ms, and the rounds that fired something (left out of the times). */
export interface Rounds {
  times_ms: number[];
  fired_rounds: number;
}

export interface HeraldWorkerSettings {
  /** `herald worker` processes (or workers in this process) and `herald scheduler` processes. */
  workers: number;
  schedulers: number;
  /** HERALD_CONCURRENCY, HERALD_PREFETCH, HERALD_SMTP_POOL_SIZE of each worker. */
  concurrency: number;
  prefetch: number;
  smtpPoolSize: number;
  /** HERALD_SCHEDULER_BATCH_SIZE (recipients per local-schedule job) and HERALD_POOL_SIZE. */
  batchSize: number;
  poolSize: number;
  /**
   * Workers in this process (the pipeline benchmark's, bench/peers/pipeline-herald.ts) with
   * this completionDelayMs, instead of `herald worker` processes (which have no such setting).
   */
  inProcessCompletionDelayMs?: number;
}

export interface BusyMinute {
  n: number;
  /** From the due instant until the schedulers had enqueued n runs (their log lines). */
  enqueue_s: number | null;
  /** Until the sink had counted n messages. */
  deliver_s: number | null;
  /** Until n email deliveries were recorded `sent` (polled every 500 ms). */
  recorded_s: number | null;
  complete: boolean;
  /** Runs each scheduler process enqueued, and in how many rounds that logged something. */
  schedulers: { runs: number; rounds: number }[];
  /** Messages the sink counted by the end, and the sink count every 5 s. */
  sink_count: number;
  timeline: { t_s: number; enqueued: number; delivered: number }[];
  /** Runs left in the queue from the idle phase (a zone's real 08:00), removed before. */
  stray_jobs_removed: number;
  /** Seconds waited for other zones' real 08:00 to pass before the busy minute. */
  waited_for_other_zones_s: number;
  cpu: CpuWindow;
}

export class HeraldScheduler {
  private herald: Herald | null = null;

  get h(): Herald {
    if (!this.herald) throw new Error('herald: setup() first');
    return this.herald;
  }

  async setup(): Promise<void> {
    await dropSchema(s);
    const herald = await createHerald({
      databaseUrl: DATABASE_URL,
      schema: s,
      logLevel: 'warn',
      emailFrom: EMAIL_FROM,
    });
    this.herald = herald;
    await herald.types.put(BRIEFING_TYPE, {
      channels: ['email'],
      templates: { email: BRIEFING_EMAIL },
    });
  }

  /** Recipients [from, to) of the plan, their preferences and schedule rows, in one go each. */
  async addRecipients(plan: ZonePlan, from: number, to: number, now: number): Promise<void> {
    const nexts = plan.zones.map((z) => new Date(nextBriefing(z, now)));
    const began = performance.now();
    for (const [a, b] of chunks(from, to, 100_000)) {
      const rows = planRows(plan, a, b);
      await this.h.db.transaction(async (tx) => {
        await tx.query(
          `INSERT INTO ${s}.recipients (id, email, timezone)
           SELECT g.id, g.email, ($5::text[])[g.zone_no] FROM (${rows.sql}) g`,
          [...rows.params, plan.zones],
        );
        await tx.query(
          `INSERT INTO ${s}.preferences (recipient_id, document)
           SELECT g.id, $5::jsonb FROM (${rows.sql}) g`,
          [...rows.params, JSON.stringify(DOCUMENT)],
        );
        await tx.query(
          `INSERT INTO ${s}.recipient_schedules (recipient_id, name, cron, timezone, next_run_at)
           SELECT g.id, $5, $6, ($7::text[])[g.zone_no], ($8::timestamptz[])[g.zone_no]
           FROM (${rows.sql}) g`,
          [...rows.params, BRIEFING_TYPE, CRON, plan.zones, nexts],
        );
      });
      progress(
        `  herald: ${b.toLocaleString('en-US')} recipients (${((performance.now() - began) / 1000).toFixed(1)} s)`,
      );
    }
  }

  /**
   * Makes a recipient through the API in each of `zones` (`recipients.upsert` with the zone,
   * then `preferences.put`) and compares its preferences and schedule row with a bulk-written
   * recipient's of the same zone; throws on a difference, removes the API's recipients after.
   */
  async checkRowsAsApi(zones: string[]): Promise<string[]> {
    const checked: string[] = [];
    try {
      for (const [k, zone] of zones.entries()) {
        const id = `api-check-${k}`;
        await this.h.recipients.upsert(id, { email: `${id}@example.test`, timezone: zone });
        await this.h.preferences.put(id, PREFERENCES);
        const api = await this.rowOf('r.id = $1', id);
        const bulk = await this.rowOf(`r.timezone = $1 AND r.id LIKE 'user-%'`, zone);
        if (api === undefined || api !== bulk)
          throw new Error(`bulk rows differ from the API's in ${zone}: API ${api}, bulk ${bulk}`);
        checked.push(zone);
      }
    } finally {
      await this.h.db.query(`DELETE FROM ${s}.recipients WHERE id LIKE 'api-check-%'`);
    }
    return checked;
  }

  /** A recipient's zone, preferences document and schedule row, as JSON text. */
  private async rowOf(where: string, value: string): Promise<string | undefined> {
    const { rows } = await this.h.db.query<{ row: string }>(
      `SELECT json_build_array(r.timezone, p.document, rs.name, rs.cron, rs.timezone,
         rs.next_run_at)::text AS row
       FROM ${s}.recipients r JOIN ${s}.preferences p ON p.recipient_id = r.id
       JOIN ${s}.recipient_schedules rs ON rs.recipient_id = r.id
       WHERE ${where} LIMIT 1`,
      [value],
    );
    return rows[0]?.row;
  }

  /** VACUUM ANALYZE of the tables the set-up wrote (autovacuum may be off, as it is here). */
  async vacuum(): Promise<void> {
    for (const table of ['recipients', 'preferences', 'recipient_schedules'])
      await this.h.db.query(`VACUUM ANALYZE ${s}.${table}`);
  }

  /** The rows of `d` (a CTE: `WITH d AS (...)`), by default every schedule row. */
  async count(cte = `WITH d AS (SELECT 1 FROM ${s}.recipient_schedules)`, params: unknown[] = []) {
    const { rows } = await this.h.db.query<{ n: number }>(
      `${cte} SELECT count(*)::int AS n FROM d`,
      params,
    );
    return rows[0]?.n ?? 0;
  }

  /**
   * `rounds` rounds of `herald.scheduler().tick()` (cron and local-time fireDue), each timed;
   * what was due before (a zone's 08:00 just passed) is fired first, and a round that fires
   * something is counted apart, not timed.
   */
  async idleRounds(rounds: number, warmup = 20): Promise<Rounds> {
    const scheduler = this.h.scheduler();
    for (;;) {
      const r = await scheduler.tick();
      if (r.cron + r.local === 0) break;
    }
    for (let i = 0; i < warmup; i++) await scheduler.tick();
    const times: number[] = [];
    let fired = 0;
    while (times.length < rounds) {
      const began = performance.now();
      const r = await scheduler.tick();
      const ms = performance.now() - began;
      if (r.cron + r.local > 0) fired++;
      else times.push(ms);
    }
    return { times_ms: times, fired_rounds: fired };
  }

  /** EXPLAIN ANALYZE of fireDue's claim (its query text, copied), in a rolled-back transaction. */
  async explainClaim(): Promise<{ plan: string; execution_ms: number; buffers: number }> {
    return this.h.db.withConnection(async (c) => {
      await c.query('BEGIN');
      try {
        const { rows } = await c.query<{ 'QUERY PLAN': [ExplainRoot] }>(
          `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)
           SELECT recipient_id, name, cron, timezone, next_run_at, now() AS now
           FROM ${s}.recipient_schedules
           WHERE next_run_at <= now()
           ORDER BY next_run_at LIMIT 5000 FOR UPDATE SKIP LOCKED`,
        );
        return summarize(rows[0]?.['QUERY PLAN'][0]);
      } finally {
        await c.query('ROLLBACK');
      }
    });
  }

  /**
   * The busiest minute: the n recipients of `zone` due at one instant a little ahead (their
   * next_run_at set to it), the scheduler and worker processes started before it; timed from
   * that instant until the runs are enqueued, sent to the sink and recorded.
   */
  async busyMinute(opts: {
    zone: string;
    otherZones: string[];
    n: number;
    sink: SmtpSink;
    settings: HeraldWorkerSettings;
    leadMs: number;
    /** No other zone's real 08:00 may fall within this many seconds after the instant. */
    quietS: number;
    limitS: number;
  }): Promise<BusyMinute> {
    const { n, sink, settings } = opts;
    const waited = await this.quietWindow(opts.otherZones, opts.leadMs + opts.quietS * 1000);
    const strays = await this.count(`WITH d AS (DELETE FROM ${s}.jobs RETURNING 1)`);
    const due = Math.ceil((Date.now() + opts.leadMs) / 1000) * 1000;
    const moved = await this.count(
      `WITH d AS (UPDATE ${s}.recipient_schedules SET next_run_at = $1, updated_at = now()
         WHERE name = $2 AND timezone = $3 RETURNING 1)`,
      [new Date(due), BRIEFING_TYPE, opts.zone],
    );
    if (moved !== n) throw new Error(`expected ${n} recipients in ${opts.zone}, got ${moved}`);
    await this.h.db.query(`VACUUM ANALYZE ${s}.recipient_schedules`);

    const env = {
      DATABASE_URL,
      HERALD_SCHEMA: s,
      HERALD_SMTP_URL: sink.url,
      HERALD_EMAIL_FROM: EMAIL_FROM,
      HERALD_CONCURRENCY: String(settings.concurrency),
      HERALD_PREFETCH: String(settings.prefetch),
      HERALD_SMTP_POOL_SIZE: String(settings.smtpPoolSize),
      HERALD_SCHEDULER_BATCH_SIZE: String(settings.batchSize),
      HERALD_POOL_SIZE: String(settings.poolSize),
    };
    const stderr: string[] = [];
    const children: ChildProcess[] = [];
    const local: PreparedWorker[] = [];
    const fired: { at: number; local: number; scheduler: number }[] = [];
    try {
      for (let i = 0; i < settings.workers; i++) {
        if (settings.inProcessCompletionDelayMs === undefined)
          children.push(await startHeraldWorker(env, stderr, 'worker'));
        else {
          const worker = await prepareHeraldWorker({
            system: 'herald',
            schema: s,
            sinkUrl: sink.url,
            settings: { ...settings, completionDelayMs: settings.inProcessCompletionDelayMs },
          });
          local.push(worker);
          await worker.start();
        }
      }
      const schedulers: ChildProcess[] = [];
      for (let i = 0; i < settings.schedulers; i++) {
        const child = await startHeraldWorker(env, stderr, 'scheduler');
        children.push(child);
        schedulers.push(child);
        let partial = '';
        child.stdout?.on('data', (chunk: Buffer) => {
          const lines = (partial + chunk.toString()).split('\n');
          partial = lines.pop() ?? '';
          for (const line of lines) {
            if (!line.includes('scheduler:fired')) continue;
            const entry = JSON.parse(line) as { time: number; local: number };
            fired.push({ at: entry.time, local: entry.local, scheduler: i });
          }
        });
      }
      if (Date.now() > due - 500)
        throw new Error('the busy minute was set up too late for its instant: raise --lead');
      await sleep(due - Date.now());
      const endCpu = startCpuWindow({
        ...Object.fromEntries(schedulers.map((c, i) => [`scheduler${i + 1}`, c.pid ?? 0])),
        ...Object.fromEntries(
          children
            .filter((c) => !schedulers.includes(c))
            .map((c, i) => [`worker${i + 1}`, c.pid ?? 0]),
        ),
        sink: sink.pid,
        bench: process.pid,
      });

      const enqueued = () => fired.reduce((sum, f) => sum + f.local, 0);
      let enqueuedAt: number | undefined;
      let deliveredAt: number | undefined;
      let recordedAt: number | undefined;
      let lastRecordPoll = 0;
      let lastReport = Date.now();
      const timeline: BusyMinute['timeline'] = [];
      for (;;) {
        const now = Date.now();
        if (enqueuedAt === undefined && enqueued() >= n) {
          let sum = 0;
          enqueuedAt = fired.sort((a, b) => a.at - b.at).find((f) => (sum += f.local) >= n)?.at;
        }
        if (deliveredAt === undefined && sink.count() >= n) deliveredAt = now;
        if (recordedAt === undefined && now - lastRecordPoll >= 500) {
          lastRecordPoll = now;
          if ((await this.sentSince(due)) >= n) recordedAt = Date.now();
        }
        if (now - lastReport >= 5_000) {
          lastReport = now;
          const t = Math.round((now - due) / 1000);
          timeline.push({ t_s: t, enqueued: enqueued(), delivered: sink.count() });
          progress(
            `  herald busy minute: ${t} s, ${enqueued()} enqueued, ${sink.count()} at the sink`,
          );
        }
        if (enqueuedAt !== undefined && deliveredAt !== undefined && recordedAt !== undefined)
          break;
        if (now - due > opts.limitS * 1000) break;
        await sleep(20);
      }
      const cpu = endCpu();
      const secs = (t: number | undefined) => (t === undefined ? null : Math.round(t - due) / 1000);
      return {
        n,
        enqueue_s: secs(enqueuedAt),
        deliver_s: secs(deliveredAt),
        recorded_s: secs(recordedAt),
        complete: recordedAt !== undefined && deliveredAt !== undefined,
        schedulers: schedulers.map((_, i) => ({
          runs: fired.filter((f) => f.scheduler === i).reduce((a, f) => a + f.local, 0),
          rounds: fired.filter((f) => f.scheduler === i).length,
        })),
        sink_count: sink.count(),
        timeline,
        stray_jobs_removed: strays,
        waited_for_other_zones_s: waited,
        cpu,
      };
    } catch (error) {
      if (stderr.length > 0) progress(`herald processes' stderr: ${stderr.join('').slice(-2000)}`);
      throw error;
    } finally {
      await Promise.all([...children.map(stop), ...local.map((w) => w.stop())]);
    }
  }

  /** Email deliveries recorded as sent since `t` (ms): this busy minute's, not an earlier one's. */
  private sentSince(t: number): Promise<number> {
    return this.count(
      `WITH d AS (SELECT 1 FROM ${s}.deliveries
         WHERE status = 'sent' AND updated_at >= $1 AND channel = 'email')`,
      [new Date(t)],
    );
  }

  /**
   * Waits until no other zone's real 08:00 falls within the next `windowMs` (they would add
   * their runs to the busy minute), firing those that came due meanwhile; answers the seconds
   * waited.
   */
  private async quietWindow(zones: string[], windowMs: number): Promise<number> {
    const began = Date.now();
    for (;;) {
      const now = Date.now();
      const next = Math.min(...zones.map((z) => nextBriefing(z, now)));
      if (next > now + windowMs) break;
      progress(
        `  other zones' 08:00 at ${new Date(next).toISOString()} falls in the busy minute's window: waiting for it`,
      );
      await sleep(next - now + 1_000);
      await this.idleRounds(0, 0);
    }
    return Math.round((Date.now() - began) / 1000);
  }

  async teardown(): Promise<void> {
    const herald = this.herald;
    this.herald = null;
    if (herald) await herald.close();
    await dropSchema(s);
  }
}

/** SIGTERM (a graceful stop), SIGKILL if it takes more than 30 s. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(killer);
}

export interface ExplainNode {
  'Node Type': string;
  'Index Name'?: string;
  'Relation Name'?: string;
  'Shared Hit Blocks'?: number;
  'Shared Read Blocks'?: number;
  Plans?: ExplainNode[];
}
export interface ExplainRoot {
  Plan: ExplainNode;
  'Execution Time': number;
  'Planning Time': number;
}

/** A plan as `LockRows > Limit > Index Scan (recipient_schedules_due_idx)`, its time and blocks. */
export function summarize(root: ExplainRoot | undefined): {
  plan: string;
  execution_ms: number;
  buffers: number;
} {
  if (!root) return { plan: 'n/a', execution_ms: NaN, buffers: NaN };
  const names: string[] = [];
  for (let node: ExplainNode | undefined = root.Plan; node; node = node.Plans?.[0]) {
    const on = node['Index Name'] ?? node['Relation Name'];
    names.push(on ? `${node['Node Type']} (${on})` : node['Node Type']);
  }
  const top = root.Plan;
  return {
    plan: names.join(' > '),
    execution_ms: Math.round(root['Execution Time'] * 1000) / 1000,
    buffers: (top['Shared Hit Blocks'] ?? 0) + (top['Shared Read Blocks'] ?? 0),
  };
}

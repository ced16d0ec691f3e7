/**
 * The hand-rolled peer of the pipeline benchmark: what a team builds on a PostgreSQL job queue
 * when it has no notification engine. graphile-worker 0.17 (the 'tuned' settings of the queue
 * benchmark: local queue, completions batched at once), one job per recipient and channel.
 *
 * - trigger: `WorkerUtils.addJobs` of `{ userId, data }` jobs, one per recipient and channel
 *   (no notification or delivery rows, no preferences: nothing is recorded but the jobs).
 * - `send-email` task: the recipient's address by id (one query), the same Handlebars
 *   templates (compiled once), `sendMail` through a nodemailer pool to the same sink, with the
 *   same pool options as Herald's SMTP provider.
 * - `inapp` task: the templates rendered, one INSERT into an `inbox` table.
 *
 * Done = sent (sink count, or inbox rows) and the job completed (no job left).
 */
import Handlebars from 'handlebars';
import nodemailer from 'nodemailer';
import { Logger, makeWorkerUtils, run } from 'graphile-worker';
import type { Runner, Task, WorkerUtils } from 'graphile-worker';
import pg from 'pg';
import { DATABASE_URL, dropSchema, progress } from '../env.js';
import {
  EMAIL_FROM,
  TEMPLATES,
  TRIGGER_DATA,
  type BenchChannel,
  type PipelineSystem,
  type PreparedWorker,
  type SinkView,
  type WorkerSpec,
} from './pipeline.js';

export const HANDROLLED_SCHEMA = 'bench_pipeline_peer';
export const workerSchema = (schema: string) => `${schema}_worker`;
export const TASK: Record<BenchChannel, string> = { email: 'send-email', inapp: 'inapp' };

/**
 * Graphile's warnings and errors, but not its advice to make the pool as large as the
 * concurrency: the pool is capped on purpose (see maxPoolSize below).
 */
const logger = new Logger(() => (level, message) => {
  const lvl: string = level;
  if ((lvl === 'error' || lvl === 'warning') && !message.includes('smaller than concurrency')) {
    progress(`graphile-worker ${lvl}: ${message}`);
  }
});

export class HandRolledPipeline implements PipelineSystem {
  readonly name = 'hand-rolled';
  readonly schema = HANDROLLED_SCHEMA;
  private utils: WorkerUtils | null = null;
  private pool: pg.Pool | null = null;
  private triggered: Record<BenchChannel, number> = { email: 0, inapp: 0 };

  private sink: SinkView | null = null;

  async setup(recipients: number, sink: SinkView | null): Promise<void> {
    await this.teardown();
    this.sink = sink;
    await dropSchema(this.schema);
    await dropSchema(workerSchema(this.schema));
    this.triggered = { email: 0, inapp: 0 };
    const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
    this.pool = pool;
    await pool.query(`CREATE SCHEMA ${this.schema}`);
    await pool.query(
      `CREATE TABLE ${this.schema}.users (id text PRIMARY KEY, email text NOT NULL)`,
    );
    await pool.query(
      `CREATE TABLE ${this.schema}.inbox (id bigserial PRIMARY KEY, user_id text NOT NULL,
         title text NOT NULL, body text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`,
    );
    await pool.query(
      `INSERT INTO ${this.schema}.users (id, email)
       SELECT 'user-' || lpad(i::text, 6, '0'), 'user-' || lpad(i::text, 6, '0') || '@example.test'
       FROM generate_series(0, $1::int - 1) AS i`,
      [recipients],
    );
    await pool.query(`ANALYZE ${this.schema}.users`);
    const utils = await makeWorkerUtils({
      connectionString: DATABASE_URL,
      schema: workerSchema(this.schema),
      logger,
    });
    this.utils = utils;
    await utils.migrate();
  }

  async trigger(ids: string[], channels: BenchChannel[]): Promise<void> {
    if (!this.utils) throw new Error('hand-rolled: setup() first');
    const jobs = ids.flatMap((userId) =>
      channels.map((channel) => ({
        identifier: TASK[channel],
        payload: { userId, data: TRIGGER_DATA },
      })),
    );
    await this.utils.addJobs(jobs);
    for (const channel of channels) this.triggered[channel] += ids.length;
  }

  async progress(channel: BenchChannel): Promise<{ done: number; failed: number }> {
    if (!this.pool) throw new Error('hand-rolled: setup() first');
    const { rows } = await this.pool.query<{ left: number; failed: number; inbox: number }>(
      `SELECT count(*) FILTER (WHERE attempts < max_attempts)::int AS left,
              count(*) FILTER (WHERE attempts >= max_attempts)::int AS failed,
              (SELECT count(*)::int FROM ${this.schema}.inbox) AS inbox
       FROM ${workerSchema(this.schema)}._private_jobs`,
    );
    const row = rows[0] ?? { left: 0, failed: 0, inbox: 0 };
    const sent = channel === 'email' ? (this.sink?.count() ?? 0) : row.inbox;
    // Sent and its job completed: as done as a Herald delivery marked 'sent'. (A run drains
    // one channel, so every job left is one of its own.)
    const completed = this.triggered[channel] - row.left - row.failed;
    return { done: Math.min(sent, completed), failed: row.failed };
  }

  async teardown(): Promise<void> {
    const utils = this.utils;
    const pool = this.pool;
    this.utils = null;
    this.pool = null;
    if (utils) await utils.release();
    if (pool) {
      await pool.end();
      await dropSchema(this.schema);
      await dropSchema(workerSchema(this.schema));
    }
  }
}

/** A peer worker process's part: a nodemailer pool, the compiled templates, graphile's run(). */
export function prepareHandRolledWorker(spec: WorkerSpec): Promise<PreparedWorker> {
  const { settings, schema } = spec;
  const transport = nodemailer.createTransport({
    pool: true,
    url: spec.sinkUrl,
    maxConnections: settings.smtpPoolSize,
    maxMessages: Infinity,
    disableFileAccess: true,
    disableUrlAccess: true,
    logger: false,
  });
  const compile = (source: string, escape: boolean) =>
    Handlebars.compile(source, { strict: true, noEscape: !escape });
  const emailTemplates = spec.email ?? TEMPLATES.email;
  const email = {
    subject: compile(emailTemplates.subject, false),
    html: compile(emailTemplates.html, true),
    text: compile(emailTemplates.text, false),
  };
  const inapp = {
    title: compile(TEMPLATES.inapp.title, false),
    body: compile(TEMPLATES.inapp.body, false),
  };
  type Payload = { userId: string; data: Record<string, unknown> };

  const sendEmail: Task = async (payload, helpers) => {
    const { userId, data } = payload as Payload;
    const { rows } = await helpers.query<{ email: string }>(
      `SELECT email FROM ${schema}.users WHERE id = $1`,
      [userId],
    );
    const to = rows[0]?.email;
    if (!to) return; // erased meanwhile: nothing to send
    const context = { ...data, recipient: { id: userId, email: to } };
    await transport.sendMail({
      from: EMAIL_FROM,
      to,
      subject: email.subject(context),
      html: email.html(context),
      text: email.text(context),
    });
  };

  const sendInapp: Task = async (payload, helpers) => {
    const { userId, data } = payload as Payload;
    const context = { ...data, recipient: { id: userId } };
    await helpers.query(`INSERT INTO ${schema}.inbox (user_id, title, body) VALUES ($1, $2, $3)`, [
      userId,
      inapp.title(context),
      inapp.body(context),
    ]);
  };

  let runner: Runner | null = null;
  return Promise.resolve({
    async start() {
      runner = await run({
        connectionString: DATABASE_URL,
        schema: workerSchema(schema),
        logger,
        concurrency: settings.concurrency,
        // The queue benchmark's tuned pool is concurrency + 2; capped so that two worker
        // processes stay under PostgreSQL's default max_connections of 100.
        maxPoolSize: Math.min(settings.concurrency + 2, 30),
        noHandleSignals: true,
        taskList: { [TASK.email]: sendEmail, [TASK.inapp]: sendInapp },
        parsedCronItems: [],
        preset: {
          worker: {
            localQueue: { size: settings.prefetch },
            completeJobBatchDelay: 0,
            failJobBatchDelay: 0,
          },
        },
      });
    },
    async stop() {
      if (runner) await runner.stop();
      runner = null;
      transport.close();
    },
  });
}

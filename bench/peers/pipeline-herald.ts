/**
 * Herald in the pipeline benchmark: `herald.send()` (or POST /v1/notifications) as the trigger,
 * `herald.worker({ handlers: builtinHandlers(herald) })` as the worker, the SMTP provider
 * pointed at the sink, `logLevel: 'warn'`, everything else as shipped (pool of 10).
 *
 * Recipients are written with one INSERT ... SELECT from generate_series (setup, not timed),
 * since `recipients.upsert` takes one at a time.
 */
import { createHerald, type Herald } from '../../src/index.js';
import { builtinHandlers } from '../../src/handlers.js';
import { makeApp } from '../../src/http/app.js';
import { DATABASE_URL, dropSchema } from '../env.js';
import {
  EMAIL_FROM,
  TEMPLATES,
  TRIGGER_DATA,
  TYPE_NAME,
  type BenchChannel,
  type PipelineSystem,
  type PreparedWorker,
  type SinkView,
  type WorkerSpec,
} from './pipeline.js';

/**
 * Whether deliveries keep their content (HERALD_KEEP_CONTENT, default on as in Herald): the
 * environment reaches the forked worker processes too, so a run can measure what it costs.
 */
const KEEP_CONTENT = process.env.HERALD_KEEP_CONTENT !== 'false';

export const HERALD_SCHEMA = 'bench_pipeline_herald';

export class HeraldPipeline implements PipelineSystem {
  readonly name = 'herald';
  readonly schema = HERALD_SCHEMA;
  private herald: Herald | null = null;
  private app: ReturnType<typeof makeApp> | null = null;
  private apiKey = '';

  get h(): Herald {
    if (!this.herald) throw new Error('herald: setup() first');
    return this.herald;
  }

  async setup(recipients: number, sink: SinkView | null): Promise<void> {
    await this.teardown();
    await dropSchema(this.schema);
    const herald = await createHerald({
      databaseUrl: DATABASE_URL,
      schema: this.schema,
      logLevel: 'warn',
      ...(sink ? { smtpUrl: sink.url } : {}),
      emailFrom: EMAIL_FROM,
      delivery: { keepContent: KEEP_CONTENT },
    });
    this.herald = herald;
    await herald.types.put(TYPE_NAME, {
      channels: ['email', 'inapp'],
      templates: TEMPLATES,
    });
    await herald.db.query(
      `INSERT INTO ${this.schema}.recipients (id, email)
       SELECT 'user-' || lpad(i::text, 6, '0'), 'user-' || lpad(i::text, 6, '0') || '@example.test'
       FROM generate_series(0, $1::int - 1) AS i`,
      [recipients],
    );
    await herald.db.query(`ANALYZE ${this.schema}.recipients`);
    this.app = makeApp(herald);
    this.apiKey = (await herald.keys.create({ name: 'bench' })).key;
  }

  async trigger(ids: string[], channels: BenchChannel[]): Promise<void> {
    await this.h.send({ type: TYPE_NAME, to: ids, channels, data: TRIGGER_DATA });
  }

  /** The trigger through HTTP, as a client sees it: request, 202, the whole answer read. */
  async triggerHttp(ids: string[], channels: BenchChannel[]): Promise<void> {
    if (!this.app) throw new Error('herald: setup() first');
    const res = await this.app.request('/v1/notifications', {
      method: 'POST',
      headers: { authorization: `Bearer ${this.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ type: TYPE_NAME, to: ids, channels, data: TRIGGER_DATA }),
    });
    const text = await res.text();
    if (res.status !== 202) throw new Error(`POST /v1/notifications: ${res.status} ${text}`);
  }

  async progress(channel: BenchChannel): Promise<{ done: number; failed: number }> {
    const { rows } = await this.h.db.query<{ done: number; failed: number }>(
      `SELECT count(*) FILTER (WHERE status = 'sent')::int AS done,
              count(*) FILTER (WHERE status = 'failed')::int AS failed
       FROM ${this.schema}.deliveries WHERE channel = $1 AND status IN ('sent', 'failed')`,
      [channel],
    );
    return rows[0] ?? { done: 0, failed: 0 };
  }

  async teardown(): Promise<void> {
    const herald = this.herald;
    this.herald = null;
    this.app = null;
    if (herald) {
      await herald.close();
      await dropSchema(this.schema);
    }
  }
}

/** A Herald worker process's part: its own createHerald on the schema, and a worker. */
export async function prepareHeraldWorker(spec: WorkerSpec): Promise<PreparedWorker> {
  const herald = await createHerald({
    databaseUrl: DATABASE_URL,
    schema: spec.schema,
    logLevel: 'warn',
    smtpUrl: spec.sinkUrl,
    smtpPoolSize: spec.settings.smtpPoolSize,
    emailFrom: EMAIL_FROM,
    migrate: false,
    delivery: { keepContent: KEEP_CONTENT },
  });
  const worker = herald.worker({
    handlers: builtinHandlers(herald),
    concurrency: spec.settings.concurrency,
    prefetch: spec.settings.prefetch,
    completionDelayMs: spec.settings.completionDelayMs,
  });
  return {
    start: () => worker.start(),
    stop: () => herald.close(),
  };
}

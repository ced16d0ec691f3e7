/**
 * `createHerald`: the library entry point. It opens the database, brings the schema up to
 * date, and hands out the queue and workers. The CLI builds on the same object.
 *
 * ```ts
 * const herald = await createHerald({ databaseUrl: process.env.DATABASE_URL });
 * await herald.queue.enqueue({ kind: 'email', payload: { to: 'a@example.com' } });
 * const worker = herald.worker({ handlers: { email: async (p) => send(p) } });
 * await worker.start();
 * ```
 */
import type { Db } from './db/db.js';
import { appliedVersion, knownMigrations, migrate } from './db/migrate.js';
import { openDb } from './db/open.js';
import { HeraldError } from './errors.js';
import { parseConfig, type HeraldConfig, type HeraldConfigInput } from './config.js';
import { makeLogger, type Logger } from './obs/log.js';
import { makeQueue, type Queue } from './queue/queue.js';
import { makeWorker, type Worker, type WorkerOptions } from './queue/worker.js';
import { makeMetrics, type Metrics } from './obs/metrics.js';
import { makeKeys, type Keys } from './notify/keys.js';
import { makeRecipients, type Recipients } from './notify/recipients.js';
import { makeTypes, type Types } from './notify/types.js';
import { makePreferences, type PreferencesStore } from './notify/preferences.js';
import { makeDevices, type Devices } from './notify/devices.js';

export interface CreateHeraldOptions extends HeraldConfigInput {
  /** A resolved configuration (the CLI passes one); other options are ignored when given. */
  config?: HeraldConfig;
  logger?: Logger;
  /** Apply pending migrations (default true). When false, a schema that is behind is an error. */
  migrate?: boolean;
}

export interface Herald {
  readonly config: HeraldConfig;
  readonly db: Db;
  readonly log: Logger;
  readonly queue: Queue;
  /** Prometheus metrics of this process (served at GET /metrics). */
  readonly metrics: Metrics;
  /** Server API keys (stored hashed) and the ones from the environment. */
  readonly keys: Keys;
  readonly recipients: Recipients;
  readonly types: Types;
  readonly preferences: PreferencesStore;
  readonly devices: Devices;
  /** A worker pool with the configured defaults; options given here win. Call `start()` on it. */
  worker(options: WorkerOptions): Worker;
  /** Stops the workers made here (gracefully) and closes the database. */
  close(): Promise<void>;
}

export async function createHerald(options: CreateHeraldOptions = {}): Promise<Herald> {
  const { config: given, logger, migrate: doMigrate = true, ...settings } = options;
  const config = given ?? parseConfig(settings);
  const log = logger ?? makeLogger(config.logLevel);
  const db = await openDb({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    poolSize: config.poolSize,
    queryTimeoutMs: config.queryTimeoutMs,
    listenCheckMs: config.listenCheckMs,
    log,
  });
  try {
    if (doMigrate) {
      const { applied } = await migrate(db, config.schema);
      if (applied.length > 0)
        log.info({ applied: applied.map((m) => `${m.id}_${m.name}`) }, 'db:migrated');
    } else {
      const latest = knownMigrations().at(-1)?.id ?? 0;
      const version = await appliedVersion(db, config.schema);
      if (version < latest) {
        throw new HeraldError(
          'config_invalid',
          `the database schema is at migration ${version} of ${latest}: run \`herald migrate\``,
        );
      }
    }
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }

  const queue = makeQueue(db, { schema: config.schema, maxPayloadBytes: config.maxPayloadBytes });
  const workers = new Set<Worker>();
  const metrics = makeMetrics(queue);

  return {
    config,
    db,
    log,
    queue,
    metrics,
    keys: makeKeys(db, config.schema, { api: config.apiKey, admin: config.adminKey }),
    recipients: makeRecipients(db, config.schema),
    types: makeTypes(db, config.schema),
    preferences: makePreferences(db, config.schema),
    devices: makeDevices(db, config.schema),
    worker(workerOptions) {
      const w = config.worker;
      const worker = makeWorker(
        { db, queue, log },
        {
          concurrency: w.concurrency,
          ...(w.prefetch !== undefined ? { prefetch: w.prefetch } : {}),
          leaseMs: w.leaseMs,
          pollIntervalMs: w.pollIntervalMs,
          jobTimeoutMs: w.jobTimeoutMs,
          shutdownGraceMs: w.shutdownGraceMs,
          backoff: config.backoff,
          ...workerOptions,
        },
      );
      workers.add(worker);
      metrics.watch(worker, workerOptions.queue ?? 'default');
      return worker;
    },
    async close() {
      await Promise.all([...workers].map((w) => w.stop()));
      await db.close();
    },
  };
}

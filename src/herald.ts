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
import { resolve } from 'node:path';
import type { Db } from './db/db.js';
import { appliedVersion, inboxChannel, knownMigrations, migrate } from './db/migrate.js';
import { openDb } from './db/open.js';
import { serverOf } from './db/pg.js';
import { HeraldError } from './errors.js';
import { parseConfig, type HeraldConfig, type HeraldConfigInput } from './config.js';
import { makeLogger, type Logger } from './obs/log.js';
import { makeQueue, type Queue } from './queue/queue.js';
import { makeWorker, type Worker, type WorkerOptions } from './queue/worker.js';
import { makePresence, type Presence } from './queue/presence.js';
import { makeMetrics, type Metrics } from './obs/metrics.js';
import { makeDeadLetters, type DeadLetters } from './queue/dead-letters.js';
import { makePauses, type Pauses } from './queue/pauses.js';
import { makeKeys, type Keys } from './notify/keys.js';
import { makeRecipients, type Recipients } from './notify/recipients.js';
import { makeTypes, type Types } from './notify/types.js';
import { makePreferences, type PreferencesStore } from './notify/preferences.js';
import { makeDevices, type Devices } from './notify/devices.js';
import { makeProviders, type Providers } from './channels/registry.js';
import type { Provider } from './channels/provider.js';
import type { DeviceSender } from './channels/push/fanout.js';
import { configuredPushSenders } from './channels/push/index.js';
import { quoteIdent } from './db/sql.js';
import { makeUnsubscribe, type Unsubscribe } from './notify/unsubscribe.js';
import { makeSend, type SendOptions, type SendResult } from './notify/send.js';
import { makeNotifications, type Notifications } from './notify/notifications.js';
import { makeInbox, type Inbox } from './notify/inbox.js';
import { makeInboxChanges } from './notify/inbox-changes.js';
import { makeHub, type Hub } from './realtime/hub.js';
import { makeDeliveries, type Deliveries } from './notify/deliveries.js';
import { makeSuppressions, type Suppressions } from './notify/suppressions.js';
import { recipientIdSchema } from './notify/recipients.js';
import { checked } from './validation.js';
import { makeTemplateParts, type TemplateParts } from './notify/template-parts.js';
import { makeReminders, type Reminders } from './scheduler/reminders.js';
import { makeCronSchedules, type CronSchedules } from './scheduler/cron-schedules.js';
import { makeLocalSchedules, RECIPES, type LocalSchedules } from './scheduler/local-schedules.js';
import { makeScheduler, type Scheduler } from './scheduler/scheduler.js';

export interface CreateHeraldOptions extends HeraldConfigInput {
  /** A resolved configuration (the CLI passes one); other options are ignored when given. */
  config?: HeraldConfig;
  logger?: Logger;
  /** Apply pending migrations (default true). When false, a schema that is behind is an error. */
  migrate?: boolean;
  /** Providers of your own (one per channel); they replace the configured ones. */
  providers?: Provider[];
  /** Push senders of your own (one per device kind), added to the configured ones. */
  pushSenders?: DeviceSender[];
  /**
   * Told each step of opening the database as it begins (the CLI shows them: a first start
   * on the embedded database migrates for many seconds). The same steps are logged.
   */
  onStartup?: (step: StartupStep) => void;
  /**
   * With `dataDir: ':memory:'`: start the embedded database from this dump of a data folder
   * (PGlite's `dumpDataDir()`, e.g. of a database migrated once) rather than from nothing, as
   * a test suite that opens many throw-away databases does. Migrations still run: a dump of
   * an older schema is brought up to date.
   */
  pgliteLoadDataDir?: Blob;
}

/** What createHerald is doing while it opens: `where` never holds a password. */
export type StartupStep =
  | { step: 'opening'; database: 'pglite' | 'postgres'; where: string }
  | { step: 'migrating'; from: number; to: number; steps: number };

export interface Herald {
  readonly config: HeraldConfig;
  readonly db: Db;
  readonly log: Logger;
  readonly queue: Queue;
  /** Dead jobs by filter (kind, error text): list, replay or discard all that match. */
  readonly deadLetters: DeadLetters;
  /** Job kinds paused by an operator: claims skip them until resumed. */
  readonly pauses: Pauses;
  /** Prometheus metrics of this process (served at GET /metrics). */
  readonly metrics: Metrics;
  /** Server API keys (stored hashed) and the ones from the environment. */
  readonly keys: Keys;
  readonly recipients: Recipients;
  readonly types: Types;
  readonly preferences: PreferencesStore;
  readonly devices: Devices;
  /** The providers of this process by channel (email: SMTP or the preview outbox). */
  readonly providers: Providers;
  readonly unsubscribe: Unsubscribe;
  /** Sent notifications: read one with its deliveries, cancel, erase a recipient's data. */
  readonly notifications: Notifications;
  readonly inbox: Inbox;
  /**
   * The real-time inbox of this process: `changed` wakes every process's connections of those
   * recipients; the WebSocket and SSE routes attach connections (serveHerald starts it).
   */
  readonly realtime: Hub;
  /** Operator actions on deliveries: list by status, retry, cancel. */
  readonly deliveries: Deliveries;
  /** Addresses never sent to again (bounces, complaints, operator blocks). */
  readonly suppressions: Suppressions;
  /**
   * Triggers a notification (the body of POST /v1/notifications). With `{ tx }` it is written
   * inside your own transaction and exists only if that commits.
   */
  send(input: unknown, options?: SendOptions): Promise<SendResult>;
  /** Layouts and partials; `current()` hands them to render (cached, about 1 s stale at most). */
  readonly templateParts: TemplateParts;
  /**
   * Event-relative reminders (the body of PUT /v1/reminders/{key}): `put` plans one job per
   * recipient × offset, and moves them when the due time changes; `get`; `remove` cancels what
   * is not sent. Each takes `{ tx }` to run inside your own transaction.
   */
  readonly reminders: Reminders;
  /** Cron schedules: define, list, run now; `fireDue` is what the scheduler calls. */
  readonly schedules: CronSchedules;
  /** Recipients' local-time schedules (from their preferences): list, preview. */
  readonly localSchedules: LocalSchedules;
  /**
   * Which processes run which roles (the `workers` table): `record` the roles of this process
   * (`herald start` does), `list` them all (`herald status`).
   */
  readonly presence: Presence;
  /** The scheduler loop with the configured interval. Call `start()` on it. */
  scheduler(options?: { intervalMs?: number }): Scheduler;
  /** A worker pool with the configured defaults; options given here win. Call `start()` on it. */
  worker(options: WorkerOptions): Worker;
  /** Stops the workers made here (gracefully) and closes the database. */
  close(): Promise<void>;
}

/** Which database a configuration opens, without its password. */
export function openingStep(
  config: Pick<HeraldConfig, 'databaseUrl' | 'dataDir'>,
): StartupStep & { step: 'opening' } {
  return {
    step: 'opening',
    database: config.databaseUrl ? 'postgres' : 'pglite',
    where: config.databaseUrl
      ? serverOf(config.databaseUrl)
      : config.dataDir === ':memory:'
        ? '(in memory)'
        : resolve(config.dataDir),
  };
}

export async function createHerald(options: CreateHeraldOptions = {}): Promise<Herald> {
  const {
    config: given,
    logger,
    migrate: doMigrate = true,
    providers: ownProviders,
    pushSenders = [],
    onStartup,
    pgliteLoadDataDir,
    ...settings
  } = options;
  const config = given ?? parseConfig(settings);
  const log = logger ?? makeLogger(config.logLevel);
  // The providers are built (and their settings checked) before the database is opened, so a
  // typo in a provider setting fails here and never migrates a database first.
  const providers = makeProviders(config, log, ownProviders, {
    // Your own senders last: they replace a configured one of the same kind.
    senders: [...configuredPushSenders(config, log), ...pushSenders],
    async disableDevices(ids) {
      await db.query(
        `UPDATE ${quoteIdent(config.schema)}.devices SET active = false, updated_at = now()
         WHERE id = ANY($1::bigint[])`,
        [ids],
      );
    },
  });
  const opening = openingStep(config);
  log.info({ database: opening.database, where: opening.where }, 'db:opening');
  onStartup?.(opening);
  const db = await openDb({
    databaseUrl: config.databaseUrl,
    directDatabaseUrl: config.directDatabaseUrl,
    dataDir: config.dataDir,
    pgliteLoadDataDir,
    pgliteSeed: config.pgliteSeed,
    poolSize: config.poolSize,
    poolMin: config.poolMin,
    preparedStatements: config.preparedStatements,
    queryTimeoutMs: config.queryTimeoutMs,
    listenCheckMs: config.listenCheckMs,
    log,
  }).catch(async (err: unknown) => {
    await providers.close().catch(() => undefined);
    throw err;
  });
  try {
    if (doMigrate) {
      const from = await appliedVersion(db, config.schema);
      const pending = knownMigrations().filter((m) => m.id > from);
      if (pending.length > 0) {
        const to = pending.at(-1)?.id ?? from;
        log.info({ from, to, steps: pending.length }, 'db:migrating');
        onStartup?.({ step: 'migrating', from, to, steps: pending.length });
      }
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
    await providers.close().catch(() => undefined);
    await db.close().catch(() => undefined);
    throw err;
  }

  const queue = makeQueue(db, { schema: config.schema, maxPayloadBytes: config.maxPayloadBytes });
  const workers = new Set<Worker>();
  const recipients = makeRecipients(db, config.schema);
  const schedules = makeCronSchedules(db, config.schema, queue);
  const localSchedules = makeLocalSchedules(db, config.schema, queue, {
    definitions: { ...RECIPES, ...config.localSchedules },
    batchSize: config.scheduler.batchSize,
  });
  const pauses = makePauses(db, config.schema);
  const metrics = makeMetrics(queue, {
    pausedKinds: () => pauses.list(),
    scheduleLag: async () => ({
      cron: await schedules.dueLagSeconds(),
      local: await localSchedules.dueLagSeconds(),
    }),
  });
  const schedulers = new Set<Scheduler>();
  const presence = makePresence(db, queue.sql, log);
  const recordings = new Set<{ stop(): Promise<void> }>();
  const types = makeTypes(db, config.schema);
  const notifications = makeNotifications(db, config.schema, queue);
  const templateParts = makeTemplateParts(db, config.schema);
  const realtime = makeHub({
    db,
    changes: makeInboxChanges(db, config.schema),
    channel: inboxChannel(config.schema),
    log,
    pollIntervalMs: config.realtime.pollIntervalMs,
    sendBufferBytes: config.realtime.sendBufferBytes,
  });
  metrics.watchRealtime(() => realtime.stats());
  const sender = makeSend({
    db,
    schema: config.schema,
    queue,
    types,
    recipients,
    hasProvider: (channel) => providers.has(channel),
    deliveryMaxAttempts: config.delivery.maxAttempts,
    metrics,
    templateParts,
  });

  return {
    config,
    db,
    log,
    queue,
    deadLetters: makeDeadLetters(db, config.schema),
    pauses,
    metrics,
    keys: makeKeys(db, config.schema, {
      api: config.apiKey,
      admin: config.adminKey,
      adminReadOnly: config.adminReadOnlyKey,
    }),
    recipients: {
      ...recipients,
      // A new zone moves the recipient's local-time schedules.
      async upsert(id, input, q) {
        const result = await recipients.upsert(id, input, q);
        if (input && typeof input === 'object' && 'timezone' in input)
          await localSchedules.syncRecipient(q ?? db, result.recipient.id);
        return result;
      },
      // The same for many: the ones given a zone move their local-time schedules.
      async upsertMany(items, q) {
        const results = await recipients.upsertMany(items, q);
        const zoned = items.filter((i) => i.input.timezone !== undefined).map((i) => i.id);
        await localSchedules.syncRecipients(q ?? db, [...new Set(zoned)]);
        return results;
      },
      // Erasing reaches into the notifications and deliveries too.
      erase: (id: string) => notifications.eraseRecipient(checked(recipientIdSchema, id, 'id')),
    },
    types,
    preferences: makePreferences(db, config.schema, {
      checkSchedules: (names) => localSchedules.check(names),
      stored: (tx, id) => localSchedules.syncRecipient(tx, id),
    }),
    devices: makeDevices(db, config.schema),
    providers,
    unsubscribe: makeUnsubscribe(db, config.schema, {
      secret: config.unsubscribeSecret,
      ttlDays: config.unsubscribeTtlDays,
      baseUrl: (config.publicUrl ?? `http://localhost:${config.port}`).replace(/\/$/, ''),
    }),
    notifications,
    inbox: makeInbox(db, config.schema, { changed: realtime.changed }),
    realtime,
    deliveries: makeDeliveries(db, config.schema, queue, config.delivery.maxAttempts),
    suppressions: makeSuppressions(db, config.schema),
    send: (input, sendOptions) => sender.send(input, sendOptions),
    templateParts,
    reminders: makeReminders({
      db,
      schema: config.schema,
      queue,
      types,
      maxAttempts: config.delivery.maxAttempts,
    }),
    schedules,
    localSchedules,
    presence: {
      ...presence,
      async record(roles) {
        const recorded = await presence.record(roles);
        recordings.add(recorded);
        return recorded;
      },
    },
    scheduler(schedulerOptions = {}) {
      const scheduler = makeScheduler({
        cron: schedules,
        local: localSchedules,
        log,
        intervalMs: schedulerOptions.intervalMs ?? config.scheduler.intervalMs,
        ticked: () => metrics.schedulerTicked(),
        retention: {
          everyMs: config.retention.intervalMinutes * 60_000,
          async enqueue() {
            await queue.enqueue({ kind: 'retention', key: 'retention', maxAttempts: 3 });
          },
        },
      });
      schedulers.add(scheduler);
      return scheduler;
    },
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
      metrics.watch(worker, workerOptions.queue ?? 'default', Object.keys(workerOptions.handlers));
      return worker;
    },
    async close() {
      await Promise.all([...schedulers].map((sc) => sc.stop()));
      await Promise.all([...workers].map((w) => w.stop()));
      await Promise.all([...recordings].map((r) => r.stop()));
      await realtime.close();
      await providers.close();
      await db.close();
    },
  };
}

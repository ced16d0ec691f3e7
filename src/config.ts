/**
 * Herald's configuration has one resolved shape, built from (later wins): defaults, the
 * config file, environment variables, command-line flags. It is validated once at start; a
 * bad setting fails fast with the setting's name and what to do.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { secretList, whsecProblem } from './channels/webhook/signature.js';
import { HeraldError } from './errors.js';
import { allowEntryProblem } from './net/allow.js';

// Numbers may arrive as strings (environment, flags): coerced, then checked.
const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number().int().min(min).max(max);

// Lists may arrive as one comma-separated string (environment): split, trimmed, empties dropped.
const commaList = (value: unknown) =>
  typeof value === 'string'
    ? value
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean)
    : value;

// On/off settings may arrive as strings too: true/false, 1/0, on/off, yes/no.
const flag = () =>
  z.preprocess((value) => {
    if (typeof value !== 'string') return value;
    const v = value.trim().toLowerCase();
    if (['true', '1', 'on', 'yes'].includes(v)) return true;
    if (['false', '0', 'off', 'no'].includes(v)) return false;
    return value;
  }, z.boolean());

/**
 * The environment variable of a setting, declared on the setting itself
 * (`port: int(0, 65_535).default(8710).register(ENV, { env: 'HERALD_PORT' })`): the schema is
 * the one list of settings, and ENV_SETTINGS is read from it.
 */
const ENV = z.registry<{ env: string }>();

export const configSchema = z.object({
  /** A PostgreSQL server; absent: the embedded PGlite database in `dataDir`. */
  databaseUrl: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must start with postgres:// or postgresql://')
    .optional()
    .register(ENV, { env: 'DATABASE_URL' }),
  /**
   * A direct connection to the same PostgreSQL server, for what needs a session of its own
   * (LISTEN, the migration's advisory lock), when `databaseUrl` points at a pooler that hands
   * each transaction to any server connection (PgBouncer in transaction mode). Absent:
   * `databaseUrl` serves both. Setting it also turns `preparedStatements` off unless they are
   * set explicitly.
   */
  directDatabaseUrl: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must start with postgres:// or postgresql://')
    .optional()
    .register(ENV, { env: 'HERALD_DIRECT_DATABASE_URL' }),
  /** Where the embedded database keeps its data. */
  dataDir: z.string().min(1).default('./.herald').register(ENV, { env: 'HERALD_DATA_DIR' }),
  /**
   * A dump of an embedded database (a tar made by PGlite's `dumpDataDir()`) that a new data
   * folder starts from instead of an empty database: creating one costs seconds of CPU, a copy
   * a fraction of that. Read only when the folder has no database yet; migrations still run.
   * Herald's test suite uses it for the `herald` processes it starts (docs/operations.md).
   */
  pgliteSeed: z.string().min(1).optional().register(ENV, { env: 'HERALD_PGLITE_SEED' }),
  /** The PostgreSQL schema of Herald's tables. */
  schema: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'lower-case letters, digits and _')
    .default('herald')
    .register(ENV, { env: 'HERALD_SCHEMA' }),
  port: int(0, 65_535).default(8710).register(ENV, { env: 'HERALD_PORT' }),
  host: z.string().min(1).default('127.0.0.1').register(ENV, { env: 'HERALD_HOST' }),
  /** A server API key accepted as well as the stored ones (seeded from the environment). */
  apiKey: z
    .string()
    .min(16, 'use at least 16 characters')
    .optional()
    .register(ENV, { env: 'HERALD_API_KEY' }),
  /** An admin API key accepted as well as the stored ones. */
  adminKey: z
    .string()
    .min(16, 'use at least 16 characters')
    .optional()
    .register(ENV, { env: 'HERALD_ADMIN_KEY' }),
  /** A read-only admin key: the console and GET /v1/admin/..., never a change. */
  adminReadOnlyKey: z
    .string()
    .min(16, 'use at least 16 characters')
    .optional()
    .register(ENV, { env: 'HERALD_ADMIN_READONLY_KEY' }),
  /** The HS256 secret recipient tokens (JWTs) are signed with by the app. */
  jwtSecret: z
    .string()
    .min(32, 'use at least 32 characters')
    .optional()
    .register(ENV, { env: 'HERALD_JWT_SECRET' }),
  /** Instead of (or as well as) the secret: the app's public key (PEM, SPKI) for `jwtAlgorithm`. */
  jwtPublicKey: z
    .string()
    .regex(/-----BEGIN PUBLIC KEY-----/, 'must be a PEM public key (-----BEGIN PUBLIC KEY-----)')
    .optional()
    .register(ENV, { env: 'HERALD_JWT_PUBLIC_KEY' }),
  /** The algorithm of `jwtPublicKey`. */
  jwtAlgorithm: z
    .enum(['RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384', 'ES512', 'EdDSA'])
    .default('RS256')
    .register(ENV, { env: 'HERALD_JWT_ALGORITHM' }),
  /** APNs: the .p8 token signing key, its PEM text or a path to the file. */
  apnsKey: z.string().min(2).optional().register(ENV, { env: 'HERALD_APNS_KEY' }),
  /** APNs: the key's id (10 characters, Apple Developer → Keys). */
  apnsKeyId: z
    .string()
    .regex(/^[A-Z0-9]{10}$/, 'must be the 10-character key id')
    .optional()
    .register(ENV, { env: 'HERALD_APNS_KEY_ID' }),
  /** APNs: the team id (10 characters, Apple Developer → Membership). */
  apnsTeamId: z
    .string()
    .regex(/^[A-Z0-9]{10}$/, 'must be the 10-character team id')
    .optional()
    .register(ENV, { env: 'HERALD_APNS_TEAM_ID' }),
  /** APNs: the app's bundle id (apns-topic). */
  apnsTopic: z.string().min(1).optional().register(ENV, { env: 'HERALD_APNS_TOPIC' }),
  /** APNs endpoint: `sandbox`, or a URL. Default production (https://api.push.apple.com). */
  apnsUrl: z
    .union([z.literal('sandbox'), z.url({ protocol: /^https$/ })])
    .optional()
    .register(ENV, { env: 'HERALD_APNS_URL' }),
  /** FCM: the service account key (its JSON text, or a path to the file). */
  fcmServiceAccount: z
    .string()
    .min(2)
    .optional()
    .register(ENV, { env: 'HERALD_FCM_SERVICE_ACCOUNT' }),
  /** FCM's base URL (tests, gateways). Default https://fcm.googleapis.com. */
  fcmUrl: z
    .url({ protocol: /^https?$/ })
    .optional()
    .register(ENV, { env: 'HERALD_FCM_URL' }),
  /** Or a JWKS URL (an identity provider's keys, fetched and cached; `kid` picks the key). */
  jwksUrl: z
    .url({ protocol: /^https?$/ })
    .optional()
    .register(ENV, { env: 'HERALD_JWKS_URL' }),
  /**
   * The `aud` every recipient token must carry (a token meant for another app of the same
   * identity provider is refused). Required with `jwksUrl`.
   */
  jwtAudience: z.string().min(1).optional().register(ENV, { env: 'HERALD_JWT_AUDIENCE' }),
  /** The `iss` every recipient token must carry (the identity provider). Required with `jwksUrl`. */
  jwtIssuer: z.string().min(1).optional().register(ENV, { env: 'HERALD_JWT_ISSUER' }),
  /**
   * The longest a recipient token may live, in seconds: `exp - iat` (or, without `iat`, `exp`
   * from now) above this is refused, so a leaked token cannot open an inbox for months.
   * Default one day.
   */
  jwtMaxLifetime: int(60, 31_536_000)
    .default(86_400)
    .register(ENV, { env: 'HERALD_JWT_MAX_LIFETIME' }),
  /**
   * The folder of notification types, layouts and partials loaded at start (docs/templates.md).
   * In the config file, relative to the file's folder. Default: `templates/` beside
   * herald.config.json (or in the `--config` folder) when that folder exists; else none.
   */
  templatesDir: z.string().min(1).optional().register(ENV, { env: 'HERALD_TEMPLATES_DIR' }),
  /**
   * Where recipients reach this server from outside (unsubscribe links are built on it).
   * Default `http://localhost:<port>`.
   */
  publicUrl: z
    .url({ protocol: /^https?$/ })
    .optional()
    .register(ENV, { env: 'HERALD_PUBLIC_URL' }),
  /** Signs unsubscribe links. Default: a random secret Herald makes once and keeps in the database. */
  unsubscribeSecret: z
    .string()
    .min(32, 'use at least 32 characters')
    .optional()
    .register(ENV, { env: 'HERALD_UNSUBSCRIBE_SECRET' }),
  /**
   * How long an unsubscribe link works, in days after the email was made. Default 90: long
   * enough for an old newsletter in an inbox, and well past the 30 days US CAN-SPAM requires a
   * link to keep working; at least 30.
   */
  unsubscribeTtlDays: int(30, 3_650)
    .default(90)
    .register(ENV, { env: 'HERALD_UNSUBSCRIBE_TTL_DAYS' }),
  /**
   * The master secret webhook signing keys are derived from, one key per destination URL
   * (Standard Webhooks format; docs/channels.md#webhook). Space-separated while an old one is
   * rotated out (the first signs as current, every one signs). Without it the webhook channel
   * has no provider: its deliveries are skipped with `no_provider`.
   */
  webhookSecret: z
    .string()
    .refine(
      (v) => secretList(v).length > 0 && secretList(v).every((s) => s.length >= 32),
      'use at least 32 characters (space-separated secrets: each)',
    )
    .optional()
    .register(ENV, { env: 'HERALD_WEBHOOK_SECRET' }),
  /**
   * Signs data-hook calls (`whsec_<base64>`, Standard Webhooks format; docs/recipes.md), and
   * nothing else. Required when a data hook is configured. Space-separated while an old one is
   * rotated out.
   */
  dataHookSecret: z
    .string()
    .superRefine((v, ctx) => {
      const list = secretList(v);
      if (list.length === 0) ctx.addIssue({ code: 'custom', message: whsecProblem('') ?? '' });
      for (const s of list) {
        const problem = whsecProblem(s);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }
    })
    .optional()
    .register(ENV, { env: 'HERALD_DATA_HOOK_SECRET' }),
  delivery: z
    .object({
      /** Attempts per delivery before it is `failed` (transient errors are retried with backoff). */
      maxAttempts: int(1, 100).default(8).register(ENV, { env: 'HERALD_DELIVERY_MAX_ATTEMPTS' }),
      /** Failed attempts of the primary provider after which a channel's `fallback` takes over. */
      failoverAfter: int(1, 100).default(2).register(ENV, { env: 'HERALD_FAILOVER_AFTER' }),
      /**
       * Keep each sent message's rendered content (subject, text, HTML, push title and body)
       * on its delivery, for the console's timeline. Personal data: erased with the recipient.
       */
      keepContent: flag().default(true).register(ENV, { env: 'HERALD_KEEP_CONTENT' }),
    })
    .prefault({}),
  /**
   * How long records are kept (scheduler/retention.ts, docs/scaling.md#retention); 0 keeps
   * that kind forever. The `retention` job runs every `intervalMinutes`.
   */
  retention: z
    .object({
      notificationsDays: int(0, 36_500)
        .default(90)
        .register(ENV, { env: 'HERALD_RETENTION_NOTIFICATIONS_DAYS' }),
      inboxChangesDays: int(0, 36_500)
        .default(30)
        .register(ENV, { env: 'HERALD_RETENTION_INBOX_CHANGES_DAYS' }),
      jobRunsDays: int(0, 36_500)
        .default(30)
        .register(ENV, { env: 'HERALD_RETENTION_JOB_RUNS_DAYS' }),
      deadJobsDays: int(0, 36_500)
        .default(30)
        .register(ENV, { env: 'HERALD_RETENTION_DEAD_JOBS_DAYS' }),
      batchSize: int(10, 100_000)
        .default(1_000)
        .register(ENV, { env: 'HERALD_RETENTION_BATCH_SIZE' }),
      intervalMinutes: int(1, 10_080)
        .default(10)
        .register(ENV, { env: 'HERALD_RETENTION_INTERVAL_MINUTES' }),
    })
    .prefault({}),
  /**
   * Send-rate limits per provider, in sends per second, held across all workers on all
   * machines (channels/rate-limit.ts): `{"twilio": 50, "ses": 14}`. In the environment:
   * `twilio=50,ses=14`.
   */
  rateLimits: z
    .preprocess(
      (v) => (typeof v === 'string' ? parseRateLimits(v) : v),
      z.record(
        z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'a provider name such as twilio'),
        z.coerce.number().positive().max(100_000),
      ),
    )
    .default({})
    .register(ENV, { env: 'HERALD_RATE_LIMITS' }),
  /**
   * The provider a channel falls back to after `delivery.failoverAfter` failed attempts of its
   * primary, e.g. `{"email": "smtp"}`; a type's own `fallback` wins. The fallback must be
   * configured too.
   */
  fallback: z
    .object({
      email: z.string().min(1).optional().register(ENV, { env: 'HERALD_EMAIL_FALLBACK' }),
      sms: z.string().min(1).optional().register(ENV, { env: 'HERALD_SMS_FALLBACK' }),
      whatsapp: z.string().min(1).optional().register(ENV, { env: 'HERALD_WHATSAPP_FALLBACK' }),
    })
    .prefault({}),
  /**
   * Cron schedules declared here (docs/scheduler.md): `{"nightly": {"cron": "0 2 * * *",
   * "timezone": "Europe/Berlin", "task": "notify", "payload": {...}}}`. Replaced at each start;
   * schedules made through the admin API are left alone.
   */
  schedules: z.record(z.string(), z.unknown()).default({}),
  /**
   * Local-time schedules recipients can set in their preferences, beside the built-in recipes
   * (daily_briefing, weekly_summary, achievement_nudge): `{"standup": {"type": "standup"}}`.
   */
  localSchedules: z
    .record(
      z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,99}$/, 'lower-case letters, digits, _ . -'),
      z.strictObject({
        type: z.string().min(1).optional(),
        defaultDay: z
          .enum(['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'])
          .optional(),
        hookUrl: z.url({ protocol: /^https?$/ }).optional(),
      }),
    )
    .default({}),
  /** The app's data hook for local-time schedules (service use): POSTed each due batch. */
  dataHookUrl: z
    .url({ protocol: /^https?$/ })
    .optional()
    .register(ENV, { env: 'HERALD_DATA_HOOK_URL' }),
  /**
   * What outbound requests to user-supplied URLs (Web Push, webhook, Slack, data hook, JWKS)
   * may reach although it is not public: CIDRs (`10.20.0.0/16`, `127.0.0.1/32`), addresses and
   * host names; in the environment comma-separated. Default none: loopback, private,
   * link-local and metadata addresses are refused (src/net/egress.ts).
   */
  egressAllow: z
    .preprocess(
      commaList,
      z.array(
        z.string().superRefine((entry, ctx) => {
          const problem = allowEntryProblem(entry);
          if (problem) ctx.addIssue({ code: 'custom', message: problem });
        }),
      ),
    )
    .default([])
    .register(ENV, { env: 'HERALD_EGRESS_ALLOW' }),
  /**
   * Web origins whose pages may call the recipient API (`/v1/me/...`) from the browser (CORS),
   * e.g. `https://app.example.com`; in the environment comma-separated. Default none: a page
   * reaches it from its own origin (or through the app's proxy). The WebSocket and the client
   * scripts need no CORS.
   */
  corsOrigins: z
    .preprocess(
      commaList,
      z.array(
        z
          .string()
          .regex(
            /^https?:\/\/[^/\s,]+$/,
            'must be an origin: scheme and host (and port), like https://app.example.com',
          ),
      ),
    )
    .default([])
    .register(ENV, { env: 'HERALD_CORS_ORIGINS' }),
  /** The recipient told when a schedule fails three runs in a row. */
  opsRecipient: z
    .string()
    .min(1)
    .max(255)
    .optional()
    .register(ENV, { env: 'HERALD_OPS_RECIPIENT' }),
  scheduler: z
    .object({
      /** The longest sleep between scheduler rounds. */
      intervalMs: int(10, 60_000)
        .default(1_000)
        .register(ENV, { env: 'HERALD_SCHEDULER_INTERVAL_MS' }),
      /** Recipients per local-schedule job (and per data-hook call). */
      batchSize: int(1, 5_000).default(500).register(ENV, { env: 'HERALD_SCHEDULER_BATCH_SIZE' }),
    })
    .prefault({}),
  /** The real-time inbox (WS /v1/me/ws, GET /v1/me/events; docs/realtime.md). */
  realtime: z
    .object({
      /** How often each WebSocket is pinged; a peer that has not answered the last ping is closed. */
      pingIntervalMs: int(100, 600_000)
        .default(30_000)
        .register(ENV, { env: 'HERALD_REALTIME_PING_MS' }),
      /** How long a connection without a token has to send `{"type":"auth"}`. */
      authTimeoutMs: int(100, 60_000)
        .default(5_000)
        .register(ENV, { env: 'HERALD_REALTIME_AUTH_TIMEOUT_MS' }),
      /**
       * Bytes queued for one client that has not read them; past this it is closed with 4408
       * (it resumes where it was). Bounds the memory a slow or stalled client can hold.
       */
      sendBufferBytes: int(16 * 1024, 64 * 1024 * 1024)
        .default(1024 * 1024)
        .register(ENV, { env: 'HERALD_REALTIME_SEND_BUFFER_BYTES' }),
      /**
       * The safety net under the NOTIFY wake-ups: each process looks for changes of its
       * connected recipients this often, so a lost wake-up delays an event, never loses it.
       */
      pollIntervalMs: int(50, 600_000)
        .default(5_000)
        .register(ENV, { env: 'HERALD_REALTIME_POLL_MS' }),
    })
    .prefault({}),
  /** Largest HTTP request body, in bytes, on every route (webhooks and admin too). */
  maxBodyBytes: int(1_024)
    .default(1024 * 1024)
    .register(ENV, { env: 'HERALD_MAX_BODY_BYTES' }),
  /**
   * Largest body of `POST /v1/notifications`, in bytes: a trigger may name 100,000 recipients
   * and carry 5 MiB of attachments (about 6.7 MiB as base64). Default 16 MiB; the larger of
   * this and `maxBodyBytes` applies.
   */
  maxTriggerBodyBytes: int(1_024)
    .default(16 * 1024 * 1024)
    .register(ENV, { env: 'HERALD_MAX_TRIGGER_BODY_BYTES' }),
  /**
   * Requests per second each API key may make, sustained (server and admin routes; recipient
   * tokens and provider webhooks are not limited by it). Off by default. Held in each
   * process's memory: N API processes let a key through at up to N times this
   * (src/http/rate-limit.ts).
   */
  apiRateLimit: z.coerce
    .number()
    .positive()
    .max(1_000_000)
    .optional()
    .register(ENV, { env: 'HERALD_API_RATE_LIMIT' }),
  /** Requests a key may make at once after a quiet spell. Default twice `apiRateLimit`. */
  apiRateBurst: int(1, 10_000_000).optional().register(ENV, { env: 'HERALD_API_RATE_BURST' }),
  logLevel: z
    .enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'])
    .default('info')
    .register(ENV, { env: 'HERALD_LOG_LEVEL' }),
  /** Connections in the PostgreSQL pool of one process. */
  poolSize: int(1, 1000).default(10).register(ENV, { env: 'HERALD_POOL_SIZE' }),
  /**
   * PostgreSQL connections opened at start and kept open however idle (at most `poolSize`).
   * Default 2: a worker's claim and completion, or two API requests, find a connection waiting
   * when a burst begins; more are opened under load up to `poolSize`, and closed after a
   * minute idle.
   */
  poolMin: int(1, 1000).default(2).register(ENV, { env: 'HERALD_POOL_MIN' }),
  /**
   * Send the queue's per-job statements as named prepared statements (parsed once per
   * connection). Turn off behind a pooler that does not keep them across transactions
   * (PgBouncer before 1.21 in transaction mode). Unset: on, unless `directDatabaseUrl` is set
   * (a pooler is in front, see db/open.ts).
   */
  preparedStatements: flag().optional().register(ENV, { env: 'HERALD_PREPARED_STATEMENTS' }),
  /** A database call not answered in this time fails and its connection is replaced. */
  queryTimeoutMs: int(100).default(30_000).register(ENV, { env: 'HERALD_QUERY_TIMEOUT_MS' }),
  /** How often the LISTEN connection is checked with a round trip (catches black-holed sockets). */
  listenCheckMs: int(100).default(10_000).register(ENV, { env: 'HERALD_LISTEN_CHECK_MS' }),
  maxPayloadBytes: int(1, 256 * 1024)
    .default(256 * 1024)
    .register(ENV, { env: 'HERALD_MAX_PAYLOAD_BYTES' }),
  /**
   * Web Push (VAPID, RFC 8292) public key: an uncompressed P-256 point, base64url (87
   * characters). With `vapidPrivateKey` and `vapidSubject`, turns on Web Push. Make a pair once
   * with `npx web-push generate-vapid-keys` (docs/providers.md#web-push).
   */
  vapidPublicKey: z
    .string()
    .regex(/^[A-Za-z0-9_-]{87}$/, 'must be a P-256 public key, base64url without padding')
    .optional()
    .register(ENV, { env: 'HERALD_VAPID_PUBLIC_KEY' }),
  /** The VAPID private key: 32 bytes, base64url (43 characters). */
  vapidPrivateKey: z
    .string()
    .regex(/^[A-Za-z0-9_-]{43}$/, 'must be a P-256 private key, base64url without padding')
    .optional()
    .register(ENV, { env: 'HERALD_VAPID_PRIVATE_KEY' }),
  /** Whom push services contact about our pushes: `mailto:ops@example.com` or an https URL. */
  vapidSubject: z
    .string()
    .regex(/^(mailto:|https:\/\/)\S+$/, 'must be a mailto: address or an https: URL')
    .optional()
    .register(ENV, { env: 'HERALD_VAPID_SUBJECT' }),
  /**
   * The SMTP server email goes through, e.g. `smtps://user:pass@smtp.example.com:465`.
   * Absent: emails are written as .eml files to `outboxDir` instead (development).
   */
  smtpUrl: z
    .string()
    .regex(/^smtps?:\/\//, 'must start with smtp:// or smtps://')
    .optional()
    .register(ENV, { env: 'HERALD_SMTP_URL' }),
  /** The From of the emails Herald sends, e.g. `Acme <notifications@acme.example>`. */
  emailFrom: z
    .string()
    .min(3)
    .default('Herald <herald@localhost>')
    .register(ENV, { env: 'HERALD_EMAIL_FROM' }),
  /** Where the outbox writes emails when no SMTP server is set. Default `<dataDir>/outbox`. */
  outboxDir: z.string().min(1).optional().register(ENV, { env: 'HERALD_OUTBOX_DIR' }),
  /** Connections kept open to the SMTP server, per process. */
  smtpPoolSize: int(1, 100).default(10).register(ENV, { env: 'HERALD_SMTP_POOL_SIZE' }),
  /** Resend API key (`re_...`, dashboard: API Keys); turns on Resend for email. */
  resendApiKey: z.string().min(1).optional().register(ENV, { env: 'HERALD_RESEND_API_KEY' }),
  /** Resend's API base URL. Default `https://api.resend.com`. */
  resendUrl: z
    .url({ protocol: /^https?$/ })
    .optional()
    .register(ENV, { env: 'HERALD_RESEND_URL' }),
  /**
   * The signing secret of Resend's webhook endpoint (`whsec_...`); turns on
   * `POST /v1/webhooks/resend` (delivery statuses, bounces and complaints).
   */
  resendWebhookSecret: z
    .string()
    .min(1)
    .optional()
    .register(ENV, { env: 'HERALD_RESEND_WEBHOOK_SECRET' }),
  /** SendGrid API key with Mail Send access (`SG....`); turns on SendGrid for email. */
  sendgridApiKey: z.string().min(1).optional().register(ENV, { env: 'HERALD_SENDGRID_API_KEY' }),
  /** SendGrid's API base URL. Default `https://api.sendgrid.com` (EU: `https://api.eu.sendgrid.com`). */
  sendgridUrl: z
    .url({ protocol: /^https?$/ })
    .optional()
    .register(ENV, { env: 'HERALD_SENDGRID_URL' }),
  /**
   * The Signed Event Webhook's verification key, base64 DER as SendGrid shows it; turns on
   * `POST /v1/webhooks/sendgrid` (delivery statuses, bounces and complaints).
   */
  sendgridWebhookPublicKey: z
    .string()
    .min(1)
    .optional()
    .register(ENV, { env: 'HERALD_SENDGRID_WEBHOOK_PUBLIC_KEY' }),
  /** Postmark Server API token (server: API Tokens); turns on Postmark for email. */
  postmarkServerToken: z
    .string()
    .min(1)
    .optional()
    .register(ENV, { env: 'HERALD_POSTMARK_SERVER_TOKEN' }),
  /** Postmark's API base URL. Default `https://api.postmarkapp.com`. */
  postmarkUrl: z
    .url({ protocol: /^https?$/ })
    .optional()
    .register(ENV, { env: 'HERALD_POSTMARK_URL' }),
  /** The Postmark message stream of transactional email. Default `outbound`. */
  postmarkMessageStream: z
    .string()
    .min(1)
    .optional()
    .register(ENV, { env: 'HERALD_POSTMARK_MESSAGE_STREAM' }),
  /** The Postmark broadcast stream for marketing email (with List-Unsubscribe). Default: the message stream. */
  postmarkBroadcastStream: z
    .string()
    .min(1)
    .optional()
    .register(ENV, { env: 'HERALD_POSTMARK_BROADCAST_STREAM' }),
  /**
   * The basic-auth user and password Postmark's webhook URL carries
   * (`https://user:password@.../v1/webhooks/postmark`); both turn on `POST /v1/webhooks/postmark`.
   */
  postmarkWebhookUser: z
    .string()
    .regex(/^[^:]+$/, 'must not be empty or contain ":"')
    .optional()
    .register(ENV, { env: 'HERALD_POSTMARK_WEBHOOK_USER' }),
  postmarkWebhookPassword: z
    .string()
    .min(16, 'use at least 16 characters')
    .optional()
    .register(ENV, { env: 'HERALD_POSTMARK_WEBHOOK_PASSWORD' }),
  /** The AWS region of Amazon SES, e.g. `eu-west-1`; with the two keys turns on SES for email. */
  sesRegion: z
    .string()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'must be an AWS region such as eu-west-1')
    .optional()
    .register(ENV, { env: 'HERALD_SES_REGION' }),
  /** An IAM access key id allowed `ses:SendEmail` (`AKIA...`). */
  sesAccessKeyId: z.string().min(1).optional().register(ENV, { env: 'HERALD_SES_ACCESS_KEY_ID' }),
  /** The secret access key of `sesAccessKeyId`. */
  sesSecretAccessKey: z
    .string()
    .min(1)
    .optional()
    .register(ENV, { env: 'HERALD_SES_SECRET_ACCESS_KEY' }),
  /** SES's API base URL. Default `https://email.{sesRegion}.amazonaws.com`. */
  sesUrl: z
    .url({ protocol: /^https?$/ })
    .optional()
    .register(ENV, { env: 'HERALD_SES_URL' }),
  /**
   * The SNS topics SES publishes events to (ARNs; in the environment comma-separated); turns
   * on `POST /v1/webhooks/ses`, which takes messages of these topics only.
   */
  sesSnsTopicArns: z
    .preprocess(
      commaList,
      z
        .array(
          z
            .string()
            .regex(
              /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[\w.-]{1,256}$/,
              'must be SNS topic ARNs such as arn:aws:sns:eu-west-1:123456789012:ses-events',
            ),
        )
        .min(1),
    )
    .optional()
    .register(ENV, { env: 'HERALD_SES_SNS_TOPIC_ARNS' }),
  /**
   * The hosts SNS signing certificates and SubscribeURLs may come from, a regular expression
   * on the URL's host name. Default: SNS's own, `^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$`.
   */
  sesSnsCertHost: z
    .string()
    .refine((p) => {
      try {
        new RegExp(p);
        return true;
      } catch {
        return false;
      }
    }, 'must be a regular expression')
    .optional()
    .register(ENV, { env: 'HERALD_SES_SNS_CERT_HOST' }),
  /** Twilio Account SID (`AC...`, console: Account Info); with `twilioFrom` turns on SMS. */
  twilioAccountSid: z
    .string()
    .regex(/^AC[0-9a-fA-F]{32}$/, 'must be AC followed by 32 hex digits')
    .optional()
    .register(ENV, { env: 'HERALD_TWILIO_ACCOUNT_SID' }),
  /** Twilio Auth Token (console: Account Info). */
  twilioAuthToken: z.string().min(1).optional().register(ENV, { env: 'HERALD_TWILIO_AUTH_TOKEN' }),
  /** The SMS sender: a Twilio number (E.164), an alphanumeric id, or a Messaging Service SID. */
  twilioFrom: z.string().min(1).optional().register(ENV, { env: 'HERALD_TWILIO_FROM' }),
  /** The WhatsApp sender on Twilio, E.164 (`whatsapp:` is added); turns on Twilio WhatsApp. */
  twilioWhatsappFrom: z
    .string()
    .min(1)
    .optional()
    .register(ENV, { env: 'HERALD_TWILIO_WHATSAPP_FROM' }),
  /** Twilio's API base URL. Default `https://api.twilio.com`. */
  twilioUrl: z
    .url({ protocol: /^https?$/ })
    .optional()
    .register(ENV, { env: 'HERALD_TWILIO_URL' }),
  /** Vonage API key (API Dashboard, API settings); with `vonageFrom` turns on Vonage SMS. */
  vonageApiKey: z.string().min(1).optional().register(ENV, { env: 'HERALD_VONAGE_API_KEY' }),
  /** Vonage API secret (beside the key in the API Dashboard). */
  vonageApiSecret: z.string().min(1).optional().register(ENV, { env: 'HERALD_VONAGE_API_SECRET' }),
  /** The SMS sender on Vonage: a Vonage virtual number (E.164) or an alphanumeric sender id. */
  vonageFrom: z.string().min(1).optional().register(ENV, { env: 'HERALD_VONAGE_FROM' }),
  /** Vonage's SMS API base URL. Default `https://rest.nexmo.com`. */
  vonageUrl: z
    .url({ protocol: /^https?$/ })
    .optional()
    .register(ENV, { env: 'HERALD_VONAGE_URL' }),
  /** Which SMS provider sends when both are configured: `twilio` or `vonage`. */
  smsProvider: z
    .enum(['twilio', 'vonage'])
    .optional()
    .register(ENV, { env: 'HERALD_SMS_PROVIDER' }),
  /** Which email provider sends when several are configured (or `outbox` to send none). */
  emailProvider: z
    .enum(['smtp', 'resend', 'sendgrid', 'postmark', 'ses', 'outbox'])
    .optional()
    .register(ENV, { env: 'HERALD_EMAIL_PROVIDER' }),
  /** Which WhatsApp provider sends when both are configured: `whatsapp-cloud` or `twilio-whatsapp`. */
  whatsappProvider: z
    .enum(['whatsapp-cloud', 'twilio-whatsapp'])
    .optional()
    .register(ENV, { env: 'HERALD_WHATSAPP_PROVIDER' }),
  /** WhatsApp Cloud API access token (a system user's permanent token); turns on WhatsApp. */
  whatsappToken: z.string().min(1).optional().register(ENV, { env: 'HERALD_WHATSAPP_TOKEN' }),
  /** The WhatsApp Cloud API phone number id (App Dashboard: WhatsApp > API Setup). */
  whatsappPhoneNumberId: z
    .string()
    .regex(/^\d+$/, 'digits only')
    .optional()
    .register(ENV, { env: 'HERALD_WHATSAPP_PHONE_NUMBER_ID' }),
  /** The Graph API base URL. Default `https://graph.facebook.com`. */
  whatsappUrl: z
    .url({ protocol: /^https?$/ })
    .optional()
    .register(ENV, { env: 'HERALD_WHATSAPP_URL' }),
  worker: z
    .object({
      concurrency: int(1, 10_000).default(10).register(ENV, { env: 'HERALD_CONCURRENCY' }),
      prefetch: int(0, 10_000).optional().register(ENV, { env: 'HERALD_PREFETCH' }),
      leaseMs: int(100).default(30_000).register(ENV, { env: 'HERALD_LEASE_MS' }),
      pollIntervalMs: int(10).default(1_000).register(ENV, { env: 'HERALD_POLL_INTERVAL_MS' }),
      jobTimeoutMs: int(1).default(300_000).register(ENV, { env: 'HERALD_JOB_TIMEOUT_MS' }),
      shutdownGraceMs: int(0).default(25_000).register(ENV, { env: 'HERALD_SHUTDOWN_GRACE_MS' }),
    })
    .prefault({}),
  backoff: z
    .object({
      baseMs: int(1).default(1_000).register(ENV, { env: 'HERALD_BACKOFF_BASE_MS' }),
      capMs: int(1).default(3_600_000).register(ENV, { env: 'HERALD_BACKOFF_CAP_MS' }),
    })
    .prefault({}),
});

/**
 * `twilio=50,ses=14` as `{twilio: '50', ses: '14'}` (the schema checks the numbers); a part
 * without `=` is kept as a key with an empty value, which the schema then refuses by name.
 */
function parseRateLimits(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',')) {
    const [name = '', value = ''] = part.split('=').map((x) => x.trim());
    if (name !== '' || value !== '') out[name] = value;
  }
  return out;
}

/** The settings that hold a secret, each for one purpose only (docs/security.md). */
const SECRET_SETTINGS = [
  'apiKey',
  'adminKey',
  'adminReadOnlyKey',
  'jwtSecret',
  'unsubscribeSecret',
  'webhookSecret',
  'dataHookSecret',
  'resendWebhookSecret',
  'postmarkWebhookPassword',
] as const;

/**
 * Each secret has one purpose: the same value in two settings would let whoever holds it for
 * one purpose act in the other (a webhook receiver signing data-hook calls, say), so it is
 * refused. And a data hook is never called unsigned: with a data hook URL, `dataHookSecret`
 * is required.
 */
function checkSecrets(config: Record<string, unknown>, ctx: z.RefinementCtx): void {
  const seen = new Map<string, string>();
  for (const name of SECRET_SETTINGS) {
    const value = config[name];
    if (typeof value !== 'string') continue;
    for (const secret of secretList(value)) {
      const first = seen.get(secret);
      if (first && first !== name)
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: `holds the same secret as ${first}: give each purpose its own secret`,
        });
      else seen.set(secret, name);
    }
  }
  const schedules = (config.localSchedules ?? {}) as Record<string, { hookUrl?: string }>;
  const hooked = config.dataHookUrl || Object.values(schedules).some((sc) => sc.hookUrl);
  if (hooked && !config.dataHookSecret)
    ctx.addIssue({
      code: 'custom',
      path: ['dataHookSecret'],
      message:
        'a data hook is configured: set its own signing secret (echo whsec_$(openssl rand -base64 32))',
    });
}

/**
 * Recipient tokens from an identity provider (a JWKS URL) are checked for their audience and
 * issuer: the provider signs tokens for many apps and many issuers can share a JWKS host, so
 * without both checks any token it signs for anything would open a recipient's inbox.
 */
function checkRecipientTokens(config: Record<string, unknown>, ctx: z.RefinementCtx): void {
  if (config.jwksUrl && (!config.jwtAudience || !config.jwtIssuer))
    ctx.addIssue({
      code: 'custom',
      path: ['jwksUrl'],
      message:
        'a JWKS URL is configured: set HERALD_JWT_AUDIENCE (jwtAudience) and HERALD_JWT_ISSUER (jwtIssuer) to the aud and iss your identity provider puts in recipient tokens',
    });
}

/** A direct connection is the session side of a PostgreSQL server: it needs that server. */
function checkDirectUrl(config: Record<string, unknown>, ctx: z.RefinementCtx): void {
  if (config.directDatabaseUrl && !config.databaseUrl)
    ctx.addIssue({
      code: 'custom',
      path: ['directDatabaseUrl'],
      message:
        'a direct database URL is set without DATABASE_URL: set DATABASE_URL (the pooler) too, or unset HERALD_DIRECT_DATABASE_URL',
    });
}

/** The resolved settings: as the schema reads them, with the defaults that depend on others. */
export type HeraldConfig = Omit<z.infer<typeof configSchema>, 'preparedStatements'> & {
  preparedStatements: boolean;
};
export type HeraldConfigInput = z.input<typeof configSchema>;

/** Environment variables and the settings they set (the README lists them all). */
export const ENV_SETTINGS: Record<string, string> = envSettings(configSchema);

/** Every setting's variable, from the schema: `{HERALD_PORT: 'port', HERALD_LEASE_MS: 'worker.leaseMs', …}`. */
function envSettings(schema: z.ZodObject, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, field] of Object.entries(schema.shape) as [string, z.ZodType][]) {
    const name = ENV.get(field)?.env;
    if (name) out[name] = prefix + key;
    const group = objectIn(field);
    if (group) Object.assign(out, envSettings(group, `${prefix}${key}.`));
  }
  return out;
}

/** The object inside a group of settings (`worker: z.object({...}).prefault({})`). */
function objectIn(field: z.ZodType): z.ZodObject | undefined {
  let node: unknown = field;
  for (let i = 0; i < 5 && node; i++) {
    if (node instanceof z.ZodObject) return node;
    node = (node as { _zod: { def: { innerType?: unknown } } })._zod.def.innerType;
  }
  return undefined;
}

export const CONFIG_FILE = 'herald.config.json';

type Tree = Record<string, unknown>;

function setPath(target: Tree, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    node[part] ??= {};
    node = node[part] as Tree;
  }
  node[parts.at(-1) as string] = value;
}

function merge(base: Tree, over: object): Tree {
  const out: Tree = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    const b = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object'
        ? merge(b as Tree, v as Tree)
        : v;
  }
  return out;
}

/**
 * Reads `herald.config.json` from `configPath` (a folder or the file itself; default the
 * current folder). A missing file is fine; a broken one is an error.
 */
export function readConfigFile(configPath?: string): Tree {
  const base = resolve(configPath ?? '.');
  const file = existsSync(base) && statSync(base).isDirectory() ? join(base, CONFIG_FILE) : base;
  if (!existsSync(file)) {
    if (configPath && !existsSync(base)) {
      throw new HeraldError(
        'config_invalid',
        `config path ${base} does not exist (from --config / HERALD_CONFIG)`,
      );
    }
    return {};
  }
  try {
    const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
      throw new Error('the top level must be an object');
    return parsed as Tree;
  } catch (err) {
    throw new HeraldError('config_invalid', `${file} is not valid: ${(err as Error).message}`);
  }
}

export interface ResolveSources {
  /** Settings from command-line flags (already in config shape). */
  flags?: HeraldConfigInput;
  env?: NodeJS.ProcessEnv;
  /** The config folder or file; default HERALD_CONFIG, then the current folder. */
  configPath?: string;
  /** Skip the config file (library use passes settings directly). */
  noFile?: boolean;
}

/**
 * `templatesDir` in the config file is relative to the file's folder. Absent, it is the config
 * folder's `templates/` when that exists; the config folder is the one `--config` /
 * HERALD_CONFIG names (or holds), or the current folder when it holds herald.config.json.
 */
function withTemplatesDir(fromFile: Tree, configPath: string | undefined): Tree {
  const base = resolve(configPath || '.');
  const folder = existsSync(base) && !statSync(base).isDirectory() ? dirname(base) : base;
  const given = fromFile.templatesDir;
  if (typeof given === 'string' && given !== '')
    return { ...fromFile, templatesDir: resolve(folder, given) };
  if (given !== undefined) return fromFile; // not a string: parseConfig names it
  const candidate = join(folder, 'templates');
  const isConfigFolder = Boolean(configPath) || existsSync(join(folder, CONFIG_FILE));
  return isConfigFolder && existsSync(candidate) && statSync(candidate).isDirectory()
    ? { ...fromFile, templatesDir: candidate }
    : fromFile;
}

export function resolveConfig(sources: ResolveSources = {}): HeraldConfig {
  const env = sources.env ?? process.env;
  const configPath = sources.configPath ?? env.HERALD_CONFIG;
  const fromFile = sources.noFile ? {} : withTemplatesDir(readConfigFile(configPath), configPath);
  const fromEnv: Tree = {};
  for (const [name, path] of Object.entries(ENV_SETTINGS)) {
    const value = env[name];
    if (value !== undefined && value !== '') setPath(fromEnv, path, value);
  }
  const merged = merge(merge(fromFile, fromEnv), sources.flags ?? {});
  return parseConfig(merged);
}

export function parseConfig(input: unknown): HeraldConfig {
  // The cross-setting rules run after each setting's own.
  const parsed = configSchema
    .superRefine(checkSecrets)
    .superRefine(checkRecipientTokens)
    .superRefine(checkDirectUrl)
    .safeParse(input);
  if (!parsed.success) {
    const envFor = (path: string) => Object.entries(ENV_SETTINGS).find(([, p]) => p === path)?.[0];
    const lines = parsed.error.issues.map((i) => {
      const path = i.path.join('.');
      const env = envFor(path);
      return `${path}${env ? ` (${env})` : ''}: ${i.message}`;
    });
    throw new HeraldError('config_invalid', `invalid configuration: ${lines.join('; ')}`);
  }
  const data = parsed.data;
  // A direct URL means a pooler is in front of `databaseUrl`; named prepared statements fail
  // behind PgBouncer before 1.21 in transaction mode, so they are off there unless asked for.
  return { ...data, preparedStatements: data.preparedStatements ?? !data.directDatabaseUrl };
}

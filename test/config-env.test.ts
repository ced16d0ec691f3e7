/**
 * The environment variables: ENV_SETTINGS is read from the config schema (each setting declares
 * its variable), and every name Herald ever took still sets the same setting.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configSchema, ENV_SETTINGS, resolveConfig } from '../src/config.js';

// Every variable as it was when the map was kept by hand (before the schema declared them).
const KNOWN: Record<string, string> = {
  DATABASE_URL: 'databaseUrl',
  HERALD_DATA_DIR: 'dataDir',
  HERALD_PGLITE_SEED: 'pgliteSeed',
  HERALD_SCHEMA: 'schema',
  HERALD_PORT: 'port',
  HERALD_HOST: 'host',
  HERALD_LOG_LEVEL: 'logLevel',
  HERALD_API_KEY: 'apiKey',
  HERALD_ADMIN_KEY: 'adminKey',
  HERALD_JWT_SECRET: 'jwtSecret',
  HERALD_JWT_PUBLIC_KEY: 'jwtPublicKey',
  HERALD_JWT_ALGORITHM: 'jwtAlgorithm',
  HERALD_JWKS_URL: 'jwksUrl',
  HERALD_APNS_KEY: 'apnsKey',
  HERALD_APNS_KEY_ID: 'apnsKeyId',
  HERALD_APNS_TEAM_ID: 'apnsTeamId',
  HERALD_APNS_TOPIC: 'apnsTopic',
  HERALD_APNS_URL: 'apnsUrl',
  HERALD_FCM_SERVICE_ACCOUNT: 'fcmServiceAccount',
  HERALD_FCM_URL: 'fcmUrl',
  HERALD_TEMPLATES_DIR: 'templatesDir',
  HERALD_PUBLIC_URL: 'publicUrl',
  HERALD_UNSUBSCRIBE_SECRET: 'unsubscribeSecret',
  HERALD_WEBHOOK_SECRET: 'webhookSecret',
  HERALD_DATA_HOOK_SECRET: 'dataHookSecret',
  HERALD_DELIVERY_MAX_ATTEMPTS: 'delivery.maxAttempts',
  HERALD_FAILOVER_AFTER: 'delivery.failoverAfter',
  HERALD_DATA_HOOK_URL: 'dataHookUrl',
  HERALD_EGRESS_ALLOW: 'egressAllow',
  HERALD_OPS_RECIPIENT: 'opsRecipient',
  HERALD_SCHEDULER_INTERVAL_MS: 'scheduler.intervalMs',
  HERALD_SCHEDULER_BATCH_SIZE: 'scheduler.batchSize',
  HERALD_RATE_LIMITS: 'rateLimits',
  HERALD_EMAIL_FALLBACK: 'fallback.email',
  HERALD_SMS_FALLBACK: 'fallback.sms',
  HERALD_WHATSAPP_FALLBACK: 'fallback.whatsapp',
  HERALD_MAX_BODY_BYTES: 'maxBodyBytes',
  HERALD_API_RATE_LIMIT: 'apiRateLimit',
  HERALD_API_RATE_BURST: 'apiRateBurst',
  HERALD_MAX_TRIGGER_BODY_BYTES: 'maxTriggerBodyBytes',
  HERALD_POOL_SIZE: 'poolSize',
  HERALD_POOL_MIN: 'poolMin',
  HERALD_PREPARED_STATEMENTS: 'preparedStatements',
  HERALD_DIRECT_DATABASE_URL: 'directDatabaseUrl',
  HERALD_QUERY_TIMEOUT_MS: 'queryTimeoutMs',
  HERALD_LISTEN_CHECK_MS: 'listenCheckMs',
  HERALD_MAX_PAYLOAD_BYTES: 'maxPayloadBytes',
  HERALD_VAPID_PUBLIC_KEY: 'vapidPublicKey',
  HERALD_VAPID_PRIVATE_KEY: 'vapidPrivateKey',
  HERALD_VAPID_SUBJECT: 'vapidSubject',
  HERALD_SMTP_URL: 'smtpUrl',
  HERALD_EMAIL_FROM: 'emailFrom',
  HERALD_OUTBOX_DIR: 'outboxDir',
  HERALD_SMTP_POOL_SIZE: 'smtpPoolSize',
  HERALD_RESEND_API_KEY: 'resendApiKey',
  HERALD_RESEND_URL: 'resendUrl',
  HERALD_RESEND_WEBHOOK_SECRET: 'resendWebhookSecret',
  HERALD_SENDGRID_API_KEY: 'sendgridApiKey',
  HERALD_SENDGRID_URL: 'sendgridUrl',
  HERALD_SENDGRID_WEBHOOK_PUBLIC_KEY: 'sendgridWebhookPublicKey',
  HERALD_POSTMARK_SERVER_TOKEN: 'postmarkServerToken',
  HERALD_POSTMARK_URL: 'postmarkUrl',
  HERALD_POSTMARK_MESSAGE_STREAM: 'postmarkMessageStream',
  HERALD_POSTMARK_BROADCAST_STREAM: 'postmarkBroadcastStream',
  HERALD_POSTMARK_WEBHOOK_USER: 'postmarkWebhookUser',
  HERALD_POSTMARK_WEBHOOK_PASSWORD: 'postmarkWebhookPassword',
  HERALD_SES_REGION: 'sesRegion',
  HERALD_SES_ACCESS_KEY_ID: 'sesAccessKeyId',
  HERALD_SES_SECRET_ACCESS_KEY: 'sesSecretAccessKey',
  HERALD_SES_URL: 'sesUrl',
  HERALD_SES_SNS_TOPIC_ARNS: 'sesSnsTopicArns',
  HERALD_SES_SNS_CERT_HOST: 'sesSnsCertHost',
  HERALD_TWILIO_ACCOUNT_SID: 'twilioAccountSid',
  HERALD_TWILIO_AUTH_TOKEN: 'twilioAuthToken',
  HERALD_TWILIO_FROM: 'twilioFrom',
  HERALD_TWILIO_WHATSAPP_FROM: 'twilioWhatsappFrom',
  HERALD_TWILIO_URL: 'twilioUrl',
  HERALD_VONAGE_API_KEY: 'vonageApiKey',
  HERALD_VONAGE_API_SECRET: 'vonageApiSecret',
  HERALD_VONAGE_FROM: 'vonageFrom',
  HERALD_VONAGE_URL: 'vonageUrl',
  HERALD_SMS_PROVIDER: 'smsProvider',
  HERALD_EMAIL_PROVIDER: 'emailProvider',
  HERALD_WHATSAPP_PROVIDER: 'whatsappProvider',
  HERALD_WHATSAPP_TOKEN: 'whatsappToken',
  HERALD_WHATSAPP_PHONE_NUMBER_ID: 'whatsappPhoneNumberId',
  HERALD_WHATSAPP_URL: 'whatsappUrl',
  HERALD_CONCURRENCY: 'worker.concurrency',
  HERALD_PREFETCH: 'worker.prefetch',
  HERALD_LEASE_MS: 'worker.leaseMs',
  HERALD_POLL_INTERVAL_MS: 'worker.pollIntervalMs',
  HERALD_JOB_TIMEOUT_MS: 'worker.jobTimeoutMs',
  HERALD_SHUTDOWN_GRACE_MS: 'worker.shutdownGraceMs',
  HERALD_BACKOFF_BASE_MS: 'backoff.baseMs',
  HERALD_BACKOFF_CAP_MS: 'backoff.capMs',
};

describe('config: environment variables from the schema', () => {
  it('keeps every known name, for the same setting', () => {
    for (const [name, path] of Object.entries(KNOWN))
      assert.equal(ENV_SETTINGS[name], path, `${name} sets ${path}`);
  });

  it('names only settings the schema has', () => {
    const shape = configSchema.shape as Record<string, unknown>;
    for (const path of Object.values(ENV_SETTINGS))
      assert.ok(path.split('.')[0]! in shape, `${path} is a setting`);
    assert.equal(new Set(Object.values(ENV_SETTINGS)).size, Object.keys(ENV_SETTINGS).length);
  });

  it('sets top-level and grouped settings from the environment, checked by the schema', () => {
    const config = resolveConfig({
      noFile: true,
      env: {
        HERALD_PORT: '9001',
        HERALD_LEASE_MS: '4000',
        HERALD_FAILOVER_AFTER: '3',
        HERALD_EMAIL_FALLBACK: 'smtp',
        HERALD_BACKOFF_CAP_MS: '5000',
        HERALD_RATE_LIMITS: 'twilio=50,ses=14',
      },
    });
    assert.equal(config.port, 9001);
    assert.equal(config.worker.leaseMs, 4000);
    assert.equal(config.delivery.failoverAfter, 3);
    assert.equal(config.fallback.email, 'smtp');
    assert.equal(config.backoff.capMs, 5000);
    assert.deepEqual(config.rateLimits, { twilio: 50, ses: 14 });
    assert.throws(
      () => resolveConfig({ noFile: true, env: { HERALD_LEASE_MS: 'soon' } }),
      /worker\.leaseMs \(HERALD_LEASE_MS\)/,
    );
  });

  it('reads on/off settings as true/false, 1/0, on/off or yes/no, and refuses anything else', () => {
    const prepared = (value: string) =>
      resolveConfig({ noFile: true, env: { HERALD_PREPARED_STATEMENTS: value } })
        .preparedStatements;
    for (const off of ['false', '0', 'off', 'No']) assert.equal(prepared(off), false, off);
    for (const on of ['true', '1', 'ON', 'yes']) assert.equal(prepared(on), true, on);
    assert.equal(resolveConfig({ noFile: true, env: {} }).preparedStatements, true);
    assert.throws(() => prepared('sometimes'), /preparedStatements \(HERALD_PREPARED_STATEMENTS\)/);
  });

  it('turns prepared statements off with a direct URL (a pooler in front), unless set', () => {
    const env = {
      DATABASE_URL: 'postgres://herald@pgbouncer:6432/app',
      HERALD_DIRECT_DATABASE_URL: 'postgres://herald@db:5432/app',
    };
    assert.equal(resolveConfig({ noFile: true, env }).preparedStatements, false);
    const asked = { ...env, HERALD_PREPARED_STATEMENTS: 'true' };
    assert.equal(resolveConfig({ noFile: true, env: asked }).preparedStatements, true);
    assert.throws(
      () =>
        resolveConfig({
          noFile: true,
          env: { HERALD_DIRECT_DATABASE_URL: env.HERALD_DIRECT_DATABASE_URL },
        }),
      /directDatabaseUrl \(HERALD_DIRECT_DATABASE_URL\): .*set DATABASE_URL/,
    );
  });
});

/**
 * The HTTP API (Hono): operational endpoints (/health, /ready, /metrics), the server realm
 * (/v1, API keys) and the recipient realm (/v1/me, JWTs). Handlers are thin: they parse, call
 * the domain module, and answer; every error becomes problem+json in one onError.
 */
import { Hono } from 'hono';
import { cors } from 'hono/cors';
import type { Herald } from '../herald.js';
import { appliedVersion, knownMigrations } from '../db/migrate.js';
import { toError } from '../errors.js';
import { databaseUnreachable, problem, problemFor } from './problem.js';
import { isDatabaseLost } from '../db/faults.js';
import { jsonBody } from './body.js';
import { limitBodies, type BodyLimit } from './body-limit.js';
import { requireKey, requireRecipient, type RecipientEnv } from './auth.js';
import { answerUnknownRoutes } from './known-routes.js';
import { checked } from '../validation.js';
import { previewSchema, render } from '../notify/render.js';
import { registerNotificationRoutes } from './notifications-routes.js';
import { registerInboxRoutes } from './inbox-routes.js';
import { sseRoute } from './realtime-sse.js';
import { unsubscribeRoutes } from './unsubscribe-routes.js';
import { webhookRoutes } from './webhook-routes.js';
import { adminRoutes } from './admin-routes.js';
import { docsRoutes } from './docs.js';
import { clientRoutes } from './client-routes.js';
import { adminConsole } from '../admin/routes.js';
import { templatePartsRoutes } from './template-parts-routes.js';
import { reminderRoutes } from './reminder-routes.js';
import { webhookKeyRoutes } from './webhook-key-routes.js';
import { schedulePreviewQuery } from '../scheduler/local-schedules.js';
import { egressFromConfig } from '../net/egress.js';
import { limitRequests, tokenBuckets } from './rate-limit.js';
import type { MiddlewareHandler } from 'hono';

export function makeApp(herald: Herald): Hono {
  const app = new Hono();

  app.onError((err, c) => {
    const res = problemFor(err);
    if (res.status === 503 && isDatabaseLost(err)) {
      // An outage, not a bug: one line with the driver's words, no stack.
      herald.log.warn(
        { err: toError(err).message, method: c.req.method, path: c.req.path },
        'http:database-unreachable',
      );
    } else if (res.status >= 500) herald.log.error({ err: toError(err) }, 'http:error');
    return res;
  });
  app.notFound((c) => notFound(`no route ${c.req.method} ${c.req.path}`));
  // First of all: no route, auth check or signature check reads a body before it is bounded.
  app.use(limitBodies((c) => bodyLimitFor(herald, c.req.method, c.req.path)));
  // Pages of the configured origins may call the recipient API (a preflight is answered here,
  // before the unknown-route check, which knows no OPTIONS routes).
  if (herald.config.corsOrigins.length > 0) {
    app.use(
      '/v1/me/*',
      cors({
        origin: herald.config.corsOrigins,
        allowMethods: ['GET', 'PUT', 'POST', 'DELETE'],
        allowHeaders: ['Authorization', 'Content-Type', 'Last-Event-ID'],
        maxAge: 600,
      }),
    );
  }
  // Then: an unknown path is 404 under every realm, not a complaint about the credential.
  app.use(answerUnknownRoutes(app, (method, path) => notFound(`no route ${method} ${path}`)));

  /** The process is alive and serving HTTP. Says nothing about the database. */
  app.get('/health', (c) => c.json({ status: 'ok' }));

  /** Ready for traffic: the database answers and its schema is the one this code knows. */
  app.get('/ready', async (c) => {
    const latest = knownMigrations().at(-1)?.id ?? 0;
    try {
      const version = await appliedVersion(herald.db, herald.config.schema);
      if (version !== latest) {
        return problem(
          503,
          'not_ready',
          `the database schema is at migration ${version} of ${latest}; run \`herald migrate\``,
        );
      }
      return c.json({ status: 'ready', database: herald.db.kind, migration: version });
    } catch (err) {
      // The driver's text can name hosts, users and paths: it goes to the log, not the answer.
      herald.log.warn({ err: toError(err).message }, 'ready:database-unreachable');
      return databaseUnreachable();
    }
  });

  /** Prometheus text format. */
  app.get('/metrics', async (c) => {
    const { registry } = herald.metrics;
    return c.body(await registry.metrics(), 200, { 'content-type': registry.contentType });
  });

  app.route('/', docsRoutes(herald));
  app.route('/', clientRoutes());
  app.route('/admin', adminConsole(herald));
  // /v1/me and the public routes first: they answer before the server realm's key check on /v1.
  app.route('/v1/unsubscribe', unsubscribeRoutes(herald));
  app.route('/v1/webhooks', webhookRoutes(herald));
  // One set of buckets for the app: a key's admin and server requests draw on the same limit.
  const limit = keyRateLimit(herald);
  app.route('/v1/admin', adminRoutes(herald, limit));
  app.route('/v1/me', me(herald));
  app.route('/v1', v1(herald, limit));
  return app;
}

/** The recipient API (JWT realm): each recipient sees only their own. */
function me(herald: Herald): Hono<RecipientEnv> {
  const api = new Hono<RecipientEnv>();
  api.use(
    requireRecipient({
      secret: herald.config.jwtSecret,
      publicKey: herald.config.jwtPublicKey,
      algorithm: herald.config.jwtAlgorithm,
      jwksUrl: herald.config.jwksUrl,
      egress: egressFromConfig(herald.config, herald.log),
      claims: {
        audience: herald.config.jwtAudience,
        issuer: herald.config.jwtIssuer,
        maxLifetime: herald.config.jwtMaxLifetime,
      },
    }),
  );
  api.get('/preferences', async (c) => c.json(await herald.preferences.get(c.get('recipientId'))));
  api.put('/preferences', async (c) =>
    c.json(await herald.preferences.put(c.get('recipientId'), await jsonBody(c.req.raw))),
  );
  registerInboxRoutes(api, herald);
  api.get('/events', sseRoute(herald));
  // A WebSocket handshake never reaches the app (server.ts hands upgrades to realtime-ws.ts).
  api.get('/ws', () =>
    problem(
      426,
      'upgrade_required',
      'this is a WebSocket endpoint: connect with a WebSocket client (docs/realtime.md)',
    ),
  );
  return api;
}

/** The server API (API key realm). */
function v1(herald: Herald, limit: MiddlewareHandler): Hono {
  const api = new Hono();
  api.use(requireKey(herald.keys), limit);
  api.route('/', templatePartsRoutes(herald));
  api.route('/', reminderRoutes(herald));
  api.route('/', webhookKeyRoutes(herald));

  api.get('/recipients', async (c) => c.json(await herald.recipients.list(c.req.query())));
  api.put('/recipients/:id', async (c) => {
    const { recipient, created } = await herald.recipients.upsert(
      c.req.param('id'),
      await jsonBody(c.req.raw),
    );
    return c.json(recipient, created ? 201 : 200);
  });
  api.get('/recipients/:id', async (c) => {
    const recipient = await herald.recipients.get(c.req.param('id'));
    return recipient ? c.json(recipient) : notFound(`no recipient "${c.req.param('id')}"`);
  });
  api.delete('/recipients/:id', async (c) => {
    const erased = await herald.recipients.erase(c.req.param('id'));
    return erased ? c.body(null, 204) : notFound(`no recipient "${c.req.param('id')}"`);
  });
  api.post('/recipients/:id/devices', async (c) => {
    const { device, created } = await herald.devices.register(
      c.req.param('id'),
      await jsonBody(c.req.raw),
    );
    return c.json(device, created ? 201 : 200);
  });
  api.delete('/recipients/:id/devices', async (c) => {
    const removed = await herald.devices.unregister(c.req.param('id'), await jsonBody(c.req.raw));
    return removed ? c.body(null, 204) : notFound('no such device for this recipient');
  });
  api.get('/recipients/:id/devices', async (c) =>
    c.json(await herald.devices.list(c.req.param('id'))),
  );

  api.get('/recipients/:id/preferences', async (c) =>
    c.json(await herald.preferences.get(c.req.param('id'))),
  );
  api.put('/recipients/:id/preferences', async (c) =>
    c.json(await herald.preferences.put(c.req.param('id'), await jsonBody(c.req.raw))),
  );

  // Local-time schedules with their next runs; ?from=&count= previews the runs after `from`.
  api.get('/recipients/:id/schedules', async (c) => {
    const id = c.req.param('id');
    const q = checked(schedulePreviewQuery, c.req.query());
    if (!(await herald.recipients.get(id))) return notFound(`no recipient "${id}"`);
    const rows = await herald.localSchedules.list(id);
    const from = q.from === undefined ? undefined : Date.parse(q.from);
    return c.json({
      items: rows.map((r) =>
        from === undefined ? r : { ...r, runs: herald.localSchedules.preview(r, from, q.count) },
      ),
    });
  });

  api.get('/types', async (c) => c.json(await herald.types.list(c.req.query())));
  api.put('/types/:name', async (c) => {
    const { type, created } = await herald.types.put(
      c.req.param('name'),
      await jsonBody(c.req.raw),
    );
    return c.json(type, created ? 201 : 200);
  });
  api.get('/types/:name', async (c) => {
    const type = await herald.types.get(c.req.param('name'));
    return type ? c.json(type) : notFound(`no notification type "${c.req.param('name')}"`);
  });
  api.post('/types/:name/preview', async (c) => {
    const type = await herald.types.get(c.req.param('name'));
    if (!type) return notFound(`no notification type "${c.req.param('name')}"`);
    const body = checked(previewSchema, await jsonBody(c.req.raw));
    const channels = body.channel ? [body.channel] : type.channels;
    const rendered: Record<string, Record<string, string>> = {};
    const parts = await herald.templateParts.current();
    for (const channel of channels)
      rendered[channel] = render(type, channel, body.data, body.locale, parts);
    return c.json(rendered);
  });
  api.delete('/types/:name', async (c) => {
    const removed = await herald.types.remove(c.req.param('name'));
    return removed ? c.body(null, 204) : notFound(`no notification type "${c.req.param('name')}"`);
  });
  registerNotificationRoutes(api, herald);
  return api;
}

/** The 404 answer for a resource that does not exist. */
function notFound(what: string): Response {
  return problem(404, 'not_found', what);
}

/**
 * The body limit of a request: HERALD_MAX_BODY_BYTES (1 MiB) everywhere, provider webhooks
 * and admin routes included, except the trigger, which may carry 100,000 recipient ids and
 * 5 MiB of attachments (HERALD_MAX_TRIGGER_BODY_BYTES, 16 MiB).
 */
const ADMIN_FORM_BYTES = 64 * 1024;

export function bodyLimitFor(herald: Herald, method: string, path: string): BodyLimit {
  const { maxBodyBytes, maxTriggerBodyBytes } = herald.config;
  // The console's forms hold a key, a CSRF token and a few filter fields.
  if (path === '/admin' || path.startsWith('/admin/'))
    return { bytes: Math.min(maxBodyBytes, ADMIN_FORM_BYTES), setting: 'HERALD_MAX_BODY_BYTES' };
  if (method === 'POST' && path === '/v1/notifications' && maxTriggerBodyBytes > maxBodyBytes)
    return { bytes: maxTriggerBodyBytes, setting: 'HERALD_MAX_TRIGGER_BODY_BYTES' };
  return { bytes: maxBodyBytes, setting: 'HERALD_MAX_BODY_BYTES' };
}

/**
 * The per-key request limit of the API-key realms (HERALD_API_RATE_LIMIT, rate-limit.ts), or
 * a pass-through when it is off (the default).
 */
function keyRateLimit(herald: Herald): MiddlewareHandler {
  const { apiRateLimit, apiRateBurst } = herald.config;
  if (!apiRateLimit) return async (_c, next) => next();
  const burst = apiRateBurst ?? Math.max(1, Math.ceil(apiRateLimit * 2));
  return limitRequests(tokenBuckets({ rate: apiRateLimit, burst }), apiRateLimit);
}

/**
 * The HTTP API (Hono). This surface is the operational endpoints; the notification
 * API mounts here too.
 */
import { Hono } from 'hono';
import type { Herald } from '../herald.js';
import { appliedVersion, knownMigrations } from '../db/migrate.js';
import { toError } from '../errors.js';

export function makeApp(herald: Herald): Hono {
  const app = new Hono();

  /** The process is alive and serving HTTP. Says nothing about the database. */
  app.get('/health', (c) => c.json({ status: 'ok' }));

  /** Ready for traffic: the database answers and its schema is the one this code knows. */
  app.get('/ready', async (c) => {
    const latest = knownMigrations().at(-1)?.id ?? 0;
    try {
      const version = await appliedVersion(herald.db, herald.config.schema);
      if (version !== latest) {
        return problem(
          c,
          503,
          'not_ready',
          `the database schema is at migration ${version} of ${latest}; run \`herald migrate\``,
        );
      }
      return c.json({ status: 'ready', database: herald.db.kind, migration: version });
    } catch (err) {
      return problem(
        c,
        503,
        'database_unreachable',
        `the database does not answer: ${toError(err).message}`,
      );
    }
  });

  /** Prometheus text format. */
  app.get('/metrics', async (c) => {
    const { registry } = herald.metrics;
    return c.body(await registry.metrics(), 200, { 'content-type': registry.contentType });
  });

  return app;
}

/** An RFC 9457 problem+json answer with a stable machine code. */
export function problem(
  c: { body: (data: string, status: 503, headers: Record<string, string>) => Response },
  status: 503,
  code: string,
  detail: string,
): Response {
  const body = {
    type: `https://herald.dev/problems/${code}`,
    title: code.replace(/_/g, ' '),
    status,
    detail,
    code,
  };
  return c.body(JSON.stringify(body), status, { 'content-type': 'application/problem+json' });
}

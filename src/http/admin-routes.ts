/**
 * The admin realm (/v1/admin, admin API keys only): deliveries by status with retry and
 * cancel, the suppression list, the job queue's status, dead letters and replay, and the cron
 * schedules (define, list, run now; their last runs in /jobs/status).
 */
import { Hono, type MiddlewareHandler } from 'hono';
import { z } from 'zod';
import type { Herald } from '../herald.js';
import { requireKey } from './auth.js';
import { jsonBody } from './body.js';
import { problem } from './problem.js';
import { checked } from '../validation.js';
import { suppressionInputSchema, suppressionKeySchema } from '../notify/suppressions.js';

export const replaySchema = z.union(
  [
    z.strictObject({
      ids: z
        .array(z.string().regex(/^\d{1,19}$/, 'a job id'))
        .min(1)
        .max(10_000),
    }),
    z.strictObject({ all: z.literal(true) }),
  ],
  { error: 'send {"ids": ["<job id>", ...]} (1 to 10,000 ids) or {"all": true}' },
);

const deadQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

/** `limit` is the per-key request limit (app.ts), checked once the key is known. */
export function adminRoutes(herald: Herald, limit: MiddlewareHandler): Hono {
  const api = new Hono();
  api.use(requireKey(herald.keys, { admin: true }), limit);
  const missing = (id: string) => problem(404, 'not_found', `no delivery "${id}"`);

  api.get('/deliveries', async (c) => c.json(await herald.deliveries.list(c.req.query())));
  api.post('/deliveries/:id/retry', async (c) => {
    const row = await herald.deliveries.retry(c.req.param('id'));
    return row ? c.json(row) : missing(c.req.param('id'));
  });
  api.post('/deliveries/:id/cancel', async (c) => {
    const row = await herald.deliveries.cancel(c.req.param('id'));
    return row ? c.json(row) : missing(c.req.param('id'));
  });

  api.get('/suppressions', async (c) => c.json(await herald.suppressions.list(c.req.query())));
  api.put('/suppressions', async (c) => {
    const body = checked(suppressionInputSchema, await jsonBody(c.req.raw));
    await herald.suppressions.add(body, 'admin');
    return c.body(null, 204);
  });
  api.delete('/suppressions', async (c) => {
    const body = checked(suppressionKeySchema, await jsonBody(c.req.raw));
    return (await herald.suppressions.remove(body))
      ? c.body(null, 204)
      : problem(404, 'not_found', `${body.address} is not suppressed on ${body.channel}`);
  });

  // The queue by kind and status, and each schedule with its last run and status.
  api.get('/jobs/status', async (c) =>
    c.json({ queues: await herald.queue.status(), schedules: await herald.schedules.list() }),
  );

  const noSchedule = (name: string) =>
    problem(
      404,
      'not_found',
      `no schedule "${name}": define it with PUT /v1/admin/schedules/${name}`,
    );
  api.get('/schedules', async (c) => c.json({ items: await herald.schedules.list() }));
  api.put('/schedules/:name', async (c) => {
    const { schedule, created } = await herald.schedules.put(
      c.req.param('name'),
      await jsonBody(c.req.raw),
    );
    return c.json(schedule, created ? 201 : 200);
  });
  api.get('/schedules/:name', async (c) => {
    const schedule = await herald.schedules.get(c.req.param('name'));
    return schedule ? c.json(schedule) : noSchedule(c.req.param('name'));
  });
  api.delete('/schedules/:name', async (c) =>
    (await herald.schedules.remove(c.req.param('name')))
      ? c.body(null, 204)
      : noSchedule(c.req.param('name')),
  );
  // A manual run now, recorded in job_runs beside the ticks; a worker runs it.
  api.post('/schedules/:name/run', async (c) =>
    c.json(await herald.schedules.runNow(c.req.param('name')), 202),
  );
  api.get('/jobs/dead', async (c) => {
    const { limit } = checked(deadQuerySchema, c.req.query());
    return c.json({ items: await herald.queue.dead(limit) });
  });
  api.post('/jobs/replay', async (c) => {
    const body = checked(replaySchema, await jsonBody(c.req.raw));
    const replayed = await herald.queue.replay('all' in body ? 'all' : body.ids);
    return c.json({ replayed });
  });
  return api;
}

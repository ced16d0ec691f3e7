/**
 * Server-realm notification routes: trigger, list, read, cancel. The trigger answers 202 with the
 * notifications and their deliveries (queued, or skipped with the reason); a replay of an
 * idempotency key answers the first trigger's notifications with `Idempotent-Replayed: true`.
 */
import type { Hono } from 'hono';
import type { Herald } from '../herald.js';
import { jsonBody } from './body.js';
import { problem } from './problem.js';

export function registerNotificationRoutes(api: Hono, herald: Herald): void {
  api.post('/notifications', async (c) => {
    const header = c.req.header('idempotency-key');
    const result = await herald.send(
      await jsonBody(c.req.raw),
      header !== undefined ? { idempotencyKey: header } : {},
    );
    if (result.replayed) c.header('Idempotent-Replayed', 'true');
    return c.json({ triggerId: result.triggerId, notifications: result.notifications }, 202);
  });

  api.get('/notifications', async (c) => c.json(await herald.notifications.list(c.req.query())));

  api.get('/notifications/:id', async (c) => {
    const found = await herald.notifications.get(c.req.param('id'));
    return found ? c.json(found) : missing(c.req.param('id'));
  });

  api.post('/notifications/:id/cancel', async (c) => {
    const found = await herald.notifications.cancel(c.req.param('id'));
    return found ? c.json(found) : missing(c.req.param('id'));
  });
}

const missing = (id: string) => problem(404, 'not_found', `no notification "${id}"`);

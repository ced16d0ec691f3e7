/**
 * The recipient's inbox (JWT realm, /v1/me/...). The recipient id comes from the token only,
 * so an item of someone else is "not found", never readable or changeable.
 */
import type { Hono } from 'hono';
import type { Herald } from '../herald.js';
import type { RecipientEnv } from './auth.js';
import { problem } from './problem.js';

export function registerInboxRoutes(api: Hono<RecipientEnv>, herald: Herald): void {
  const { inbox } = herald;
  const missing = (id: string) =>
    problem(404, 'not_found', `no notification "${id}" in your inbox`);

  api.get('/notifications', async (c) =>
    c.json(await inbox.list(c.get('recipientId'), c.req.query())),
  );
  api.get('/unread-count', async (c) =>
    c.json({ count: await inbox.unreadCount(c.get('recipientId')) }),
  );
  api.post('/notifications/read-all', async (c) =>
    c.json({ updated: await inbox.markAllRead(c.get('recipientId')) }),
  );
  api.post('/notifications/:id/read', async (c) =>
    (await inbox.markRead(c.get('recipientId'), c.req.param('id'), true))
      ? c.body(null, 204)
      : missing(c.req.param('id')),
  );
  api.post('/notifications/:id/unread', async (c) =>
    (await inbox.markRead(c.get('recipientId'), c.req.param('id'), false))
      ? c.body(null, 204)
      : missing(c.req.param('id')),
  );
  api.delete('/notifications/:id', async (c) =>
    (await inbox.remove(c.get('recipientId'), c.req.param('id')))
      ? c.body(null, 204)
      : missing(c.req.param('id')),
  );
}

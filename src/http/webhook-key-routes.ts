/**
 * The signing key of a webhook destination, for the server realm (mounted at /v1 behind the
 * API-key check): the app reads it and hands it to the receiver at that URL, which verifies
 * Herald's requests with it (docs/channels.md#verifying-a-webhook). Each URL has its own key
 * (channels/webhook/keys.ts), so a receiver's key verifies only requests meant for it.
 *
 * - `GET /recipients/{id}/webhook-signing-key`: the key of the recipient's own `webhookUrl`;
 * - `GET /types/{name}/webhook-signing-key`: the key of the type's `webhook.url`.
 *
 * Both answer `{url, signingKey}` with `Cache-Control: no-store`; `404` when there is no such
 * recipient or type or it has no URL; `409 conflict` when HERALD_WEBHOOK_SECRET is not set.
 */
import { Hono, type Context } from 'hono';
import { destinationSigningKey } from '../channels/webhook/keys.js';
import type { Herald } from '../herald.js';
import { problem } from './problem.js';

export function webhookKeyRoutes(herald: Herald): Hono {
  const api = new Hono();

  function answer(c: Context, url: string | null | undefined, owner: string): Response {
    const secret = herald.config.webhookSecret;
    if (!secret)
      return problem(
        409,
        'conflict',
        'webhooks are not signed yet: set HERALD_WEBHOOK_SECRET (32 characters or more) and restart',
      );
    if (!url) return problem(404, 'not_found', `${owner} has no webhook URL`);
    c.header('cache-control', 'no-store');
    return c.json({ url, signingKey: destinationSigningKey(secret, url) });
  }

  api.get('/recipients/:id/webhook-signing-key', async (c) => {
    const id = c.req.param('id');
    const recipient = await herald.recipients.get(id);
    if (!recipient) return problem(404, 'not_found', `no recipient "${id}"`);
    return answer(c, recipient.webhookUrl, `recipient "${id}"`);
  });
  api.get('/types/:name/webhook-signing-key', async (c) => {
    const name = c.req.param('name');
    const type = await herald.types.get(name);
    if (!type) return problem(404, 'not_found', `no notification type "${name}"`);
    return answer(c, type.webhook?.url, `notification type "${name}"`);
  });
  return api;
}

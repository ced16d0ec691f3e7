/**
 * The same recipes in service use: Herald runs as its own server and asks the app for the
 * content of each due batch over HTTP, at its data hook. This is the app's side of it: check
 * Herald's signature, answer with the content functions library use has (content.js).
 *
 *   SECRET=whsec_$(openssl rand -base64 32)
 *   HERALD_DATA_HOOK_SECRET=$SECRET node examples/recipes-app/hook.js     # listens on :3030
 *   HERALD_DATA_HOOK_SECRET=$SECRET HERALD_EGRESS_ALLOW=127.0.0.1/32 \
 *     HERALD_DATA_HOOK_URL=http://127.0.0.1:3030/herald/content \
 *     HERALD_TEMPLATES_DIR=recipes npm start
 *
 * Herald POSTs `{"schedule": "daily_briefing", "items": [{"recipientId", "runAt", "window":
 * {"from", "to"}, "timezone"}]}` (instants as ISO strings), signed in the Standard Webhooks
 * format (`webhook-id`, `webhook-timestamp`, `webhook-signature`) with HERALD_DATA_HOOK_SECRET,
 * the data hook's own key: no webhook receiver holds it, so none can ask this hook for content.
 * It takes `{"results": {"<recipient id>": {"data": {...}} | {"skip": true}}}`. A recipient
 * left out of `results` is skipped; an answer other than 2xx fails the batch's job, which is
 * tried again later (with the same `webhook-id`). docs/recipes.md has the details.
 */
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';
import { Webhook } from 'standardwebhooks';
import { content } from './content.js';

/**
 * Whether `headers` sign `body` (the raw text) with `secret` (`whsec_…`), at most five
 * minutes from now: the `standardwebhooks` library does the checking.
 */
export function verifyRequest(secret, headers, body) {
  try {
    new Webhook(secret).verify(body, {
      'webhook-id': String(headers['webhook-id'] ?? ''),
      'webhook-timestamp': String(headers['webhook-timestamp'] ?? ''),
      'webhook-signature': String(headers['webhook-signature'] ?? ''),
    });
    return true;
  } catch {
    return false; // a missing header, a stale time or a signature made with another key
  }
}

/** The data hook: an HTTP server answering POST `path`. */
export function createHookServer({ secret, path = '/herald/content' }) {
  return createServer(async (req, res) => {
    const answer = (status, json) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(json));
    };
    if (req.method !== 'POST' || req.url !== path) return answer(404, { error: 'not found' });
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    // The signature is over the raw body: check it before parsing.
    const body = Buffer.concat(chunks).toString('utf8');
    if (!verifyRequest(secret, req.headers, body)) return answer(401, { error: 'bad signature' });
    try {
      const batch = JSON.parse(body);
      const fn = content[batch.schedule];
      if (!fn) return answer(200, { results: {} }); // a schedule this app has no content for
      // The items as library use gets them: instants as Dates.
      const items = batch.items.map((i) => ({
        ...i,
        runAt: new Date(i.runAt),
        window: { from: new Date(i.window.from), to: new Date(i.window.to) },
      }));
      const results = await fn({
        schedule: batch.schedule,
        items,
        signal: AbortSignal.timeout(9_000),
      });
      return answer(200, { results });
    } catch (err) {
      return answer(500, { error: String(err) }); // Herald retries the batch later
    }
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const secret = process.env.HERALD_DATA_HOOK_SECRET;
  if (!secret?.startsWith('whsec_')) {
    process.stderr.write('set HERALD_DATA_HOOK_SECRET (whsec_…), the same as for Herald\n');
    process.exit(2);
  }
  const port = Number(process.env.PORT ?? 3030);
  createHookServer({ secret }).listen(port, '127.0.0.1', () =>
    process.stdout.write(`data hook on http://127.0.0.1:${port}/herald/content\n`),
  );
}

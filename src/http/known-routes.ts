/**
 * Unknown paths answer 404 before any realm's credential check. Without this, /v1/me/x with a
 * recipient token passed the recipient check and then met the server realm's API-key check on
 * /v1/* (401 "this API key is not known"), and /v1/admin/x with a server key got 403: an
 * auth complaint about the wrong kind of credential for a route that does not exist. The
 * routes are public (the OpenAPI document lists them), so answering 404 to anyone leaks
 * nothing; known routes keep their checks.
 */
import type { Hono, MiddlewareHandler } from 'hono';
import { TrieRouter } from 'hono/router/trie-router';

/**
 * A middleware that answers `unknown(method, path)` when no route of `app` serves the
 * request. The routes are read on the first request, when the app is fully built. Entries
 * with method ALL are middleware (`use`); the app registers no `.all()` routes, and one added
 * later must be listed here or it would answer 404.
 */
export function answerUnknownRoutes(
  app: Hono,
  unknown: (method: string, path: string) => Response,
): MiddlewareHandler {
  let known: TrieRouter<true> | undefined;
  return async (c, next) => {
    known ??= routerOf(app);
    // Hono serves HEAD with the GET route.
    const method = c.req.method === 'HEAD' ? 'GET' : c.req.method;
    if (known.match(method, c.req.path)[0].length === 0) return unknown(c.req.method, c.req.path);
    await next();
  };
}

function routerOf(app: Hono): TrieRouter<true> {
  const router = new TrieRouter<true>();
  for (const r of app.routes) if (r.method !== 'ALL') router.add(r.method, r.path, true);
  return router;
}

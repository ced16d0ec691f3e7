/**
 * The browser client as scripts for pages: GET /client/herald.js (the client) and
 * /client/herald-inbox.js (the `<herald-inbox>` element), with the modules they import beside
 * them, from dist/client/ (`npm run build` compiles src/client there). Public: a script holds
 * no secret, so no auth and CORS `*`, and pages on any origin may load it.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Hono } from 'hono';
import { problem } from './problem.js';

/** A module name of the client: lower-case words with dashes, `.js`, or its source map. */
export const CLIENT_FILE = /^[a-z][a-z0-9-]*\.js(\.map)?$/;

// This file is src/http/client-routes.ts or dist/http/client-routes.js: two folders below the
// package root either way (tests run it bundled, with this location kept: bundle-tests.mjs).
const CLIENT_DIR = new URL('../../dist/client/', import.meta.url);

/**
 * The URL has no version in it, so the cache is short and revalidated: a page picks up a new
 * Herald's client within five minutes, and meanwhile a 304 costs a round trip and no bytes.
 */
const CACHE_CONTROL = 'public, max-age=300, must-revalidate';

interface Script {
  body: string;
  etag: string;
  type: string;
}

export function clientRoutes(): Hono {
  const app = new Hono();
  // Read once per process: dist/ is replaced whole by a build, never changed under a file.
  const cache = new Map<string, Promise<Script | undefined>>();

  app.get('/client/:file', async (c) => {
    const file = c.req.param('file');
    const script = CLIENT_FILE.test(file) ? await load(cache, file) : undefined;
    if (!script) {
      return problem(
        404,
        'not_found',
        `no client file "${file}" (the entry points are herald.js and herald-inbox.js; \`npm run build\` makes them)`,
      );
    }
    const headers = {
      'content-type': script.type,
      'cache-control': CACHE_CONTROL,
      etag: script.etag,
      'access-control-allow-origin': '*',
      'cross-origin-resource-policy': 'cross-origin',
      'x-content-type-options': 'nosniff',
    };
    if (c.req.header('if-none-match') === script.etag) return c.body(null, 304, headers);
    return c.body(script.body, 200, headers);
  });
  return app;
}

function load(
  cache: Map<string, Promise<Script | undefined>>,
  file: string,
): Promise<Script | undefined> {
  let script = cache.get(file);
  if (!script) {
    script = readFile(new URL(file, CLIENT_DIR), 'utf8').then(
      (body) => ({
        body,
        etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
        type: file.endsWith('.map') ? 'application/json' : 'text/javascript; charset=utf-8',
      }),
      () => {
        // Not built (yet): a later request looks again.
        cache.delete(file);
        return undefined;
      },
    );
    cache.set(file, script);
  }
  return script;
}

/**
 * The console's stylesheet and script (src/admin/assets/, copied to dist/admin/assets/ by the
 * build) and uPlot, the chart library, from its npm package: everything the pages load comes
 * from Herald itself, so the console works offline and the CSP can say 'self'.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { Hono } from 'hono';
import { problem } from '../http/problem.js';

const OWN = new URL('./assets/', import.meta.url);
const require = createRequire(import.meta.url);

const FILES: Record<string, { path: () => string | URL; type: string }> = {
  'admin.css': { path: () => new URL('admin.css', OWN), type: 'text/css; charset=utf-8' },
  'admin.js': { path: () => new URL('admin.js', OWN), type: 'text/javascript; charset=utf-8' },
  'uPlot.iife.min.js': {
    path: () => require.resolve('uplot/dist/uPlot.iife.min.js'),
    type: 'text/javascript; charset=utf-8',
  },
  'uPlot.min.css': {
    path: () => require.resolve('uplot/dist/uPlot.min.css'),
    type: 'text/css; charset=utf-8',
  },
};

export function assetRoutes(): Hono {
  const app = new Hono();
  const cache = new Map<string, Promise<{ body: string; etag: string }>>();
  app.get('/:file', async (c) => {
    const file = FILES[c.req.param('file')];
    if (!file) return problem(404, 'not_found', `no console asset "${c.req.param('file')}"`);
    let loaded = cache.get(c.req.param('file'));
    if (!loaded) {
      loaded = readFile(file.path(), 'utf8').then((body) => ({
        body,
        etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
      }));
      loaded.catch(() => cache.delete(c.req.param('file')));
      cache.set(c.req.param('file'), loaded);
    }
    const { body, etag } = await loaded;
    const headers = { 'content-type': file.type, etag, 'cache-control': 'private, max-age=300' };
    if (c.req.header('if-none-match') === etag) return c.body(null, 304, headers);
    return c.body(body, 200, headers);
  });
  return app;
}

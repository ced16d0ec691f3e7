/**
 * Layouts and partials over HTTP, for the server realm (mounted at /v1 behind the API-key
 * check): `PUT|GET|DELETE /layouts/{name}` and `/partials/{name}` with `{"source": "..."}`
 * (a layout may add `"text"`), and `GET /layouts`, `GET /partials` to list them.
 */
import { Hono } from 'hono';
import type { Herald } from '../herald.js';
import { PART_KINDS } from '../notify/template-parts.js';
import { jsonBody } from './body.js';
import { problem } from './problem.js';

export function templatePartsRoutes(herald: Herald): Hono {
  const api = new Hono();
  const parts = herald.templateParts;
  for (const kind of PART_KINDS) {
    const base = `/${kind}s`;
    const missing = (name: string) => problem(404, 'not_found', `no ${kind} "${name}"`);

    api.get(base, async (c) => c.json(await parts.list(kind)));
    api.put(`${base}/:name`, async (c) => {
      const { part, created } = await parts.put(
        kind,
        c.req.param('name'),
        await jsonBody(c.req.raw),
      );
      return c.json(part, created ? 201 : 200);
    });
    api.get(`${base}/:name`, async (c) => {
      const part = await parts.get(kind, c.req.param('name'));
      return part ? c.json(part) : missing(c.req.param('name'));
    });
    api.delete(`${base}/:name`, async (c) => {
      const removed = await parts.remove(kind, c.req.param('name'));
      return removed ? c.body(null, 204) : missing(c.req.param('name'));
    });
  }
  return api;
}

/**
 * Reminders over HTTP, for the server realm (mounted at /v1 behind the API-key check):
 * `PUT /reminders/{key}` sets (`201`) or moves (`200`) one, `GET` reads each recipient ×
 * offset's run time and status, `DELETE` cancels what is not sent yet and answers what is left.
 * The rules are in scheduler/reminders.ts.
 */
import { Hono } from 'hono';
import type { Herald } from '../herald.js';
import { jsonBody } from './body.js';
import { problem } from './problem.js';

export function reminderRoutes(herald: Herald): Hono {
  const api = new Hono();
  const missing = (key: string) => problem(404, 'not_found', `no reminder "${key}"`);

  api.put('/reminders/:key', async (c) => {
    const { reminder, created } = await herald.reminders.put(
      c.req.param('key'),
      await jsonBody(c.req.raw),
    );
    return c.json(reminder, created ? 201 : 200);
  });
  api.get('/reminders/:key', async (c) => {
    const reminder = await herald.reminders.get(c.req.param('key'));
    return reminder ? c.json(reminder) : missing(c.req.param('key'));
  });
  api.delete('/reminders/:key', async (c) => {
    const reminder = await herald.reminders.remove(c.req.param('key'));
    return reminder ? c.json(reminder) : missing(c.req.param('key'));
  });
  return api;
}

/**
 * Random JSON thrown at every write endpoint (fast-check): never a 500, and a 4xx answer
 * never writes a row. Bodies mix valid-looking fields with arbitrary values, so both the
 * validators and the SQL behind them are reached.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { Hono } from 'hono';
import type { Herald } from '../src/index.js';
import { makeApp } from '../src/http/app.js';
import { BACKENDS, closeHerald, openHerald, pgSkipReason } from './helpers/db.js';
import { apiCaller, type Call } from './helpers/api.js';

const KEY = 'fuzz-test-server-key-0123456789';
const pgSkip = await pgSkipReason();

/** Objects with some of the real field names, and anything as values. */
// Strings of any UTF-16 code unit: NUL and lone surrogates included.
const codeUnit = fc.nat(0xffff).map((c) => String.fromCharCode(c));
const anyJson = fc.jsonValue({ stringUnit: codeUnit });
const body = fc.oneof(
  anyJson,
  fc.dictionary(
    fc.constantFrom(
      'email',
      'phone',
      'locale',
      'timezone',
      'data',
      'kind',
      'token',
      'subscription',
      'channels',
      'templates',
      'types',
      'quietHours',
      'digest',
      'schedules',
      'consent',
      'category',
      'priority',
      'locales',
      'channel',
      'start',
      'end',
      'endpoint',
      'keys',
      'source',
      'text',
      'layout',
    ),
    anyJson,
  ),
);
/** A URL cannot carry a lone surrogate (encodeURIComponent throws): such ids send U+FFFD. */
const urlSafe = (s: string) =>
  s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
const id = fc.string({ unit: codeUnit, minLength: 0, maxLength: 300 });

for (const backend of BACKENDS)
  describe(
    `fuzzing the write endpoints on ${backend}`,
    { skip: backend === 'pg' ? pgSkip : undefined },
    () => {
      let herald: Herald;
      let app: Hono;
      let call: Call;
      before(async () => {
        herald = await openHerald(backend, { apiKey: KEY });
        app = makeApp(herald);
        call = apiCaller(app, KEY);
        await herald.recipients.upsert('fixed', {});
        await herald.types.put('fixed', {
          channels: ['sms'],
          templates: { sms: { text: '{{x}}' } },
        });
      });
      after(async () => {
        await closeHerald(herald);
      });

      async function rows(): Promise<string> {
        const s = `"${herald.config.schema}"`;
        const { rows: r } = await herald.db.query(
          `SELECT (SELECT count(*) FROM ${s}.recipients) || '/' || (SELECT count(*) FROM ${s}.devices) || '/' ||
              (SELECT count(*) FROM ${s}.preferences) || '/' || (SELECT count(*) FROM ${s}.notification_types) ||
              '/' || (SELECT coalesce(max(updated_at)::text, '') FROM ${s}.recipients) ||
              '/' || (SELECT count(*) || ':' || coalesce(max(updated_at)::text, '') FROM ${s}.template_parts) AS state`,
        );
        return String((r[0] as { state: string }).state);
      }

      const endpoints: [string, (b: unknown, i: string) => [string, string]][] = [
        ['PUT recipient', (_b, i) => ['PUT', `/v1/recipients/${encodeURIComponent(urlSafe(i))}`]],
        ['PUT preferences', () => ['PUT', '/v1/recipients/fixed/preferences']],
        ['POST device', () => ['POST', '/v1/recipients/fixed/devices']],
        ['DELETE device', () => ['DELETE', '/v1/recipients/fixed/devices']],
        ['PUT type', (_b, i) => ['PUT', `/v1/types/${encodeURIComponent(urlSafe(i))}`]],
        ['POST preview', () => ['POST', '/v1/types/fixed/preview']],
        ['PUT layout', (_b, i) => ['PUT', `/v1/layouts/${encodeURIComponent(urlSafe(i))}`]],
        ['PUT partial', (_b, i) => ['PUT', `/v1/partials/${encodeURIComponent(urlSafe(i))}`]],
      ];

      for (const [name, route] of endpoints) {
        it(`${name}: never a 500; a 4xx writes nothing`, async () => {
          await fc.assert(
            fc.asyncProperty(body, id, async (b, i) => {
              const before = await rows();
              const [method, path] = route(b, i);
              const res = await call(method, path, b);
              assert.ok(
                res.status < 500,
                `${method} ${path} ${JSON.stringify(b)} → ${res.status}: ${await res.text()}`,
              );
              if (res.status >= 400)
                assert.equal(await rows(), before, `${res.status} must not write`);
            }),
            { numRuns: 150 },
          );
        });
      }
    },
  );

/**
 * Random JSON thrown at every write endpoint of the resources (fast-check), on both backends:
 * never a 5xx, and a 4xx answer changes no row in any table. Bodies mix valid-looking fields
 * with arbitrary values, so both the validators and the SQL behind them are reached; JSON
 * nested thousands of levels deep goes to every endpoint that reads a body. The admin writes
 * (job replay, delivery retry and cancel) get the same.
 *
 * The trigger and cancel are fuzzed in api-fuzz-notifications.test.ts, the recipient's inbox
 * and the unsubscribe link in api-fuzz-recipient.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { Herald } from '../src/index.js';
import { makeApp } from '../src/http/app.js';
import { BACKENDS, closeHerald, openHerald, pgSkipReason } from './helpers/db.js';
import { recipientToken } from './helpers/api.js';
import {
  anyJson,
  changed,
  codeUnit,
  deepJson,
  jsonBody,
  oddString,
  rawBody,
  requester,
  runs,
  short,
  tableSnapshot,
  urlSafe,
  type Payload,
  type Request,
  type Snapshot,
} from './helpers/fuzz.js';

const KEY = 'fuzz-test-server-key-0123456789';
const ADMIN_KEY = 'fuzz-test-admin-key-0123456789';
const SECRET = 'fuzz-test-jwt-secret-of-32-characters-or-more';
const pgSkip = await pgSkipReason();

const FIELD_NAMES = [
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
];
/**
 * Objects with some of the real field names and anything as values, or any JSON at all (a
 * string is sent as the body text itself: mostly broken JSON).
 */
const body: fc.Arbitrary<Payload> = fc
  .oneof(anyJson, fc.dictionary(fc.constantFrom(...FIELD_NAMES), anyJson))
  .map((b) => (typeof b === 'string' ? rawBody(b) : jsonBody(b)));
const id = fc.string({ unit: codeUnit, minLength: 0, maxLength: 300 });

/** Job ids as an admin types them: digits past PostgreSQL's bigint too. */
const jobIds = fc.array(
  fc.oneof(
    fc.bigInt({ min: 0n, max: 10n ** 19n }).map(String),
    fc.constantFrom('9223372036854775807', '9223372036854775808', '9999999999999999999', '01'),
    oddString(25),
  ),
  { maxLength: 5 },
);
const replayBody: fc.Arbitrary<Payload> = fc.oneof(
  body,
  jobIds.map((ids) => jsonBody({ ids })),
  fc.record({ all: anyJson }).map(jsonBody),
);

for (const backend of BACKENDS)
  describe(
    `fuzzing the resource endpoints on ${backend}`,
    { skip: backend === 'pg' ? pgSkip : undefined },
    () => {
      let herald: Herald;
      let request: Request;
      let snapshot: () => Promise<Snapshot>;
      let admin: Request;
      let meToken: string;
      const deliveries: string[] = [];
      before(async () => {
        herald = await openHerald(backend, { apiKey: KEY, adminKey: ADMIN_KEY, jwtSecret: SECRET });
        const app = makeApp(herald);
        request = requester(app, KEY);
        admin = requester(app, ADMIN_KEY);
        snapshot = tableSnapshot(herald);
        await herald.recipients.upsert('fixed', {});
        await herald.types.put('fixed', {
          channels: ['sms'],
          templates: { sms: { text: '{{x}}' } },
        });
        meToken = await recipientToken('fixed', SECRET);
        // Deliveries for the admin routes: one skipped, one queued for tomorrow.
        await herald.recipients.upsert('r1', { phone: '+4915112345678' });
        for (const to of ['fixed', 'r1']) {
          const { notifications } = await herald.send({
            type: 'fixed',
            to,
            sendAt: new Date(Date.now() + 86_400_000).toISOString(),
          });
          deliveries.push(...notifications.flatMap((n) => n.deliveries.map((d) => d.id)));
        }
      });
      after(async () => {
        await closeHerald(herald);
      });

      const endpoints: [string, (i: string) => [string, string]][] = [
        ['PUT recipient', (i) => ['PUT', `/v1/recipients/${encodeURIComponent(urlSafe(i))}`]],
        ['PUT preferences', () => ['PUT', '/v1/recipients/fixed/preferences']],
        ['POST device', () => ['POST', '/v1/recipients/fixed/devices']],
        ['DELETE device', () => ['DELETE', '/v1/recipients/fixed/devices']],
        ['PUT type', (i) => ['PUT', `/v1/types/${encodeURIComponent(urlSafe(i))}`]],
        ['POST preview', () => ['POST', '/v1/types/fixed/preview']],
        ['PUT layout', (i) => ['PUT', `/v1/layouts/${encodeURIComponent(urlSafe(i))}`]],
        ['PUT partial', (i) => ['PUT', `/v1/partials/${encodeURIComponent(urlSafe(i))}`]],
      ];

      for (const [name, route] of endpoints) {
        it(`${name}: never a 5xx; a 4xx writes nothing`, async () => {
          await fc.assert(
            fc.asyncProperty(body, id, async (b, i) => {
              const before = await snapshot();
              const [method, path] = route(i);
              const res = await request(method, path, b);
              assert.ok(
                res.status < 500,
                `${method} ${short(path)} ${short(b.text)} → ${res.status}: ${await res.text()}`,
              );
              if (res.status >= 400) {
                const after = await snapshot();
                assert.deepEqual(changed(before, after), [], `${res.status} must not write`);
              }
            }),
            { numRuns: runs(100) },
          );
        });
      }

      it('POST /v1/admin/jobs/replay: never a 5xx; a 4xx writes nothing', async () => {
        await fc.assert(
          fc.asyncProperty(replayBody, async (b) => {
            const before = await snapshot();
            const res = await admin('POST', '/v1/admin/jobs/replay', b);
            assert.ok(res.status < 500, `${short(b.text)} → ${res.status}: ${await res.text()}`);
            if (res.status >= 400) assert.deepEqual(changed(before, await snapshot()), []);
          }),
          { numRuns: runs(100) },
        );
      });

      it('POST /v1/admin/deliveries/{id}/retry|cancel: never a 5xx; a 4xx writes nothing', async () => {
        const target = fc.oneof(
          fc.nat().map((n) => deliveries[n % deliveries.length]!),
          fc.uuid(),
          id.map((i) => encodeURIComponent(urlSafe(i))),
        );
        await fc.assert(
          fc.asyncProperty(fc.constantFrom('retry', 'cancel'), target, async (op, d) => {
            const before = await snapshot();
            const path = `/v1/admin/deliveries/${d}/${op}`;
            const res = await admin('POST', path);
            assert.ok(res.status < 500, `${short(path)} → ${res.status}: ${await res.text()}`);
            if (res.status >= 400) assert.deepEqual(changed(before, await snapshot()), []);
          }),
          { numRuns: runs(60) },
        );
      });

      it('JSON nested thousands of levels deep: never a 5xx; a 4xx writes nothing', async () => {
        const targets: [string, string, (deep: string) => string, string?][] = [
          ...endpoints.map(([, route]): [string, string, (deep: string) => string] => {
            const [method, path] = route('deep');
            return [method, path, (deep) => `{"data":{"x":${deep}}}`];
          }),
          [
            'POST',
            '/v1/notifications',
            (deep) => `{"type":"fixed","to":"fixed","data":{"x":${deep}}}`,
          ],
          ['PUT', '/v1/recipients/fixed', (deep) => `{"data":{"x":${deep}}}`],
          ['PUT', '/v1/me/preferences', (deep) => `{"types":${deep}}`, meToken],
        ];
        const failures: string[] = [];
        for (const depth of [100, 1_000, 5_000, 50_000, 150_000])
          for (const arrays of [true, false])
            for (const [method, path, wrap, auth] of targets) {
              const before = await snapshot();
              const res = await request(method, path, rawBody(wrap(deepJson(depth, arrays))), {
                authorization: `Bearer ${auth ?? KEY}`,
              });
              const what = `${method} ${path} nested ${depth} ${arrays ? 'arrays' : 'objects'} deep`;
              if (res.status >= 500) failures.push(`${what} → ${res.status}`);
              else if (res.status >= 400 && changed(before, await snapshot()).length > 0)
                failures.push(`${what} → ${res.status} and wrote`);
            }
        assert.deepEqual(failures, []);
      });
    },
  );

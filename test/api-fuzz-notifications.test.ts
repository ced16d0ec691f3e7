/**
 * The trigger and cancel fuzzed (fast-check), on both backends: never a 5xx, and a 4xx answer
 * changes no row in any table. The trigger gets valid bodies, near-valid ones (a valid one
 * with one field replaced by something a client gets wrong), anything at all, and odd
 * `Idempotency-Key` headers; every 202 is checked against the rows it wrote: a notification
 * per recipient, a delivery per channel, a job per queued delivery, the data as sent, RFC 3339
 * times. Cancel gets known ids (in any case) and random ones: a 200 leaves nothing queued and
 * no live job, and cancelling again changes nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { Herald } from '../src/index.js';
import { makeApp } from '../src/http/app.js';
import type { NotificationSummary } from '../src/notify/send.js';
import type { NotificationDetail } from '../src/notify/notifications.js';
import { BACKENDS, closeHerald, openHerald, pgSkipReason } from './helpers/db.js';
import {
  anyDateTime,
  anyJson,
  changed,
  jsonBody,
  oddKey,
  oddString,
  plausibleDateTime,
  rawBody,
  rawUrlPart,
  runs,
  requester,
  rowCount,
  short,
  tableSnapshot,
  urlSafe,
  type Payload,
  type Request,
  type Snapshot,
} from './helpers/fuzz.js';

const KEY = 'fuzz-test-server-key-0123456789';
const pgSkip = await pgSkipReason();

// ---------------------------------------------------------------------------------------------
// Triggers: valid ones, valid ones with one field replaced, anything at all.

const CHANNELS = ['email', 'sms', 'whatsapp', 'push', 'inapp'] as const;
type Channel = (typeof CHANNELS)[number];
const TYPES = {
  fixed: { channels: ['sms'], templates: { sms: { text: '{{x}}' } } },
  multi: {
    channels: ['email', 'sms', 'push', 'inapp'],
    priority: 'high',
    templates: {
      email: { subject: 's {{x}}', html: '<p>{{x}}</p>', text: '{{x}}' },
      sms: { text: '{{x}}' },
      push: { title: 't', body: '{{x}}' },
      inapp: { title: 't', body: '{{x}}' },
    },
  },
  promo: {
    category: 'marketing',
    channels: ['email', 'inapp'],
    templates: {
      email: { subject: 's', html: '<p>{{x}}</p>', text: '{{x}}' },
      inapp: { title: 't', body: '{{x}}' },
    },
  },
} satisfies Record<string, { channels: Channel[] } & Record<string, unknown>>;
type TypeName = keyof typeof TYPES;
const TYPE_NAMES = Object.keys(TYPES) as TypeName[];
/**
 * fixed: no address at all; r1: email, phone and a device; r2: email, consent, and quiet
 * hours from 18:00 to 07:30 in St. John's (UTC-03:30).
 */
const RECIPIENTS = ['fixed', 'r1', 'r2'];
const PRIORITIES = ['low', 'normal', 'high', 'urgent'];

interface Trigger {
  type: TypeName;
  to: string | string[] | { id: string };
  data?: Record<string, unknown>;
  channels?: Channel[];
  priority?: string;
  sendAt?: string;
  idempotencyKey?: string;
}

const storableJson = fc.jsonValue({ stringUnit: 'grapheme', maxDepth: 3 });
const validTrigger: fc.Arbitrary<Trigger> = fc.constantFrom(...TYPE_NAMES).chain((type) =>
  fc.record(
    {
      type: fc.constant(type),
      to: fc.oneof(
        fc.constantFrom(...RECIPIENTS),
        fc.array(fc.constantFrom(...RECIPIENTS), { minLength: 1, maxLength: 6 }),
        fc.record(
          {
            id: fc.constantFrom('inline-1', 'inline-2', 'r1'),
            email: fc.constantFrom('inline@example.com', null),
            timezone: fc.constantFrom('Pacific/Chatham', 'America/St_Johns', 'UTC', null),
            locale: fc.constantFrom('de', 'en-GB', null),
          },
          { requiredKeys: ['id'] },
        ),
      ),
      data: fc.dictionary(
        fc.oneof(
          { weight: 8, arbitrary: fc.string({ unit: 'grapheme', maxLength: 10 }) },
          { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'toString') },
        ),
        storableJson,
        { maxKeys: 4 },
      ),
      channels: fc.shuffledSubarray<Channel>([...TYPES[type].channels], { minLength: 1 }),
      priority: fc.constantFrom(...PRIORITIES),
      sendAt: fc.oneof(
        { weight: 4, arbitrary: plausibleDateTime },
        { weight: 1, arbitrary: anyDateTime },
      ),
      idempotencyKey: fc.oneof(
        fc.constantFrom('k-1', 'k-2', 'k-3'),
        fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
      ),
    },
    { requiredKeys: ['type', 'to'] },
  ),
);

/** For each field, values a client gets wrong. */
const oddField: Record<keyof Trigger, fc.Arbitrary<unknown>> = {
  type: fc.oneof(
    anyJson,
    oddString(120),
    fc.constantFrom('', 'Multi', 'multi ', 'x'.repeat(101), 'no-such-type', 'multi\u0000'),
  ),
  to: fc.oneof(
    anyJson,
    fc.array(anyJson, { maxLength: 5 }),
    fc.array(
      fc.oneof(fc.constantFrom(...RECIPIENTS, '', 'nobody', 'x'.repeat(257)), oddString(20)),
      { maxLength: 8 },
    ),
    fc.dictionary(
      fc.constantFrom('id', 'email', 'phone', 'locale', 'timezone', 'data', 'name'),
      anyJson,
    ),
    fc.record(
      {
        id: fc.oneof(fc.constantFrom('inline-3', '', 'r2'), oddString(20)),
        email: fc.oneof(anyJson, fc.emailAddress()),
        phone: fc.oneof(anyJson, fc.constantFrom('+4915112345678', '+0', '4915112345678')),
        locale: fc.oneof(anyJson, fc.constantFrom('de', 'en-GB', 'xx-', 'i-klingon', 'root')),
        timezone: fc.oneof(
          anyJson,
          fc.constantFrom('Europe/Berlin', 'europe/berlin', 'EST5EDT', 'Etc/GMT+14', 'Mars/Base'),
        ),
        data: fc.oneof(anyJson, fc.dictionary(oddKey, anyJson, { maxKeys: 3 })),
      },
      { requiredKeys: ['id'] },
    ),
  ),
  data: fc.oneof(anyJson, fc.dictionary(oddKey, anyJson, { maxKeys: 4 })),
  channels: fc.oneof(
    anyJson,
    fc.array(fc.oneof(fc.constantFrom(...CHANNELS, 'fax', 'EMAIL', ''), anyJson), {
      maxLength: 7,
    }),
  ),
  priority: fc.oneof(anyJson, fc.constantFrom('LOW', 'critical', '', 'urgent ', 0)),
  sendAt: fc.oneof(
    anyJson,
    oddString(40),
    anyDateTime,
    fc.constantFrom(
      '9999-12-31T23:59:59-23:59',
      '9999-12-31T23:59:59.999Z',
      '0000-01-01T00:00:00+23:59',
      '2024-02-30T00:00:00Z',
      '2024-01-01T24:00:00Z',
      '2024-01-01',
      '2024-01-01T00:00:00',
      '+275760-09-13T00:00:00Z',
      'now',
      '',
    ),
  ),
  idempotencyKey: fc.oneof(
    anyJson,
    oddString(300),
    fc.constantFrom('', ' ', 'x'.repeat(256), 'x'.repeat(257), '😀'.repeat(128), '😀'.repeat(129)),
  ),
};

/** Sets a key as an own property, `__proto__` included. */
function withField(o: object, key: string, value: unknown): Record<string, unknown> {
  const out = { ...o } as Record<string, unknown>;
  Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  return out;
}

const nearValidTrigger: fc.Arbitrary<Payload> = fc.oneof(
  ...(Object.keys(oddField) as (keyof Trigger)[]).map((field) =>
    fc.tuple(validTrigger, oddField[field], fc.boolean()).map(([t, v, drop]): Payload => {
      if (!drop) return jsonBody(withField(t, field, v));
      const rest: Record<string, unknown> = { ...t };
      delete rest[field];
      return jsonBody(rest);
    }),
  ),
  // An unknown field.
  fc.tuple(validTrigger, oddKey, anyJson).map(([t, k, v]) => jsonBody(withField(t, k, v))),
);

const triggerBody: fc.Arbitrary<Payload> = fc.oneof(
  { weight: 3, arbitrary: validTrigger.map(jsonBody) },
  { weight: 6, arbitrary: nearValidTrigger },
  // Anything: a string is sent as the body text itself.
  {
    weight: 1,
    arbitrary: fc
      .oneof(anyJson, fc.dictionary(fc.constantFrom(...Object.keys(oddField)), anyJson))
      .map((b) => (typeof b === 'string' ? rawBody(b) : jsonBody(b))),
  },
);

/** Header values a Fetch `Headers` accepts: Latin-1 without NUL, CR and LF. */
const headerValue = fc.oneof(
  fc.constantFrom('k-1', 'k-2', '', ' ', '\t', 'x'.repeat(256), 'x'.repeat(257), 'é'),
  fc.string({
    unit: fc
      .oneof(fc.integer({ min: 0x20, max: 0xff }), fc.constant(9))
      .map((c) => String.fromCharCode(c)),
    maxLength: 300,
  }),
);
/** No header, the body's own key (when a header can carry it), or any value. */
type HeaderChoice = null | 'same' | { value: string };
const headerChoice: fc.Arbitrary<HeaderChoice> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(null) },
  { weight: 2, arbitrary: fc.constant('same' as const) },
  { weight: 2, arbitrary: headerValue.map((value) => ({ value })) },
);

/** A notification a trigger made (by index, resolved when the run starts), or any id. */
type Target = { known: number } | { id: string } | { raw: string };
const target: fc.Arbitrary<Target> = fc.oneof(
  { weight: 4, arbitrary: fc.nat().map((known) => ({ known })) },
  { weight: 1, arbitrary: fc.uuid().map((u) => ({ id: u })) },
  { weight: 1, arbitrary: oddString(300).map((s) => ({ id: s })) },
  { weight: 1, arbitrary: rawUrlPart.map((raw) => ({ raw })) },
);

for (const backend of BACKENDS)
  describe(
    `fuzzing the trigger and cancel on ${backend}`,
    { skip: backend === 'pg' ? pgSkip : undefined },
    () => {
      let herald: Herald;
      let request: Request;
      let snapshot: () => Promise<Snapshot>;
      let s: string;
      /** Notifications made by successful triggers, for cancel. */
      const triggered: string[] = [];

      before(async () => {
        herald = await openHerald(backend, { apiKey: KEY });
        request = requester(makeApp(herald), KEY);
        snapshot = tableSnapshot(herald);
        s = `"${herald.config.schema}"`;
        for (const [name, def] of Object.entries(TYPES)) await herald.types.put(name, def);
        await herald.recipients.upsert('fixed', {});
        await herald.recipients.upsert('r1', { email: 'r1@example.com', phone: '+4915112345678' });
        await herald.devices.register('r1', { kind: 'fcm', token: 'fcm-token-of-r1-0123456789' });
        await herald.recipients.upsert('r2', {
          email: 'r2@example.com',
          timezone: 'America/St_Johns',
        });
        await herald.preferences.put('r2', {
          quietHours: { start: '18:00', end: '07:30' },
          consent: { marketing: true },
        });
      });
      after(async () => {
        await closeHerald(herald);
      });

      it('sendAt at the ends of the range: never a 5xx; a 2xx answers RFC 3339 times', async () => {
        const cases: [string, string, unknown][] = [
          // Instants after 9999-12-31T23:59:59Z: by the offset, or by quiet hours deferring.
          [
            'POST',
            '/v1/notifications',
            { type: 'multi', to: 'r1', sendAt: '9999-12-31T23:59:59-23:59' },
          ],
          [
            'POST',
            '/v1/notifications',
            { type: 'fixed', to: 'fixed', sendAt: '9999-12-31T23:59:59-23:59' },
          ],
          [
            'POST',
            '/v1/notifications',
            { type: 'promo', to: 'r2', channels: ['email'], sendAt: '9999-12-31T23:00:00Z' },
          ],
          [
            'POST',
            '/v1/notifications',
            { type: 'multi', to: 'r1', sendAt: '0000-01-01T00:00:00+23:59' },
          ],
        ];
        const failures: string[] = [];
        for (const [method, path, b] of cases) {
          const before = await snapshot();
          const res = await request(method, path, jsonBody(b));
          const answer = await res.text();
          const what = `${method} ${path} ${JSON.stringify(b)}`;
          if (res.status >= 500) failures.push(`${what} → ${res.status}`);
          else if (res.status >= 400 && changed(before, await snapshot()).length > 0)
            failures.push(`${what} → ${res.status} and wrote`);
          else if (res.status < 300 && /"[+-]\d{6}-/.test(answer))
            failures.push(`${what} → ${res.status} with a time RFC 3339 cannot write: ${answer}`);
        }
        assert.deepEqual(failures, []);
      });

      /** The header of a trigger: the body's `idempotencyKey` itself for 'same'. */
      function idempotencyHeader(payload: Payload, choice: HeaderChoice): string | null {
        if (choice === null) return null;
        if (choice !== 'same') return choice.value;
        let key: unknown;
        try {
          key = (JSON.parse(payload.text) as { idempotencyKey?: unknown } | null)?.idempotencyKey;
        } catch {
          return null;
        }
        // A header carries Latin-1 without NUL, CR and LF, and loses surrounding blanks.
        return typeof key === 'string' && /^[\x21-\xff](?:[\t\x20-\xff]*[\x21-\xff])?$/.test(key)
          ? key
          : null;
      }

      /** A trigger's answer in a stable order: what a replay must repeat. */
      const summary = (notifications: NotificationSummary[]) =>
        notifications
          .map((n) => ({
            ...n,
            deliveries: [...n.deliveries].sort((a, b) => a.id.localeCompare(b.id)),
          }))
          .sort((a, b) => a.id.localeCompare(b.id));

      /** The rows a 202 trigger wrote agree with its answer and its request. */
      async function checkTriggered(
        sent: Trigger,
        key: string | undefined,
        triggerId: string,
        notifications: NotificationSummary[],
        before: Snapshot,
        after: Snapshot,
      ) {
        const channels = sent.channels ?? TYPES[sent.type].channels;
        const ids =
          typeof sent.to === 'string'
            ? [sent.to]
            : Array.isArray(sent.to)
              ? [...new Set(sent.to)]
              : [sent.to.id];
        assert.deepEqual(notifications.map((n) => n.recipientId).sort(), [...ids].sort());
        let queued = 0;
        const rfc3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
        for (const n of notifications) {
          assert.equal(n.type, sent.type);
          assert.match(n.sendAt, rfc3339);
          assert.deepEqual(n.deliveries.map((d) => d.channel).sort(), [...channels].sort());
          for (const d of n.deliveries) {
            if (d.status === 'queued') queued += 1;
            else assert.equal(d.status, 'skipped');
            assert.equal(d.runAt === null, d.status === 'skipped', JSON.stringify(d));
            if (d.runAt !== null) assert.match(d.runAt, rfc3339);
          }
        }
        const delta = (t: string) => rowCount(after, t) - rowCount(before, t);
        assert.equal(delta('notifications'), ids.length, 'a notification per recipient');
        assert.equal(delta('deliveries'), ids.length * channels.length, 'a delivery per channel');
        assert.equal(delta('jobs'), queued, 'a job per queued delivery');
        assert.equal(delta('idempotency_keys'), key === undefined ? 0 : 1);

        const { rows } = await herald.db.query<Record<string, number>>(
          `WITH n AS (SELECT * FROM ${s}.notifications WHERE trigger_id = $1),
                d AS (SELECT d.* FROM ${s}.deliveries d JOIN n ON n.id = d.notification_id)
           SELECT (SELECT count(*) FROM n)::int AS notifications,
                  (SELECT count(*) FROM d)::int AS deliveries,
                  (SELECT count(*) FROM d WHERE status = 'queued')::int AS queued,
                  (SELECT count(*) FROM d JOIN ${s}.jobs j ON j.key = 'deliver:' || d.id
                   WHERE d.status = 'queued' AND j.status = 'queued' AND j.run_at = d.run_at
                     AND j.kind = 'deliver' AND j.payload ->> 'deliveryId' = d.id::text)::int AS jobs,
                  (SELECT count(*) FROM d JOIN ${s}.jobs j ON j.key = 'deliver:' || d.id
                   WHERE d.status <> 'queued')::int AS stray_jobs`,
          [triggerId],
        );
        assert.deepEqual(rows[0], {
          notifications: ids.length,
          deliveries: ids.length * channels.length,
          queued,
          jobs: queued,
          stray_jobs: 0,
        });
        const { rows: data } = await herald.db.query<{ data: unknown }>(
          `SELECT DISTINCT data FROM ${s}.notifications WHERE trigger_id = $1`,
          [triggerId],
        );
        assert.deepEqual(
          data.map((r) => r.data),
          [sent.data ?? {}],
          'the data is stored as it was sent',
        );
      }

      it('POST /v1/notifications: never a 5xx; a 4xx writes nothing; a 202 writes what it says', async () => {
        await fc.assert(
          fc.asyncProperty(
            triggerBody,
            headerChoice,
            fc.boolean(),
            async (payload, choice, again) => {
              const header = idempotencyHeader(payload, choice);
              const headers: Record<string, string> =
                header === null ? {} : { 'idempotency-key': header };
              const before = await snapshot();
              const res = await request('POST', '/v1/notifications', payload, headers);
              const answer = await res.text();
              const shown = `${short(payload.text)} ${JSON.stringify(headers)}`;
              assert.ok(res.status < 500, `${shown} → ${res.status}: ${answer}`);
              const after = await snapshot();
              if (res.status >= 400) {
                assert.deepEqual(
                  changed(before, after),
                  [],
                  `${res.status} must not write: ${shown}`,
                );
                return;
              }
              assert.equal(res.status, 202, answer);
              const out = JSON.parse(answer) as {
                triggerId: string;
                notifications: NotificationSummary[];
              };
              triggered.push(...out.notifications.map((n) => n.id));
              if (res.headers.get('idempotent-replayed') === 'true') {
                assert.deepEqual(changed(before, after), [], 'a replay writes nothing');
                return;
              }
              const sent = JSON.parse(payload.text) as Trigger;
              const key =
                header !== null ? new Headers({ k: header }).get('k')! : sent.idempotencyKey;
              await checkTriggered(sent, key, out.triggerId, out.notifications, before, after);
              if (!again || key === undefined) return;

              // The same request again: the first one's answer, and nothing written.
              const res2 = await request('POST', '/v1/notifications', payload, headers);
              const answer2 = await res2.text();
              assert.equal(res2.status, 202, answer2);
              assert.equal(res2.headers.get('idempotent-replayed'), 'true');
              const out2 = JSON.parse(answer2) as typeof out;
              assert.equal(out2.triggerId, out.triggerId);
              assert.deepEqual(summary(out2.notifications), summary(out.notifications));
              assert.deepEqual(changed(after, await snapshot()), [], 'a replay writes nothing');
            },
          ),
          { numRuns: runs(250) },
        );
      });

      it('POST /v1/notifications/{id}/cancel: 404 writes nothing; 200 leaves nothing queued', async () => {
        // Some that are still queued when cancel comes.
        for (const to of ['r1', 'r2']) {
          const { notifications } = await herald.send({
            type: 'multi',
            to,
            data: { x: 'x' },
            sendAt: new Date(Date.now() + 86_400_000).toISOString(),
          });
          triggered.push(...notifications.map((n) => n.id));
        }
        await fc.assert(
          fc.asyncProperty(
            target,
            fc.boolean(),
            fc.option(anyJson.map(jsonBody)),
            async (t, upper, b) => {
              const pool = triggered;
              let segment: string;
              if ('known' in t) {
                const known = pool[t.known % pool.length]!;
                segment = upper ? known.toUpperCase() : known;
              } else segment = 'raw' in t ? t.raw : encodeURIComponent(urlSafe(t.id));
              const path = `/v1/notifications/${segment}/cancel`;
              const before = await snapshot();
              const res = await request('POST', path, b ?? undefined);
              const answer = await res.text();
              assert.ok(res.status < 500, `${path} → ${res.status}: ${answer}`);
              const after = await snapshot();
              if (res.status >= 400) {
                assert.deepEqual(changed(before, after), [], `${res.status} must not write`);
                return;
              }
              assert.equal(res.status, 200);
              const n = JSON.parse(answer) as NotificationDetail;
              assert.equal(n.id, segment.toLowerCase());
              assert.ok(n.cancelledAt);
              assert.ok(
                n.deliveries.every((d) => d.status !== 'queued'),
                answer,
              );
              for (const table of ['notifications', 'deliveries'])
                assert.equal(rowCount(after, table), rowCount(before, table));
              const { rows } = await herald.db.query<{ live: number }>(
                `SELECT count(*)::int AS live FROM ${s}.jobs j JOIN ${s}.deliveries d ON j.key = 'deliver:' || d.id
               WHERE d.notification_id = $1 AND j.status IN ('queued', 'processing')`,
                [n.id],
              );
              assert.equal(rows[0]!.live, 0, 'no job left to send a cancelled delivery');
              // Cancelling again changes nothing.
              assert.equal((await request('POST', path)).status, 200);
              assert.deepEqual(changed(after, await snapshot()), []);
            },
          ),
          { numRuns: runs(100) },
        );
      });
    },
  );

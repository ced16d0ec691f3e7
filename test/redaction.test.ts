/**
 * No recipient address or personal data in jobs.last_error, the deliveries' error columns or
 * the log: an SMTP server that quotes the refused address ("550 5.1.1 <ada@...>"), through
 * the real worker, with the pino output captured. Erasing the recipient clears what is left.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { builtinHandlers } from '../src/handlers.js';
import { makeApp } from '../src/http/app.js';
import { makeLogger } from '../src/obs/log.js';
import { redact } from '../src/obs/redact.js';
import type { Herald } from '../src/index.js';
import { apiCaller } from './helpers/api.js';
import { BACKENDS, closeHerald, openHerald, pgSkipReason, waitFor } from './helpers/db.js';
import { startSmtpSink, type SmtpSink } from './helpers/smtp-sink.js';

const KEY = 'redaction-test-key-0123456789';
const skipPg = await pgSkipReason();

describe('redact', () => {
  it('takes out addresses, numbers, tokens, credentials, JWTs, URL paths and known values', () => {
    const cases: [string, string][] = [
      [
        '550 5.1.1 <Ada.Lovelace+x@Example.co.uk>: no such user',
        '550 5.1.1 <[email]>: no such user',
      ],
      ["The 'To' number +1 500-555-0001 is not valid", "The 'To' number [phone] is not valid"],
      ['Invalid to 447700900123', 'Invalid to [phone]'],
      ['token ' + 'a1'.repeat(32) + ' unregistered', 'token [token] unregistered'],
      [
        'POST https://hooks.slack.com/services/T0/B0/secret?x=1 failed',
        'POST https://hooks.slack.com/[redacted] failed',
      ],
      ['ECONNREFUSED 10.0.0.5:443', 'ECONNREFUSED 10.0.0.5:443'],
      [
        'job 12345 attempt 3 at 2026-12-04T10:00:00Z',
        'job 12345 attempt 3 at 2026-12-04T10:00:00Z',
      ],
      [
        'delivery 0b6f3f1e-4f59-4c8e-9d55-2a4f7f0c9b1e',
        'delivery 0b6f3f1e-4f59-4c8e-9d55-2a4f7f0c9b1e',
      ],
      // A recipient JWT whole (its header alone is shorter than a token), and an unsigned one.
      [
        'bad token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZGEifQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk here',
        'bad token [jwt] here',
      ],
      ['eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZGEifQ. refused', '[jwt] refused'],
      // Unsubscribe tokens are signed base64url JSON too.
      ['token=eyJyIjoiYWRhIn0.c2lnbmF0dXJl', 'token=[jwt]'],
      ['key hk_1a2b3c4d_Zm9vYmFyYmF6cXV4cXV1eGNvcmdl refused', 'key [api-key] refused'],
      ['key hk_1a2b3c4d_short', 'key [api-key]'],
      ['authorization: Bearer redaction-test-key-0123456789', 'authorization: Bearer [redacted]'],
      ['Authorization: Basic QUMxMjM6c2VjcmV0', 'Authorization: Basic [redacted]'],
      ['signing key whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw/+Q=', 'signing key [secret]'],
      ['Bearer realm="twilio"; basic auth failed', 'Bearer realm="twilio"; basic auth failed'],
    ];
    for (const [input, expected] of cases) assert.equal(redact(input), expected, input);
    assert.equal(redact('user ada-lovelace refused', ['ada-lovelace']), 'user [redacted] refused');
  });
});

for (const backend of BACKENDS) {
  describe(
    `personal data in errors and logs (${backend})`,
    { skip: backend === 'pg' && skipPg },
    () => {
      let sink: SmtpSink;
      let herald: Herald;
      const lines: string[] = [];
      before(async () => {
        // ada is refused for good; bob is told to try later, again and again.
        sink = await startSmtpSink({ reject: /^ada\.lovelace@/, defer: /^bob\.byron@/ });
        const out = new Writable({
          write(chunk: Buffer, _enc, done) {
            lines.push(chunk.toString());
            done();
          },
        });
        herald = await openHerald(backend, {
          apiKey: KEY,
          smtpUrl: sink.url,
          logger: makeLogger('debug', out),
          backoff: { baseMs: 60_000, capMs: 60_000 },
          delivery: { maxAttempts: 5 },
        });
        await herald.worker({ handlers: builtinHandlers(herald), pollIntervalMs: 20 }).start();
      });
      after(async () => {
        await closeHerald(herald);
        await sink.close();
      });

      it('keeps refused addresses out of jobs, deliveries and the log; erasure clears the rest', async () => {
        const call = apiCaller(makeApp(herald), KEY);
        const type = {
          channels: ['email'],
          templates: { email: { subject: 'Hi', text: 'Hello' } },
        };
        assert.equal((await call('PUT', '/v1/types/hello', type)).status, 201);
        const people = { ada: 'ada.lovelace@example.com', bob: 'bob.byron@example.com' };
        for (const [id, email] of Object.entries(people))
          assert.equal((await call('PUT', `/v1/recipients/${id}`, { email })).status, 201);
        const ids: Record<string, string> = {};
        for (const id of Object.keys(people)) {
          const res = await call('POST', '/v1/notifications', { type: 'hello', to: id });
          assert.equal(res.status, 202);
          ids[id] = (
            (await res.json()) as { notifications: { id: string }[] }
          ).notifications[0]!.id;
        }
        const s = `"${herald.config.schema}"`;
        // ada: failed for good; bob: one failed attempt, waiting a minute for the next.
        await waitFor(
          async () => {
            const { rows } = await herald.db.query<{ n: number }>(
              `SELECT count(*)::int AS n FROM ${s}.deliveries
              WHERE status = 'failed' OR (status = 'queued' AND attempts >= 1)`,
            );
            return rows[0]!.n === 2;
          },
          20_000,
          'both deliveries to have an error',
        );
        // The worker records bob's failed attempt on his job just after the delivery's.
        await waitFor(
          async () =>
            (await herald.db.query(`SELECT 1 FROM ${s}.jobs WHERE last_error IS NOT NULL`)).rows
              .length > 0,
          20_000,
          "bob's job to record its failed attempt",
        );
        const stored = async () => {
          const jobs = await herald.db.query(`SELECT last_error, errors FROM ${s}.jobs`);
          const deliveries = await herald.db.query(`SELECT error, events FROM ${s}.deliveries`);
          return JSON.stringify([jobs.rows, deliveries.rows]);
        };
        const before = await stored();
        assert.match(before, /5\.1\.1|4\.3\.0/, 'the errors are kept, redacted');
        for (const email of Object.values(people)) {
          assert.ok(!before.includes(email), `${email} stored: ${before}`);
          assert.ok(!lines.join('').includes(email), `${email} logged`);
        }
        assert.ok(!/@example\.com/.test(before + lines.join('')));

        // Erasure clears what is left: bob's job keeps no error text at all.
        assert.equal((await call('DELETE', '/v1/recipients/bob')).status, 204);
        const { rows } = await herald.db.query<{ last_error: string | null; errors: unknown[] }>(
          `SELECT last_error, errors FROM ${s}.jobs WHERE key IN (
           SELECT 'deliver:' || id FROM ${s}.deliveries WHERE notification_id = $1)`,
          [ids.bob],
        );
        assert.ok(rows.length > 0, 'bob still has a job');
        for (const r of rows) {
          assert.equal(r.last_error, null);
          assert.ok(!JSON.stringify(r.errors).includes('"error"'), JSON.stringify(r.errors));
        }
      });
    },
  );
}

/**
 * Twilio's signed status callbacks on one backend (providerBackends), signed as Twilio signs them (HMAC-SHA1 of
 * the public URL and the sorted form parameters with the auth token): delivered, undelivered
 * (failed) and unreachable numbers (bounced, the phone suppressed so the next SMS is skipped);
 * a forged or missing signature is refused with nothing changed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Hono } from 'hono';
import type { Herald } from '../src/index.js';
import { makeApp } from '../src/http/app.js';
import { twilioSignature } from '../src/channels/sms/twilio-status.js';
import type { SendResult } from '../src/notify/send.js';
import { closeHerald, openHerald, pgSkipReason, providerBackends } from './helpers/db.js';
import { apiCaller, type Call, type Problem } from './helpers/api.js';

const pgSkip = await pgSkipReason();
const KEY = 'twilio-webhook-test-key-0123456789';
const TOKEN = 'twilio-test-auth-token';
const PUBLIC = 'https://herald.example.com';

for (const backend of await providerBackends()) {
  describe(
    `Twilio status callback on ${backend}`,
    { skip: backend === 'pg' ? pgSkip : undefined },
    () => {
      let herald: Herald;
      let app: Hono;
      let call: Call;
      const s = () => `"${herald.config.schema}"`;
      let n = 0;

      /** A delivery recorded as an SMS Twilio accepted, with its MessageSid. */
      async function sentSms(): Promise<{ id: string; sid: string }> {
        const res = await call('POST', '/v1/notifications', { type: 'note', to: 'ann' });
        const d = ((await res.json()) as SendResult).notifications[0]!.deliveries[0]!;
        const sid = `SM${String(++n).padStart(32, '0')}`;
        await herald.db.query(
          `UPDATE ${s()}.deliveries SET channel = 'sms', status = 'sent', provider = 'twilio',
             provider_message_id = $2 WHERE id = $1`,
          [d.id, sid],
        );
        return { id: d.id, sid };
      }
      const statusOf = async (id: string) =>
        (
          await herald.db.query<{ status: string; events: { detail: string }[] }>(
            `SELECT status, events FROM ${s()}.deliveries WHERE id = $1`,
            [id],
          )
        ).rows[0]!;
      const post = (
        fields: Record<string, string>,
        signature: string | null = twilioSignature(
          TOKEN,
          `${PUBLIC}/v1/webhooks/twilio`,
          new URLSearchParams(fields),
        ),
      ) =>
        app.request('/v1/webhooks/twilio', {
          method: 'POST',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            ...(signature === null ? {} : { 'x-twilio-signature': signature }),
          },
          body: new URLSearchParams(fields).toString(),
        });

      before(async () => {
        herald = await openHerald(backend, {
          apiKey: KEY,
          publicUrl: `${PUBLIC}/`,
          twilioAuthToken: TOKEN,
        });
        app = makeApp(herald);
        call = apiCaller(app, KEY);
        await call('PUT', '/v1/types/note', {
          channels: ['email'],
          templates: { email: { subject: 'Hi', text: 'x' } },
        });
        await call('PUT', '/v1/recipients/ann', {
          email: 'ann@example.com',
          phone: '+15550001111',
        });
      });
      after(() => closeHerald(herald));

      it('checks the signature against Twilio’s documented example', () => {
        // https://www.twilio.com/docs/usage/security#validating-requests
        const params = new URLSearchParams({
          CallSid: 'CA1234567890ABCDE',
          Caller: '+12349013030',
          Digits: '1234',
          From: '+12349013030',
          To: '+18005551212',
        });
        assert.equal(
          twilioSignature('12345', 'https://mycompany.com/myapp.php?foo=1&bar=2', params),
          '0/KCTR6DLpKmkAf8muzZqo1nDgQ=',
        );
      });

      it('moves deliveries on delivered, undelivered and unreachable numbers', async () => {
        const ok = await sentSms();
        assert.equal(
          (await post({ MessageSid: ok.sid, MessageStatus: 'delivered', To: '+15550001111' }))
            .status,
          204,
        );
        assert.equal((await statusOf(ok.id)).status, 'delivered');

        const lost = await sentSms();
        const fields = {
          MessageSid: lost.sid,
          MessageStatus: 'undelivered',
          ErrorCode: '30008',
          To: '+15550001111',
        };
        assert.equal((await post(fields)).status, 204);
        const row = await statusOf(lost.id);
        assert.equal(row.status, 'failed');
        assert.equal(row.events.at(-1)!.detail, 'twilio: undelivered 30008');
        assert.deepEqual(await herald.suppressions.list(), { items: [] });

        const dead = await sentSms();
        assert.equal(
          (
            await post({
              MessageSid: dead.sid,
              MessageStatus: 'failed',
              ErrorCode: '30006',
              To: '+15550001111',
            })
          ).status,
          204,
        );
        assert.equal((await statusOf(dead.id)).status, 'bounced');
        const { items } = await herald.suppressions.list();
        assert.deepEqual(
          items.map((i) => [i.channel, i.address, i.reason, i.source]),
          [['sms', '+15550001111', 'bounce', 'twilio']],
        );
        // The next SMS to that phone is skipped.
        await call('PUT', '/v1/types/text', {
          channels: ['sms'],
          templates: { sms: { text: 'x' } },
        });
        const res = await call('POST', '/v1/notifications', { type: 'text', to: 'ann' });
        const d = ((await res.json()) as SendResult).notifications[0]!.deliveries[0]!;
        assert.equal(d.reason, 'suppressed');
      });

      it('refuses a forged or missing signature, changing nothing', async () => {
        const sms = await sentSms();
        const fields = { MessageSid: sms.sid, MessageStatus: 'delivered', To: '+1555' };
        const forged = twilioSignature(
          'wrong-token',
          `${PUBLIC}/v1/webhooks/twilio`,
          new URLSearchParams(fields),
        );
        for (const [signature, status, code] of [
          [forged, 403, 'forbidden'],
          ['', 401, 'unauthorized'],
          [null, 401, 'unauthorized'],
        ] as const) {
          const res = await post(fields, signature);
          assert.equal(res.status, status);
          assert.equal(((await res.json()) as Problem).code, code);
        }
        // Signed for other parameters.
        const other = twilioSignature(
          TOKEN,
          `${PUBLIC}/v1/webhooks/twilio`,
          new URLSearchParams({ ...fields, MessageStatus: 'failed' }),
        );
        assert.equal((await post(fields, other)).status, 403);
        assert.equal((await statusOf(sms.id)).status, 'sent');
      });
    },
  );
}

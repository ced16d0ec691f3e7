/**
 * Resend's webhooks (Svix-signed) on one backend (providerBackends). Each delivery is really sent through the
 * pipeline to the local Resend (test/helpers/resend-server.ts), so its events carry the id
 * Resend gave and the tag Herald sent; the events are signed here from the Svix spec (HMAC-SHA256
 * of `id.timestamp.body` with the secret's key), apart from the code under test. Statuses move
 * forward; permanent bounces and complaints suppress the address so the next send is skipped;
 * transient bounces and delays are only recorded; forged, unsigned and stale requests are
 * refused with nothing changed.
 */
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { makeApp } from '../src/http/app.js';
import { makeLogger } from '../src/obs/log.js';
import { resendFromConfig } from '../src/channels/email/resend.js';
import {
  checkResendSignature,
  resendWebhookKey,
  svixSignature,
} from '../src/channels/email/resend-events.js';
import { closeHerald, openHerald, pgSkipReason, providerBackends } from './helpers/db.js';
import type { Problem } from './helpers/api.js';
import { EMAIL_FROM } from './helpers/email-pipeline.js';
import {
  assertSuppressesNextSend,
  deliveryRow,
  webhookPipeline,
} from './helpers/webhook-events.js';
import { startResendServer } from './helpers/resend-server.js';

const pgSkip = await pgSkipReason();
const API_KEY = 're_webhook_test_0123456789';
const KEY = randomBytes(24);
const SECRET = `whsec_${KEY.toString('base64')}`;
const OTHER_KEY = randomBytes(24);

/** Headers as Svix sends them, signed with `key` at `at`. */
function signed(
  body: string,
  { at = Date.now(), key = KEY, id = `msg_${randomBytes(8).toString('hex')}` } = {},
): Record<string, string> {
  const ts = String(Math.floor(at / 1000));
  const mac = createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest('base64');
  return {
    'content-type': 'application/json',
    'svix-id': id,
    'svix-timestamp': ts,
    'svix-signature': `v1,${mac}`,
  };
}

describe('Svix signatures', () => {
  it('match the example in Svix’s documentation, and any one of several entries will do', () => {
    // https://docs.svix.com/receiving/verifying-payloads/how-manual (and the svix libraries' tests)
    const key = resendWebhookKey('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
    const [id, ts, body] = ['msg_p5jXN8AQM9LWM0D4loKWxJek', '1614265330', '{"test": 2432232314}'];
    const sig = 'g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';
    assert.equal(svixSignature(key, id, ts, body), sig);
    const at = 1614265330 * 1000;
    const check = (signature: string, now = at) =>
      checkResendSignature(key, { id, timestamp: ts, signature }, body, now);
    assert.equal(check(`v1,${sig}`), null);
    assert.equal(check(`v1,AAAA v1a,xyz v1,${sig}`), null, 'a rotated secret: two entries');
    assert.equal(check(`v1,${sig.replace('g0h', 'g0i')}`)?.status, 403);
    assert.equal(check(sig)?.status, 403, 'without the version');
    assert.equal(check(`v1,${sig}`, at + 5 * 60_000 + 1000)?.status, 403, 'stale');
    assert.equal(check(`v1,${sig}`, at - 5 * 60_000 - 1000)?.status, 403, 'from the future');
  });

  it('refuse a secret that is not one', () => {
    assert.throws(() => resendWebhookKey('not a secret'), /HERALD_RESEND_WEBHOOK_SECRET/);
    assert.throws(() => resendWebhookKey('whsec_'), /whsec_/);
  });
});

for (const backend of await providerBackends()) {
  describe(`Resend webhooks on ${backend}`, { skip: backend === 'pg' ? pgSkip : undefined }, () => {
    const t = webhookPipeline(
      backend,
      () => startResendServer({ apiKey: API_KEY }),
      (url) =>
        resendFromConfig(
          { resendApiKey: API_KEY, resendUrl: url, emailFrom: EMAIL_FROM },
          makeLogger('silent'),
        ),
      { resendWebhookSecret: SECRET },
    );

    /** An email really sent to `to` through Resend; its delivery id and Resend's email id. */
    async function sent(id: string, to: string) {
      const d = await t.pipeline.sendTo(id, to);
      assert.equal(d.status, 'sent', d.error ?? '');
      const req = t.server.requestsFor(to).at(-1)!;
      const answer = req.reply?.body as { id: string };
      assert.equal(d.providerMessageId, answer.id);
      const tags = (req.json as { tags: { name: string; value: string }[] }).tags;
      return {
        id: d.id,
        emailId: answer.id,
        to,
        // As Resend gives tags back in webhooks: an object.
        tags: Object.fromEntries(tags.map((t) => [t.name, t.value])),
      };
    }
    type Sent = Awaited<ReturnType<typeof sent>>;
    const event = (s: Sent, type: string, extra: Record<string, unknown> = {}, at = new Date()) =>
      JSON.stringify({
        type,
        created_at: at.toISOString(),
        data: {
          created_at: at.toISOString(),
          email_id: s.emailId,
          from: EMAIL_FROM,
          to: [s.to],
          subject: 'Receipt 7',
          tags: s.tags,
          ...extra,
        },
      });
    const post = (body: string, headers: Record<string, string>) =>
      t.app.request('/v1/webhooks/resend', { method: 'POST', headers, body });
    const deliver = async (body: string) => {
      const res = await post(body, signed(body));
      assert.equal(res.status, 204, await res.text());
    };
    const delivery = (id: string) => deliveryRow(t.herald, id);

    it('moves a sent delivery to delivered, opened and clicked, each event in its history', async () => {
      const s = await sent('ann', 'ann@example.com');
      const t = Date.now();
      await deliver(event(s, 'email.sent', {}, new Date(t - 2000)));
      await deliver(event(s, 'email.delivered', {}, new Date(t - 1000)));
      assert.equal((await delivery(s.id)).status, 'delivered');
      await deliver(event(s, 'email.opened'));
      await deliver(
        event(s, 'email.clicked', {
          click: {
            ipAddress: '203.0.113.7',
            link: 'https://acme.test/receipts/7',
            timestamp: new Date().toISOString(),
            userAgent: 'Mozilla/5.0',
          },
        }),
      );
      // A late open is recorded but does not move it back.
      await deliver(event(s, 'email.opened'));
      const row = await delivery(s.id);
      assert.equal(row.status, 'clicked');
      assert.deepEqual(
        row.events.map((e) => e.status),
        ['queued', 'sent', 'delivered', 'opened', 'clicked', 'opened'],
      );
      assert.equal(row.events[4]!.detail, 'resend: https://acme.test/receipts/7');
    });

    it('finds the delivery by Resend’s email id when the tag is missing', async () => {
      const s = await sent('bea', 'bea@example.com');
      await deliver(event({ ...s, tags: {} }, 'email.delivered'));
      assert.equal((await delivery(s.id)).status, 'delivered');
    });

    it('refuses forged, unsigned and stale requests, changing nothing', async () => {
      const s = await sent('cal', 'cal@example.com');
      const before = await delivery(s.id);
      const body = event(s, 'email.bounced', {
        bounce: { message: 'gone', subType: 'General', type: 'Permanent' },
      });
      const good = signed(body);
      const cases: [string, Record<string, string>, number, string][] = [
        ['another secret', signed(body, { key: OTHER_KEY }), 403, 'forbidden'],
        ['a made-up signature', { ...good, 'svix-signature': 'v1,AAAA' }, 403, 'forbidden'],
        [
          'the bare signature',
          { ...good, 'svix-signature': good['svix-signature']!.slice(3) },
          403,
          'forbidden',
        ],
        ['signed for another id', { ...good, 'svix-id': 'msg_other' }, 403, 'forbidden'],
        ['six minutes old', signed(body, { at: Date.now() - 6 * 60_000 }), 403, 'forbidden'],
        ['six minutes ahead', signed(body, { at: Date.now() + 6 * 60_000 }), 403, 'forbidden'],
        ['a timestamp that is not one', { ...good, 'svix-timestamp': 'now' }, 403, 'forbidden'],
        ['no headers', { 'content-type': 'application/json' }, 401, 'unauthorized'],
        ['no signature', { ...good, 'svix-signature': '' }, 401, 'unauthorized'],
        ['no id', { ...good, 'svix-id': '' }, 401, 'unauthorized'],
        ['no timestamp', { ...good, 'svix-timestamp': '' }, 401, 'unauthorized'],
        [
          'signed for another body',
          signed(body.replace('Permanent', 'Transient')),
          403,
          'forbidden',
        ],
      ];
      for (const [what, headers, status, code] of cases) {
        const res = await post(body, headers);
        assert.equal(res.status, status, what);
        assert.equal(((await res.json()) as Problem).code, code, what);
      }
      assert.deepEqual(await delivery(s.id), before);
      assert.equal(before.status, 'sent');
      assert.deepEqual(await t.herald.suppressions.list(), { items: [] });
      // Signed right, but not JSON.
      const res = await post('{not json', signed('{not json'));
      assert.equal(res.status, 400);
    });

    it('a permanent bounce suppresses the address: the next send is skipped', async () => {
      const s = await sent('dan', 'Dan@Example.com');
      await deliver(
        event(s, 'email.bounced', {
          bounce: {
            message: '550 5.1.1 The email account does not exist.',
            subType: 'General',
            type: 'Permanent',
          },
        }),
      );
      await assertSuppressesNextSend(t, {
        delivery: s.id,
        status: 'bounced',
        detail: 'Permanent/General: 550 5.1.1 The email account does not exist.',
        address: 'dan@example.com',
        reason: 'bounce',
        source: 'resend',
      });
    });

    it('a transient bounce and a delay are recorded only; a complaint suppresses', async () => {
      const s = await sent('eve', 'eve@example.com');
      await deliver(
        event(s, 'email.bounced', {
          bounce: { message: 'mailbox full', subType: 'MailboxFull', type: 'Transient' },
        }),
      );
      await deliver(event(s, 'email.delivery_delayed'));
      let row = await delivery(s.id);
      assert.equal(row.status, 'sent');
      assert.deepEqual(
        row.events.slice(-2).map((e) => [e.status, e.detail]),
        [
          ['soft_bounced', 'resend: Transient/MailboxFull: mailbox full'],
          ['delayed', 'resend: delivery delayed'],
        ],
      );
      assert.equal(
        (await t.herald.suppressions.isSuppressed('email', ['eve@example.com'])).size,
        0,
      );
      await deliver(event(s, 'email.delivered'));
      await deliver(event(s, 'email.complained'));
      row = await delivery(s.id);
      assert.equal(row.status, 'complained');
      const { items } = await t.herald.suppressions.list();
      assert.ok(
        items.some((i) => i.address === 'eve@example.com' && i.reason === 'complaint'),
        JSON.stringify(items),
      );
    });
  });
}

describe('Resend webhooks without a secret', () => {
  it('answer 404 naming the setting; a malformed secret stops the app at start', async () => {
    const herald = await openHerald('pglite', { apiKey: API_KEY });
    try {
      const res = await makeApp(herald).request('/v1/webhooks/resend', {
        method: 'POST',
        body: '{}',
      });
      assert.equal(res.status, 404);
      assert.match(((await res.json()) as Problem).detail, /HERALD_RESEND_WEBHOOK_SECRET/);
    } finally {
      await closeHerald(herald);
    }
    const bad = await openHerald('pglite', { apiKey: API_KEY, resendWebhookSecret: 'whsec_!!' });
    try {
      assert.throws(() => makeApp(bad), /HERALD_RESEND_WEBHOOK_SECRET/);
    } finally {
      await closeHerald(bad);
    }
  });
});

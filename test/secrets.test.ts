/**
 * Each secret has one purpose (docs/security.md#secrets-and-signatures): configuration refuses
 * one value in two secret settings and a data hook without its own key; `whsec_` secrets are
 * checked; the Standard Webhooks signing interoperates with the `standardwebhooks` library,
 * including rotation (two signatures); per-destination keys follow the documented HKDF; the
 * data hook's webhook-id is the same on a retry of one batch.
 */
import assert from 'node:assert/strict';
import { createHash, hkdfSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { destinationKey, destinationSigningKey } from '../src/channels/webhook/keys.js';
import { signedHeaders, whsecKey } from '../src/channels/webhook/signature.js';
import { parseConfig, resolveConfig } from '../src/config.js';
import { builtinHandlers } from '../src/handlers.js';
import type { Job } from '../src/types.js';
import { closeHerald, openHerald } from './helpers/db.js';
import { startHttpService } from './helpers/http-service.js';

const WEBHOOK = 'secrets-test-webhook-master-0123456789';
const HOOK = `whsec_${Buffer.alloc(32, 1).toString('base64')}`;
const HOOK_NEXT = `whsec_${Buffer.alloc(32, 2).toString('base64')}`;

describe('one purpose per secret', () => {
  it('refuses the same value in two secret settings, naming both', () => {
    const shared = 'the-same-secret-in-two-places-0123456789';
    for (const [a, b] of [
      ['jwtSecret', 'webhookSecret'],
      ['unsubscribeSecret', 'webhookSecret'],
      ['apiKey', 'jwtSecret'],
    ] as const) {
      assert.throws(
        () => parseConfig({ [a]: shared, [b]: shared }),
        new RegExp(`${b} \\(HERALD_\\w+\\): holds the same secret as ${a}`),
        `${a} = ${b}`,
      );
    }
    // A secret being rotated out of one setting may not be another setting's either.
    assert.throws(
      () => parseConfig({ webhookSecret: `${WEBHOOK} ${shared}`, jwtSecret: shared }),
      /holds the same secret as jwtSecret/,
    );
    assert.throws(
      () => parseConfig({ dataHookSecret: HOOK, resendWebhookSecret: HOOK }),
      /same secret as dataHookSecret/,
    );
  });

  it('a data hook needs its own whsec_ secret; the environment sets it', () => {
    assert.throws(
      () => parseConfig({ dataHookUrl: 'https://app.example.com/hook', webhookSecret: WEBHOOK }),
      /dataHookSecret \(HERALD_DATA_HOOK_SECRET\): a data hook is configured: set its own/,
    );
    for (const bad of ['not-a-whsec-secret-0123456789012345', 'whsec_c2hvcnQ=', WEBHOOK])
      assert.throws(() => parseConfig({ dataHookSecret: bad }), /dataHookSecret/, bad);
    const config = resolveConfig({
      env: {
        HERALD_DATA_HOOK_URL: 'https://app.example.com/hook',
        HERALD_DATA_HOOK_SECRET: `${HOOK_NEXT} ${HOOK}`,
        HERALD_WEBHOOK_SECRET: WEBHOOK,
      },
      noFile: true,
    });
    assert.equal(config.dataHookSecret, `${HOOK_NEXT} ${HOOK}`);
    assert.throws(
      () => resolveConfig({ env: { HERALD_WEBHOOK_SECRET: `${WEBHOOK} short` }, noFile: true }),
      /webhookSecret \(HERALD_WEBHOOK_SECRET\): use at least 32 characters/,
    );
  });
});

describe('Standard Webhooks signing', () => {
  const body = '{"schedule":"daily_briefing","items":[]}';

  it('verifies with the standardwebhooks library, with each key while rotating', () => {
    const t = Math.floor(Date.now() / 1000);
    const headers = signedHeaders([whsecKey(HOOK_NEXT), whsecKey(HOOK)], 'batch_1', t, body);
    assert.equal(headers['webhook-id'], 'batch_1');
    assert.equal(headers['webhook-signature'].split(' ').length, 2);
    for (const key of [HOOK, HOOK_NEXT])
      assert.doesNotThrow(() => new Webhook(key).verify(body, headers), key);
    assert.throws(
      () =>
        new Webhook(destinationSigningKey(WEBHOOK, 'https://a.example.com/')).verify(body, headers),
      /No matching signature/,
    );
  });

  it('derives each destination’s key with the documented HKDF, canonical URL hashed', () => {
    const url = 'https://Hooks.Example.com:443/a?b=1';
    const canonical = 'https://hooks.example.com/a?b=1';
    const info = `herald/webhook/v1 ${createHash('sha256').update(canonical).digest('hex')}`;
    const expected = Buffer.from(hkdfSync('sha256', WEBHOOK, '', info, 32));
    assert.deepEqual(destinationKey(WEBHOOK, url), expected);
    assert.equal(destinationSigningKey(WEBHOOK, url), `whsec_${expected.toString('base64')}`);
    assert.notDeepEqual(destinationKey(WEBHOOK, 'https://hooks.example.com/a?b=2'), expected);
    // A 2048-character URL (the longest allowed) derives too: the URL is hashed into info.
    const long = `https://hooks.example.com/${'x'.repeat(2020)}`;
    assert.equal(destinationKey(WEBHOOK, long).length, 32);
  });
});

describe('the data hook on a retry', () => {
  it('sends the same webhook-id for the same batch, freshly signed with the data hook key', async () => {
    const seen: Record<string, string | string[] | undefined>[] = [];
    const raws: string[] = [];
    const service = await startHttpService({}, (req) => {
      seen.push(req.headers);
      raws.push(req.raw);
      // The first call fails (as a busy app might), the retry is answered.
      return seen.length === 1
        ? { reply: { status: 503, body: 'busy' } }
        : { reply: { status: 200, body: { results: {} } } };
    });
    const herald = await openHerald('pglite', {
      dataHookUrl: `${service.url}/content`,
      egressAllow: ['127.0.0.1/32'], // the app's hook runs on loopback
      dataHookSecret: HOOK,
      webhookSecret: WEBHOOK,
    });
    try {
      await herald.recipients.upsert('ann', { timezone: 'Europe/London' });
      await herald.preferences.put('ann', { schedules: { daily_briefing: { time: '08:00' } } });
      const run = builtinHandlers(herald)['local-schedule']!;
      const payload = { schedule: 'daily_briefing', items: [['ann', '2030-03-04T08:00:00.000Z']] };
      const ctx = { job: {} as Job, signal: new AbortController().signal, log: herald.log };
      await assert.rejects(Promise.resolve(run(payload, ctx)), /503/);
      await run(payload, ctx);
      assert.equal(seen.length, 2);
      assert.equal(seen[0]!['webhook-id'], seen[1]!['webhook-id']);
      assert.match(String(seen[0]!['webhook-id']), /^batch_/);
      for (const [i, headers] of seen.entries()) {
        const h = Object.fromEntries(
          ['webhook-id', 'webhook-timestamp', 'webhook-signature'].map((n) => [
            n,
            String(headers[n]),
          ]),
        );
        assert.doesNotThrow(() => new Webhook(HOOK).verify(raws[i]!, h));
        // No webhook destination's key verifies it, not even one for the hook's own URL.
        assert.throws(
          () =>
            new Webhook(destinationSigningKey(WEBHOOK, `${service.url}/content`)).verify(
              raws[i]!,
              h,
            ),
          /No matching signature/,
        );
      }
    } finally {
      await closeHerald(herald);
      await service.close();
    }
  });
});

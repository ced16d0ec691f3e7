/**
 * The harness of the SMS and WhatsApp provider tests: a Herald whose text channels go through
 * `providers`, a worker, a type per channel (`alert-sms`, `alert-whatsapp`, text `{{message}}`),
 * and `deliver` that triggers one message to a new recipient and answers its delivery once
 * settled; then `assertErrorHandling`, what a service's permanent, transient and rate-limited
 * answers must do to a delivery.
 */
import assert from 'node:assert/strict';
import type { Provider } from '../../src/channels/provider.js';
import type { CreateHeraldOptions } from '../../src/herald.js';
import { builtinHandlers } from '../../src/handlers.js';
import { makeApp } from '../../src/http/app.js';
import type { NotificationDetail } from '../../src/notify/notifications.js';
import { apiCaller } from './api.js';
import { closeHerald, openHerald, type Backend } from './db.js';
import { triggerAndSettle } from './pipeline.js';

const KEY = 'text-pipeline-test-key-0123456789';

export type Delivery = NotificationDetail['deliveries'][number];
export type TextChannel = 'sms' | 'whatsapp';

/**
 * A Herald with these providers (2 attempts, 10–20 ms backoff), a worker, and the two types;
 * `settings` are further options (provider settings, to test the configured providers).
 */
export async function startTextPipeline(
  backend: Backend,
  providers: Provider[],
  settings: CreateHeraldOptions = {},
) {
  const herald = await openHerald(backend, {
    logLevel: 'silent',
    ...settings,
    apiKey: KEY,
    providers,
    delivery: { maxAttempts: 2 },
    backoff: { baseMs: 10, capMs: 20 },
  });
  const call = apiCaller(makeApp(herald), KEY);
  await herald.worker({ handlers: builtinHandlers(herald), pollIntervalMs: 50 }).start();
  for (const channel of ['sms', 'whatsapp'] as const) {
    const res = await call('PUT', `/v1/types/alert-${channel}`, {
      channels: [channel],
      templates: { [channel]: { text: '{{message}}' } },
    });
    assert.equal(res.status, 201, await res.clone().text());
  }
  let n = 0;
  /** Sends `message` to a new recipient with this phone; resolves with the settled delivery. */
  async function deliver(channel: TextChannel, phone: string, message: string): Promise<Delivery> {
    const id = `r-${channel}-${++n}`;
    assert.equal((await call('PUT', `/v1/recipients/${id}`, { phone })).status, 201);
    const detail = await triggerAndSettle(herald, call, {
      type: `alert-${channel}`,
      to: id,
      data: { message },
    });
    return detail.deliveries[0]!;
  }
  return { herald, deliver, close: () => closeHerald(herald) };
}

export const statuses = (d: Delivery) => d.events.map((e) => e.status);

/**
 * Permanent, transient and rate-limited answers, scripted by `script` for three numbers: the
 * first fails at once (permanent_error), the second is retried until the attempts run out,
 * the third is retried once after the service's wait (at least 900 ms) and then sent.
 */
export async function assertErrorHandling(
  deliver: (phone: string) => Promise<Delivery>,
  script: {
    permanent: (phone: string) => void;
    transient: (phone: string) => void;
    rateLimited: (phone: string) => void;
  },
  codes: { permanent: RegExp; transient: RegExp; rateLimited: RegExp },
): Promise<void> {
  script.permanent('+15550000101');
  script.transient('+15550000102');
  script.rateLimited('+15550000103');
  const [permanent, transient, rateLimited] = await Promise.all([
    deliver('+15550000101'),
    deliver('+15550000102'),
    deliver('+15550000103'),
  ]);
  assert.equal(permanent.status, 'failed');
  assert.equal(permanent.reason, 'permanent_error');
  assert.equal(permanent.attempts, 1);
  assert.match(permanent.error ?? '', codes.permanent);

  assert.equal(transient.status, 'failed');
  assert.equal(transient.reason, 'retries_exhausted');
  assert.equal(transient.attempts, 2);
  assert.deepEqual(statuses(transient), ['queued', 'retrying', 'failed']);
  assert.match(transient.error ?? '', codes.transient);

  // Rate-limited once, then sent after the wait.
  assert.equal(rateLimited.status, 'sent');
  assert.deepEqual(statuses(rateLimited), ['queued', 'retrying', 'sent']);
  assert.match(rateLimited.events[1]?.detail ?? '', codes.rateLimited);
  // The retry waited for Retry-After (or the provider's 1 s default), not the 10 ms backoff.
  const waited = Date.parse(rateLimited.events[2]!.at) - Date.parse(rateLimited.events[1]!.at);
  assert.ok(waited >= 900, `waited ${waited} ms after the rate limit`);
}

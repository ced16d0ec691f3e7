/**
 * The harness of the email provider tests: a Herald whose email goes through `provider`, a
 * worker, a marketing type and a transactional one, and `sendTo` that triggers one email to a
 * new recipient and answers its delivery once settled. `settings` are added to Herald's (a
 * webhook's secret); `app` serves the HTTP API (the webhook tests post to it).
 */
import assert from 'node:assert/strict';
import type { Provider } from '../../src/channels/provider.js';
import { builtinHandlers } from '../../src/handlers.js';
import { makeApp } from '../../src/http/app.js';
import type { CreateHeraldOptions } from '../../src/index.js';
import { apiCaller } from './api.js';
import { closeHerald, openHerald, type Backend } from './db.js';
import { triggerAndSettle } from './pipeline.js';

export const EMAIL_FROM = 'Acme Billing <no-reply@acme.test>';
const KEY = 'email-pipeline-test-key-0123456789';

export const newsletterType = {
  category: 'marketing',
  channels: ['email'],
  templates: {
    email: {
      subject: 'News for {{recipient.id}}',
      html: '<p>Hello {{recipient.id}}</p>',
      text: 'Hello {{recipient.id}}',
    },
  },
};

export const receiptType = {
  channels: ['email'],
  templates: { email: { subject: 'Receipt {{n}}', text: 'Thanks, receipt {{n}}' } },
};

export async function startEmailPipeline(
  backend: Backend,
  provider: Provider,
  options: { maxAttempts: number; settings?: CreateHeraldOptions },
) {
  const herald = await openHerald(backend, {
    ...options.settings,
    apiKey: KEY,
    logLevel: 'silent',
    emailFrom: EMAIL_FROM,
    publicUrl: 'https://herald.acme.test',
    providers: [provider],
    backoff: { baseMs: 10, capMs: 20 },
    delivery: { maxAttempts: options.maxAttempts },
  });
  const app = makeApp(herald);
  const call = apiCaller(app, KEY);
  await herald.worker({ handlers: builtinHandlers(herald), pollIntervalMs: 20 }).start();
  assert.equal((await call('PUT', '/v1/types/newsletter', newsletterType)).status, 201);
  assert.equal((await call('PUT', '/v1/types/receipt', receiptType)).status, 201);

  /** One email to a new recipient at `email` (a newsletter with consent); its delivery, settled. */
  async function sendTo(id: string, email: string, type: 'receipt' | 'newsletter' = 'receipt') {
    await call('PUT', `/v1/recipients/${id}`, { email });
    if (type === 'newsletter')
      await call('PUT', `/v1/recipients/${id}/preferences`, { consent: { marketing: true } });
    const n = await triggerAndSettle(herald, call, { type, to: id, data: { n: 7 } });
    return n.deliveries[0]!;
  }
  return { herald, app, call, sendTo, close: () => closeHerald(herald) };
}

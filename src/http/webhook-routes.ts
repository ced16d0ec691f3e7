/**
 * Provider status webhooks (public routes, authenticated by the provider's signature, not by
 * an API key): `POST /v1/webhooks/sendgrid` and `POST /v1/webhooks/twilio`. A request that is unsigned, forged or stale is
 * refused before anything is read or changed. A route whose provider is not configured
 * answers 404.
 */
import { Hono } from 'hono';
import type { Herald } from '../herald.js';
import {
  checkSendgridSignature,
  sendgridEvents,
  sendgridWebhookKey,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
} from '../channels/email/sendgrid-events.js';
import {
  checkTwilioSignature,
  TWILIO_SIGNATURE_HEADER,
  twilioEvents,
} from '../channels/sms/twilio-status.js';
import { makeDeliveryEvents } from '../notify/delivery-events.js';
import { problem } from './problem.js';

export function webhookRoutes(herald: Herald): Hono {
  const app = new Hono();
  const events = makeDeliveryEvents(herald.db, herald.config.schema);
  const sgKey = herald.config.sendgridWebhookPublicKey
    ? sendgridWebhookKey(herald.config.sendgridWebhookPublicKey)
    : null;

  app.post('/sendgrid', async (c) => {
    if (!sgKey)
      return problem(
        404,
        'not_found',
        'the SendGrid webhook is off: set HERALD_SENDGRID_WEBHOOK_PUBLIC_KEY',
      );
    const raw = await c.req.text();
    const refused = checkSendgridSignature(
      sgKey,
      { signature: c.req.header(SIGNATURE_HEADER), timestamp: c.req.header(TIMESTAMP_HEADER) },
      raw,
    );
    if (refused)
      return problem(
        refused.status,
        refused.status === 401 ? 'unauthorized' : 'forbidden',
        refused.message,
      );
    let body: unknown;
    try {
      body = JSON.parse(raw) as unknown;
    } catch {
      return problem(400, 'validation_failed', 'the body is not JSON');
    }
    await events.apply(sendgridEvents(body), 'sendgrid');
    return c.body(null, 204);
  });
  const twilioToken = herald.config.twilioAuthToken;
  const publicUrl = herald.config.publicUrl?.replace(/\/$/, '');
  app.post('/twilio', async (c) => {
    if (!twilioToken || !publicUrl)
      return problem(
        404,
        'not_found',
        'the Twilio status callback is off: set HERALD_TWILIO_AUTH_TOKEN and HERALD_PUBLIC_URL',
      );
    const signature = c.req.header(TWILIO_SIGNATURE_HEADER);
    if (!signature) return problem(401, 'unauthorized', 'missing X-Twilio-Signature header');
    // The URL Twilio posted to: the public base, this path, and the query it was given.
    const url = new URL(c.req.url);
    const params = new URLSearchParams(await c.req.text());
    if (
      !checkTwilioSignature(
        twilioToken,
        `${publicUrl}${url.pathname}${url.search}`,
        params,
        signature,
      )
    )
      return problem(403, 'forbidden', 'the X-Twilio-Signature does not match');
    await events.apply(twilioEvents(params), 'twilio');
    return c.body(null, 204);
  });
  return app;
}

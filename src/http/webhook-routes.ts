/**
 * Provider status webhooks (public routes, authenticated by the provider's signature or
 * credentials, not by an API key): `POST /v1/webhooks/sendgrid`, `/resend`, `/postmark`, `/ses`
 * and `/twilio`. A request that is unsigned, forged or stale is refused before anything is read
 * or changed. A route whose provider is not configured answers 404 naming the setting.
 */
import { Hono } from 'hono';
import type { Herald } from '../herald.js';
import type { Refusal } from '../channels/webhook-check.js';
import {
  checkSendgridSignature,
  sendgridEvents,
  sendgridWebhookKey,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
} from '../channels/email/sendgrid-events.js';
import {
  checkResendSignature,
  resendEvents,
  resendWebhookKey,
  SVIX_ID_HEADER,
  SVIX_SIGNATURE_HEADER,
  SVIX_TIMESTAMP_HEADER,
} from '../channels/email/resend-events.js';
import { checkPostmarkAuth, postmarkEvents } from '../channels/email/postmark-events.js';
import {
  makeSnsVerifier,
  SNS_DEFAULT_CERT_HOST,
  SNS_MESSAGE_TYPE_HEADER,
} from '../channels/email/sns.js';
import { sesEvents } from '../channels/email/ses-events.js';
import {
  checkTwilioSignature,
  TWILIO_SIGNATURE_HEADER,
  twilioEvents,
} from '../channels/sms/twilio-status.js';
import { makeDeliveryEvents, type DeliveryEvent } from '../notify/delivery-events.js';
import { problem } from './problem.js';

const REFUSAL_CODES = {
  400: 'validation_failed',
  401: 'unauthorized',
  403: 'forbidden',
  502: 'provider_unreachable',
} as const;

/** The answer to a refused request. */
const refuse = (r: Refusal): Response => problem(r.status, REFUSAL_CODES[r.status], r.message);

/** The answer of a route whose provider is not configured: 404, naming the settings. */
const off = (what: string, settings: string): Response =>
  problem(404, 'not_found', `the ${what} is off: set ${settings}`);

/** The body as JSON, or the 400 answer. */
function parseJson(raw: string): { body: unknown } | Response {
  try {
    return { body: JSON.parse(raw) as unknown };
  } catch {
    return problem(400, 'validation_failed', 'the body is not JSON');
  }
}

export interface WebhookOptions {
  /** CA certificates (PEM) the SNS certificate and SubscribeURL fetches trust instead of Node's. */
  snsCa?: string | string[];
}

export function webhookRoutes(herald: Herald, options: WebhookOptions = {}): Hono {
  const app = new Hono();
  const events = makeDeliveryEvents(herald.db, herald.config.schema);

  /** The refusal, if the check gave one; else the events read from the JSON body, applied. */
  async function applyChecked(
    raw: string,
    refused: Refusal | null,
    read: (body: unknown) => DeliveryEvent[],
    source: string,
    okStatus: 200 | 204 = 204,
  ): Promise<Response> {
    if (refused) return refuse(refused);
    const parsed = parseJson(raw);
    if (parsed instanceof Response) return parsed;
    await events.apply(read(parsed.body), source);
    return new Response(null, { status: okStatus });
  }
  const sgKey = herald.config.sendgridWebhookPublicKey
    ? sendgridWebhookKey(herald.config.sendgridWebhookPublicKey)
    : null;

  app.post('/sendgrid', async (c) => {
    if (!sgKey) return off('SendGrid webhook', 'HERALD_SENDGRID_WEBHOOK_PUBLIC_KEY');
    const raw = await c.req.text();
    const refused = checkSendgridSignature(
      sgKey,
      { signature: c.req.header(SIGNATURE_HEADER), timestamp: c.req.header(TIMESTAMP_HEADER) },
      raw,
    );
    return applyChecked(raw, refused, sendgridEvents, 'sendgrid');
  });

  const resendKey = herald.config.resendWebhookSecret
    ? resendWebhookKey(herald.config.resendWebhookSecret)
    : null;
  app.post('/resend', async (c) => {
    if (!resendKey) return off('Resend webhook', 'HERALD_RESEND_WEBHOOK_SECRET');
    const raw = await c.req.text();
    const refused = checkResendSignature(
      resendKey,
      {
        id: c.req.header(SVIX_ID_HEADER),
        timestamp: c.req.header(SVIX_TIMESTAMP_HEADER),
        signature: c.req.header(SVIX_SIGNATURE_HEADER),
      },
      raw,
    );
    return applyChecked(raw, refused, resendEvents, 'resend');
  });

  const { postmarkWebhookUser: pmUser, postmarkWebhookPassword: pmPassword } = herald.config;
  app.post('/postmark', async (c) => {
    if (!pmUser || !pmPassword)
      return off(
        'Postmark webhook',
        'HERALD_POSTMARK_WEBHOOK_USER and HERALD_POSTMARK_WEBHOOK_PASSWORD',
      );
    const refused = checkPostmarkAuth(
      { user: pmUser, password: pmPassword },
      c.req.header('authorization'),
    );
    // A challenge, for clients that send the URL's credentials only when asked.
    if (refused?.status === 401) {
      const res = refuse(refused);
      res.headers.set('www-authenticate', 'Basic realm="herald-webhooks", charset="UTF-8"');
      return res;
    }
    // Postmark retries until it gets a 200.
    return applyChecked(await c.req.text(), refused, postmarkEvents, 'postmark', 200);
  });

  const { sesSnsTopicArns: topicArns, sesSnsCertHost } = herald.config;
  const sns = topicArns
    ? makeSnsVerifier({
        topicArns,
        certHost: new RegExp(sesSnsCertHost ?? SNS_DEFAULT_CERT_HOST),
        ...(options.snsCa ? { ca: options.snsCa } : {}),
      })
    : null;
  app.post('/ses', async (c) => {
    if (!sns) return off('SES webhook', 'HERALD_SES_SNS_TOPIC_ARNS');
    const checked = await sns.check(c.req.header(SNS_MESSAGE_TYPE_HEADER), await c.req.text());
    if ('status' in checked) return refuse(checked);
    const { message } = checked;
    if (message.Type === 'Notification') await events.apply(sesEvents(message.Message), 'ses');
    else if (message.Type === 'SubscriptionConfirmation') {
      const failed = await sns.confirm(message);
      if (failed) return refuse(failed);
      herald.log.info({ topicArn: message.TopicArn }, 'ses:sns-subscription-confirmed');
    } else herald.log.warn({ topicArn: message.TopicArn }, 'ses:sns-unsubscribed');
    return c.body(null, 204);
  });

  const twilioToken = herald.config.twilioAuthToken;
  const publicUrl = herald.config.publicUrl?.replace(/\/$/, '');
  app.post('/twilio', async (c) => {
    if (!twilioToken || !publicUrl)
      return off('Twilio status callback', 'HERALD_TWILIO_AUTH_TOKEN and HERALD_PUBLIC_URL');
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

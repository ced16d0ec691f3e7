/**
 * The operation table (shape in openapi-operations.ts), continued: provider status webhooks,
 * authenticated by the provider's signature (Postmark: its basic-auth credentials).
 */
import { z } from 'zod';
import type { Operation } from './openapi-operations.js';

export const WEBHOOK_OPERATIONS: Operation[] = [
  {
    id: 'sendgridEvents',
    method: 'post',
    path: '/v1/webhooks/sendgrid',
    tag: 'Webhooks',
    realm: 'public',
    summary: 'SendGrid Event Webhook (signed)',
    description:
      'Point SendGrid’s Signed Event Webhook here and set `HERALD_SENDGRID_WEBHOOK_PUBLIC_KEY`. ' +
      'The ECDSA signature over the timestamp and the raw body is checked first; the timestamp ' +
      'must be within 10 minutes. delivered, bounce, spamreport, open and click move the ' +
      'delivery named by `herald_delivery_id` to delivered, bounced, complained, opened or ' +
      'clicked; bounces and spam reports suppress the address.',
    body: {
      schema: 'SendgridEvents',
      example: [
        {
          email: 'ann@example.com',
          event: 'delivered',
          timestamp: 1767225600,
          herald_delivery_id: '0192f0c2-7a4e-7000-8000-000000000000',
        },
      ],
    },
    headers: {
      'X-Twilio-Email-Event-Webhook-Signature': {
        schema: z.string(),
        description: 'base64 ECDSA P-256 signature of timestamp + body',
        required: true,
      },
      'X-Twilio-Email-Event-Webhook-Timestamp': {
        schema: z.string(),
        description: 'Unix seconds',
        required: true,
      },
    },
    responses: { 204: { description: 'the events are applied' } },
    errors: {
      unauthorized: 'the signature or timestamp header is missing',
      forbidden: 'the signature does not match, or the timestamp is stale',
      not_found: 'HERALD_SENDGRID_WEBHOOK_PUBLIC_KEY is not set',
    },
  },
  {
    id: 'resendEvents',
    method: 'post',
    path: '/v1/webhooks/resend',
    tag: 'Webhooks',
    realm: 'public',
    summary: 'Resend webhook (signed with Svix)',
    description:
      'Add a webhook endpoint in Resend pointing here and set its signing secret as ' +
      '`HERALD_RESEND_WEBHOOK_SECRET`. Each `v1,` entry of `svix-signature` is an HMAC-SHA256 ' +
      'of `svix-id.svix-timestamp.body` with the secret; one must match, and the timestamp ' +
      'must be within 5 minutes. email.delivered, opened, clicked, complained and bounced ' +
      '(`Permanent`) move the delivery named by the `herald_delivery_id` tag (else by ' +
      '`email_id`) to delivered, opened, clicked, complained or bounced; complaints and ' +
      'permanent bounces suppress the address. Transient bounces and delivery_delayed are ' +
      'recorded only; email.failed and email.suppressed fail the delivery.',
    body: {
      schema: 'ResendEvent',
      example: {
        type: 'email.delivered',
        created_at: '2026-01-01T00:00:00.000Z',
        data: {
          email_id: '4ef9a417-02e9-4d39-ad75-9611e0fcc33c',
          to: ['ann@example.com'],
          tags: { herald_delivery_id: '0192f0c2-7a4e-7000-8000-000000000000' },
        },
      },
    },
    headers: {
      'svix-id': { schema: z.string(), description: 'the message id', required: true },
      'svix-timestamp': { schema: z.string(), description: 'Unix seconds', required: true },
      'svix-signature': {
        schema: z.string(),
        description: 'space-separated `v1,<base64 HMAC-SHA256>` entries',
        required: true,
      },
    },
    responses: { 204: { description: 'the event is applied' } },
    errors: {
      unauthorized: 'a svix header is missing',
      forbidden: 'no signature matches, or the timestamp is stale',
      not_found: 'HERALD_RESEND_WEBHOOK_SECRET is not set',
    },
  },
  {
    id: 'twilioStatus',
    method: 'post',
    path: '/v1/webhooks/twilio',
    tag: 'Webhooks',
    realm: 'public',
    summary: 'Twilio message status callback (signed)',
    description:
      'Set as the StatusCallback of the Messaging Service (or message). `X-Twilio-Signature` ' +
      'is checked with `HERALD_TWILIO_AUTH_TOKEN` over `HERALD_PUBLIC_URL` + path + query and ' +
      'the sorted form parameters. MessageStatus delivered moves the delivery with that ' +
      'MessageSid to delivered; undelivered or failed to failed, or to bounced with the phone ' +
      'suppressed for ErrorCode 30003, 30005 or 30006.',
    body: {
      schema: 'TwilioStatus',
      contentType: 'application/x-www-form-urlencoded',
      example: { MessageSid: 'SM0123', MessageStatus: 'delivered', To: '+15550001111' },
    },
    headers: {
      'X-Twilio-Signature': {
        schema: z.string(),
        description: 'base64 HMAC-SHA1 of the URL and the sorted parameters',
        required: true,
      },
    },
    responses: { 204: { description: 'the status is applied' } },
    errors: {
      unauthorized: 'the signature header is missing',
      forbidden: 'the signature does not match',
      not_found: 'HERALD_TWILIO_AUTH_TOKEN or HERALD_PUBLIC_URL is not set',
    },
  },
];

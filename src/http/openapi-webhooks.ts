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
    id: 'postmarkEvents',
    method: 'post',
    path: '/v1/webhooks/postmark',
    tag: 'Webhooks',
    realm: 'public',
    summary: 'Postmark webhook (basic-auth credentials)',
    description:
      'Postmark does not sign webhooks: give it this URL with credentials, ' +
      '`https://<user>:<password>@<host>/v1/webhooks/postmark`, and set ' +
      '`HERALD_POSTMARK_WEBHOOK_USER` and `HERALD_POSTMARK_WEBHOOK_PASSWORD`; both are ' +
      'compared in constant time. Delivery, Open, Click, SpamComplaint and hard bounces ' +
      '(HardBounce, BadEmailAddress, ManuallyDeactivated, or any Postmark marks Inactive) move ' +
      'the delivery named by the `herald_delivery_id` metadata (else by MessageID) to ' +
      'delivered, opened, clicked, complained or bounced; complaints and hard bounces suppress ' +
      'the address, other bounces are recorded only. A SubscriptionChange with ' +
      '`SuppressSending: true` suppresses the address. Answers 200, which Postmark expects.',
    body: {
      schema: 'PostmarkRecord',
      example: {
        RecordType: 'Delivery',
        MessageID: '883953f4-6105-42a2-a16a-77a8eac79483',
        Recipient: 'ann@example.com',
        DeliveredAt: '2026-01-01T00:00:00Z',
        Details: 'smtp;250 2.0.0 OK',
        Metadata: { herald_delivery_id: '0192f0c2-7a4e-7000-8000-000000000000' },
      },
    },
    headers: {
      Authorization: {
        schema: z.string(),
        description: '`Basic` base64 of `user:password`, from the webhook URL',
        required: true,
      },
    },
    responses: { 200: { description: 'the record is applied' } },
    errors: {
      unauthorized: 'no Basic Authorization header (the answer carries WWW-Authenticate)',
      forbidden: 'the user or password does not match',
      not_found: 'HERALD_POSTMARK_WEBHOOK_USER or HERALD_POSTMARK_WEBHOOK_PASSWORD is not set',
    },
  },
  {
    id: 'sesEvents',
    method: 'post',
    path: '/v1/webhooks/ses',
    tag: 'Webhooks',
    realm: 'public',
    summary: 'Amazon SES events through an SNS topic (signed by SNS)',
    description:
      'Subscribe this URL (HTTPS) to the SNS topic a configuration set’s event destination ' +
      'publishes to, and list the topic in `HERALD_SES_SNS_TOPIC_ARNS`. SNS posts its JSON as ' +
      '`text/plain`. The message must name a listed topic, be at most an hour old, and carry an ' +
      'SNS signature (SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA) over its fields, ' +
      'checked with the certificate at `SigningCertURL` (https, an SNS host, fetched once). A ' +
      'SubscriptionConfirmation is confirmed by a GET of its SubscribeURL. A Notification’s ' +
      'SES record (eventType or notificationType) moves the delivery whose provider message id ' +
      'is `mail.messageId`: Delivery, Open, Click, Complaint and Permanent bounces to ' +
      'delivered, opened, clicked, complained or bounced, Reject to failed; complaints and ' +
      'permanent bounces suppress each recipient; Transient bounces and DeliveryDelay are ' +
      'recorded only.',
    body: {
      schema: 'SnsMessage',
      example: {
        Type: 'Notification',
        MessageId: '22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324',
        TopicArn: 'arn:aws:sns:eu-west-1:123456789012:ses-events',
        Message: '{"eventType":"Delivery","mail":{"messageId":"0102018d-example-000000"}}',
        Timestamp: '2026-01-01T00:00:00.000Z',
        SignatureVersion: '2',
        Signature: 'EXAMPLEpH+...',
        SigningCertURL: 'https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-example.pem',
      },
    },
    headers: {
      'x-amz-sns-message-type': {
        schema: z.enum(['Notification', 'SubscriptionConfirmation', 'UnsubscribeConfirmation']),
        description: 'the message’s Type',
        required: true,
      },
    },
    responses: { 204: { description: 'the message is applied (or the subscription confirmed)' } },
    errors: {
      unauthorized: 'the message has no Signature, SigningCertURL or SignatureVersion',
      forbidden:
        'the signature does not match; the topic is not listed; the Timestamp is stale; the ' +
        'certificate or SubscribeURL is not https on an SNS host',
      not_found: 'HERALD_SES_SNS_TOPIC_ARNS is not set',
      provider_unreachable:
        'the signing certificate could not be fetched, or the SubscribeURL did not answer 200 ' +
        '(SNS retries)',
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

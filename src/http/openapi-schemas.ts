/**
 * The named schemas of the OpenAPI document (its `components.schemas`). Request bodies are the
 * very zod schemas the domain modules validate with, converted as `input` (defaults optional);
 * responses are converted as `output` (defaults filled in). The response shapes that are plain
 * TypeScript interfaces in the domain modules are written out here as zod schemas.
 */
import { partBodySchemas } from '../notify/template-parts.js';
import { replaySchema } from './admin-routes.js';
import { z } from 'zod';
import { deviceRefSchema, deviceSchema } from '../notify/devices.js';
import { preferencesSchema } from '../notify/preferences.js';
import { recipientInputSchema } from '../notify/recipients.js';
import { previewSchema } from '../notify/render.js';
import { triggerSchema } from '../notify/send.js';
import { emailOptionsSchema } from '../notify/email-options.js';
import { DELIVERY_STATUSES } from '../notify/deliveries.js';
import {
  SUPPRESSION_CHANNELS,
  SUPPRESSION_REASONS,
  suppressionInputSchema,
  suppressionKeySchema,
} from '../notify/suppressions.js';
import { CHANNELS, typeDefinitionSchema, typeNameSchema } from '../notify/types.js';
import { reminderInputSchema } from '../scheduler/reminders.js';
import { scheduleDefinitionSchema } from '../scheduler/cron-schedules.js';

/** A zod schema and which side of it the document shows. */
export interface NamedSchema {
  schema: z.ZodType;
  /** `input` for request bodies (what a client may send), `output` for responses. */
  io: 'input' | 'output';
  description: string;
}

const instant = z.iso.datetime({ offset: true });
/** What a notification answers with in a list and alone. */
const notificationFields = {
  id: z.string(),
  triggerId: z.string(),
  recipientId: z.string().nullable(),
  type: z.string(),
  priority: z.string(),
  data: z.record(z.string(), z.unknown()),
  sendAt: instant,
  cancelledAt: instant.nullable(),
  createdAt: instant,
  read: z.boolean(),
};

const scheduleOutput = z.object({
  name: z.string(),
  cron: z.string(),
  timezone: z.string(),
  task: z.string(),
  payload: z.record(z.string(), z.unknown()),
  catchUp: z.enum(['latest', 'all', 'none']),
  maxAttempts: z.int(),
  enabled: z.boolean(),
  source: z.enum(['api', 'config']),
  nextRunAt: instant.nullable(),
  lastTick: instant.nullable(),
  failureStreak: z.int(),
  lastRun: z
    .object({
      id: z.string(),
      tick: z.string(),
      manual: z.boolean(),
      status: z.enum(['queued', 'running', 'succeeded', 'failed']),
      attempts: z.int(),
      startedAt: z.string().nullable(),
      finishedAt: z.string().nullable(),
      error: z.string().nullable(),
      result: z.unknown(),
    })
    .nullable(),
});

const partOutput = z.object({
  kind: z.enum(['layout', 'partial']),
  name: z.string(),
  source: z.string(),
  text: z.string().optional(),
  createdAt: instant,
  updatedAt: instant,
});

const adminDelivery = z.object({
  id: z.string(),
  notificationId: z.string(),
  recipientId: z.string().nullable(),
  type: z.string(),
  channel: z.enum(CHANNELS),
  status: z.enum(DELIVERY_STATUSES),
  reason: z.string().nullable(),
  attempts: z.int(),
  error: z.string().nullable(),
  runAt: instant.nullable(),
  sentAt: instant.nullable(),
  updatedAt: instant,
});

// The answers of send.ts, notifications.ts and inbox.ts (TypeScript interfaces there; the
// test checks these schemas against them).
const deliveryStatus = z.enum(DELIVERY_STATUSES);
const suppression = z.object({
  channel: z.enum(SUPPRESSION_CHANNELS),
  address: z.string(),
  reason: z.enum(SUPPRESSION_REASONS),
  source: z.string(),
  createdAt: instant,
});
const deliverySummary = z.object({
  id: z.string(),
  channel: z.enum(CHANNELS),
  status: deliveryStatus,
  reason: z.string().nullable().describe('why it was skipped or failed'),
  runAt: instant.nullable(),
});
const notificationSummary = z.object({
  id: z.string(),
  recipientId: z.string().nullable(),
  type: z.string(),
  priority: z.enum(['low', 'normal', 'high', 'urgent']),
  sendAt: instant,
  deliveries: z.array(deliverySummary),
});
const deliveryDetail = deliverySummary.extend({
  channel: z.string(),
  status: z.string(),
  address: z.string().nullable(),
  provider: z.string().nullable(),
  providerMessageId: z.string().nullable(),
  details: z
    .record(z.string(), z.unknown())
    .nullable()
    .describe('what the provider reported beyond its message id, e.g. an SMS’s segments'),
  attempts: z.int(),
  error: z.string().nullable(),
  sentAt: instant.nullable(),
  events: z.array(z.object({ at: instant, status: z.string(), detail: z.string().nullable() })),
});
const inboxItem = z.object({
  id: z.string(),
  type: z.string(),
  title: z.string().nullable(),
  body: z.string().nullable(),
  actionUrl: z.string().nullable(),
  data: z.record(z.string(), z.unknown()),
  read: z.boolean(),
  readAt: instant.nullable(),
  createdAt: instant,
});

const deviceOutput = z.object({
  id: z.string(),
  recipientId: z.string(),
  kind: z.enum(['apns', 'fcm', 'webpush']),
  token: z.string().nullable().describe('the APNs or FCM token; null for Web Push'),
  subscription: z.unknown().describe('the Web Push subscription; null otherwise'),
  active: z.boolean().describe('false once a provider reported the address gone'),
  createdAt: instant,
});

const recipientOutput = z.object({
  id: z.string(),
  email: z.string().nullable(),
  phone: z.string().nullable(),
  locale: z.string().nullable(),
  timezone: z.string().nullable(),
  data: z.record(z.string(), z.unknown()),
  webhookUrl: z.string().nullable().describe('where the webhook channel posts'),
  slackWebhookUrl: z.string().nullable().describe('the Slack incoming webhook'),
  createdAt: instant,
  updatedAt: instant,
});

const typeOutput = z.object({
  name: typeNameSchema,
  ...typeDefinitionSchema.shape,
  createdAt: instant,
  updatedAt: instant,
});

export const SCHEMAS = {
  ProblemDetails: {
    io: 'output',
    description:
      'An RFC 9457 problem (`application/problem+json`). `code` is stable and meant for ' +
      'programs; `errors` lists each bad field of a refused input.',
    schema: z.object({
      type: z.url(),
      title: z.string(),
      status: z.int(),
      detail: z.string(),
      code: z.string(),
      errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
    }),
  },
  Health: {
    io: 'output',
    description: 'The process is alive.',
    schema: z.object({ status: z.literal('ok') }),
  },
  Ready: {
    io: 'output',
    description: 'The database answers and its schema is current.',
    schema: z.object({
      status: z.literal('ready'),
      database: z.enum(['pglite', 'pg']),
      migration: z.int(),
    }),
  },
  RecipientInput: {
    io: 'input',
    description:
      'Fields to set. An update merges: a field not sent keeps its value, `null` clears it, ' +
      '`data` is replaced whole.',
    schema: recipientInputSchema,
  },
  Recipient: {
    io: 'output',
    description: 'A recipient, under the app’s own id.',
    schema: recipientOutput,
  },
  RecipientPage: {
    io: 'output',
    description: 'Recipients by id; pass `nextCursor` as `cursor` for the next page.',
    schema: z.object({ items: z.array(recipientOutput), nextCursor: z.string().nullable() }),
  },
  DeviceInput: {
    io: 'input',
    description:
      'A push address: an APNs or FCM token, or a Web Push subscription ' +
      '(`PushSubscription.toJSON()`).',
    schema: deviceSchema,
  },
  DeviceRef: {
    io: 'input',
    description: 'The device to remove: its token, or its subscription’s endpoint.',
    schema: deviceRefSchema,
  },
  Device: {
    io: 'output',
    description: 'A registered push address.',
    schema: deviceOutput,
  },
  DeviceList: {
    io: 'output',
    description: 'The recipient’s devices, oldest first.',
    schema: z.array(deviceOutput),
  },
  PreferencesInput: {
    io: 'input',
    description: 'The whole preferences document; what is left out takes its default.',
    schema: preferencesSchema,
  },
  Preferences: {
    io: 'output',
    description: 'The preferences with every default filled in.',
    schema: preferencesSchema,
  },
  TypeDefinitionInput: {
    io: 'input',
    description:
      'A notification type. Every channel listed needs a template; every template is parsed ' +
      'as Handlebars on save.',
    schema: typeDefinitionSchema,
  },
  NotificationType: {
    io: 'output',
    description: 'A stored notification type, defaults filled in.',
    schema: typeOutput,
  },
  TypePage: {
    io: 'output',
    description: 'Notification types by name; pass `nextCursor` as `cursor` for the next page.',
    schema: z.object({ items: z.array(typeOutput), nextCursor: z.string().nullable() }),
  },
  PreviewInput: {
    io: 'input',
    description: 'What to render: one channel (default: all of the type’s), a locale, the data.',
    schema: previewSchema,
  },
  Rendered: {
    io: 'output',
    description: 'The rendered fields of each channel, like `{"email": {"subject": "..."}}`.',
    schema: z.partialRecord(z.enum(CHANNELS), z.record(z.string(), z.string())),
  },
  LayoutInput: {
    io: 'input',
    description: 'A layout: `source` is the email html around `{{{body}}}`; `text` the plain part.',
    schema: partBodySchemas.layout,
  },
  PartialInput: {
    io: 'input',
    description: 'A partial, included in templates as `{{> name}}`.',
    schema: partBodySchemas.partial,
  },
  TemplatePart: { io: 'output', description: 'A layout or a partial.', schema: partOutput },
  TemplatePartList: {
    io: 'output',
    description: 'Every layout or every partial.',
    schema: z.array(partOutput),
  },
  ReminderInput: {
    io: 'input',
    description:
      '`to` is a recipient id or a list of ids (at most 1,000); `offsets` are whole numbers of ' +
      '`d`, `h` or `m` before `dueAt` (at most 20, none the same time, up to 366d); `late` says ' +
      'what an offset already past does: `skip` (default) or `send` at once. The notification ' +
      'data gets `reminder: {key, dueAt, offset}` unless `data` has its own `reminder`.',
    schema: reminderInputSchema,
  },
  Reminder: {
    io: 'output',
    description:
      'A reminder with one item per recipient × offset (removed ones too, cancelled). Item ' +
      'reasons: skipped `past` (or the trigger’s refusal, such as `unknown_type`), cancelled ' +
      '`removed` or `deleted`, scheduled `late` (sent at once).',
    schema: z.object({
      key: z.string(),
      type: z.string(),
      dueAt: instant,
      to: z.array(z.string()),
      offsets: z.array(z.string()),
      late: z.enum(['skip', 'send']),
      data: z.record(z.string(), z.unknown()),
      status: z.enum(['active', 'cancelled']),
      createdAt: instant,
      updatedAt: instant,
      items: z.array(
        z.object({
          recipientId: z.string(),
          offset: z.string(),
          dueAt: instant,
          runAt: instant,
          status: z.enum(['scheduled', 'sent', 'skipped', 'cancelled']),
          reason: z.string().nullable(),
          notificationId: z.string().nullable(),
          sentAt: instant.nullable(),
        }),
      ),
    }),
  },
  TriggerInput: {
    io: 'input',
    description:
      '`to` is a recipient id, a list of ids, or an inline recipient (created or updated ' +
      'first). `Idempotency-Key` may be sent as a header instead of `idempotencyKey`. `email` ' +
      'adds a Reply-To, headers and attachments to the email (see EmailOptions).',
    schema: triggerSchema,
  },
  EmailOptions: {
    io: 'input',
    description:
      'The `email` of a trigger. `replyTo` and `headers` win over the type’s email template. ' +
      'Header names are RFC 5322 field names, never one Herald writes (From, To, Subject, ' +
      'Message-ID, Date, MIME-Version, Content-*, List-Unsubscribe*...); values have no CR, LF ' +
      'or other control character. At most 10 attachments, 5 MiB decoded together; `content` ' +
      'is standard base64; `contentId` makes an inline part for `<img src="cid:...">`. A body ' +
      'with large attachments needs `HERALD_MAX_BODY_BYTES` above its 1 MiB default.',
    schema: emailOptionsSchema,
  },
  TriggerResult: {
    io: 'output',
    description: 'One notification per recipient, each with its deliveries (queued or skipped).',
    schema: z.object({ triggerId: z.string(), notifications: z.array(notificationSummary) }),
  },
  Notification: {
    io: 'output',
    description: 'A notification with its deliveries, their attempts and status events.',
    schema: z.object({
      ...notificationFields,
      inbox: z
        .object({
          title: z.string().optional(),
          body: z.string().optional(),
          actionUrl: z.string().optional(),
        })
        .nullable(),
      deliveries: z.array(deliveryDetail),
    }),
  },
  NotificationPage: {
    io: 'output',
    description:
      'Notifications newest first, each with its deliveries’ channel, status and reason; pass ' +
      '`nextCursor` as `cursor` for the next page.',
    schema: z.object({
      items: z.array(
        z.object({
          ...notificationFields,
          deliveries: z.array(
            z.object({
              id: z.string(),
              channel: z.string(),
              status: deliveryStatus,
              reason: z.string().nullable(),
              provider: z.string().nullable(),
            }),
          ),
        }),
      ),
      nextCursor: z.string().nullable(),
    }),
  },
  InboxPage: {
    io: 'output',
    description:
      'Newest first. Pass `nextCursor` as `cursor` for older ones; null on the last page.',
    schema: z.object({ items: z.array(inboxItem), nextCursor: z.string().nullable() }),
  },
  UnreadCount: {
    io: 'output',
    description: 'How many inbox notifications the recipient has not read.',
    schema: z.object({ count: z.int().min(0) }),
  },
  Updated: {
    io: 'output',
    description: 'How many were changed.',
    schema: z.object({ updated: z.int().min(0) }),
  },
  DeliveryPage: {
    io: 'output',
    description: 'Deliveries, newest first; pass `nextCursor` as `cursor` for older ones.',
    schema: z.object({ items: z.array(adminDelivery), nextCursor: z.string().nullable() }),
  },
  AdminDelivery: { io: 'output', description: 'A delivery, for operators.', schema: adminDelivery },
  ScheduleInput: {
    io: 'input',
    description:
      'A cron schedule: `cron` (five fields, or six with seconds first; @daily and friends), ' +
      'the IANA `timezone` its times are in, the `task` run at each tick (`notify`: `payload` ' +
      'is a trigger body) and `catchUp` after downtime: the `latest` missed tick once, `all` ' +
      'of them, or `none`.',
    schema: scheduleDefinitionSchema,
  },
  Schedule: {
    io: 'output',
    description: 'A cron schedule with its next and last run.',
    schema: scheduleOutput,
  },
  ScheduleList: {
    io: 'output',
    description: 'Every cron schedule.',
    schema: z.object({ items: z.array(scheduleOutput) }),
  },
  ScheduleRun: {
    io: 'output',
    description: 'A manual run, queued: a worker runs it and records it in the schedule’s runs.',
    schema: z.object({ runId: z.string(), tick: instant }),
  },
  WebhookSigningKey: {
    io: 'output',
    description:
      'The signing key of one webhook destination: give it to the receiver at `url`, which ' +
      'verifies Herald’s requests with it (Standard Webhooks; any library takes `whsec_…`). ' +
      'Each URL has its own key, so a receiver cannot sign requests another would accept.',
    schema: z.object({ url: z.string(), signingKey: z.string().regex(/^whsec_/) }),
  },
  RecipientSchedules: {
    io: 'output',
    description:
      'A recipient’s local-time schedules (from their preferences) with the next fire time ' +
      'of each, in UTC; with `from`, `runs` lists the next `count` fire times after it.',
    schema: z.object({
      items: z.array(
        z.object({
          name: z.string(),
          type: z.string(),
          cron: z.string(),
          timezone: z.string(),
          nextRunAt: instant.nullable(),
          runs: z.array(instant).optional(),
        }),
      ),
    }),
  },
  QueueStatus: {
    io: 'output',
    description:
      'Jobs by queue, kind and status, with the lag of the oldest due one; each cron schedule ' +
      'with its last run and status.',
    schema: z.object({
      schedules: z.array(scheduleOutput),
      queues: z.array(
        z.object({
          queue: z.string(),
          kind: z.string(),
          status: z.enum(['queued', 'processing', 'dead', 'cancelled']),
          count: z.int(),
          oldestDueLagMs: z.number().nullable(),
          handled: z.boolean(),
        }),
      ),
    }),
  },
  DeadJobs: {
    io: 'output',
    description: 'Dead jobs, newest first, each with every failed attempt.',
    schema: z.object({ items: z.array(z.record(z.string(), z.unknown())) }),
  },
  ReplayInput: {
    io: 'input',
    description: '`{"ids": [...]}` or `{"all": true}`.',
    schema: replaySchema,
  },
  Replayed: {
    io: 'output',
    description: 'The ids of the jobs queued again.',
    schema: z.object({ replayed: z.array(z.string()) }),
  },
  SendgridEvents: {
    io: 'input',
    description:
      'SendGrid events; Herald reads `event`, `email`, `timestamp`, `type`, `reason`, `url` ' +
      'and the custom arg `herald_delivery_id`.',
    schema: z.array(z.record(z.string(), z.unknown())),
  },
  ResendEvent: {
    io: 'input',
    description:
      'A Resend webhook event; Herald reads `type`, `created_at`, `data.email_id`, `data.to`, ' +
      '`data.tags.herald_delivery_id`, `data.bounce`, `data.click.link`, `data.failed.reason`.',
    schema: z.looseObject({
      type: z.string(),
      created_at: z.string().optional(),
      data: z.record(z.string(), z.unknown()),
    }),
  },
  PostmarkRecord: {
    io: 'input',
    description:
      'A Postmark webhook record; Herald reads `RecordType`, `MessageID`, ' +
      '`Metadata.herald_delivery_id`, `Type`, `Inactive`, `Details`, `Email` or `Recipient`, ' +
      '`OriginalLink`, `SuppressSending`, `SuppressionReason` and the record’s time.',
    schema: z.looseObject({
      RecordType: z.string(),
      MessageID: z.string().nullable().optional(),
      Metadata: z.record(z.string(), z.unknown()).nullable().optional(),
    }),
  },
  SnsMessage: {
    io: 'input',
    description:
      'An Amazon SNS message (sent as text/plain); `Message` of a Notification is the SES ' +
      'event record, JSON.',
    schema: z.looseObject({
      Type: z.enum(['Notification', 'SubscriptionConfirmation', 'UnsubscribeConfirmation']),
      MessageId: z.string(),
      TopicArn: z.string(),
      Message: z.string(),
      Timestamp: z.string(),
      SignatureVersion: z.enum(['1', '2']),
      Signature: z.string(),
      SigningCertURL: z.string(),
      Subject: z.string().optional(),
      SubscribeURL: z.string().optional(),
      Token: z.string().optional(),
      UnsubscribeURL: z.string().optional(),
    }),
  },
  TwilioStatus: {
    io: 'input',
    description:
      'Twilio’s status callback form; Herald reads MessageSid, MessageStatus, ErrorCode and To.',
    schema: z.looseObject({
      MessageSid: z.string(),
      MessageStatus: z.string(),
      ErrorCode: z.string().optional(),
      To: z.string().optional(),
    }),
  },
  SuppressionInput: {
    io: 'input',
    description: 'An address to suppress on a channel (email is compared lower-cased).',
    schema: suppressionInputSchema,
  },
  SuppressionKey: {
    io: 'input',
    description: 'The channel and address of a suppression.',
    schema: suppressionKeySchema,
  },
  Suppression: {
    io: 'output',
    description: 'An address Herald does not send to on a channel, and why.',
    schema: suppression,
  },
  SuppressionList: {
    io: 'output',
    description: 'Suppressed addresses, newest first.',
    schema: z.object({ items: z.array(suppression) }),
  },
} satisfies Record<string, NamedSchema>;

export type SchemaName = keyof typeof SCHEMAS;

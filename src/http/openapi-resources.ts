/**
 * The operation table (shape in openapi-operations.ts): operations endpoints, recipients,
 * devices, preferences, notification types, layouts and partials.
 */
import { pageQuerySchema } from '../notify/pages.js';
import { recipientIdSchema, recipientListQuerySchema } from '../notify/recipients.js';
import { partNameSchema, typeNameSchema } from '../notify/types.js';
import { z } from 'zod';
import { CLIENT_FILE } from './client-routes.js';
import type { Operation } from './openapi-operations.js';

const recipientParam = {
  id: { schema: recipientIdSchema, description: 'The app’s own id for the recipient.' },
};
const typeParam = {
  name: { schema: typeNameSchema, description: 'The type’s name.' },
};
const partParam = {
  name: {
    schema: partNameSchema,
    description: 'Lower-case letters, digits, `_ -`.',
  },
};
const noRecipient = 'no recipient with this id';
const noType = 'no notification type with this name';

const preferencesExample = {
  channels: { email: true, sms: false },
  types: { weekly_summary: false, due_date_reminder: { email: false } },
  quietHours: { start: '22:00', end: '07:30' },
  timezone: 'Europe/Berlin',
  digest: 'daily',
  schedules: { daily_briefing: { time: '08:00', skipWeekends: true } },
  consent: { marketing: true },
};

export const RESOURCE_OPERATIONS: Operation[] = [
  {
    id: 'health',
    method: 'get',
    path: '/health',
    tag: 'Operations',
    summary: 'Liveness',
    description: 'The process is alive and serving HTTP. Says nothing about the database.',
    realm: 'none',
    responses: { 200: { description: 'alive', schema: 'Health' } },
  },
  {
    id: 'ready',
    method: 'get',
    path: '/ready',
    tag: 'Operations',
    summary: 'Readiness',
    description: 'The database answers and its schema is the one this code knows.',
    realm: 'none',
    responses: { 200: { description: 'ready for traffic', schema: 'Ready' } },
    errors: {
      database_unreachable: 'the database does not answer',
      not_ready: 'the schema is behind: run `herald migrate`',
    },
  },
  {
    id: 'metrics',
    method: 'get',
    path: '/metrics',
    tag: 'Operations',
    summary: 'Prometheus metrics',
    description:
      'Notifications by type, deliveries by channel, provider and outcome, provider send times, ' +
      'queue depth and lag by kind, dead letters, schedule lag, the scheduler’s last round, ' +
      'real-time connections, and Node process metrics (docs/operations.md#metrics).',
    realm: 'none',
    responses: {
      200: { description: 'the Prometheus text format', contentType: 'text/plain; version=0.0.4' },
    },
  },
  {
    id: 'clientScript',
    method: 'get',
    path: '/client/{file}',
    tag: 'Browser client',
    summary: 'The browser client and <herald-inbox> as scripts',
    description:
      '`herald.js` is the real-time inbox client (`connect()`), `herald-inbox.js` the ' +
      '`<herald-inbox>` element; each imports its modules from beside it. Public, CORS `*`, ' +
      'cached for five minutes with an ETag. See docs/realtime-client.md.',
    realm: 'none',
    pathParams: {
      file: {
        schema: z.string().regex(CLIENT_FILE),
        description: '`herald.js`, `herald-inbox.js`, or a module they import.',
      },
    },
    responses: {
      200: { description: 'the ES module', contentType: 'text/javascript; charset=utf-8' },
      304: { description: 'not modified since the ETag sent in If-None-Match' },
    },
    errors: { not_found: 'no such file, or the client is not built (`npm run build`)' },
  },
  {
    id: 'upsertRecipient',
    method: 'put',
    path: '/v1/recipients/{id}',
    tag: 'Recipients',
    summary: 'Create or update a recipient',
    description:
      'Creates the recipient, or merges the fields sent into it: fields not sent keep their ' +
      'values, `null` clears one, `data` is replaced whole.',
    realm: 'server',
    pathParams: recipientParam,
    body: {
      schema: 'RecipientInput',
      example: {
        email: 'ada@example.com',
        phone: '+4915112345678',
        locale: 'de',
        timezone: 'Europe/Berlin',
        data: { plan: 'pro' },
      },
    },
    responses: {
      200: { description: 'updated', schema: 'Recipient' },
      201: { description: 'created', schema: 'Recipient' },
    },
  },
  {
    id: 'listRecipients',
    method: 'get',
    path: '/v1/recipients',
    tag: 'Recipients',
    summary: 'List recipients',
    description:
      'By id, a page at a time; `prefix` keeps those whose id, or email (any case), starts with it.',
    realm: 'server',
    query: {
      prefix: {
        schema: recipientListQuerySchema.shape.prefix,
        description: 'a start of the id or email',
      },
      cursor: {
        schema: pageQuerySchema.shape.cursor,
        description: 'the previous page’s `nextCursor`',
      },
      limit: { schema: pageQuerySchema.shape.limit, description: 'page size (at most 200)' },
    },
    responses: { 200: { description: 'a page', schema: 'RecipientPage' } },
  },
  {
    id: 'getRecipient',
    method: 'get',
    path: '/v1/recipients/{id}',
    tag: 'Recipients',
    summary: 'Read a recipient',
    realm: 'server',
    pathParams: recipientParam,
    responses: { 200: { description: 'the recipient', schema: 'Recipient' } },
    errors: { not_found: noRecipient },
  },
  {
    id: 'eraseRecipient',
    method: 'delete',
    path: '/v1/recipients/{id}',
    tag: 'Recipients',
    summary: 'Erase a recipient',
    description: 'Erases the recipient with their devices and preferences.',
    realm: 'server',
    pathParams: recipientParam,
    responses: { 204: { description: 'erased' } },
    errors: { not_found: noRecipient },
  },
  {
    id: 'registerDevice',
    method: 'post',
    path: '/v1/recipients/{id}/devices',
    tag: 'Devices',
    summary: 'Register a push address',
    description:
      'An address belongs to one recipient: registering it for another moves it there ' +
      '(a phone that changed hands) and makes it active again.',
    realm: 'server',
    pathParams: recipientParam,
    body: {
      schema: 'DeviceInput',
      example: { kind: 'fcm', token: 'fcm-registration-token-0123456789' },
    },
    responses: {
      200: { description: 'already known (now this recipient’s)', schema: 'Device' },
      201: { description: 'registered', schema: 'Device' },
    },
    errors: { not_found: noRecipient },
  },
  {
    id: 'unregisterDevice',
    method: 'delete',
    path: '/v1/recipients/{id}/devices',
    tag: 'Devices',
    summary: 'Unregister a push address',
    description: 'The body names the device; for Web Push the endpoint is enough.',
    realm: 'server',
    pathParams: recipientParam,
    body: {
      schema: 'DeviceRef',
      example: { kind: 'fcm', token: 'fcm-registration-token-0123456789' },
    },
    responses: { 204: { description: 'removed' } },
    errors: { not_found: 'this recipient has no such device' },
  },
  {
    id: 'listDevices',
    method: 'get',
    path: '/v1/recipients/{id}/devices',
    tag: 'Devices',
    summary: 'List a recipient’s devices',
    realm: 'server',
    pathParams: recipientParam,
    responses: { 200: { description: 'the devices', schema: 'DeviceList' } },
  },
  {
    id: 'getPreferences',
    method: 'get',
    path: '/v1/recipients/{id}/preferences',
    tag: 'Preferences',
    summary: 'Read a recipient’s preferences',
    realm: 'server',
    pathParams: recipientParam,
    responses: { 200: { description: 'with defaults filled in', schema: 'Preferences' } },
    errors: { not_found: noRecipient },
  },
  {
    id: 'putPreferences',
    method: 'put',
    path: '/v1/recipients/{id}/preferences',
    tag: 'Preferences',
    summary: 'Replace a recipient’s preferences',
    realm: 'server',
    pathParams: recipientParam,
    body: { schema: 'PreferencesInput', example: preferencesExample },
    responses: { 200: { description: 'as stored', schema: 'Preferences' } },
    errors: { not_found: `${noRecipient} (create it first)` },
  },
  {
    id: 'getMyPreferences',
    method: 'get',
    path: '/v1/me/preferences',
    tag: 'Preferences',
    summary: 'Read my preferences',
    description: 'The recipient named by the token’s `sub`.',
    realm: 'recipient',
    responses: { 200: { description: 'with defaults filled in', schema: 'Preferences' } },
    errors: { not_found: 'the token’s recipient does not exist' },
  },
  {
    id: 'putMyPreferences',
    method: 'put',
    path: '/v1/me/preferences',
    tag: 'Preferences',
    summary: 'Replace my preferences',
    realm: 'recipient',
    body: { schema: 'PreferencesInput', example: preferencesExample },
    responses: { 200: { description: 'as stored', schema: 'Preferences' } },
    errors: { not_found: 'the token’s recipient does not exist' },
  },
  {
    id: 'putType',
    method: 'put',
    path: '/v1/types/{name}',
    tag: 'Types',
    summary: 'Define or replace a notification type',
    realm: 'server',
    pathParams: typeParam,
    body: {
      schema: 'TypeDefinitionInput',
      example: {
        category: 'transactional',
        channels: ['email', 'inapp'],
        priority: 'normal',
        templates: {
          email: { subject: 'Due soon: {{title}}', text: '{{title}} is due {{due}}' },
          inapp: { title: '{{title}}', body: 'due {{due}}', actionUrl: '/tasks/{{id}}' },
        },
        locales: { de: { email: { subject: 'Bald fällig: {{title}}' } } },
      },
    },
    responses: {
      200: { description: 'replaced', schema: 'NotificationType' },
      201: { description: 'defined', schema: 'NotificationType' },
    },
    errors: {
      unsafe_action_url:
        'an in-app actionUrl template starts a javascript:, data: or other non-web URL',
    },
  },
  {
    id: 'listTypes',
    method: 'get',
    path: '/v1/types',
    tag: 'Types',
    summary: 'List notification types',
    description: 'By name, a page at a time.',
    realm: 'server',
    query: {
      cursor: {
        schema: pageQuerySchema.shape.cursor,
        description: 'the previous page’s `nextCursor`',
      },
      limit: { schema: pageQuerySchema.shape.limit, description: 'page size (at most 200)' },
    },
    responses: { 200: { description: 'a page', schema: 'TypePage' } },
  },
  {
    id: 'getType',
    method: 'get',
    path: '/v1/types/{name}',
    tag: 'Types',
    summary: 'Read a notification type',
    realm: 'server',
    pathParams: typeParam,
    responses: { 200: { description: 'the type', schema: 'NotificationType' } },
    errors: { not_found: noType },
  },
  {
    id: 'deleteType',
    method: 'delete',
    path: '/v1/types/{name}',
    tag: 'Types',
    summary: 'Remove a notification type',
    realm: 'server',
    pathParams: typeParam,
    responses: { 204: { description: 'removed' } },
    errors: { not_found: noType },
  },
  {
    id: 'previewType',
    method: 'post',
    path: '/v1/types/{name}/preview',
    tag: 'Types',
    summary: 'Render a type’s templates with sample data',
    description:
      'Locale fallback is field by field: the exact locale, its language, the type’s own. ' +
      'A variable missing from `data` is a validation error naming the template. Render work ' +
      'is bounded: past it, `template_too_expensive` names the field.',
    realm: 'server',
    pathParams: typeParam,
    body: {
      schema: 'PreviewInput',
      example: { channel: 'email', locale: 'de-AT', data: { title: 'Report', due: 'Friday' } },
    },
    responses: { 200: { description: 'the rendered fields', schema: 'Rendered' } },
    errors: {
      not_found: noType,
      template_too_expensive:
        'the render passed its work bound (50,000 block bodies and partials, or 1,000,000 characters a field)',
      unsafe_action_url:
        'the in-app actionUrl renders to a javascript:, data: or other non-web URL',
    },
  },
  ...(['layout', 'partial'] as const).flatMap(partOperations),
  webhookKeyOperation('recipientWebhookSigningKey', '/v1/recipients/{id}', 'Recipients', {
    pathParams: recipientParam,
    owner: 'the recipient’s own `webhookUrl`',
    missing: 'no recipient with this id, or it has no `webhookUrl`',
  }),
  webhookKeyOperation('typeWebhookSigningKey', '/v1/types/{name}', 'Types', {
    pathParams: typeParam,
    owner: 'the type’s `webhook.url`',
    missing: 'no notification type with this name, or it has no `webhook.url`',
  }),
];

/** GET …/webhook-signing-key of a recipient or a type (http/webhook-key-routes.ts). */
function webhookKeyOperation(
  id: string,
  base: string,
  tag: string,
  o: { pathParams: Operation['pathParams']; owner: string; missing: string },
): Operation {
  return {
    id,
    method: 'get',
    path: `${base}/webhook-signing-key`,
    tag,
    summary: 'The signing key of a webhook URL',
    description:
      `The key Herald signs requests to ${o.owner} with (Standard Webhooks, \`whsec_…\`): ` +
      'hand it to that receiver. Each URL has its own key, derived from HERALD_WEBHOOK_SECRET; ' +
      'changing the URL or the secret changes it. Answered with `Cache-Control: no-store`.',
    realm: 'server',
    pathParams: o.pathParams,
    responses: { 200: { description: 'the URL and its key', schema: 'WebhookSigningKey' } },
    errors: {
      not_found: o.missing,
      conflict: 'HERALD_WEBHOOK_SECRET is not set, so webhooks are not signed',
    },
  };
}

/** The four routes of layouts, and of partials: list, put, get, delete. */
function partOperations(kind: 'layout' | 'partial'): Operation[] {
  const Kind = kind === 'layout' ? 'Layout' : 'Partial';
  const base = `/v1/${kind}s`;
  const missing = { not_found: `no ${kind} with this name` };
  const common = { tag: 'Templates', realm: 'server' } as const;
  return [
    {
      ...common,
      id: `list${Kind}s`,
      method: 'get',
      path: base,
      summary: `List ${kind}s`,
      responses: { 200: { description: `every ${kind}`, schema: 'TemplatePartList' } },
    },
    {
      ...common,
      id: `put${Kind}`,
      method: 'put',
      path: `${base}/{name}`,
      summary: `Define or replace a ${kind}`,
      description:
        kind === 'layout'
          ? 'The layout must insert `{{{body}}}` (unescaped: the body is HTML already).'
          : 'Checked as Handlebars on save.',
      pathParams: partParam,
      body:
        kind === 'layout'
          ? {
              schema: 'LayoutInput',
              example: { source: '<html><body>{{{body}}}</body></html>', text: '{{body}}' },
            }
          : { schema: 'PartialInput', example: { source: '<p>Thanks, {{name}}</p>' } },
      responses: {
        200: { description: 'replaced', schema: 'TemplatePart' },
        201: { description: 'defined', schema: 'TemplatePart' },
      },
    },
    {
      ...common,
      id: `get${Kind}`,
      method: 'get',
      path: `${base}/{name}`,
      summary: `Read a ${kind}`,
      pathParams: partParam,
      responses: { 200: { description: `the ${kind}`, schema: 'TemplatePart' } },
      errors: missing,
    },
    {
      ...common,
      id: `delete${Kind}`,
      method: 'delete',
      path: `${base}/{name}`,
      summary: `Remove a ${kind}`,
      pathParams: partParam,
      responses: { 204: { description: 'removed' } },
      errors: missing,
    },
  ];
}

/**
 * The operation table (shape in openapi-operations.ts), continued: notifications, the
 * recipient's inbox and unsubscribe links.
 */
import { z } from 'zod';
import { inboxQuerySchema } from '../notify/inbox.js';
import { notificationListQuerySchema } from '../notify/notification-list.js';
import type { Operation } from './openapi-operations.js';

const notificationParam = {
  id: { schema: z.uuid(), description: 'The notification’s id.', malformedIsNotFound: true },
};
const query = inboxQuerySchema.shape;
const list = notificationListQuerySchema.shape;
const noNotification = 'no notification with this id';
const noInboxItem = 'no such notification in this recipient’s inbox';

export const NOTIFICATION_OPERATIONS: Operation[] = [
  {
    id: 'triggerNotification',
    method: 'post',
    path: '/v1/notifications',
    tag: 'Notifications',
    summary: 'Trigger a notification',
    description:
      'Queues the type for each recipient and answers at once; delivery happens in workers. ' +
      'A repeated idempotency key answers the first trigger’s notifications, with ' +
      '`Idempotent-Replayed: true`.',
    realm: 'server',
    headers: {
      'Idempotency-Key': {
        schema: z.string().min(1).max(256),
        description: 'Instead of `idempotencyKey` in the body (both given: they must match).',
      },
    },
    body: {
      schema: 'TriggerInput',
      example: { type: 'due_date_reminder', to: 'user-42', data: { title: 'Report' } },
    },
    responses: { 202: { description: 'accepted', schema: 'TriggerResult' } },
    errors: {
      unknown_type: 'no notification type with this name',
      unknown_recipient: 'a recipient id that does not exist',
      missing_template_data:
        'the data lacks a variable a template of a queued delivery uses (each named in `errors`)',
      template_too_expensive: 'the data makes a render pass its work bound (docs/templates.md)',
      unsafe_action_url:
        'the in-app actionUrl renders to a javascript:, data: or other non-web URL',
      idempotency_conflict: 'the idempotency key was used with a different body',
    },
  },
  {
    id: 'listNotifications',
    method: 'get',
    path: '/v1/notifications',
    tag: 'Notifications',
    summary: 'List notifications',
    description:
      'Newest first, a page at a time, under any of the filters. `data.<key>=<value>` (up to ' +
      '5) keeps notifications whose trigger `data` has that key with that value (a value that ' +
      'reads as a number, `true`, `false` or `null` matches that JSON value too), e.g. ' +
      '`?data.orderId=A-1042`.',
    realm: 'server',
    query: {
      recipient: { schema: list.recipient, description: 'a recipient id' },
      type: { schema: list.type, description: 'a notification type' },
      status: { schema: list.status, description: 'has a delivery in this status' },
      channel: { schema: list.channel, description: 'with `status`: that delivery’s channel' },
      since: { schema: list.since, description: 'created at or after (RFC 3339)' },
      until: { schema: list.until, description: 'created before (RFC 3339)' },
      cursor: { schema: list.cursor, description: 'the previous page’s `nextCursor`' },
      limit: { schema: list.limit, description: 'page size (at most 200)' },
    },
    responses: { 200: { description: 'a page', schema: 'NotificationPage' } },
  },
  {
    id: 'getNotification',
    method: 'get',
    path: '/v1/notifications/{id}',
    tag: 'Notifications',
    summary: 'Read a notification',
    description: 'With its deliveries, their attempts and status events.',
    realm: 'server',
    pathParams: notificationParam,
    responses: { 200: { description: 'the notification', schema: 'Notification' } },
    errors: { not_found: noNotification },
  },
  {
    id: 'cancelNotification',
    method: 'post',
    path: '/v1/notifications/{id}/cancel',
    tag: 'Notifications',
    summary: 'Cancel what is not sent yet',
    realm: 'server',
    pathParams: notificationParam,
    responses: {
      200: { description: 'the notification, unsent deliveries cancelled', schema: 'Notification' },
    },
    errors: { not_found: noNotification },
  },
  {
    id: 'listInbox',
    method: 'get',
    path: '/v1/me/notifications',
    tag: 'Inbox',
    summary: 'My inbox',
    description: 'Newest first; pass the answer’s `nextCursor` as `cursor` for older ones.',
    realm: 'recipient',
    query: {
      cursor: { schema: query.cursor, description: 'the previous page’s `nextCursor`' },
      limit: { schema: query.limit, description: 'page size' },
      unread: { schema: query.unread, description: '`true`: unread ones only' },
    },
    responses: { 200: { description: 'a page', schema: 'InboxPage' } },
  },
  {
    id: 'unreadCount',
    method: 'get',
    path: '/v1/me/unread-count',
    tag: 'Inbox',
    summary: 'How many I have not read',
    realm: 'recipient',
    responses: { 200: { description: 'the count', schema: 'UnreadCount' } },
  },
  {
    id: 'markRead',
    method: 'post',
    path: '/v1/me/notifications/{id}/read',
    tag: 'Inbox',
    summary: 'Mark one read',
    realm: 'recipient',
    pathParams: notificationParam,
    responses: { 204: { description: 'marked' } },
    errors: { not_found: noInboxItem },
  },
  {
    id: 'markUnread',
    method: 'post',
    path: '/v1/me/notifications/{id}/unread',
    tag: 'Inbox',
    summary: 'Mark one unread',
    realm: 'recipient',
    pathParams: notificationParam,
    responses: { 204: { description: 'marked' } },
    errors: { not_found: noInboxItem },
  },
  {
    id: 'markAllRead',
    method: 'post',
    path: '/v1/me/notifications/read-all',
    tag: 'Inbox',
    summary: 'Mark all read',
    realm: 'recipient',
    responses: { 200: { description: 'how many were marked', schema: 'Updated' } },
  },
  {
    id: 'inboxEvents',
    method: 'get',
    path: '/v1/me/events',
    tag: 'Inbox',
    summary: 'My inbox changes, live (Server-Sent Events)',
    description:
      'A `text/event-stream` of the real-time inbox: `ready`, then each change as `event: <type>`, ' +
      '`id: <seq>`, `data: <json>` (`notification`, `updated`, `reset`), as on the WebSocket ' +
      '`/v1/me/ws` (docs/realtime.md). Resume with `?after=N&epoch=…` or `Last-Event-ID`. A ' +
      'token in the query string is refused.',
    realm: 'recipient',
    query: {
      after: {
        schema: z.string().regex(/^\d+$/),
        description: 'replay every change after this seq',
      },
      epoch: { schema: z.string().max(100), description: 'the epoch `after` belongs to' },
    },
    headers: {
      'Last-Event-ID': {
        schema: z.string().regex(/^\d+$/),
        description: 'the seq of the last event received (sent by EventSource on reconnect)',
      },
    },
    responses: {
      200: {
        description: 'the event stream (open until the token expires)',
        contentType: 'text/event-stream',
      },
    },
  },
  {
    id: 'inboxSocket',
    method: 'get',
    path: '/v1/me/ws',
    tag: 'Inbox',
    summary: 'My inbox changes, live (WebSocket)',
    description:
      'A WebSocket upgrade (subprotocol `herald.v1`); the protocol is in docs/realtime.md. A plain ' +
      'GET without the upgrade is answered 426.',
    realm: 'recipient',
    responses: { 101: { description: 'switched to the WebSocket protocol' } },
    errors: { upgrade_required: 'a plain HTTP request, not a WebSocket handshake' },
  },
  {
    id: 'removeFromInbox',
    method: 'delete',
    path: '/v1/me/notifications/{id}',
    tag: 'Inbox',
    summary: 'Remove one from my inbox',
    realm: 'recipient',
    pathParams: notificationParam,
    responses: { 204: { description: 'removed' } },
    errors: { not_found: noInboxItem },
  },
  {
    id: 'unsubscribePage',
    method: 'get',
    path: '/v1/unsubscribe',
    tag: 'Unsubscribe',
    summary: 'Unsubscribe page (the link in a message)',
    description:
      'Shows a page with an Unsubscribe button; it unsubscribes no one by itself (link ' +
      'scanners follow GET links). The signed token names the recipient and the type, and ' +
      'expires `HERALD_UNSUBSCRIBE_TTL_DAYS` (default 90) after the email was made.',
    realm: 'public',
    responses: {
      200: { description: 'the page with the button', contentType: 'text/html' },
      400: { description: 'the link is not valid (an HTML page)', contentType: 'text/html' },
      410: {
        description: 'the link has expired: nothing changed (an HTML page saying what to do)',
        contentType: 'text/html',
      },
    },
  },
  {
    id: 'unsubscribe',
    method: 'post',
    path: '/v1/unsubscribe',
    tag: 'Unsubscribe',
    summary: 'Unsubscribe (RFC 8058 one-click)',
    description:
      'What mail clients POST for `List-Unsubscribe-Post: List-Unsubscribe=One-Click`, and the ' +
      'page’s button: switches the type off in the recipient’s preferences. The body is not read. ' +
      'A refused link changes nothing: a request that asks for HTML (the page’s button) gets a ' +
      'page, any other (a mail client) problem+json `invalid_token` (400) or `link_expired` (410).',
    realm: 'public',
    responses: {
      200: { description: 'unsubscribed (an HTML page)', contentType: 'text/html' },
      400: {
        description: 'the link is not valid (`invalid_token`; a page, or problem+json)',
        contentType: 'text/html',
      },
      410: {
        description: 'the link has expired (`link_expired`; a page, or problem+json)',
        contentType: 'text/html',
      },
    },
  },
];

/**
 * The operation table (shape in openapi-operations.ts), continued: event-relative reminders
 * (routes in reminder-routes.ts, rules in scheduler/reminders.ts).
 */
import { reminderKeySchema } from '../scheduler/reminders.js';
import type { Operation } from './openapi-operations.js';

const keyParam = {
  key: {
    schema: reminderKeySchema,
    description: 'The app’s own key for the reminder (its task, appointment...).',
  },
};
const noReminder = 'no reminder with this key';

export const REMINDER_OPERATIONS: Operation[] = [
  {
    id: 'putReminder',
    method: 'put',
    path: '/v1/reminders/{key}',
    tag: 'Reminders',
    summary: 'Set or move a reminder',
    description:
      'Plans one job per recipient × offset at `dueAt - offset`. Again with a new `dueAt`: ' +
      'the queued ones move; offsets and recipients no longer named are cancelled, new ones ' +
      'scheduled; what was sent stays sent. An offset already past is skipped (reason ' +
      '`past`), or sent at once with `late: "send"`.',
    realm: 'server',
    pathParams: keyParam,
    body: {
      schema: 'ReminderInput',
      example: {
        to: ['user-42'],
        type: 'due_date_reminder',
        dueAt: '2030-03-01T09:00:00Z',
        offsets: ['24h', '1h', '15m'],
        data: { title: 'Quarterly report' },
        late: 'skip',
      },
    },
    responses: {
      200: { description: 'moved or changed', schema: 'Reminder' },
      201: { description: 'created', schema: 'Reminder' },
    },
    errors: {
      unknown_type: 'no notification type with this name',
      unknown_recipient: 'a recipient id that does not exist',
    },
  },
  {
    id: 'getReminder',
    method: 'get',
    path: '/v1/reminders/{key}',
    tag: 'Reminders',
    summary: 'Read a reminder',
    description:
      'Each recipient × offset with its `runAt` and status: `scheduled`, `sent` (with the ' +
      'notification id), `skipped` or `cancelled`.',
    realm: 'server',
    pathParams: { key: { ...keyParam.key, malformedIsNotFound: true } },
    responses: { 200: { description: 'the reminder', schema: 'Reminder' } },
    errors: { not_found: noReminder },
  },
  {
    id: 'deleteReminder',
    method: 'delete',
    path: '/v1/reminders/{key}',
    tag: 'Reminders',
    summary: 'Cancel a reminder',
    description:
      'Cancels every offset not sent yet and answers the reminder (kept, `status: ' +
      '"cancelled"`, so what was sent stays readable). A later PUT sets it again.',
    realm: 'server',
    pathParams: { key: { ...keyParam.key, malformedIsNotFound: true } },
    responses: {
      200: { description: 'the reminder, what was not sent cancelled', schema: 'Reminder' },
    },
    errors: { not_found: noReminder },
  },
];

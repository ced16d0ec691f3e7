/**
 * The operation table (shape in openapi-operations.ts), continued: cron schedules in the admin
 * realm (scheduler/cron-schedules.ts) and a recipient's local-time schedules.
 */
import { z } from 'zod';
import { scheduleNameSchema } from '../scheduler/cron-schedules.js';
import { schedulePreviewQuery } from '../scheduler/local-schedules.js';
import type { Operation } from './openapi-operations.js';

const nameParam = {
  name: { schema: scheduleNameSchema, description: 'The schedule’s name.' },
};
const lookup = { name: { ...nameParam.name, malformedIsNotFound: true } };
const admin = { tag: 'Admin', realm: 'admin' } as const;
const noSchedule = 'no schedule with this name';

export const SCHEDULE_OPERATIONS: Operation[] = [
  {
    ...admin,
    id: 'listSchedules',
    method: 'get',
    path: '/v1/admin/schedules',
    summary: 'Cron schedules',
    description: 'Every schedule (from the config file and from this API) with its last run.',
    responses: { 200: { description: 'by name', schema: 'ScheduleList' } },
  },
  {
    ...admin,
    id: 'putSchedule',
    method: 'put',
    path: '/v1/admin/schedules/{name}',
    summary: 'Define or replace a cron schedule',
    description:
      'Each tick fires once however many schedulers run. Changing `cron` or `timezone` ' +
      'computes the next tick anew; other changes keep the pending one.',
    pathParams: nameParam,
    body: {
      schema: 'ScheduleInput',
      example: {
        cron: '0 7 * * 1-5',
        timezone: 'Europe/Berlin',
        task: 'notify',
        payload: { type: 'ops_digest', to: 'ops-team' },
        catchUp: 'latest',
      },
    },
    responses: {
      200: { description: 'replaced', schema: 'Schedule' },
      201: { description: 'created', schema: 'Schedule' },
    },
  },
  {
    ...admin,
    id: 'getSchedule',
    method: 'get',
    path: '/v1/admin/schedules/{name}',
    summary: 'Read a cron schedule',
    pathParams: lookup,
    responses: { 200: { description: 'the schedule', schema: 'Schedule' } },
    errors: { not_found: noSchedule },
  },
  {
    ...admin,
    id: 'deleteSchedule',
    method: 'delete',
    path: '/v1/admin/schedules/{name}',
    summary: 'Delete a cron schedule',
    description:
      'Its runs stay in the record. A config-file schedule comes back at the next start.',
    pathParams: lookup,
    responses: { 204: { description: 'deleted' } },
    errors: { not_found: noSchedule },
  },
  {
    ...admin,
    id: 'runSchedule',
    method: 'post',
    path: '/v1/admin/schedules/{name}/run',
    summary: 'Run a schedule now',
    description: 'A manual run, recorded beside the ticks (`manual: true`); a worker runs it.',
    pathParams: lookup,
    responses: { 202: { description: 'queued', schema: 'ScheduleRun' } },
    errors: { not_found: noSchedule },
  },
  {
    id: 'recipientSchedules',
    method: 'get',
    path: '/v1/recipients/{id}/schedules',
    tag: 'Recipients',
    realm: 'server',
    summary: 'A recipient’s local-time schedules',
    description:
      'The schedules set in the recipient’s preferences (`schedules`), each as a cron ' +
      'expression in the recipient’s zone, with `nextRunAt`. With `from`, each lists the next ' +
      '`count` fire times after that instant as `runs` (a preview, DST rules applied).',
    pathParams: {
      id: { schema: z.string().min(1).max(255), description: 'The recipient’s id.' },
    },
    query: {
      from: { schema: schedulePreviewQuery.shape.from, description: 'an ISO 8601 instant' },
      count: {
        schema: schedulePreviewQuery.shape.count,
        description: 'runs to preview (1–100, default 5)',
      },
    },
    responses: { 200: { description: 'the schedules', schema: 'RecipientSchedules' } },
    errors: { not_found: 'no recipient with this id' },
  },
];

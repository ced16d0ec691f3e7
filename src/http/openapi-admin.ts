/**
 * The operation table (shape in openapi-operations.ts), continued: the admin realm.
 */
import { z } from 'zod';
import { deliveryQuerySchema } from '../notify/deliveries.js';
import type { Operation } from './openapi-operations.js';

const deliveryParam = {
  id: { schema: z.uuid(), description: 'The delivery’s id.', malformedIsNotFound: true },
};
const q = deliveryQuerySchema.shape;
const common = { tag: 'Admin', realm: 'admin' } as const;

export const ADMIN_OPERATIONS: Operation[] = [
  {
    ...common,
    id: 'listDeliveries',
    method: 'get',
    path: '/v1/admin/deliveries',
    summary: 'Deliveries by status',
    description: 'Newest first, filtered by status, channel and reason (e.g. `status=failed`).',
    query: {
      status: { schema: q.status, description: 'queued, sent, failed, skipped or cancelled' },
      channel: { schema: q.channel, description: 'one channel' },
      reason: { schema: q.reason, description: 'a skip or failure reason, e.g. `no_address`' },
      limit: { schema: q.limit, description: 'page size (1–500, default 50)' },
      cursor: { schema: q.cursor, description: 'the previous page’s `nextCursor`' },
    },
    responses: { 200: { description: 'a page of deliveries', schema: 'DeliveryPage' } },
  },
  {
    ...common,
    id: 'retryDelivery',
    method: 'post',
    path: '/v1/admin/deliveries/{id}/retry',
    summary: 'Send a failed or cancelled delivery again',
    pathParams: deliveryParam,
    responses: { 200: { description: 'queued again', schema: 'AdminDelivery' } },
    errors: {
      not_found: 'no delivery with this id',
      conflict: 'the delivery is not failed or cancelled',
    },
  },
  {
    ...common,
    id: 'cancelDelivery',
    method: 'post',
    path: '/v1/admin/deliveries/{id}/cancel',
    summary: 'Cancel a queued delivery',
    pathParams: deliveryParam,
    responses: { 200: { description: 'cancelled', schema: 'AdminDelivery' } },
    errors: { not_found: 'no delivery with this id', conflict: 'the delivery is not queued' },
  },
  {
    ...common,
    id: 'jobsStatus',
    method: 'get',
    path: '/v1/admin/jobs/status',
    summary: 'The job queue at a glance',
    responses: { 200: { description: 'counts and lag', schema: 'QueueStatus' } },
  },
  {
    ...common,
    id: 'deadJobs',
    method: 'get',
    path: '/v1/admin/jobs/dead',
    summary: 'Dead letters',
    query: {
      limit: {
        schema: z.coerce.number().int().min(1).max(1000).optional(),
        description: 'how many (default 100)',
      },
    },
    responses: { 200: { description: 'dead jobs', schema: 'DeadJobs' } },
  },
  {
    ...common,
    id: 'replayJobs',
    method: 'post',
    path: '/v1/admin/jobs/replay',
    summary: 'Queue dead jobs again',
    body: { schema: 'ReplayInput', example: { ids: ['42'] } },
    responses: { 200: { description: 'the ids queued again', schema: 'Replayed' } },
  },
];

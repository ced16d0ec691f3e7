/**
 * The operation table (shape in openapi-operations.ts), continued: the admin realm.
 */
import { z } from 'zod';
import { deliveryQuerySchema } from '../notify/deliveries.js';
import type { Operation } from './openapi-operations.js';
import { SUPPRESSION_CHANNELS } from '../notify/suppressions.js';

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
      status: {
        schema: q.status,
        description:
          'queued, sent, failed, skipped, cancelled, or from provider webhooks: delivered, bounced, complained, opened, clicked',
      },
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
    id: 'listSuppressions',
    method: 'get',
    path: '/v1/admin/suppressions',
    summary: 'Suppressed addresses',
    description:
      'Addresses Herald does not send to: hard bounces and spam complaints reported by provider ' +
      'webhooks, and operator blocks. Deliveries to them are skipped with reason `suppressed`.',
    query: {
      channel: { schema: z.enum(SUPPRESSION_CHANNELS).optional(), description: 'one channel' },
      limit: {
        schema: z.coerce.number().int().min(1).max(1000).optional(),
        description: 'how many (1–1000, default 100)',
      },
    },
    responses: { 200: { description: 'newest first', schema: 'SuppressionList' } },
  },
  {
    ...common,
    id: 'addSuppression',
    method: 'put',
    path: '/v1/admin/suppressions',
    summary: 'Suppress an address',
    description: 'Idempotent: an address already on the list keeps its first reason.',
    body: {
      schema: 'SuppressionInput',
      example: { channel: 'email', address: 'ann@example.com', reason: 'manual' },
    },
    responses: { 204: { description: 'on the list' } },
  },
  {
    ...common,
    id: 'removeSuppression',
    method: 'delete',
    path: '/v1/admin/suppressions',
    summary: 'Send to an address again',
    body: { schema: 'SuppressionKey', example: { channel: 'email', address: 'ann@example.com' } },
    responses: { 204: { description: 'removed from the list' } },
    errors: { not_found: 'the address is not on the list' },
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

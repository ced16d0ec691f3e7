/**
 * The queues of the side-by-side benchmark and how each is built, shared by the benchmark
 * (queue.ts) and the worker process of its separate-process latency scenario (queue-worker.ts).
 */
import type { QueueAdapter } from './adapter.js';
import { makeAdapter as makeHerald } from './peers/herald.js';
import { makeAdapter as makeGraphile } from './peers/graphile-worker.js';
import { makeAdapter as makePgBoss } from './peers/pg-boss.js';
import { makeAdapter as makeBullMq } from './peers/bullmq.js';

export type Variant = 'defaults' | 'tuned';
export const VARIANTS: readonly Variant[] = ['defaults', 'tuned'];
export const QUEUES = ['herald', 'graphile-worker', 'pg-boss', 'bullmq'] as const;
export type QueueName = (typeof QUEUES)[number];

export const FACTORIES: Record<QueueName, (variant: Variant) => QueueAdapter> = {
  herald: makeHerald,
  'graphile-worker': makeGraphile,
  'pg-boss': makePgBoss,
  bullmq: makeBullMq,
};

export function isQueueName(name: string): name is QueueName {
  return (QUEUES as readonly string[]).includes(name);
}

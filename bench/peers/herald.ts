/**
 * Placeholder: the Herald adapter is written alongside the queue in src/. Until then the benchmark
 * runs the peers only (`--only graphile-worker,pg-boss,bullmq`).
 */
import type { QueueAdapter } from '../adapter.js';

export function makeAdapter(_variant: 'defaults' | 'tuned'): QueueAdapter {
  throw new Error('herald adapter not written yet');
}

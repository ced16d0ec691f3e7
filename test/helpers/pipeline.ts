/** Triggering through the HTTP API and waiting for the worker to settle the notification. */
import assert from 'node:assert/strict';
import type { Herald } from '../../src/index.js';
import type { NotificationDetail } from '../../src/notify/notifications.js';
import type { SendResult } from '../../src/notify/send.js';
import type { Call } from './api.js';
import { waitFor } from './db.js';

/** POSTs the trigger (one recipient) and answers the notification once nothing is queued. */
export async function triggerAndSettle(
  herald: Herald,
  call: Call,
  body: Record<string, unknown>,
  timeoutMs = 10_000,
): Promise<NotificationDetail> {
  const res = await call('POST', '/v1/notifications', body);
  assert.equal(res.status, 202, await res.clone().text());
  const id = ((await res.json()) as SendResult).notifications[0]!.id;
  return waitFor(
    async () => {
      const n = await herald.notifications.get(id);
      return n?.deliveries.every((d) => d.status !== 'queued') ? n : null;
    },
    timeoutMs,
    `notification ${id} to settle`,
  );
}

/**
 * What the email status webhook tests share (webhook-resend, webhook-postmark, webhook-ses): a
 * delivery's status and history as stored, and the check that a bounce or complaint put the
 * address on the suppression list so the next send to it is skipped without reaching the
 * provider.
 */
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import type { Hono } from 'hono';
import type { Provider } from '../../src/channels/provider.js';
import type { CreateHeraldOptions, Herald } from '../../src/index.js';
import type { Backend } from './db.js';
import { startEmailPipeline } from './email-pipeline.js';
import type { HttpService } from './http-service.js';

type Pipeline = Awaited<ReturnType<typeof startEmailPipeline>>;

export interface WebhookPipeline {
  server: HttpService;
  pipeline: Pipeline;
  herald: Herald;
  app: Hono;
}

/**
 * For a describe block: before its tests, a local provider server (`start`) and the email
 * pipeline sending through it (`provider`, built for the server's URL) with `settings` (the
 * webhook's); after them, both closed. The object returned is filled in by the before hook.
 */
export function webhookPipeline(
  backend: Backend,
  start: () => Promise<HttpService>,
  provider: (url: string) => Provider | undefined,
  settings: CreateHeraldOptions,
): WebhookPipeline {
  const t = {} as WebhookPipeline;
  before(async () => {
    t.server = await start();
    const p = provider(t.server.url);
    assert.ok(p, 'the provider is configured');
    t.pipeline = await startEmailPipeline(backend, p, { maxAttempts: 2, settings });
    t.herald = t.pipeline.herald;
    t.app = t.pipeline.app;
  });
  after(async () => {
    await t.pipeline?.close();
    await t.server?.close();
  });
  return t;
}

/** A delivery's status and history, read from its row. */
export async function deliveryRow(
  herald: Herald,
  id: string,
): Promise<{ status: string; events: { status: string; detail: string | null }[] }> {
  const { rows } = await herald.db.query<{
    status: string;
    events: { status: string; detail: string | null }[];
  }>(`SELECT status, events FROM "${herald.config.schema}".deliveries WHERE id = $1`, [id]);
  assert.ok(rows[0], `no delivery ${id}`);
  return rows[0];
}

/**
 * The delivery is `status` with `detail` last in its history, the suppression list holds just
 * `address` (for `reason`, from `source`), and a new recipient with that address is skipped
 * with reason `suppressed`, the provider not called.
 */
export async function assertSuppressesNextSend(
  { pipeline, server }: WebhookPipeline,
  expected: {
    delivery: string;
    status: string;
    detail: string;
    address: string;
    reason: string;
    source: string;
  },
): Promise<void> {
  const row = await deliveryRow(pipeline.herald, expected.delivery);
  assert.equal(row.status, expected.status);
  assert.equal(row.events.at(-1)?.detail, `${expected.source}: ${expected.detail}`);
  const { items } = await pipeline.herald.suppressions.list();
  assert.deepEqual(
    items.map((i) => [i.channel, i.address, i.reason, i.source]),
    [['email', expected.address, expected.reason, expected.source]],
  );
  const before = server.requests.length;
  const next = await pipeline.sendTo(`again-${Date.now()}`, expected.address);
  assert.deepEqual([next.status, next.reason], ['skipped', 'suppressed']);
  assert.equal(server.requests.length, before, 'nothing went to the provider');
}

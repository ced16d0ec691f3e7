/**
 * The harness of the webhook and Slack channel tests: a Herald on a backend (2 attempts per
 * delivery, 10 ms backoff), a worker, the HTTP API, and `deliver`, which triggers a type for a
 * recipient over HTTP and answers the notification and its delivery once settled.
 */
import assert from 'node:assert/strict';
import { builtinHandlers } from '../../src/handlers.js';
import { makeApp } from '../../src/http/app.js';
import type { CreateHeraldOptions } from '../../src/index.js';
import { apiCaller } from './api.js';
import { closeHerald, openHerald, type Backend } from './db.js';
import { triggerAndSettle } from './pipeline.js';

export const HOOK_KEY = 'hook-pipeline-test-key-0123456789';

export async function startHookPipeline(backend: Backend, options: CreateHeraldOptions = {}) {
  const herald = await openHerald(backend, {
    apiKey: HOOK_KEY,
    logLevel: 'silent',
    delivery: { maxAttempts: 2 },
    backoff: { baseMs: 10, capMs: 20 },
    // The receivers run on loopback, which the egress guard refuses unless allowed.
    egressAllow: ['127.0.0.1/32'],
    ...options,
  });
  const call = apiCaller(makeApp(herald), HOOK_KEY);
  await herald.worker({ handlers: builtinHandlers(herald), pollIntervalMs: 20 }).start();

  /** PUTs `body` at `path` and expects it saved (200 or 201). */
  async function put(path: string, body: unknown): Promise<Record<string, unknown>> {
    const res = await call('PUT', path, body);
    assert.ok(res.status === 200 || res.status === 201, `${path}: ${await res.clone().text()}`);
    return (await res.json()) as Record<string, unknown>;
  }

  /** Triggers `type` for the recipient `to`; the notification and its delivery, settled. */
  async function deliver(type: string, to: string, data: Record<string, unknown> = {}) {
    const notification = await triggerAndSettle(herald, call, { type, to, data });
    return { notification, delivery: notification.deliveries[0]! };
  }
  return { herald, call, put, deliver, close: () => closeHerald(herald) };
}

/** The statuses of a delivery's events, in order. */
export const statusesOf = (d: { events: { status: string }[] }) => d.events.map((e) => e.status);

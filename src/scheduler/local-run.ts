/**
 * The `local-schedule` job: one batch of recipients whose local-time schedule is due
 * (local-schedules.ts enqueues it). It asks the app what to send each of them, then sends one
 * notification per recipient in one trigger.
 *
 * Where the content comes from:
 * - library use: an async function per schedule (`builtinHandlers(herald, { content })`),
 *   given the batch and answering `{ data }` or `{ skip: true }` per recipient id;
 * - service use: the app's data hook, `POST`ed the batch as JSON, signed in the Standard
 *   Webhooks format with the data hook's own key (`dataHookSecret`, never a webhook key: a
 *   webhook receiver must not be able to ask for or answer with content; docs/recipes.md),
 *   answering `{ "results": { "<id>": {...} } }`; the call goes through the egress guard
 *   (net/egress.ts), as a schedule's `hookUrl` comes over the API;
 * - neither: every recipient gets the notification with no data of its own.
 * With a function or a hook, a recipient it does not answer for is skipped (so an empty
 * "nothing new today" message is never sent by mistake).
 *
 * Exactly once: the trigger carries an idempotency key made of the job's batch, so a re-run
 * (a crash after the send, a lost lease) answers the first send instead of sending again.
 */
import { createHash } from 'node:crypto';
import type { Db } from '../db/db.js';
import { quoteIdent } from '../db/sql.js';
import { HeraldError, toError } from '../errors.js';
import type { Logger } from '../obs/log.js';
import type { JobContext, JobHandler } from '../queue/worker.js';
import { findUnstorable, nestedDeeperThan } from '../validation.js';
import { signedHeaders } from '../channels/webhook/signature.js';
import type { SendOptions, SendResult } from '../notify/send.js';
import { makeEgress, type Egress } from '../net/egress.js';
import { nextTick, parseCron } from '../time/cron.js';
import type { LocalScheduleDefinition, LocalScheduleJobPayload } from './local-schedules.js';

export interface ContentItem {
  recipientId: string;
  /** The instant of this run. */
  runAt: Date;
  /** Since the previous run of the schedule, up to this one (what a summary covers). */
  window: { from: Date; to: Date };
  timezone: string;
}

export type ContentAnswer = { data?: Record<string, unknown>; skip?: boolean };

/** The app's content for a batch: an answer per recipient id. */
export type ScheduleContent = (batch: {
  schedule: string;
  items: ContentItem[];
  signal: AbortSignal;
}) =>
  Promise<Record<string, ContentAnswer | undefined>> | Record<string, ContentAnswer | undefined>;

export interface LocalRunDeps {
  db: Db;
  schema: string;
  definitions: Record<string, LocalScheduleDefinition>;
  content: Record<string, ScheduleContent>;
  /** The data hook of schedules that name none. */
  dataHookUrl?: string | undefined;
  /** The keys data-hook calls are signed with (`dataHookSecret`; more than one in rotation). */
  hookKeys?: readonly Buffer[];
  hookTimeoutMs?: number;
  /** The egress guard of data-hook calls (egressFromConfig). Default: no allow-list. */
  egress?: Egress | undefined;
  send: (input: unknown, options?: SendOptions) => Promise<SendResult>;
  log: Logger;
  /**
   * Batches of this process that write their trigger at once (default 2); the others wait
   * their turn (see `makeLocalRun`).
   */
  concurrentSends?: number;
}

/** The `webhook-id` of a batch: a digest of its idempotency key (stable, free of `.`). */
const batchId = (key: string) =>
  `batch_${createHash('sha256').update(key).digest('base64url').slice(0, 32)}`;

/**
 * The largest data-hook answer read: bigger than other guarded answers, as it carries the data
 * of up to a batch (500) of recipients.
 */
const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

export function makeLocalRun(deps: LocalRunDeps): JobHandler {
  const s = quoteIdent(deps.schema);
  const egress = deps.egress ?? makeEgress();
  // A busy instant enqueues many batches at once, and a worker would start as many triggers
  // as it has slots: each holds a pooled connection for its transaction, so the deliveries
  // those triggers make (their claims, reads and outcome writes) wait behind them for a
  // connection and sending stops until the last trigger is written (the benchmark's sink sat
  // at a multiple of 5,000 for seconds). A trigger of 500 writes in tens of milliseconds, so
  // two at a time stay far ahead of the sending.
  const sends = makeSemaphore(deps.concurrentSends ?? 2);

  /** The schedule's run before `runAt` (its window's start): searched over the week before. */
  function previousRun(cron: string, zone: string, runAt: number): number {
    const spec = parseCron(cron);
    let prev = runAt - 86_400_000;
    for (let t = nextTick(spec, zone, runAt - 8 * 86_400_000); t !== null && t < runAt;) {
      prev = t;
      t = nextTick(spec, zone, t);
    }
    return prev;
  }

  /**
   * `id` is the batch's `webhook-id`, the same on every retry of the job (the app may cache
   * its answer on it). Never unsigned: config refuses a data hook without its secret.
   */
  async function callHook(url: string, id: string, body: string, signal: AbortSignal) {
    const keys = deps.hookKeys ?? [];
    if (keys.length === 0)
      throw new Error('the data hook is not signed: set HERALD_DATA_HOOK_SECRET (docs/recipes.md)');
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      ...signedHeaders(keys, id, Math.floor(Date.now() / 1000), body),
    };
    // The guard's errors (egress_refused, egress_redirect, egress_unreachable) carry no answer
    // text; neither do these: the job's last error is read back over the admin API.
    const res = await egress.request(url, {
      method: 'POST',
      headers,
      body,
      timeoutMs: deps.hookTimeoutMs ?? 10_000,
      signal,
      maxAnswerBytes: MAX_ANSWER_BYTES,
    });
    if (res.status < 200 || res.status >= 300)
      throw new Error(`the data hook answered ${res.status}; check the app's data hook`);
    if (res.truncated)
      throw new Error('the data hook answered more than 4 MiB; send smaller batches');
    let json: { results?: Record<string, ContentAnswer> };
    try {
      json = JSON.parse(res.body.toString('utf8')) as typeof json;
    } catch {
      throw new Error('the data hook answer is not JSON; it must be {"results": {...}}');
    }
    if (!json || typeof json.results !== 'object' || json.results === null)
      throw new Error('the data hook answer has no "results" object');
    return json.results;
  }

  return async (payload: LocalScheduleJobPayload, ctx: JobContext) => {
    const def = deps.definitions[payload.schedule];
    if (!def) {
      ctx.log.warn({ schedule: payload.schedule }, 'local-schedule:unknown (not in this config)');
      return { skipped: payload.items.length };
    }
    const ids = payload.items.map(([id]) => id);
    const { rows } = await deps.db.query<{ recipient_id: string; cron: string; timezone: string }>(
      `SELECT recipient_id, cron, timezone FROM ${s}.recipient_schedules
       WHERE name = $1 AND recipient_id = ANY($2::text[])`,
      [payload.schedule, ids],
    );
    const rowOf = new Map(rows.map((r) => [r.recipient_id, r]));
    // Recipients erased or whose schedule was switched off since the batch was enqueued.
    const items: ContentItem[] = [];
    // A batch is mostly one zone's run at one instant: each window's start is worked out once.
    const froms = new Map<string, number>();
    for (const [recipientId, at] of payload.items) {
      const row = rowOf.get(recipientId);
      if (!row) continue;
      const runAt = Date.parse(at);
      const memo = `${row.cron}\n${row.timezone}\n${runAt}`;
      let from = froms.get(memo);
      if (from === undefined) {
        from = previousRun(row.cron, row.timezone, runAt);
        froms.set(memo, from);
      }
      items.push({
        recipientId,
        runAt: new Date(runAt),
        window: { from: new Date(from), to: new Date(runAt) },
        timezone: row.timezone,
      });
    }
    if (items.length === 0) return { sent: 0, skipped: payload.items.length };

    const first = payload.items[0] as [string, string];
    const idempotencyKey = `local:${payload.schedule}:${first[1]}:${first[0]}:${payload.items.length}`;
    const fn = deps.content[payload.schedule];
    const hook = def.hookUrl ?? deps.dataHookUrl;
    let answers: Record<string, ContentAnswer | undefined> | null = null;
    if (fn) answers = await fn({ schedule: payload.schedule, items, signal: ctx.signal });
    else if (hook) {
      const body = JSON.stringify({
        schedule: payload.schedule,
        items: items.map((i) => ({
          recipientId: i.recipientId,
          runAt: i.runAt.toISOString(),
          window: { from: i.window.from.toISOString(), to: i.window.to.toISOString() },
          timezone: i.timezone,
        })),
      });
      answers = await callHook(hook, batchId(idempotencyKey), body, ctx.signal);
    }

    const data = new Map<string, Record<string, unknown>>();
    const to: string[] = [];
    for (const item of items) {
      if (!answers) {
        to.push(item.recipientId);
        continue;
      }
      const answer = answers[item.recipientId];
      if (!answer || answer.skip) continue;
      const own = answer.data ?? {};
      if (findUnstorable(own, 'data') || nestedDeeperThan(own)) {
        ctx.log.warn({ recipientId: item.recipientId }, 'local-schedule:bad-data (skipped)');
        continue;
      }
      data.set(item.recipientId, own);
      to.push(item.recipientId);
    }
    const skipped = payload.items.length - to.length;
    if (to.length === 0) return { sent: 0, skipped };
    try {
      await sends.run(() =>
        deps.send(
          {
            type: def.type ?? payload.schedule,
            to,
            data: { schedule: payload.schedule, runAt: first[1] },
            idempotencyKey,
          },
          { dataFor: (id) => data.get(id) },
        ),
      );
    } catch (err) {
      // A re-run whose content changed (a recipient now skipped): the first send stands.
      if (err instanceof HeraldError && err.code === 'idempotency_conflict')
        return { sent: 0, skipped };
      throw toError(err);
    }
    return { sent: to.length, skipped };
  };
}

/** At most `limit` calls of `run` at once; the others wait in order. */
function makeSemaphore(limit: number) {
  let active = 0;
  const waiting: (() => void)[] = [];
  return {
    async run<T>(fn: () => Promise<T>): Promise<T> {
      if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
      else active++;
      try {
        return await fn();
      } finally {
        const next = waiting.shift();
        if (next) next();
        else active--;
      }
    },
  };
}

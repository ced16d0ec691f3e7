/**
 * The trigger's decisions without a database (trigger-plan.ts): the channels it sends on, the
 * unknown recipients it names, what each delivery becomes and the rows, jobs and digest holds
 * that say so, and the counts for metrics; and the trigger-time render check (trigger-check.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HeraldError, ValidationError } from '../src/errors.js';
import type { RecipientFacts } from '../src/notify/policy.js';
import {
  deliveryCounts,
  JOB_PRIORITY,
  planChunk,
  triggerChannels,
  unknownRecipients,
  type PlanInput,
} from '../src/notify/trigger-plan.js';
import { ANY_RECIPIENT, triggerRenderRefusal } from '../src/notify/trigger-check.js';
import { typeDefinitionSchema, type Channel, type NotificationType } from '../src/notify/types.js';

const at = Date.parse('2026-06-10T12:00:00Z');
const type: NotificationType = {
  name: 'due',
  createdAt: new Date(at),
  updatedAt: new Date(at),
  ...typeDefinitionSchema.parse({
    channels: ['email', 'sms', 'inapp'],
    templates: {
      email: { subject: 'Due {{title}}', text: '{{title}}' },
      sms: { text: '{{title}}' },
      inapp: { title: '{{title}}', body: 'b' },
    },
  }),
};
const facts = (over: Partial<RecipientFacts> = {}): RecipientFacts => ({
  email: 'a@example.com',
  phone: null,
  timezone: 'UTC',
  devices: 0,
  preferences: null,
  ...over,
});
const input = (over: Partial<PlanInput> = {}): PlanInput => ({
  type,
  channels: ['email', 'sms', 'inapp'],
  priority: 'high',
  at,
  now: at,
  hasProvider: (c: Channel) => c !== 'sms',
  deliveryMaxAttempts: 5,
  ...over,
});

describe('trigger plan', () => {
  it('sends on the asked subset of the type’s channels, refusing one it lacks', () => {
    assert.deepEqual(triggerChannels(type, undefined), ['email', 'sms', 'inapp']);
    assert.deepEqual(triggerChannels(type, ['inapp']), ['inapp']);
    assert.throws(
      () => triggerChannels(type, ['inapp', 'push']),
      (e: unknown) => e instanceof ValidationError && /has no push channel/.test(e.message),
    );
  });

  it('names at most five unknown recipients and counts the rest', () => {
    assert.equal(unknownRecipients(['a'], new Set(['a'])), undefined);
    const err = unknownRecipients(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'], new Set(['a']));
    assert.ok(err instanceof HeraldError);
    assert.equal(err.code, 'unknown_recipient');
    assert.match(err.message, /^no recipient "b", "c", "d", "e", "f" and 2 more: /);
  });

  it('queues, skips and holds each delivery, and lays out the rows column by column', () => {
    const plan = planChunk(
      input(),
      ['ann', 'bob'],
      new Map([
        ['ann', facts()],
        ['bob', facts({ preferences: { digest: 'daily' } })],
      ]),
    );
    assert.equal(plan.notificationIds.length, 2);
    assert.deepEqual(plan.deliveries.channel, ['email', 'sms', 'inapp', 'email', 'sms', 'inapp']);
    assert.deepEqual(plan.deliveries.status, [
      'queued',
      'skipped',
      'queued',
      'queued',
      'skipped',
      'queued',
    ]);
    assert.deepEqual(plan.deliveries.reason, [
      null,
      'no_address',
      null,
      'digest',
      'no_address',
      null,
    ]);
    // bob's email waits for his daily digest: a hold, not a deliver job.
    assert.equal(plan.holds.length, 1);
    assert.equal(plan.holds[0]?.recipientId, 'bob');
    assert.equal(plan.holds[0]?.channel, 'email');
    assert.equal(plan.deliveries.nid[0], plan.notificationIds[0]);
    assert.equal(plan.deliveries.nid[5], plan.notificationIds[1]);
    // Every queued delivery not held for a digest has a deliver job, at its priority.
    assert.equal(plan.jobs.length, 3);
    for (const job of plan.jobs) {
      assert.equal(job.kind, 'deliver');
      assert.equal(job.priority, JOB_PRIORITY.high);
      assert.equal(job.maxAttempts, 5);
    }
    // What the trigger-time check renders: exactly the deliveries with a job.
    assert.deepEqual(
      plan.rendered,
      plan.jobs.map((j) => {
        const i = plan.deliveries.id.indexOf((j.payload as { deliveryId: string }).deliveryId);
        return {
          recipientId: i < 3 ? 'ann' : 'bob',
          channel: plan.deliveries.channel[i],
        };
      }),
    );
    assert.equal(plan.summaries[1]?.recipientId, 'bob');
    assert.equal(plan.summaries[1]?.sendAt, new Date(at).toISOString());
  });

  it('counts deliveries by channel, status and reason', () => {
    const plan = planChunk(
      input(),
      ['a', 'b', 'c'],
      new Map([
        ['a', facts()],
        ['b', facts()],
        ['c', facts()],
      ]),
    );
    const counts = deliveryCounts(plan.summaries).sort((x, y) =>
      x.channel.localeCompare(y.channel),
    );
    assert.deepEqual(
      counts.map((c) => [c.channel, c.status, c.reason, c.n]),
      [
        ['email', 'queued', null, 3],
        ['inapp', 'queued', null, 3],
        ['sms', 'skipped', 'no_address', 3],
      ],
    );
  });
});

describe('trigger-time render check', () => {
  const base = { type, data: { title: 'x' }, emailOptions: null, locale: null };
  const parts = { partials: {}, layouts: {} };

  it('accepts data that renders, with any recipient fields', () => {
    assert.equal(triggerRenderRefusal({ ...base, channel: 'email', parts }), undefined);
    assert.equal(
      triggerRenderRefusal({ ...base, channel: 'inapp', parts }, ANY_RECIPIENT),
      undefined,
    );
  });

  it('refuses data that lacks a variable, naming it and the template', () => {
    const refusal = triggerRenderRefusal({ ...base, data: {}, channel: 'email', parts });
    assert.equal(refusal?.code, 'missing_template_data');
    assert.deepEqual(refusal?.issues, [
      {
        field: 'data.title',
        message: 'templates.email.subject uses {{title}}, which the data does not have',
      },
      {
        field: 'data.title',
        message: 'templates.email.text uses {{title}}, which the data does not have',
      },
    ]);
  });

  it('the stand-in recipient has every field, renders empty and iterates as nothing', () => {
    const t = {
      ...type,
      ...typeDefinitionSchema.parse({
        channels: ['sms'],
        templates: {
          sms: {
            text: '[{{recipient.data.a.b}}]{{#each recipient.data.list}}x{{/each}}{{#with recipient.data}}{{plan}}{{/with}}',
          },
        },
      }),
    };
    assert.equal(
      triggerRenderRefusal({ ...base, type: t, channel: 'sms', parts }, ANY_RECIPIENT),
      undefined,
    );
    // With a real recipient, the same template needs what that recipient lacks.
    const real = { id: 'r', data: {} };
    assert.equal(
      triggerRenderRefusal({ ...base, type: t, channel: 'sms', parts }, real)?.code,
      'missing_template_data',
    );
  });
});

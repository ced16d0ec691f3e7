/**
 * `herald demo`: a newcomer's first notification, start to finish, on whatever database is
 * configured (the embedded one by default). It defines a type, saves a recipient, triggers,
 * runs a worker until both deliveries are sent, and shows where the email landed and what
 * the inbox holds.
 *
 * Then the four recipes (docs/recipes.md) fire for the same recipient: it loads their types
 * from recipes/, sets the recipient's local-time schedules (daily briefing, weekly summary,
 * achievement nudge) and enqueues one run of each a few seconds from now, sets a due-date
 * reminder whose "1m" offset comes due at once, and runs workers until each recipe has gone
 * through, printing each notification's deliveries. The content of the schedules is each
 * recipe's sample.json (an app gives its own: a function or the data hook).
 *
 * Beside a running `herald start` on the same PostgreSQL, that server's worker and scheduler
 * must not run the demo's schedule runs: they would run them without the demo's content
 * functions (render_error: the templates' variables are missing). So the demo's runs go to a
 * queue of their own that only the demo's worker serves; the reminder carries its data and
 * the deliveries need no content, so any worker may send those.
 *
 * It reports what happened: a recipe counts only when its notification has a sent delivery and
 * no failed one, and the command exits 1 when anything was not delivered. Last, the curl calls
 * that do the same through the API.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { openForCommand, withDbFlags, type SettingsFlags } from './common.js';
import { quoteIdent } from '../db/sql.js';
import { builtinHandlers } from '../handlers.js';
import type { Herald } from '../herald.js';
import type { DeliveryDetail, NotificationDetail } from '../notify/notifications.js';
import { loadRecipes, RECIPE_TYPES, RECIPES_DIR } from '../recipes.js';
import type { JobHandler } from '../queue/worker.js';
import type { ContentItem, ScheduleContent } from '../scheduler/local-run.js';
import { sleep } from '../time/sleep.js';

const TYPE = 'demo-welcome';
const RECIPIENT = 'demo-user';
const ZONE = 'Europe/Berlin';
const REMINDER_KEY = 'herald-demo-task';
/** The queue of the demo's schedule runs: no other process serves it. */
export const DEMO_QUEUE = 'herald-demo';
/** How long the recipes part waits for all four before it gives up. */
const RECIPES_TIMEOUT_MS = 40_000;

const say = (line: string) => process.stdout.write(`${line}\n`);

export function demoCommand(): Command {
  return withDbFlags(new Command('demo'))
    .description(
      'send a first notification end to end, then fire the four recipes (docs/recipes.md), and show where each went',
    )
    .action(async (flags: SettingsFlags) => {
      const herald = await openForCommand(
        flags,
        'Run the demo beside it on a folder of its own: herald demo --data-dir "$(mktemp -d)", or stop it first',
      );
      try {
        const welcomed = await demo(herald);
        const recipes = await recipesDemo(herald);
        if (!welcomed || !recipes) process.exitCode = 1;
      } finally {
        await herald.close();
      }
      apiHint(herald);
    });
}

/** Why a channel was skipped, in words, for the reasons the demo meets. */
const HINTS: Record<string, string> = {
  'push:no_address': 'no device registered',
  'sms:no_provider': 'no SMS provider is set: HERALD_TWILIO_* or HERALD_VONAGE_*',
  'sms:no_address': 'no phone number',
};

function deliveryLine(d: DeliveryDetail): string {
  let line = `${d.channel}: ${d.status}`;
  if (d.reason) {
    const hint = HINTS[`${d.channel}:${d.reason}`];
    line += ` (${d.reason}${hint ? `: ${hint}` : ''})`;
  }
  if (d.status === 'sent') {
    if (d.channel === 'inapp') line += ', in the inbox';
    else if (d.provider === 'outbox') line += `, written to ${d.providerMessageId}`;
    else line += `, handed to ${d.provider} as ${d.providerMessageId}`;
  }
  return d.error ? `${line}: ${d.error}` : line;
}

const CHANNEL_ORDER = ['email', 'sms', 'push', 'inapp'];
const byChannel = (deliveries: DeliveryDetail[]) =>
  [...deliveries].sort(
    (a, b) => CHANNEL_ORDER.indexOf(a.channel) - CHANNEL_ORDER.indexOf(b.channel),
  );

const inboxLine = (detail: NotificationDetail) =>
  detail.inbox ? `inbox item: "${detail.inbox.title}" — ${detail.inbox.body}` : undefined;

/** Went through: a delivery was sent and none failed or is still waiting (skips are fine). */
const delivered = (detail: NotificationDetail | null | undefined): boolean =>
  !!detail &&
  detail.deliveries.some((d) => d.status === 'sent') &&
  detail.deliveries.every((d) => d.status === 'sent' || d.status === 'skipped');

/** Why a notification did not go through, in one line. */
const whyNot = (detail: NotificationDetail | null | undefined): string =>
  !detail
    ? 'not found'
    : detail.deliveries
        .filter((d) => d.status !== 'sent' && d.status !== 'skipped')
        .map((d) => `${d.channel} ${d.status}${d.error ? `: ${d.error}` : ''}`)
        .join('; ') || 'nothing was sent';

/** Part one: the welcome notification. False if it was not delivered. */
async function demo(herald: Herald): Promise<boolean> {
  await herald.types.put(TYPE, {
    channels: ['email', 'inapp'],
    templates: {
      email: {
        subject: 'Welcome to Herald, {{name}}',
        html: '<h1>Hello {{name}}</h1><p>This email went through Herald’s pipeline.</p>',
        text: 'Hello {{name}}. This email went through Herald’s pipeline.',
      },
      inapp: { title: 'Welcome, {{name}}', body: 'Your inbox works.', actionUrl: '/welcome' },
    },
  });
  say(`1. defined the notification type "${TYPE}" (email and inapp)`);
  await herald.recipients.upsert(RECIPIENT, {
    email: 'ada@example.com',
    phone: '+15555550100',
    locale: 'en',
    timezone: ZONE,
    data: { name: 'Ada' },
  });
  say(`2. saved the recipient "${RECIPIENT}" <ada@example.com>`);

  const sent = await herald.send({ type: TYPE, to: RECIPIENT, data: { name: 'Ada' } });
  const id = sent.notifications[0]?.id as string;
  say(`3. triggered notification ${id}`);

  const worker = herald.worker({ handlers: builtinHandlers(herald), pollIntervalMs: 100 });
  await worker.start();
  let detail: NotificationDetail | null = null;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    detail = await herald.notifications.get(id);
    if (detail && detail.deliveries.every((d) => d.status !== 'queued')) break;
    await sleep(100);
  }
  await worker.stop();
  for (const d of byChannel(detail?.deliveries ?? [])) {
    const smtp = d.provider === 'outbox' ? ' (no SMTP server is set: HERALD_SMTP_URL)' : '';
    say(`4. ${deliveryLine(d)}${smtp}`);
  }
  const inbox = detail && inboxLine(detail);
  if (inbox) say(`   ${inbox}`);
  if (delivered(detail)) return true;
  say(`   NOT DELIVERED: ${whyNot(detail)}`);
  return false;
}

/** The recipient's local-time schedules, as preferences set them, and in words. */
const SCHEDULES = {
  daily_briefing: { time: '08:00', skipWeekends: true },
  weekly_summary: { day: 'monday', time: '09:00' },
  achievement_nudge: { time: '19:00' },
} as const;
const WHEN: Record<string, string> = {
  daily_briefing: 'local-time schedule, 08:00 on weekdays',
  weekly_summary: 'local-time schedule, Mondays 09:00',
  achievement_nudge: 'local-time schedule, 19:00 every day',
  due_date_reminder: 'reminder, 1m before the due time',
};

const format = (options: Intl.DateTimeFormatOptions) =>
  new Intl.DateTimeFormat('en-GB', { timeZone: ZONE, ...options });
const local = format({
  weekday: 'short',
  day: 'numeric',
  month: 'short',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});
const dayOf = format({ weekday: 'long', day: 'numeric', month: 'long' });
const shortDay = format({ day: 'numeric', month: 'short' });
const dueText = format({ weekday: 'long', hour: '2-digit', minute: '2-digit' });

/** A recipe's sample.json without what Herald adds itself when it sends. */
function sampleData(type: string): Record<string, unknown> {
  const data = JSON.parse(
    readFileSync(join(RECIPES_DIR, 'types', type, 'sample.json'), 'utf8'),
  ) as Record<string, unknown>;
  for (const added of ['recipient', 'unsubscribeUrl', 'reminder']) delete data[added];
  return data;
}

/**
 * The demo's content functions: each recipe's sample data, with the dates of the run. Only
 * the demo recipient is answered; anyone else would be skipped (the demo refuses to run the
 * recipes on a database where there is anyone else to skip).
 */
function demoContent(): Record<string, ScheduleContent> {
  const answer =
    (type: string, dates: (item: ContentItem) => Record<string, unknown>): ScheduleContent =>
    ({ items }) =>
      Object.fromEntries(
        items
          .filter((i) => i.recipientId === RECIPIENT)
          .map((i) => [i.recipientId, { data: { ...sampleData(type), ...dates(i) } }]),
      );
  return {
    daily_briefing: answer('daily_briefing', (i) => ({ date: dayOf.format(i.runAt) })),
    weekly_summary: answer('weekly_summary', (i) => ({
      week: `${shortDay.format(i.window.from)} – ${shortDay.format(i.window.to)}`,
    })),
    achievement_nudge: answer('achievement_nudge', () => ({})),
  };
}

/** Part two: each recipe fires once for the demo recipient. False if one was not delivered. */
async function recipesDemo(herald: Herald): Promise<boolean> {
  const s = quoteIdent(herald.config.schema);
  say(`\nThe four recipes (docs/recipes.md), for the same recipient:`);
  const loaded = await loadRecipes(herald);
  const t = loaded.types;
  say(
    `5. loaded ${RECIPES_DIR}: the types ${RECIPE_TYPES.join(', ')} with their layout and partials (types: ${t.created} created, ${t.updated} updated, ${t.unchanged} unchanged)`,
  );

  await herald.preferences.put(RECIPIENT, { schedules: SCHEDULES });
  say(`6. set ${RECIPIENT}'s preferences "schedules"; their next runs, in ${ZONE}:`);
  for (const row of await herald.localSchedules.list(RECIPIENT)) {
    const next = row.nextRunAt ? local.format(new Date(row.nextRunAt)) : 'none';
    say(
      `     ${row.name.padEnd(18)} ${WHEN[row.name]?.replace(/^.*?, /, '').padEnd(18)} next ${next}`,
    );
  }
  const since = (await herald.db.query<{ now: Date }>('SELECT now() AS now')).rows[0]?.now;
  // The simulated part: one run of each schedule a few seconds from now instead of at its
  // time, enqueued as the scheduler enqueues it, in the demo's own queue.
  let inSeconds = 2;
  for (const name of Object.keys(SCHEDULES)) {
    const runAt = new Date(Date.now() + inSeconds++ * 1000);
    await herald.queue.enqueue({
      kind: 'local-schedule',
      queue: DEMO_QUEUE,
      payload: { schedule: name, items: [[RECIPIENT, runAt.toISOString()]] },
      runAt,
      maxAttempts: 3,
    });
  }
  say(
    `   simulated: a run of each is enqueued for 2, 3 and 4 s from now, so they fire during the demo`,
  );

  // A task gets a due date: a reminder 1 day and 1 minute before it. Due in a minute and a bit,
  // the 1m offset comes due in a few seconds; the 1d one is already past.
  const dueAt = new Date(Date.now() + 65_000);
  const task = sampleData('due_date_reminder');
  task.task = { ...(task.task as Record<string, unknown>), due: dueText.format(dueAt) };
  const { reminder } = await herald.reminders.put(REMINDER_KEY, {
    to: RECIPIENT,
    type: 'due_date_reminder',
    dueAt: dueAt.toISOString(),
    offsets: ['1d', '1m'],
    data: task,
  });
  say(
    `7. a task got a due date: the reminder "${REMINDER_KEY}", due ${local.format(dueAt)}, offsets 1d and 1m:`,
  );
  for (const item of reminder.items) {
    const why =
      item.reason === 'past'
        ? 'skipped: its time had passed when it was set, so it is not sent late'
        : `${item.status}, at ${local.format(new Date(item.runAt))}`;
    say(`     ${item.offset.padEnd(3)} ${why}`);
  }

  say(`8. workers run them (the schedules' content: each recipe's sample.json):`);
  const startedAt = Date.now();
  const handlers = builtinHandlers(herald, { content: demoContent() });
  // The demo's schedule runs, with its content functions; and the rest of the work, as any
  // worker does it (another process's worker may take some of it: the result is the same).
  const runs = herald.worker({
    queue: DEMO_QUEUE,
    handlers: { 'local-schedule': handlers['local-schedule'] as JobHandler },
    pollIntervalMs: 100,
  });
  const rest = { ...handlers };
  delete rest['local-schedule'];
  const worker = herald.worker({ handlers: rest, pollIntervalMs: 100 });
  await runs.start();
  await worker.start();
  const fired = new Map<string, NotificationDetail>();
  try {
    while (fired.size < RECIPE_TYPES.length && Date.now() - startedAt < RECIPES_TIMEOUT_MS) {
      const { rows } = await herald.db.query<{ id: string; type: string }>(
        `SELECT id, type FROM ${s}.notifications
         WHERE recipient_id = $1 AND type = ANY($2::text[]) AND created_at >= $3
         ORDER BY created_at, id`,
        [RECIPIENT, [...RECIPE_TYPES], since],
      );
      for (const r of rows) {
        if (fired.has(r.type)) continue;
        const detail = await herald.notifications.get(r.id);
        if (!detail || detail.deliveries.some((d) => d.status === 'queued')) continue;
        fired.set(r.type, detail);
        const at = ((Date.now() - startedAt) / 1000).toFixed(1);
        say(`   +${at} s  ${r.type} fired (${WHEN[r.type]}): notification ${r.id}`);
        for (const d of byChannel(detail.deliveries)) say(`          ${deliveryLine(d)}`);
        const inbox = inboxLine(detail);
        if (inbox) say(`          ${inbox}`);
      }
      await sleep(100);
    }
  } finally {
    await worker.stop();
    await runs.stop();
    // Runs still waiting (the demo timed out) must not wait for a worker that never comes.
    await herald.db.query(`DELETE FROM ${s}.jobs WHERE queue = $1 AND status = 'queued'`, [
      DEMO_QUEUE,
    ]);
    // Without the demo's content a later `herald start` would send them empty: they go.
    await herald.preferences.put(RECIPIENT, {});
  }

  const took = ((Date.now() - startedAt) / 1000).toFixed(1);
  const ok = [...fired.entries()].filter(([, detail]) => delivered(detail));
  const all = [...fired.values()].flatMap((n) => n.deliveries);
  const emails = all.filter((d) => d.channel === 'email' && d.status === 'sent').length;
  const inboxItems = all.filter((d) => d.channel === 'inapp' && d.status === 'sent').length;
  const failed = [...fired.entries()].filter(([, detail]) => !delivered(detail));
  const missing = RECIPE_TYPES.filter((type) => !fired.has(type));
  const problems = [
    ...failed.map(([type, detail]) => `\nNot delivered: ${type}: ${whyNot(detail)}.`),
    ...(missing.length > 0
      ? [`\nNot fired within ${RECIPES_TIMEOUT_MS / 1000} s: ${missing.join(', ')}.`]
      : []),
  ].join('');
  say(`
Summary: ${ok.length} of ${RECIPE_TYPES.length} recipes delivered in ${took} s (${ok.map(([type]) => type).join(', ') || 'none'}): ${emails} emails, ${inboxItems} inbox items.${problems}
Simulated: one run of each schedule was enqueued for a few seconds from now (they really run at
the times in 6., in the recipient's zone), and the task was made due in about a minute so that
its 1m offset came due at once. The content came from recipes/types/*/sample.json; an app
answers with its own, from a function per schedule or its data hook (docs/recipes.md).
${RECIPIENT}'s schedules are removed again, so a later \`herald start\` does not send them
without content; the recipe types stay defined.`);
  return ok.length === RECIPE_TYPES.length;
}

function apiHint(herald: Herald): void {
  const base = `http://localhost:${herald.config.port}`;
  say(`
Now through the API: run \`npm start\` (it prints an API key on first start and keeps it in
${herald.config.dataDir}/dev-api-key), then:

  KEY=$(cat ${herald.config.dataDir}/dev-api-key)
  ID=$(curl -s -X POST ${base}/v1/notifications -H "authorization: Bearer $KEY" \\
    -H 'content-type: application/json' \\
    -d '{"type":"${TYPE}","to":"${RECIPIENT}","data":{"name":"Grace"}}' | jq -r '.notifications[0].id')
  sleep 1; curl -s ${base}/v1/notifications/$ID -H "authorization: Bearer $KEY"

The API reference is at ${base}/docs.`);
}

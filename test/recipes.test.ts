/**
 * The recipes (recipes/, docs/recipes.md): the folder passes `herald templates check` with its
 * four types in English and German, and the example app (examples/recipes-app/) runs: in
 * library use on PGlite every recipe goes out with the content its functions give, and in
 * service use the same content comes through the signed data hook. The example imports the
 * compiled package, so these tests need `npm run build` first (as the CLI tests do).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { destinationSigningKey } from '../src/channels/webhook/keys.js';
import { parseConfig } from '../src/config.js';
import { builtinHandlers } from '../src/handlers.js';
import type { Herald } from '../src/index.js';
import { readTemplateFolder } from '../src/notify/template-files.js';
import { loadRecipes, RECIPE_TYPES, RECIPES_DIR } from '../src/recipes.js';
import type { Reminder } from '../src/scheduler/reminders.js';
import type { ScheduleContent } from '../src/scheduler/local-run.js';
import { closeHerald, openHerald, waitFor } from './helpers/db.js';

const BIN = new URL('../bin/herald.js', import.meta.url).pathname;
const SECRET = 'recipes-test-webhook-secret-0123456789';
/** The data hook's own key: Herald and the example app's hook.js share it, and nothing else. */
const HOOK_SECRET = `whsec_${Buffer.alloc(32, 42).toString('base64')}`;

interface AppModule {
  startApp(
    this: void,
    options: { dataDir: string; logLevel: string },
  ): Promise<{
    herald: Herald;
    setDueDate(taskId: string, dueAt: Date, offsets?: string[]): Promise<Reminder>;
  }>;
}
interface ContentModule {
  content: Record<string, ScheduleContent>;
  users: { id: string; name: string; email: string; locale: string; timezone: string }[];
}
interface HookModule {
  createHookServer(options: { secret: string }): Server;
  verifyRequest(secret: string, headers: Record<string, string>, body: string): boolean;
}
/** The example's modules (plain JavaScript, so imported by URL, typed here). */
const example = async <T>(file: string) =>
  (await import(new URL(`../examples/recipes-app/${file}`, import.meta.url).href)) as T;

interface Sent {
  recipient_id: string;
  type: string;
  data: Record<string, unknown>;
  inbox: { title: string; body: string } | null;
  email_status: string;
}

/** The notifications of the recipe types, once each has its email delivery done. */
async function sentRecipes(herald: Herald, count: number): Promise<Sent[]> {
  const s = `"${herald.config.schema}"`;
  return waitFor(
    async () => {
      const { rows } = await herald.db.query<Sent>(
        `SELECT n.recipient_id, n.type, n.data, n.inbox, d.status AS email_status
         FROM ${s}.notifications n JOIN ${s}.deliveries d ON d.notification_id = n.id
         WHERE d.channel = 'email' AND d.status <> 'queued' AND n.type = ANY($1::text[])
         ORDER BY n.recipient_id, n.type`,
        [[...RECIPE_TYPES]],
      );
      return rows.length >= count ? rows : null;
    },
    20_000,
    `${count} recipe notifications`,
  );
}

/** Makes every local-time schedule due now, as if its time had just come. */
async function dueNow(herald: Herald): Promise<void> {
  await herald.db.query(
    `UPDATE "${herald.config.schema}".recipient_schedules SET next_run_at = now() - interval '1 second'`,
  );
}

const find = (rows: Sent[], recipient: string, type: string) => {
  const row = rows.find((r) => r.recipient_id === recipient && r.type === type);
  assert.ok(row, `${type} for ${recipient}: ${JSON.stringify(rows.map((r) => r.type))}`);
  return row;
};

describe('the recipes folder', () => {
  it('has the four types, each with email, push and inapp (and sms for the reminder), in en and de, and no problems', () => {
    const folder = readTemplateFolder(RECIPES_DIR);
    assert.deepEqual(folder.problems, []);
    assert.deepEqual(folder.unsampled, []);
    assert.deepEqual(Object.keys(folder.types).sort(), [...RECIPE_TYPES].sort());
    for (const [name, def] of Object.entries(folder.types)) {
      const channels =
        name === 'due_date_reminder'
          ? ['email', 'sms', 'push', 'inapp']
          : ['email', 'push', 'inapp'];
      assert.deepEqual(def.channels, channels, name);
      assert.equal(def.layout, 'recipe', name);
      assert.ok(def.templates.email?.html && def.templates.email.text, `${name}: html and text`);
      assert.ok(def.locales.de?.email?.subject, `${name}: a German subject`);
    }
  });

  it('passes `herald templates check`', () => {
    const r = spawnSync(
      process.execPath,
      [BIN, 'templates', 'check', '--templates-dir', RECIPES_DIR],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /: 4 types, 1 layout, 4 partials: OK$/m);
  });
});

describe('the example app (examples/recipes-app)', () => {
  it('library use: each recipe goes out with the content of its functions, in each user’s language', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'herald-recipes-app-'));
    const { startApp } = await example<AppModule>('app.js');
    const app = await startApp({ dataDir: dir, logLevel: 'warn' });
    try {
      const { herald } = app;
      for (const id of ['ann', 'jonas']) {
        const schedules = await herald.localSchedules.list(id);
        assert.deepEqual(
          schedules.map((sc) => sc.name),
          ['achievement_nudge', 'daily_briefing', 'weekly_summary'],
        );
        assert.ok(schedules.every((sc) => sc.nextRunAt && Date.parse(sc.nextRunAt) > Date.now()));
      }
      await dueNow(herald);
      // Due in a minute and two seconds: the 1m reminder comes due in two seconds.
      const reminder = await app.setDueDate('t1', new Date(Date.now() + 62_000), ['1m']);
      assert.deepEqual(
        reminder.items.map((i) => [i.recipientId, i.offset, i.status]),
        [['ann', '1m', 'scheduled']],
      );
      const rows = await sentRecipes(herald, 7);
      assert.ok(
        rows.every((r) => r.email_status === 'sent'),
        JSON.stringify(rows),
      );

      assert.match(find(rows, 'ann', 'daily_briefing').inbox?.title ?? '', /^Your day, /);
      assert.match(find(rows, 'jonas', 'daily_briefing').inbox?.title ?? '', /^Dein Tag, /);
      assert.match(find(rows, 'jonas', 'weekly_summary').inbox?.title ?? '', /^Deine Woche, /);
      assert.equal(find(rows, 'ann', 'achievement_nudge').data.streak, 5);
      assert.equal(find(rows, 'jonas', 'achievement_nudge').data.streak, 2);
      const due = find(rows, 'ann', 'due_date_reminder');
      assert.deepEqual(due.inbox?.title, 'Quarterly report');
      assert.match(due.inbox?.body ?? '', /, in 1m$/);
    } finally {
      await app.herald.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('service use: the data hook', () => {
    let hook: HookModule;
    let server: Server;
    let url: string;
    let herald: Herald;
    before(async () => {
      hook = await example<HookModule>('hook.js');
      server = hook.createHookServer({ secret: HOOK_SECRET });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/herald/content`;
      herald = await openHerald('pglite', {
        dataHookUrl: url,
        dataHookSecret: HOOK_SECRET,
        webhookSecret: SECRET,
        egressAllow: ['127.0.0.1/32'], // the app's hook is on loopback
      });
    });
    after(async () => {
      await closeHerald(herald);
      await new Promise((resolve) => server.close(resolve));
    });

    /** Standard Webhooks headers for `body`, signed with `secret` at `at`. */
    const signed = (secret: string, body: string, at = new Date()) => ({
      'webhook-id': 'msg_test',
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': new Webhook(secret).sign('msg_test', at, body),
    });
    const post = (body: string, headers: Record<string, string> = {}) =>
      fetch(url, { method: 'POST', body, headers });
    const body = '{"schedule":"daily_briefing","items":[]}';

    it('checks the signature with the data hook’s own key', async () => {
      assert.equal(hook.verifyRequest(HOOK_SECRET, signed(HOOK_SECRET, body), body), true);
      assert.equal(
        hook.verifyRequest(HOOK_SECRET, signed(HOOK_SECRET, body), `${body} `),
        false,
        'body changed',
      );
      assert.equal((await post(body)).status, 401, 'unsigned');
      const ok = await post(body, signed(HOOK_SECRET, body));
      assert.deepEqual(await ok.json(), { results: {} });
    });

    it('refuses a stale timestamp, even signed with the right key', async () => {
      const tenMinutesAgo = new Date(Date.now() - 10 * 60_000);
      const stale = signed(HOOK_SECRET, body, tenMinutesAgo);
      assert.equal(hook.verifyRequest(HOOK_SECRET, stale, body), false);
      assert.equal((await post(body, stale)).status, 401);
    });

    it('no webhook receiver can forge a data-hook request', async () => {
      // Every key a webhook receiver can hold: the one for any destination URL (this very
      // hook's URL included), and the master secret itself in the old Herald-Signature scheme.
      for (const receiverUrl of [url, 'https://receiver-a.example.com/hook']) {
        const receiverKey = destinationSigningKey(SECRET, receiverUrl);
        assert.equal(
          hook.verifyRequest(HOOK_SECRET, signed(receiverKey, body), body),
          false,
          receiverUrl,
        );
        assert.equal((await post(body, signed(receiverKey, body))).status, 401, receiverUrl);
      }
      const t = Math.floor(Date.now() / 1000);
      const oldScheme = `t=${t},v1=${createHmac('sha256', SECRET).update(`${t}.${body}`).digest('hex')}`;
      assert.equal((await post(body, { 'herald-signature': oldScheme })).status, 401);
    });

    it('Herald refuses to start a data hook without its own secret, or with the webhook one', () => {
      assert.throws(
        () => parseConfig({ dataHookUrl: url, webhookSecret: SECRET }),
        /dataHookSecret \(HERALD_DATA_HOOK_SECRET\): a data hook is configured/,
      );
      assert.throws(
        () => parseConfig({ localSchedules: { standup: { hookUrl: url } } }),
        /dataHookSecret \(HERALD_DATA_HOOK_SECRET\)/,
      );
    });

    it('answers the schedules with the same content, so each goes out', async () => {
      const { users } = await example<ContentModule>('content.js');
      await loadRecipes(herald);
      for (const u of users) {
        await herald.recipients.upsert(u.id, {
          email: u.email,
          locale: u.locale,
          timezone: u.timezone,
          data: { name: u.name },
        });
        await herald.preferences.put(u.id, {
          schedules: {
            daily_briefing: { time: '08:00' },
            weekly_summary: { time: '09:00' },
            achievement_nudge: { time: '19:00' },
          },
        });
      }
      await dueNow(herald);
      const worker = herald.worker({ handlers: builtinHandlers(herald), pollIntervalMs: 50 });
      await worker.start();
      assert.equal((await herald.scheduler().tick()).local, 6);
      const rows = await sentRecipes(herald, 6);
      assert.ok(
        rows.every((r) => r.email_status === 'sent'),
        JSON.stringify(rows),
      );
      const briefing = find(rows, 'jonas', 'daily_briefing');
      assert.equal(briefing.data.url, 'https://tasks.example.com/today');
      assert.match(briefing.inbox?.title ?? '', /^Dein Tag, /);
      assert.equal(find(rows, 'ann', 'achievement_nudge').data.streak, 5);
    });
  });
});

/**
 * `herald demo`: a newcomer's first notification, start to finish, on whatever database is
 * configured (the embedded one by default). It defines a type, saves a recipient, triggers,
 * runs a worker until both deliveries are sent, and shows where the email landed and what
 * the inbox holds, then the curl calls that do the same through the API.
 */
import { Command } from 'commander';
import { openForCommand, withDbFlags, type SettingsFlags } from './common.js';
import { builtinHandlers } from '../handlers.js';
import type { Herald } from '../herald.js';
import type { NotificationDetail } from '../notify/notifications.js';

const TYPE = 'demo-welcome';
const RECIPIENT = 'demo-user';

const say = (line: string) => process.stdout.write(`${line}\n`);

export function demoCommand(): Command {
  return withDbFlags(new Command('demo'))
    .description('send a first notification end to end and show where it went')
    .action(async (flags: SettingsFlags) => {
      const herald = await openForCommand(flags);
      try {
        await demo(herald);
      } finally {
        await herald.close();
      }
    });
}

async function demo(herald: Herald): Promise<void> {
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
    timezone: 'Europe/Berlin',
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
    await new Promise((r) => setTimeout(r, 100));
  }
  await worker.stop();
  for (const d of detail?.deliveries ?? []) {
    const where =
      d.channel === 'email'
        ? d.provider === 'outbox'
          ? `written to ${d.providerMessageId} (no SMTP server is set: HERALD_SMTP_URL)`
          : `handed to ${d.provider} as ${d.providerMessageId}`
        : 'in the inbox';
    say(
      `4. ${d.channel}: ${d.status}${d.reason ? ` (${d.reason})` : ''}, ${where}${d.error ? `: ${d.error}` : ''}`,
    );
  }
  if (detail?.inbox) say(`   inbox item: "${detail.inbox.title}" — ${detail.inbox.body}`);

  const base = `http://localhost:${herald.config.port}`;
  say(`
Now through the API: run \`npm start\` (it prints an API key on first start and keeps it in
${herald.config.dataDir}/dev-api-key), then:

  KEY=$(cat ${herald.config.dataDir}/dev-api-key)
  curl -s -X POST ${base}/v1/notifications -H "authorization: Bearer $KEY" \\
    -H 'content-type: application/json' \\
    -d '{"type":"${TYPE}","to":"${RECIPIENT}","data":{"name":"Grace"}}'
  curl -s ${base}/v1/notifications/<id from the answer> -H "authorization: Bearer $KEY"

The API reference is at ${base}/docs.`);
}

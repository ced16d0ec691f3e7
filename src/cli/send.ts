/**
 * `herald send <type> <recipient...>`: triggers a notification from the shell, through the
 * same code as POST /v1/notifications (a worker, `herald start` or `herald worker`, sends it).
 */
import { Command } from 'commander';
import { openForCommand, withDbFlags, type SettingsFlags } from './common.js';
import { viaHttp } from './startup.js';
import { ValidationError } from '../errors.js';

interface SendFlags extends SettingsFlags {
  data?: string;
  channels?: string;
  priority?: string;
  sendAt?: string;
  idempotencyKey?: string;
  json?: boolean;
}

export function sendCommand(): Command {
  return withDbFlags(new Command('send'))
    .description('trigger a notification (a running worker sends it)')
    .argument('<type>', 'the notification type')
    .argument('<recipients...>', 'recipient ids')
    .option('--data <json>', 'template data, a JSON object', '{}')
    .option('--channels <list>', "a subset of the type's channels, comma-separated")
    .option('--priority <p>', 'low|normal|high|urgent (default: the type’s)')
    .option('--send-at <iso>', 'send at this instant (ISO 8601), not now')
    .option('--idempotency-key <key>', 'send at most once for this key')
    .option('--json', 'print the answer as JSON (as the API gives it)')
    .addHelpText(
      'after',
      '\nExample:\n  herald send due-soon ann bob --data \'{"title":"Taxes","due":"Friday"}\'',
    )
    .action(async (type: string, to: string[], flags: SendFlags) => {
      let data: unknown;
      try {
        data = JSON.parse(flags.data ?? '{}');
      } catch {
        throw new ValidationError([{ field: '--data', message: 'must be a JSON object' }]);
      }
      const herald = await openForCommand(flags, viaHttp('POST /v1/notifications'));
      try {
        const result = await herald.send({
          type,
          to: to.length === 1 ? to[0] : to,
          data,
          ...(flags.channels ? { channels: flags.channels.split(',').map((c) => c.trim()) } : {}),
          ...(flags.priority ? { priority: flags.priority } : {}),
          ...(flags.sendAt ? { sendAt: flags.sendAt } : {}),
          ...(flags.idempotencyKey ? { idempotencyKey: flags.idempotencyKey } : {}),
        });
        if (flags.json) {
          process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
          return;
        }
        for (const n of result.notifications) {
          const deliveries = n.deliveries
            .map((d) => `${d.channel} ${d.status}${d.reason ? ` (${d.reason})` : ''}`)
            .join(', ');
          process.stdout.write(`${n.id}  ${n.recipientId}  ${deliveries}\n`);
        }
        if (result.replayed)
          process.stderr.write(
            'herald: this idempotency key was used before: its notifications are shown\n',
          );
      } finally {
        await herald.close();
      }
    });
}

/**
 * The URLs of the `webhook` and `slack` channels. A recipient may have their own
 * (`webhookUrl`, `slackWebhookUrl`) and a type may name one (`webhook.url`, `slack.url`); the
 * recipient's wins, and with neither the delivery is skipped with `no_address`.
 *
 * Only https, so a notification never crosses the network in the clear; plain http only to this
 * machine (127.0.0.1, localhost, ::1), for development and tests. No user name or password in
 * the URL (fetch refuses them; a receiver checks the signature instead).
 */
import { z } from 'zod';
import type { TextMessage, WebhookMessage } from '../channels/provider.js';
import { hookUrlProblem } from '../channels/webhook/url.js';

// The URL rule belongs to the providers that call these URLs; the schema here applies it.
export { hookUrlProblem } from '../channels/webhook/url.js';

export const hookUrlSchema = z
  .string()
  .superRefine((url, ctx) => {
    const problem = hookUrlProblem(url);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .describe('an https URL (http only to 127.0.0.1, localhost or ::1), at most 2048 characters');

export type HookChannel = 'webhook' | 'slack';

/** The URLs a type names (its `webhook.url`, `slack.url`; types.ts). */
export interface HookUrls {
  webhook?: { url?: string } | undefined;
  slack?: { url?: string } | undefined;
}

/** The recipient's URL for `channel`, else the type's; null when there is neither. */
export function hookUrlFor(
  channel: HookChannel,
  recipient: { webhookUrl?: string | null; slackWebhookUrl?: string | null },
  type: HookUrls,
): string | null {
  return channel === 'webhook'
    ? recipient.webhookUrl || type.webhook?.url || null
    : recipient.slackWebhookUrl || type.slack?.url || null;
}

/**
 * The URL as the delivery records it (its `address`): without the query, and for Slack
 * without the last path segment, the secret part of `hooks.slack.com/services/T…/B…/<secret>`
 * (anyone who has the whole URL can post to the channel).
 */
export function shownHookUrl(channel: HookChannel, url: string): string {
  const u = new URL(url);
  const path = channel === 'slack' ? u.pathname.replace(/[^/]+$/, '…') : u.pathname;
  return `${u.origin}${path}`;
}

/** What a webhook or slack delivery needs of its row (deliver.ts loads it). */
export interface HookRow {
  id: string;
  notification_id: string;
  type: string;
  recipient_id: string | null;
  priority: WebhookMessage['priority'];
  created_at: Date;
  data: Record<string, unknown>;
  webhook_url: string | null;
  slack_webhook_url: string | null;
}

/**
 * The message of a webhook or slack delivery and the address it records, or null when neither
 * the recipient nor the type has a URL for the channel (the delivery is skipped, `no_address`).
 */
export function hookDelivery(
  channel: HookChannel,
  row: HookRow,
  type: HookUrls,
  content: Record<string, string>,
): { address: string; message: WebhookMessage | TextMessage } | null {
  const url = hookUrlFor(
    channel,
    { webhookUrl: row.webhook_url, slackWebhookUrl: row.slack_webhook_url },
    type,
  );
  if (!url) return null;
  const address = shownHookUrl(channel, url);
  if (channel === 'slack')
    return { address, message: { channel, deliveryId: row.id, to: url, content } };
  return {
    address,
    message: {
      channel,
      deliveryId: row.id,
      url,
      notificationId: row.notification_id,
      type: row.type,
      recipientId: row.recipient_id ?? '',
      priority: row.priority,
      createdAt: row.created_at.toISOString(),
      content,
      data: row.data,
    },
  };
}

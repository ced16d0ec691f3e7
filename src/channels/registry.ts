/**
 * The providers of this process, by channel. The inbox (inapp) is Herald's own table and needs
 * none; email has SMTP or, with no SMTP server configured, the preview outbox; SMS goes through
 * Twilio or Vonage; WhatsApp through the Cloud API or Twilio; push fans out to the senders of
 * each device kind. A channel with two configured providers needs the choice said
 * (`emailProvider`, `smsProvider`, `whatsappProvider`), unless one of them is the channel's
 * `fallback`: then the other is the primary. Every configured provider is kept by name, for
 * failover (`named`). An app may pass its own providers, which win.
 */
import type { HeraldConfig } from '../config.js';
import type { Logger } from '../obs/log.js';
import type { Channel } from '../types.js';
import {
  makeEmailProvider,
  postmarkFromConfig,
  resendFromConfig,
  sendgridFromConfig,
} from './email/index.js';
import { sesFromConfig } from './email/ses.js';
import type { Provider } from './provider.js';
import { HeraldError } from '../errors.js';
import { twilioSmsFromConfig } from './sms/twilio.js';
import { vonageSmsFromConfig } from './sms/vonage.js';
import { whatsappCloudFromConfig } from './whatsapp/meta.js';
import { twilioWhatsappFromConfig } from './whatsapp/twilio.js';
import { makePushFanout, type DeviceSender } from './push/fanout.js';
import { makeSlackProvider } from './slack/slack.js';
import { webhookFromConfig } from './webhook/webhook.js';
import { egressFromConfig } from '../net/egress.js';

export interface Providers {
  get(channel: Channel): Provider | undefined;
  /**
   * A configured provider of this channel by name (a fallback), or undefined. The primary is
   * `get(channel)`.
   */
  named(channel: Channel, name: string): Provider | undefined;
  /** Whether a send on this channel can go anywhere (inapp always can). */
  has(channel: Channel): boolean;
  close(): Promise<void>;
}

export interface PushOptions {
  /** The per-service senders of push notifications (APNs, FCM, Web Push) that are configured. */
  senders: DeviceSender[];
  /** Marks devices the push service called gone as inactive. */
  disableDevices: (ids: string[]) => Promise<void>;
}

export function makeProviders(
  config: HeraldConfig,
  log: Logger,
  given: Provider[] = [],
  push?: PushOptions,
): Providers {
  const byChannel = new Map<Channel, Provider>();
  // Every configured provider, by channel and name: the primaries and their fallbacks.
  const named = new Map<string, Provider>();
  const key = (channel: string, name: string) => `${channel}:${name}`;
  /** The channel's primary among those configured; records them all for fallbacks. */
  const pick: Choose = (channel, configured, chosen, setting) => {
    const ready = configured.filter((p): p is Provider => p !== undefined);
    for (const p of ready) named.set(key(channel, p.name), p);
    const fallback = (config.fallback as Record<string, string | undefined>)[channel];
    if (fallback && !ready.some((p) => p.name === fallback)) {
      throw new HeraldError(
        'config_invalid',
        `the ${channel} fallback is ${fallback}, which is not configured (configured for ${channel}: ${ready.map((p) => p.name).join(', ') || 'none'})`,
      );
    }
    // With a fallback set, the other configured provider is the primary without being named.
    const primaries = chosen || !fallback ? ready : ready.filter((p) => p.name !== fallback);
    return choose(channel, primaries, chosen, setting);
  };
  byChannel.set('email', emailProvider(config, log, pick));
  const sms = pick(
    'sms',
    [twilioSmsFromConfig(config, log), vonageSmsFromConfig(config, log)],
    config.smsProvider,
    'HERALD_SMS_PROVIDER',
  );
  if (sms) byChannel.set('sms', sms);
  const whatsapp = pick(
    'whatsapp',
    [whatsappCloudFromConfig(config, log), twilioWhatsappFromConfig(config, log)],
    config.whatsappProvider,
    'HERALD_WHATSAPP_PROVIDER',
  );
  if (whatsapp) byChannel.set('whatsapp', whatsapp);
  if (push && push.senders.length > 0)
    byChannel.set(
      'push',
      makePushFanout(push.senders, { log, disableDevices: push.disableDevices }),
    );
  // Slack needs no setting (the URL is the credential); the webhook needs its signing secret.
  // Both post to URLs recipients and types name: through the egress guard (net/egress.ts).
  const egress = egressFromConfig(config, log);
  byChannel.set('slack', makeSlackProvider({ log, egress }));
  const webhook = webhookFromConfig(config, log, egress);
  if (webhook) byChannel.set('webhook', webhook);
  for (const p of given) byChannel.set(p.channel, p);
  return {
    get: (channel) => byChannel.get(channel),
    named: (channel, name) => named.get(key(channel, name)),
    has: (channel) => channel === 'inapp' || byChannel.has(channel),
    async close() {
      const all = new Set([...byChannel.values(), ...named.values()]);
      await Promise.all([...all].map(async (p) => p.close?.()));
    },
  };
}

/**
 * Email: the one of Resend, SendGrid, Postmark, Amazon SES and SMTP that is configured, or the one
 * `emailProvider` names; with none, the outbox folder.
 */
function emailProvider(config: HeraldConfig, log: Logger, pick: Choose): Provider {
  if (config.emailProvider === 'outbox')
    return makeEmailProvider({ ...config, smtpUrl: undefined }, log);
  const chosen = pick(
    'email',
    [
      resendFromConfig(config, log),
      sendgridFromConfig(config, log),
      postmarkFromConfig(config, log),
      sesFromConfig(config, log),
      config.smtpUrl ? makeEmailProvider(config, log) : undefined,
    ],
    config.emailProvider,
    'HERALD_EMAIL_PROVIDER',
  );
  return chosen ?? makeEmailProvider(config, log);
}

type Choose = (
  channel: string,
  configured: (Provider | undefined)[],
  chosen: string | undefined,
  setting: string,
) => Provider | undefined;

/** The one configured provider of a channel, or the one `chosen` names when several are. */
function choose(
  channel: string,
  configured: (Provider | undefined)[],
  chosen: string | undefined,
  setting: string,
): Provider | undefined {
  const ready = configured.filter((p): p is Provider => p !== undefined);
  if (chosen) {
    const pick = ready.find((p) => p.name === chosen);
    if (!pick) {
      throw new HeraldError(
        'config_invalid',
        `${setting} is ${chosen}, which is not configured (configured for ${channel}: ${ready.map((p) => p.name).join(', ') || 'none'})`,
      );
    }
    return pick;
  }
  if (ready.length > 1) {
    throw new HeraldError(
      'config_invalid',
      `${ready.map((p) => p.name).join(' and ')} are both configured for ${channel}: say which with ${setting}`,
    );
  }
  return ready[0];
}

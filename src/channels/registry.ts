/**
 * The providers of this process, by channel. The inbox (inapp) is Herald's own table and needs
 * none; email has SMTP or, with no SMTP server configured, the preview outbox; push fans out
 * to the senders of each device kind. Issue-4 providers register here. An app may pass its own providers, which win.
 */
import type { HeraldConfig } from '../config.js';
import type { Logger } from '../obs/log.js';
import type { Channel } from '../notify/types.js';
import { makeEmailProvider } from './email/index.js';
import type { Provider } from './provider.js';
import { makePushFanout, type DeviceSender } from './push/fanout.js';

export interface Providers {
  get(channel: Channel): Provider | undefined;
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
  byChannel.set('email', makeEmailProvider(config, log));
  if (push && push.senders.length > 0)
    byChannel.set(
      'push',
      makePushFanout(push.senders, { log, disableDevices: push.disableDevices }),
    );
  for (const p of given) byChannel.set(p.channel, p);
  return {
    get: (channel) => byChannel.get(channel),
    has: (channel) => channel === 'inapp' || byChannel.has(channel),
    async close() {
      await Promise.all([...byChannel.values()].map(async (p) => p.close?.()));
    },
  };
}

/**
 * The providers of this process, by channel. The inbox (inapp) is Herald's own table and needs
 * none; email has SMTP or, with no SMTP server configured, the preview outbox. Issue-4
 * providers (SMS, WhatsApp, push) register here. An app may pass its own providers, which win.
 */
import type { HeraldConfig } from '../config.js';
import type { Logger } from '../obs/log.js';
import type { Channel } from '../notify/types.js';
import { makeEmailProvider } from './email/index.js';
import type { Provider } from './provider.js';

export interface Providers {
  get(channel: Channel): Provider | undefined;
  /** Whether a send on this channel can go anywhere (inapp always can). */
  has(channel: Channel): boolean;
  close(): Promise<void>;
}

export function makeProviders(
  config: HeraldConfig,
  log: Logger,
  given: Provider[] = [],
): Providers {
  const byChannel = new Map<Channel, Provider>();
  byChannel.set('email', makeEmailProvider(config, log));
  for (const p of given) byChannel.set(p.channel, p);
  return {
    get: (channel) => byChannel.get(channel),
    has: (channel) => channel === 'inapp' || byChannel.has(channel),
    async close() {
      await Promise.all([...byChannel.values()].map(async (p) => p.close?.()));
    },
  };
}

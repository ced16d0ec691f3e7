/**
 * The push channel's provider: one push notification goes to every active device of the
 * recipient, each through the sender of its kind (APNs, FCM, Web Push). The senders are the
 * per-service code; this file decides what the delivery's outcome is:
 *
 * - sent when at least one device accepted it; `details.devices` says what each device did;
 * - a device the service says is gone (APNs 410 Unregistered, FCM UNREGISTERED, Web Push
 *   404/410) is disabled at once and never retried;
 * - no device accepted and some failed transiently (or were rate-limited): the whole push is
 *   retried (nothing reached the recipient, so nothing is sent twice);
 * - otherwise the delivery fails permanently.
 */
import type { Logger } from '../../obs/log.js';
import {
  ProviderError,
  isProviderError,
  type OutboundMessage,
  type Provider,
  type PushDevice,
  type PushMessage,
  type SendResult,
} from '../provider.js';

/** The code of one push service for one kind of device. */
export interface DeviceSender {
  kind: PushDevice['kind'];
  name: string;
  /** Sends to one device; throws a ProviderError (`providerCode: 'gone'` for a dead device). */
  send(
    device: PushDevice,
    message: PushMessage,
    signal?: AbortSignal,
  ): Promise<{ messageId: string }>;
  close?(): Promise<void>;
}

export interface DeviceResult {
  id: string;
  kind: PushDevice['kind'];
  status: 'sent' | 'gone' | 'failed' | 'retry' | 'no_provider';
  messageId?: string;
  error?: string;
}

export function makePushFanout(
  senders: DeviceSender[],
  options: { log: Logger; disableDevices: (ids: string[]) => Promise<void> },
): Provider {
  const byKind = new Map(senders.map((s) => [s.kind, s]));
  return {
    name: senders.map((s) => s.name).join('+') || 'push',
    channel: 'push',
    async send(message: OutboundMessage, signal?: AbortSignal): Promise<SendResult> {
      if (message.channel !== 'push')
        throw new ProviderError('permanent', `the push provider cannot send ${message.channel}`);
      let retryAfterMs: number | undefined;
      const results = await Promise.all(
        message.devices.map(async (device): Promise<DeviceResult> => {
          const sender = byKind.get(device.kind);
          if (!sender) return { id: device.id, kind: device.kind, status: 'no_provider' };
          try {
            const { messageId } = await sender.send(device, message, signal);
            return { id: device.id, kind: device.kind, status: 'sent', messageId };
          } catch (err) {
            const e = err as Error;
            if (isProviderError(err, 'permanent')) {
              const gone = err.providerCode === 'gone';
              return {
                id: device.id,
                kind: device.kind,
                status: gone ? 'gone' : 'failed',
                error: e.message,
              };
            }
            if (isProviderError(err, 'rate_limited'))
              retryAfterMs = Math.max(retryAfterMs ?? 0, err.retryAfterMs ?? 0);
            return { id: device.id, kind: device.kind, status: 'retry', error: e.message };
          }
        }),
      );
      const gone = results.filter((r) => r.status === 'gone').map((r) => r.id);
      if (gone.length > 0) {
        await options.disableDevices(gone);
        options.log.info(
          { deliveryId: message.deliveryId, devices: gone },
          'push:devices-disabled',
        );
      }
      const sent = results.filter((r) => r.status === 'sent');
      if (sent.length > 0) {
        return { providerMessageId: sent[0]?.messageId ?? '', details: { devices: results } };
      }
      const summary = results
        .map((r) => `${r.kind} ${r.id}: ${r.status}${r.error ? ` (${r.error})` : ''}`)
        .join('; ');
      if (results.some((r) => r.status === 'retry')) {
        throw retryAfterMs !== undefined
          ? new ProviderError('rate_limited', `no device accepted it: ${summary}`, retryAfterMs)
          : new ProviderError('transient', `no device accepted it: ${summary}`);
      }
      throw new ProviderError(
        'permanent',
        `no device accepted it: ${summary}`,
        undefined,
        'no_device',
      );
    },
    async close() {
      await Promise.all(senders.map(async (s) => s.close?.()));
    },
  };
}

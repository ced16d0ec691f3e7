/**
 * The push senders configured for this process, one per device kind: APNs, FCM, Web Push.
 */
import type { HeraldConfig } from '../../config.js';
import type { Logger } from '../../obs/log.js';
import type { DeviceSender } from './fanout.js';
import { apnsFromConfig } from './apns.js';
import { fcmFromConfig } from './fcm.js';
import { webPushFromConfig } from './webpush.js';

export function configuredPushSenders(config: HeraldConfig, log: Logger): DeviceSender[] {
  return [
    apnsFromConfig(config, log),
    fcmFromConfig(config, log),
    webPushFromConfig(config, log),
  ].filter((s): s is DeviceSender => s !== undefined);
}

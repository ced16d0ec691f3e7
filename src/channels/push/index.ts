/**
 * The push senders configured for this process, one per device kind. FCM is here; APNs and
 * Web Push join as they are built (issue 4).
 */
import type { HeraldConfig } from '../../config.js';
import type { Logger } from '../../obs/log.js';
import type { DeviceSender } from './fanout.js';
import { fcmFromConfig } from './fcm.js';

export function configuredPushSenders(config: HeraldConfig, log: Logger): DeviceSender[] {
  return [fcmFromConfig(config, log)].filter((s): s is DeviceSender => s !== undefined);
}

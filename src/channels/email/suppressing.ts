// Email status callbacks (SES, Resend) name the recipients a bounce or complaint is about;
// each of those addresses goes on the suppression list.
import type { DeliveryEvent, SuppressionReason } from '../../types.js';

/**
 * The event once per address, each putting that address on the email suppression list for
 * `reason` (a bounce or complaint naming its recipients); the event alone when none is named.
 */
export function suppressingEach(
  event: Omit<DeliveryEvent, 'suppress'>,
  addresses: string[],
  reason: SuppressionReason,
): DeliveryEvent[] {
  if (addresses.length === 0) return [event];
  return addresses.map((address) => ({
    ...event,
    suppress: { channel: 'email', address, reason },
  }));
}

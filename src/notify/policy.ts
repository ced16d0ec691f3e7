/**
 * The send-time rules, as one pure function: for a recipient, a type and a channel, either a
 * reason to skip (recorded on the delivery, so "why did I not get it" has an answer) or when
 * to send. The order is the order a user would explain it in:
 *
 * 1. `no_consent`: a marketing type needs `consent.marketing`.
 * 2. `opted_out`: the type is switched off, or off for this channel (`types`).
 * 3. `channel_disabled`: the channel is switched off (`channels`).
 * 4. `suppressed`: the recipient's email or phone is on the suppression list for the channel
 *    (it hard-bounced, complained of spam, or an operator blocked it; suppressions.ts). After
 *    the recipient's own choices, which explain a skip better; before `no_address`, which it
 *    cannot meet (a suppressed address exists).
 * 5. `no_address`: no email, phone or active device for the channel; for webhook and slack, no
 *    URL of the recipient's nor of the type's.
 * 6. `no_provider`: no provider is configured for the channel on this server.
 * 7. Quiet hours, in the recipient's time zone: the send is deferred to their end, except for
 *    `urgent` notifications and for the inbox, which interrupts nobody.
 *
 * A delivery that is not skipped may be held for a digest instead (notify/digests.ts: the
 * recipient's `digest` preference, else the type's rule; never `urgent`, never the inbox): its
 * run time is then the digest's send time, which already lies outside quiet hours.
 */
import type { Preferences } from './preferences.js';
import type { Channel, TypeDefinition } from './types.js';
import { hookUrlFor } from './hook-urls.js';
import { quietHoursEnd } from '../time/zoned.js';
import { digestSendAt, digestWindowFor, type DigestWindow } from './digests.js';

export type SkipReason =
  'no_consent' | 'opted_out' | 'channel_disabled' | 'suppressed' | 'no_address' | 'no_provider';

export interface RecipientFacts {
  email: string | null;
  phone: string | null;
  timezone: string | null;
  /** Active push devices. */
  devices: number;
  /** The recipient's own URLs of the webhook and slack channels. */
  webhookUrl?: string | null;
  slackWebhookUrl?: string | null;
  /** The stored preferences document (already validated when it was saved); null: defaults. */
  preferences: Partial<Preferences> | null;
  /** Whether the recipient's address is on the suppression list, by channel; absent: no. */
  suppressed?: Partial<Record<Channel, boolean>> | null;
}

export type Decision =
  | { skip: SkipReason }
  | {
      skip?: undefined;
      runAt: number;
      deferredByQuietHours: boolean;
      /** Held for a digest of this window, sent at `runAt`. */
      digest?: DigestWindow;
    };

export function decide(
  facts: RecipientFacts,
  type: Pick<TypeDefinition, 'category' | 'webhook' | 'slack' | 'digest'> & { name: string },
  priority: TypeDefinition['priority'],
  channel: Channel,
  at: number,
  hasProvider: (channel: Channel) => boolean,
): Decision {
  const prefs = facts.preferences ?? {};
  if (type.category === 'marketing' && prefs.consent?.marketing !== true)
    return { skip: 'no_consent' };
  const typePref = prefs.types?.[type.name];
  if (typePref === false || (typeof typePref === 'object' && typePref[channel] === false))
    return { skip: 'opted_out' };
  if (prefs.channels?.[channel] === false) return { skip: 'channel_disabled' };
  if (facts.suppressed?.[channel] === true) return { skip: 'suppressed' };
  if (!hasAddress(facts, channel, type)) return { skip: 'no_address' };
  if (!hasProvider(channel)) return { skip: 'no_provider' };

  const zone = prefs.timezone ?? facts.timezone ?? 'UTC';
  const digest = digestWindowFor(prefs.digest, type.digest, priority, channel);
  if (digest) {
    const runAt = digestSendAt(digest, at, zone, prefs.quietHours ?? null);
    return { runAt, deferredByQuietHours: false, digest };
  }
  const quiet = prefs.quietHours;
  if (quiet && priority !== 'urgent' && channel !== 'inapp') {
    const end = quietHoursEnd(at, quiet, zone);
    if (end !== null) return { runAt: end, deferredByQuietHours: true };
  }
  return { runAt: at, deferredByQuietHours: false };
}

function hasAddress(
  facts: RecipientFacts,
  channel: Channel,
  type: Pick<TypeDefinition, 'webhook' | 'slack'>,
): boolean {
  switch (channel) {
    case 'email':
      return !!facts.email;
    case 'sms':
    case 'whatsapp':
      return !!facts.phone;
    case 'push':
      return facts.devices > 0;
    case 'inapp':
      return true;
    case 'webhook':
    case 'slack':
      return hookUrlFor(channel, facts, type) !== null;
  }
}

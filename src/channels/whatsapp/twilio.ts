/**
 * WhatsApp through Twilio: the Messages API of `sms/twilio.ts` with `whatsapp:+E164` as To and
 * From. Twilio passes free-form text only inside WhatsApp's 24-hour customer service window;
 * outside it Twilio answers 400 with 63016, which is permanent like any other 4xx (see
 * `classifyTwilioError`).
 */
import type { HeraldConfig } from '../../config.js';
import { HeraldError } from '../../errors.js';
import type { Logger } from '../../obs/log.js';
import {
  ProviderError,
  type OutboundMessage,
  type Provider,
  type SendResult,
} from '../provider.js';
import { isE164 } from '../sms/segments.js';
import { makeTwilioClient, textOf, type TwilioOptions } from '../sms/twilio.js';

/** `+15551234567` or `whatsapp:+15551234567` as Twilio's WhatsApp address, or undefined. */
export function whatsappAddress(phone: string): string | undefined {
  const number = phone.startsWith('whatsapp:') ? phone.slice('whatsapp:'.length) : phone;
  return isE164(number) ? `whatsapp:${number}` : undefined;
}

export type TwilioWhatsappOptions = TwilioOptions;

export function makeTwilioWhatsappProvider(options: TwilioWhatsappOptions): Provider {
  const from = whatsappAddress(options.from);
  if (!from)
    throw new HeraldError(
      'config_invalid',
      `the Twilio WhatsApp sender must be an E.164 number like +14155238886 (got "${options.from}"); check HERALD_TWILIO_WHATSAPP_FROM`,
    );
  const send = makeTwilioClient(options);
  const log = options.log.child({ provider: 'twilio-whatsapp' });
  return {
    name: 'twilio-whatsapp',
    channel: 'whatsapp',
    async send(message: OutboundMessage, signal?: AbortSignal): Promise<SendResult> {
      const wa = textOf(message, 'whatsapp');
      const to = whatsappAddress(wa.to);
      if (!to) throw new ProviderError('permanent', `"${wa.to}" is not an E.164 phone number`);
      const sent = await send({ To: to, From: from, Body: wa.content.text as string }, signal);
      log.debug({ deliveryId: wa.deliveryId, sid: sent.sid }, 'twilio-whatsapp:sent');
      return { providerMessageId: sent.sid };
    },
  };
}

/** The Twilio WhatsApp provider of the configuration, or undefined when not set up. */
export function twilioWhatsappFromConfig(config: HeraldConfig, log: Logger): Provider | undefined {
  const { twilioAccountSid, twilioAuthToken, twilioWhatsappFrom, twilioUrl } = config;
  if (!twilioAccountSid || !twilioWhatsappFrom) return undefined;
  if (!twilioAuthToken)
    throw new HeraldError(
      'config_invalid',
      'HERALD_TWILIO_AUTH_TOKEN is missing: copy the Auth Token from the Twilio console (Account Info)',
    );
  return makeTwilioWhatsappProvider({
    accountSid: twilioAccountSid,
    authToken: twilioAuthToken,
    from: twilioWhatsappFrom,
    ...(twilioUrl ? { url: twilioUrl } : {}),
    log,
  });
}

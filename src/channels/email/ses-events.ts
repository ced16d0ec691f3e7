/**
 * Amazon SES event records, as SES publishes them to an SNS topic: a configuration set's event
 * destination (`eventType`) or an identity's feedback notifications (`notificationType`), the
 * JSON in the SNS Notification's `Message`
 * (https://docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-contents.html).
 *
 * Every record has `mail.messageId`: the MessageId SendEmail answered, which ses.ts keeps as
 * the delivery's provider message id; deliveries are found by it. (ses.ts sends no tag with
 * Herald's delivery id, and SES replaces the Message-ID header with its own.)
 */
import type { DeliveryEvent } from '../../types.js';
import { suppressingEach } from './suppressing.js';

type Json = Record<string, unknown>;
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const obj = (v: unknown): Json => (v && typeof v === 'object' ? (v as Json) : {});
/** The addresses of `[{emailAddress}]`. */
const addresses = (list: unknown): string[] =>
  (Array.isArray(list) ? list : [])
    .map((r) => str(obj(r).emailAddress))
    .filter((a): a is string => a !== undefined);

/**
 * The record (the SNS Message's text) as delivery events:
 *
 * - Delivery → delivered (SES's SMTP answer in the detail); Open → opened; Click → clicked
 *   (the link in the detail);
 * - Bounce with `bounceType` `Permanent` → bounced, every `bouncedRecipients` address
 *   suppressed (`bounce`); `Transient` and `Undetermined` → recorded as `soft_bounced`;
 * - Complaint → complained, every `complainedRecipients` address suppressed (`complaint`);
 * - Reject (SES refused to send it: a virus) → failed; DeliveryDelay → recorded as `delayed`;
 * - others (Send, Rendering Failure, Subscription, a text that is not JSON) are ignored.
 */
export function sesEvents(message: string): DeliveryEvent[] {
  let record: Json;
  try {
    record = obj(JSON.parse(message));
  } catch {
    return [];
  }
  const type = str(record.eventType) ?? str(record.notificationType);
  const mail = obj(record.mail);
  const messageId = str(mail.messageId);
  if (!type || !messageId) return [];
  const detailOf = (key: string) => obj(record[key]);
  const when = (key: string) => {
    const at = Date.parse(str(detailOf(key).timestamp) ?? str(mail.timestamp) ?? '');
    return Number.isNaN(at) ? new Date() : new Date(at);
  };
  const event = (key: string, status: DeliveryEvent['status'], detail: string): DeliveryEvent => ({
    deliveryId: null,
    providerMessageId: messageId,
    status,
    detail: detail.slice(0, 2000),
    at: when(key),
  });
  switch (type) {
    case 'Delivery':
      return [
        event('delivery', 'delivered', str(detailOf('delivery').smtpResponse) ?? 'delivered'),
      ];
    case 'Open':
      return [event('open', 'opened', 'opened')];
    case 'Click':
      return [event('click', 'clicked', str(detailOf('click').link) ?? 'click')];
    case 'Bounce': {
      const bounce = detailOf('bounce');
      const kind = `${str(bounce.bounceType) ?? 'Undetermined'}/${str(bounce.bounceSubType) ?? 'General'}`;
      const recipients = Array.isArray(bounce.bouncedRecipients) ? bounce.bouncedRecipients : [];
      const diagnostic = str(obj(recipients[0]).diagnosticCode);
      const detail = `${kind}${diagnostic ? `: ${diagnostic}` : ''}`.slice(0, 500);
      if (bounce.bounceType !== 'Permanent') return [event('bounce', 'soft_bounced', detail)];
      return suppressingEach(event('bounce', 'bounced', detail), addresses(recipients), 'bounce');
    }
    case 'Complaint': {
      const complaint = detailOf('complaint');
      const detail = `complaint${str(complaint.complaintFeedbackType) ? `: ${str(complaint.complaintFeedbackType)}` : ''}`;
      return suppressingEach(
        event('complaint', 'complained', detail),
        addresses(complaint.complainedRecipients),
        'complaint',
      );
    }
    case 'Reject':
      return [event('reject', 'failed', `rejected: ${str(detailOf('reject').reason) ?? 'by SES'}`)];
    case 'DeliveryDelay':
      return [
        event(
          'deliveryDelay',
          'delayed',
          `delayed: ${str(detailOf('deliveryDelay').delayType) ?? 'delivery delayed'}`,
        ),
      ];
    default:
      return [];
  }
}

/**
 * What an `EmailMessage` becomes for nodemailer: the one mapping both email providers use, so
 * the SMTP server and the outbox folder see the same headers (From, To, Reply-To, Subject,
 * Message-ID, the caller's extra headers such as List-Unsubscribe), attachments and MIME
 * structure.
 */
import type { SendMailOptions } from 'nodemailer';
import { ProviderError, type EmailMessage, type OutboundMessage } from '../provider.js';
import { addressOf, composeMime } from './mime.js';

/** The sender used when neither the message nor the provider names one. */
export const DEFAULT_EMAIL_FROM = 'Herald <herald@localhost>';

/**
 * The Message-ID of a delivery: `<deliveryId@from-domain>`, so a retry of the same delivery
 * carries the same id (receivers and mailbox providers can drop the duplicate), and the domain
 * is the sender's own, as RFC 5322 recommends. Without a usable domain: `@herald`.
 */
export function messageIdFor(deliveryId: string, from: string): string {
  const local = deliveryId.replace(/[^A-Za-z0-9._-]/g, '_') || 'delivery';
  const domain = /@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>?\s*$/.exec(from)?.[1] ?? 'herald';
  return `<${local}@${domain}>`;
}

/** Narrows a pipeline message to email; any other channel is a wiring bug, never retried. */
export function asEmail(message: OutboundMessage, provider: string): EmailMessage {
  if (message.channel !== 'email') {
    throw new ProviderError(
      'permanent',
      `the ${provider} provider sends email, not ${message.channel} messages`,
      undefined,
      'wrong_channel',
    );
  }
  return message;
}

/** The MIME text of an email (mime.ts), from `from` with `messageId`: what SMTP and SES send. */
export function composeEmail(message: EmailMessage, from: string, messageId: string): string {
  return composeMime({
    from,
    to: message.to,
    subject: message.subject,
    html: message.html,
    text: message.text,
    headers: message.headers,
    replyTo: message.replyTo,
    attachments: message.attachments,
    messageId,
  });
}

/**
 * The nodemailer message for an email; `defaultFrom` applies when `message.from` is empty.
 * The text is composed by mime.ts and handed over `raw` (see there why), with the envelope.
 */
export function toMailOptions(
  message: EmailMessage,
  defaultFrom: string,
): SendMailOptions & { messageId: string } {
  const from = message.from || defaultFrom;
  const messageId = messageIdFor(message.deliveryId, from);
  return {
    envelope: { from: addressOf(from), to: [message.to] },
    raw: composeEmail(message, from, messageId),
    messageId,
  };
}

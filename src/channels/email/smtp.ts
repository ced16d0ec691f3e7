/**
 * The SMTP email provider: a pool of connections to one relay (your MTA, or a service's SMTP
 * endpoint), given as `smtp://user:pass@host:port` (STARTTLS when offered) or `smtps://`
 * (TLS from the start, usually port 465); the SMTP conversation is smtp-client.ts's, the
 * message text mime.ts's.
 *
 * Contract: `send` resolves once the server accepted the message (250 after DATA) with its
 * Message-ID (`<deliveryId@from-domain>`, the same on every attempt of a delivery), or throws a
 * `ProviderError` from `classifySmtpError`. It never retries by itself: connections dropped
 * while sending are re-queued by the pool (at most 5 times), everything else goes back to the
 * pipeline. Up to `maxConnections` connections stay open and carry any number of messages;
 * idle ones close after `idleTimeoutMs`. `close` ends idle connections at once and busy ones
 * after their current message.
 */
import type { Logger } from '../../obs/log.js';
import { HeraldError, toError } from '../../errors.js';
import {
  ProviderError,
  type OutboundMessage,
  type Provider,
  type ProviderErrorKind,
  type SendResult,
} from '../provider.js';
import { DEFAULT_EMAIL_FROM, asEmail, composeEmail, messageIdFor } from './message.js';
import { addressOf } from './mime.js';
import { createSmtpClient } from './smtp-client.js';

export interface SmtpProviderOptions {
  /** `smtp://[user:pass@]host[:port]` or `smtps://...`; user and password URL-encoded. */
  url: string;
  /** Sender for messages whose `from` is empty. Default `Herald <herald@localhost>`. */
  from?: string;
  /** Connections kept open to the server. Default 5. */
  maxConnections?: number;
  /** Time to open the TCP connection. Default 10 s (nodemailer: 2 min). */
  connectionTimeoutMs?: number;
  /** Time to wait for the server's greeting. Default 10 s. */
  greetingTimeoutMs?: number;
  /** Inactivity allowed on an open connection during a send. Default 60 s. */
  socketTimeoutMs?: number;
  /** An idle pooled connection is closed after this. Default 4 min (below RFC 5321's 5). */
  idleTimeoutMs?: number;
  log: Logger;
}

/**
 * How long a `rate_limited` answer waits: SMTP replies carry no Retry-After, and servers that
 * throttle (421/45x "too many messages", "rate limit exceeded") usually count per minute.
 */
export const SMTP_RATE_LIMIT_RETRY_MS = 60_000;

/** The fields nodemailer put on its errors, and smtp-client.ts's `SmtpError` has. */
interface SmtpErrorFields {
  code?: string;
  originalCode?: string;
  responseCode?: number;
  response?: string;
  command?: string;
}

// Words a server uses when it throttles the sender rather than refuses the message.
const RATE_WORDS = /\brate\b|too many|throttl|slow down/i;
// A 5xx reply that still says the same message can go through later.
const LATER_WORDS = /try (again )?later|temporar/i;
// Failures of the setup or the session, not of the message: the same message can go later,
// once the operator fixed the credentials or TLS, or the server is back.
const SETUP_CODES = new Set(['EAUTH', 'ENOAUTH', 'EOAUTH2', 'ETLS', 'EREQUIRETLS', 'ECONFIG']);
// Nodemailer's codes for a message or envelope it refused before the server said anything.
const MESSAGE_CODES = new Set(['EENVELOPE', 'EMESSAGE', 'EMAXRECIPIENTS']);

/**
 * The one place an SMTP failure becomes a `ProviderError`:
 *
 * - credentials, TLS or configuration (EAUTH, ETLS...): transient, even with a 535 reply,
 *   since every message would fail the same way until the operator fixes it;
 * - a 4xx reply: transient, or rate_limited for `SMTP_RATE_LIMIT_RETRY_MS` when the text
 *   says the sender goes too fast (`421 Too many messages`, `450 4.7.1 rate limit`);
 * - a 5xx reply: permanent (bad address, refused content), except 503 (bad sequence: the
 *   session, not the message), 552 to RCPT TO (RFC 5321 §4.5.3.1.10: too many recipients,
 *   to be read as 452) and a reply that says to try later;
 * - no reply, nodemailer refused the envelope or message (EENVELOPE: no valid recipient;
 *   EMESSAGE: too large): permanent;
 * - anything else, above all connection failures (ECONNREFUSED, ETIMEDOUT, ECONNRESET,
 *   ESOCKET, EDNS, ECONNECTION, EABORT, the pool closed): transient.
 *
 * `providerCode` is the SMTP reply code, else nodemailer's code with the system one
 * (`ESOCKET/ECONNREFUSED`).
 */
export function classifySmtpError(thrown: unknown): ProviderError {
  if (thrown instanceof ProviderError) return thrown;
  const err = toError(thrown);
  const { code, originalCode, responseCode, command } = err as Error & SmtpErrorFields;
  const reply = (err as SmtpErrorFields).response ?? '';
  const providerCode = responseCode
    ? String(responseCode)
    : [code, originalCode].filter(Boolean).join('/') || undefined;
  const make = (kind: ProviderErrorKind, retryAfterMs?: number) =>
    new ProviderError(kind, err.message, retryAfterMs, providerCode);

  if (code && SETUP_CODES.has(code)) return make('transient');
  if (responseCode && responseCode >= 400 && responseCode < 500) {
    return RATE_WORDS.test(reply)
      ? make('rate_limited', SMTP_RATE_LIMIT_RETRY_MS)
      : make('transient');
  }
  if (responseCode && responseCode >= 500 && responseCode < 600) {
    const later =
      responseCode === 503 ||
      (responseCode === 552 && command === 'RCPT TO') ||
      LATER_WORDS.test(reply);
    return make(later ? 'transient' : 'permanent');
  }
  if (!responseCode && code && MESSAGE_CODES.has(code)) return make('permanent');
  return make('transient');
}

/** The URL for logs: no password. */
function describeSmtpUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable SMTP URL)';
  }
}

export function makeSmtpProvider(options: SmtpProviderOptions): Provider {
  if (!/^smtps?:\/\//.test(options.url)) {
    throw new HeraldError(
      'config_invalid',
      `the SMTP URL must start with smtp:// or smtps:// (got ${describeSmtpUrl(options.url)}); check HERALD_SMTP_URL`,
    );
  }
  const defaultFrom = options.from ?? DEFAULT_EMAIL_FROM;
  const maxConnections = options.maxConnections ?? 10;
  const log = options.log.child({ provider: 'smtp' });
  // One connection carries any number of messages; the server may still close it, and the
  // pool opens another.
  const client = createSmtpClient({
    url: options.url,
    maxConnections,
    idleTimeoutMs: options.idleTimeoutMs ?? 240_000,
    connectionTimeoutMs: options.connectionTimeoutMs ?? 10_000,
    greetingTimeoutMs: options.greetingTimeoutMs ?? 10_000,
    socketTimeoutMs: options.socketTimeoutMs ?? 60_000,
    // A connection's failure is reported to the sends it affects; one no send waits on is
    // only logged.
    onError: (err) => log.warn({ err: toError(err).message }, 'smtp:error'),
  });
  log.info({ url: describeSmtpUrl(options.url), maxConnections }, 'smtp:ready');

  return {
    name: 'smtp',
    channel: 'email',
    async send(message: OutboundMessage, signal?: AbortSignal): Promise<SendResult> {
      const email = asEmail(message, 'smtp');
      try {
        const from = email.from || defaultFrom;
        const messageId = messageIdFor(email.deliveryId, from);
        const text = composeEmail(email, from, messageId);
        const response = await client.send(addressOf(from), email.to, text, signal);
        log.debug({ deliveryId: email.deliveryId, messageId, response }, 'smtp:sent');
        return { providerMessageId: messageId };
      } catch (err) {
        throw classifySmtpError(err);
      }
    },
    close(): Promise<void> {
      client.close();
      return Promise.resolve();
    },
  };
}

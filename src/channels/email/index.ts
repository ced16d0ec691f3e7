/**
 * The email channel's provider, chosen from the configuration: SMTP when `smtpUrl` is set
 * (HERALD_SMTP_URL), otherwise the outbox folder (`outboxDir`, default `<dataDir>/outbox`),
 * so a development setup needs no mail server and still shows every email it would send.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HeraldConfig } from '../../config.js';
import type { Logger } from '../../obs/log.js';
import type { Provider } from '../provider.js';
import { makeOutboxProvider } from './outbox.js';
import { makeSmtpProvider } from './smtp.js';

export { classifySmtpError, makeSmtpProvider, SMTP_RATE_LIMIT_RETRY_MS } from './smtp.js';
export { makeOutboxProvider, outboxFileName } from './outbox.js';
export { messageIdFor } from './message.js';
export { classifyResendFailure, makeResendProvider, resendFromConfig } from './resend.js';
export { classifySendGridFailure, makeSendGridProvider, sendgridFromConfig } from './sendgrid.js';
export { classifyPostmarkFailure, makePostmarkProvider, postmarkFromConfig } from './postmark.js';
export { classifySesFailure, makeSesProvider, sesFromConfig } from './ses.js';
export { signV4 } from './sigv4.js';
export { parseRetryAfter } from '../http.js';

/** The settings the email provider reads. */
export type EmailConfig = Pick<
  HeraldConfig,
  'smtpUrl' | 'emailFrom' | 'outboxDir' | 'smtpPoolSize' | 'dataDir'
>;

/** `<dataDir>/outbox`; with the throw-away database (`:memory:`), a folder in the temp dir. */
export function defaultOutboxDir(dataDir: string): string {
  return dataDir === ':memory:' ? join(tmpdir(), 'herald-outbox') : join(dataDir, 'outbox');
}

export function makeEmailProvider(config: EmailConfig, log: Logger): Provider {
  if (config.smtpUrl) {
    return makeSmtpProvider({
      url: config.smtpUrl,
      from: config.emailFrom,
      maxConnections: config.smtpPoolSize,
      log,
    });
  }
  return makeOutboxProvider({
    dir: config.outboxDir ?? defaultOutboxDir(config.dataDir),
    from: config.emailFrom,
    log,
  });
}

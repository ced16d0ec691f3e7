/**
 * The outbox email provider, the development default when no SMTP server is configured: each
 * email becomes a complete RFC 5322 message (built by nodemailer exactly as the SMTP provider
 * would send it, CRLF line ends) in `<dir>/<timestamp>-<deliveryId>.eml`, which any mail client
 * opens.
 *
 * Contract: `send` resolves with the file's absolute path once the whole file is in place (it
 * is written under a temporary name, then renamed, so a reader never sees half a message); a
 * failure to write (disk full, no permission) is transient. The folder is created on the
 * first send. Each attempt of a delivery writes its own file.
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import nodemailer from 'nodemailer';
import type { Logger } from '../../obs/log.js';
import { toError } from '../../errors.js';
import {
  ProviderError,
  type OutboundMessage,
  type Provider,
  type SendResult,
} from '../provider.js';
import { DEFAULT_EMAIL_FROM, asEmail, toMailOptions } from './message.js';

export interface OutboxProviderOptions {
  /** The folder the .eml files go to; created when missing. */
  dir: string;
  /** Sender for messages whose `from` is empty. Default `Herald <herald@localhost>`. */
  from?: string;
  log: Logger;
}

/** `20250131T142501123Z-<deliveryId>.eml`: sorts by time, safe on every file system. */
export function outboxFileName(deliveryId: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:.]/g, '');
  return `${stamp}-${deliveryId.replace(/[^A-Za-z0-9._-]/g, '_')}.eml`;
}

export function makeOutboxProvider(options: OutboxProviderOptions): Provider {
  const dir = resolve(options.dir);
  const defaultFrom = options.from ?? DEFAULT_EMAIL_FROM;
  const log = options.log.child({ provider: 'outbox' });
  const composer = nodemailer.createTransport({
    streamTransport: true,
    buffer: true,
    newline: 'windows',
    disableFileAccess: true,
    disableUrlAccess: true,
    logger: false,
  });
  log.info({ dir }, 'outbox:ready (emails are written to files, not sent)');

  return {
    name: 'outbox',
    channel: 'email',
    async send(message: OutboundMessage): Promise<SendResult> {
      const email = asEmail(message, 'outbox');
      let raw: Buffer;
      try {
        raw = (await composer.sendMail(toMailOptions(email, defaultFrom))).message as Buffer;
      } catch (err) {
        // The same message would fail the same way: nothing to retry.
        const e = toError(err) as NodeJS.ErrnoException;
        throw new ProviderError(
          'permanent',
          `cannot build the email: ${e.message}`,
          undefined,
          e.code,
        );
      }
      const file = join(dir, outboxFileName(email.deliveryId));
      const temp = join(dir, `.${randomBytes(6).toString('hex')}.tmp`);
      try {
        // Every time: the folder may have been emptied away while Herald runs.
        await mkdir(dir, { recursive: true });
        await writeFile(temp, raw);
        await rename(temp, file);
      } catch (err) {
        await rm(temp, { force: true }).catch(() => undefined);
        const e = toError(err) as NodeJS.ErrnoException;
        throw new ProviderError(
          'transient',
          `cannot write ${file}: ${e.message}`,
          undefined,
          e.code,
        );
      }
      log.debug({ deliveryId: email.deliveryId, file }, 'outbox:written');
      return { providerMessageId: file };
    },
  };
}

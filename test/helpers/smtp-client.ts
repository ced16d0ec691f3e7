/** The SMTP client as the tests drive it: generous timeouts, one connection unless asked. */
import { createSmtpClient } from '../../src/channels/email/smtp-client.js';

export const testSmtpClient = (url: string, maxConnections = 1) =>
  createSmtpClient({
    url,
    maxConnections,
    connectionTimeoutMs: 10_000,
    greetingTimeoutMs: 10_000,
    socketTimeoutMs: 60_000,
    idleTimeoutMs: 60_000,
  });

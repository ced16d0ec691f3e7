/**
 * Builds the RFC 5322 / MIME text of an email. Written here instead of using nodemailer's
 * MailComposer because ours is all a notification needs (text and/or HTML, a few headers,
 * no attachments yet) and costs a fraction: composing was ~40% of the SMTP client's CPU per
 * message, and email throughput is bound by CPU (bench/RESULTS.md). nodemailer still does
 * the SMTP conversation, with the message handed over as `raw`.
 *
 * Rules kept:
 * - Header values with anything but printable ASCII (non-ASCII, CR, LF, control characters)
 *   become RFC 2047 encoded-words (UTF-8, base64), so text from templates can never inject a
 *   header, and each encoded word and its line stay within 78 characters.
 * - Display names with specials are quoted; non-ASCII names are encoded.
 * - A body that is 7-bit ASCII with lines of at most 998 octets goes as is (`7bit`); any other
 *   as base64 in 76-character lines. Line ends are CRLF.
 */
import { randomBytes } from 'node:crypto';

export interface MimeInput {
  from: string;
  to: string;
  subject: string;
  messageId: string;
  html?: string | undefined;
  text?: string | undefined;
  headers?: Record<string, string>;
  date?: Date;
}

const PRINTABLE = /^[\x20-\x7e]*$/;
// Every UTF-16 unit below 0x80 (a regex range from \x00 trips the lint rule on control characters).
const isAscii = (s: string) => !/[^\p{ASCII}]/u.test(s);

/** One or more encoded-words for `value`, whole characters per word (75 characters at most). */
export function encodeWords(value: string): string {
  const words: string[] = [];
  let chunk = '';
  let bytes = 0;
  for (const ch of value) {
    const size = Buffer.byteLength(ch);
    // 39 bytes of UTF-8 are 52 characters of base64; with "=?UTF-8?B?" and "?=", 64, so
    // even the first word after "Subject: " keeps its line within 78 characters.
    if (bytes + size > 39) {
      words.push(chunk);
      chunk = '';
      bytes = 0;
    }
    chunk += ch;
    bytes += size;
  }
  if (chunk !== '' || words.length === 0) words.push(chunk);
  return words.map((w) => `=?UTF-8?B?${Buffer.from(w).toString('base64')}?=`).join('\r\n ');
}

/** An unstructured header value (Subject, custom headers): as is if printable ASCII. */
export function headerValue(value: string): string {
  return PRINTABLE.test(value) && value.length <= 900 ? value : encodeWords(value);
}

/** `Name <addr@x>` or `addr@x` → the address alone. */
export function addressOf(mailbox: string): string {
  return (/<([^<>]+)>\s*$/.exec(mailbox)?.[1] ?? mailbox).trim();
}

/** A mailbox header value with its display name quoted or encoded as needed. */
export function mailbox(value: string): string {
  const m = /^\s*(.*?)\s*<([^<>]+)>\s*$/.exec(value);
  if (!m) return value.trim();
  const name = (m[1] ?? '').replace(/^"(.*)"$/, '$1');
  const address = m[2] as string;
  if (name === '') return `<${address}>`;
  if (!PRINTABLE.test(name)) return `${encodeWords(name)} <${address}>`;
  if (/[()<>[\]:;@\\,."]/.test(name)) return `"${name.replace(/(["\\])/g, '\\$1')}" <${address}>`;
  return `${name} <${address}>`;
}

/** RFC 5322 date-time, in UTC. */
export function rfc5322Date(d: Date): string {
  const [wd, day, mon, year, time] = d.toUTCString().split(' ');
  return `${wd} ${day} ${mon} ${year} ${time} +0000`;
}

function part(contentType: string, body: string): string {
  const normalized = body.replace(/\r?\n/g, '\r\n');
  const plain =
    isAscii(normalized) && normalized.split('\r\n').every((l) => l.length <= 998);
  if (plain) {
    return `Content-Type: ${contentType}; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n${normalized}`;
  }
  const b64 = Buffer.from(body)
    .toString('base64')
    .replace(/.{76}(?=.)/g, '$&\r\n');
  return `Content-Type: ${contentType}; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64}`;
}

export function composeMime(input: MimeInput): string {
  const head = [
    `From: ${mailbox(input.from)}`,
    `To: ${mailbox(input.to)}`,
    `Subject: ${headerValue(input.subject)}`,
    `Date: ${rfc5322Date(input.date ?? new Date())}`,
    `Message-ID: ${input.messageId}`,
    'MIME-Version: 1.0',
  ];
  for (const [name, value] of Object.entries(input.headers ?? {})) {
    // Header names are the caller's code, not user data; still, refuse what would break the head.
    if (!/^[!-9;-~]+$/.test(name)) throw new Error(`invalid header name ${JSON.stringify(name)}`);
    head.push(`${name}: ${headerValue(value)}`);
  }
  const parts: [string, string][] = [];
  if (input.text !== undefined) parts.push(['text/plain', input.text]);
  if (input.html !== undefined) parts.push(['text/html', input.html]);
  if (parts.length === 0) parts.push(['text/plain', '']);
  if (parts.length === 1) {
    const [type, body] = parts[0] as [string, string];
    return `${head.join('\r\n')}\r\n${part(type, body)}\r\n`;
  }
  const boundary = `herald-${randomBytes(8).toString('hex')}`;
  head.push(`Content-Type: multipart/alternative; boundary="${boundary}"`);
  const body = parts.map(([type, text]) => `--${boundary}\r\n${part(type, text)}\r\n`).join('');
  return `${head.join('\r\n')}\r\n\r\n${body}--${boundary}--\r\n`;
}

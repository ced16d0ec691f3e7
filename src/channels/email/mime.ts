/**
 * Builds the RFC 5322 / MIME text of an email. Written here instead of using nodemailer's
 * MailComposer because ours is all a notification needs (text and/or HTML, a few headers,
 * a Reply-To, attachments) and costs a fraction: composing was ~40% of the SMTP client's CPU
 * per message, and email throughput is bound by CPU (bench/RESULTS.md). The SMTP provider sends
 * the text with smtp-client.ts; the outbox writes it through nodemailer as `raw`.
 *
 * Structure: text and HTML are a multipart/alternative (one of them alone: a single part).
 * Attachments with a `contentId` go with the HTML in a multipart/related (RFC 2387), so
 * `<img src="cid:...">` finds them; the others make the whole a multipart/mixed:
 *
 *   multipart/mixed
 *     multipart/alternative
 *       text/plain
 *       multipart/related
 *         text/html
 *         image/png (Content-ID, inline)
 *     application/pdf (attachment)
 *
 * Rules kept:
 * - Header values with anything but printable ASCII (non-ASCII, CR, LF, control characters)
 *   become RFC 2047 encoded-words (UTF-8, base64), so text from templates can never inject a
 *   header, and each encoded word and its line stay within 78 characters.
 * - Display names with specials are quoted; non-ASCII names are encoded.
 * - A body that is 7-bit ASCII with lines of at most 998 octets goes as is (`7bit`); any other
 *   as base64 in 76-character lines. Line ends are CRLF.
 * - Attachments go base64 in 76-character lines. A file name in printable ASCII is a quoted
 *   `filename`; any other is RFC 2231 (`filename*=UTF-8''...`, in continuations), with an RFC
 *   2047 encoded `name` on the Content-Type for mail clients that read only that.
 */
import { randomFillSync } from 'node:crypto';

export interface MimeInput {
  from: string;
  to: string;
  subject: string;
  messageId: string;
  html?: string | undefined;
  text?: string | undefined;
  headers?: Record<string, string>;
  replyTo?: string | undefined;
  attachments?: MimeAttachment[] | undefined;
  date?: Date;
}

export interface MimeAttachment {
  filename: string;
  contentType: string;
  /** Base64. */
  content: string;
  contentId?: string | undefined;
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
  // The same second as the last message's (the usual case when many go out): the same text.
  const second = Math.floor(d.getTime() / 1000);
  if (second === lastDate.second) return lastDate.text;
  const [wd, day, mon, year, time] = d.toUTCString().split(' ');
  lastDate = { second, text: `${wd} ${day} ${mon} ${year} ${time} +0000` };
  return lastDate.text;
}
let lastDate = { second: Number.NaN, text: '' };

// Random bytes for boundaries, drawn 4 KiB at a time: a boundary must be unguessable (rendered
// data must not be able to close a part), and one randomBytes call per boundary was a system
// call each, a few percent of the CPU per email.
const randomPool = Buffer.alloc(4096);
let randomOffset = randomPool.length;

/** 16 hex digits from the pool. */
function randomHex8(): string {
  if (randomOffset + 8 > randomPool.length) {
    randomFillSync(randomPool);
    randomOffset = 0;
  }
  const hex = randomPool.toString('hex', randomOffset, randomOffset + 8);
  randomOffset += 8;
  return hex;
}

/** A MIME entity: its header lines and its body (no final line end). */
interface Entity {
  head: string[];
  body: string;
}

const wrap76 = (b64: string) => b64.replace(/.{76}(?=.)/g, '$&\r\n');

/** A line (between CRLFs; a lone CR is part of it) of more than 998 characters? */
function hasLongLine(crlf: string): boolean {
  // A scan for CRLFs: a regular expression for this backtracked at every character (6 % of the
  // worker's CPU per email in a profile).
  for (let start = 0; ;) {
    const end = crlf.indexOf('\r\n', start);
    if ((end < 0 ? crlf.length : end) - start > 998) return true;
    if (end < 0) return false;
    start = end + 2;
  }
}

function textEntity(contentType: string, body: string): Entity {
  const normalized = body.replace(/\r?\n/g, '\r\n');
  const plain = isAscii(normalized) && !hasLongLine(normalized);
  return {
    head: [
      `Content-Type: ${contentType}; charset=utf-8`,
      `Content-Transfer-Encoding: ${plain ? '7bit' : 'base64'}`,
    ],
    body: plain ? normalized : wrap76(Buffer.from(body).toString('base64')),
  };
}

const entityText = (e: Entity) => `${e.head.join('\r\n')}\r\n\r\n${e.body}`;

function multipart(subtype: string, parts: Entity[]): Entity {
  const boundary = `herald-${randomHex8()}`;
  return {
    head: [`Content-Type: multipart/${subtype}; boundary="${boundary}"`],
    body: `${parts.map((p) => `--${boundary}\r\n${entityText(p)}\r\n`).join('')}--${boundary}--`,
  };
}

/** RFC 2231 attr-chars stay; every other byte is %XX. */
const percent = (s: string) =>
  Array.from(Buffer.from(s), (b) => {
    const c = String.fromCharCode(b);
    return /[A-Za-z0-9!#$&+.^_`|~-]/.test(c)
      ? c
      : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }).join('');

/**
 * The file name parameter `param` (`filename`, `name`), on its own folded line(s): a quoted
 * string for printable ASCII; else `filename*0*=UTF-8''...` continuations (RFC 2231), or for
 * `name` (which mail clients read as RFC 2047), encoded-words.
 */
export function fileNameParam(param: 'filename' | 'name', filename: string): string {
  if (PRINTABLE.test(filename)) return `\r\n ${param}="${filename.replace(/(["\\])/g, '\\$1')}"`;
  if (param === 'name') return `\r\n ${param}="${encodeWords(filename)}"`;
  const encoded = percent(filename);
  const pieces: string[] = [];
  // Pieces of at most 50 characters (lines within 78), never splitting a %XX escape.
  for (let i = 0; i < encoded.length;) {
    let end = Math.min(i + 50, encoded.length);
    const pct = encoded.lastIndexOf('%', end - 1);
    if (pct > end - 3 && pct > i && end < encoded.length) end = pct;
    pieces.push(encoded.slice(i, end));
    i = end;
  }
  return pieces.map((p, n) => `\r\n ${param}*${n}*=${n === 0 ? "UTF-8''" : ''}${p}`).join(';');
}

function attachmentEntity(a: MimeAttachment, inline: boolean): Entity {
  const head = [
    `Content-Type: ${a.contentType};${fileNameParam('name', a.filename)}`,
    'Content-Transfer-Encoding: base64',
    `Content-Disposition: ${inline ? 'inline' : 'attachment'};${fileNameParam('filename', a.filename)}`,
  ];
  if (a.contentId !== undefined) head.push(`Content-ID: <${a.contentId}>`);
  // Decoded and encoded again: 76-character lines whatever the caller's line length was.
  return { head, body: wrap76(Buffer.from(a.content, 'base64').toString('base64')) };
}

/** The body entity: alternative (or one part), related around the HTML, mixed around all. */
function bodyEntity(input: MimeInput): Entity {
  const attachments = input.attachments ?? [];
  const inline = (a: MimeAttachment) => a.contentId !== undefined && input.html !== undefined;
  const related = attachments.filter(inline);
  const mixed = attachments.filter((a) => !inline(a));
  const parts: Entity[] = [];
  if (input.text !== undefined) parts.push(textEntity('text/plain', input.text));
  if (input.html !== undefined) {
    const html = textEntity('text/html', input.html);
    parts.push(
      related.length > 0
        ? multipart('related', [html, ...related.map((a) => attachmentEntity(a, true))])
        : html,
    );
  }
  if (parts.length === 0) parts.push(textEntity('text/plain', ''));
  const body = parts.length === 1 ? (parts[0] as Entity) : multipart('alternative', parts);
  if (mixed.length === 0) return body;
  return multipart('mixed', [
    body,
    ...mixed.map((a) => attachmentEntity(a, a.contentId !== undefined)),
  ]);
}

export function composeMime(input: MimeInput): string {
  const head = [
    `From: ${mailbox(input.from)}`,
    `To: ${mailbox(input.to)}`,
    ...(input.replyTo !== undefined ? [`Reply-To: ${mailbox(input.replyTo)}`] : []),
    `Subject: ${headerValue(input.subject)}`,
    `Date: ${rfc5322Date(input.date ?? new Date())}`,
    `Message-ID: ${input.messageId}`,
    'MIME-Version: 1.0',
  ];
  for (const [name, value] of Object.entries(input.headers ?? {})) {
    // Header names are checked where they come in (email-options.ts); still, refuse what would break the head.
    if (!/^[!-9;-~]+$/.test(name)) throw new Error(`invalid header name ${JSON.stringify(name)}`);
    head.push(`${name}: ${headerValue(value)}`);
  }
  const body = bodyEntity(input);
  return `${[...head, ...body.head].join('\r\n')}\r\n\r\n${body.body}\r\n`;
}

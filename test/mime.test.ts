/**
 * The email composer (channels/email/mime.ts), read back by mailparser as a mail client would:
 * non-ASCII and long headers, header injection from template text, bodies that need base64,
 * display names with specials, single-part messages, Reply-To, and attachments (the MIME
 * structure, RFC 2231 file names of any text, bytes as sent, inline images).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { simpleParser } from 'mailparser';
import fc from 'fast-check';
import { composeMime, encodeWords } from '../src/channels/email/mime.js';

const base = {
  from: 'Acme <no-reply@acme.test>',
  to: 'ann@example.com',
  subject: 'Hello',
  messageId: '<d-1@acme.test>',
  text: 'plain',
  html: '<p>html</p>',
};

describe('email composer', () => {
  it('round-trips subjects and bodies of any text', async () => {
    // Readers trim a header's outer whitespace; so do we, before comparing.
    const text = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 200 });
    await fc.assert(
      fc.asyncProperty(
        text,
        fc.string({ unit: 'grapheme', maxLength: 3000 }),
        async (subject, body) => {
          const mail = await simpleParser(
            composeMime({ ...base, subject, text: body, html: undefined }),
          );
          const expected = /^[\x20-\x7e]*$/.test(subject)
            ? subject.trim().replace(/\s+/g, ' ')
            : subject;
          assert.equal(
            (mail.subject ?? '').replace(/\s+/g, /^[\x20-\x7e]*$/.test(subject) ? ' ' : '$&'),
            expected,
          );
          const norm = (t: string) => t.replace(/\r\n?/g, '\n').replace(/\n$/, '');
          assert.equal(norm(mail.text ?? ''), norm(body));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('encodes non-ASCII subjects and names, and keeps each word short', async () => {
    const subject = 'Bald fällig: Überweisung an 🦊 Füchse — '.repeat(4);
    const raw = composeMime({ ...base, subject, from: 'Jörg Müller <j@acme.test>' });
    const head = raw.slice(0, raw.indexOf('\r\n\r\n')).split('\r\n');
    assert.ok(
      head.every((l) => l.length <= 78),
      'header lines fold at 78',
    );
    const mail = await simpleParser(raw);
    assert.equal(mail.subject, subject);
    assert.deepEqual(
      mail.from?.value.map((a) => [a.name, a.address]),
      [['Jörg Müller', 'j@acme.test']],
    );
    assert.ok(
      encodeWords('ä'.repeat(100))
        .split('\r\n ')
        .every((w) => w.length <= 75),
    );
  });

  it('never lets template text add a header', async () => {
    const subject = 'Hi\r\nBcc: victim@example.com\r\nX-Evil: 1';
    const raw = composeMime({ ...base, subject, headers: { 'X-Note': 'a\nb: c' } });
    const head = raw.slice(0, raw.indexOf('\r\n\r\n'));
    assert.doesNotMatch(head, /^Bcc:/im);
    assert.doesNotMatch(head, /^X-Evil:/im);
    assert.doesNotMatch(head, /^b: c/im);
    const mail = await simpleParser(raw);
    assert.equal(mail.bcc, undefined);
    assert.match(mail.subject ?? '', /^Hi\s+Bcc: victim@example\.com\s+X-Evil: 1$/);
    assert.throws(
      () => composeMime({ ...base, headers: { 'Bad\r\nName': 'x' } }),
      /invalid header name/,
    );
  });

  it('sends 7-bit bodies as they are and others as base64, multipart only with both', async () => {
    const ascii = composeMime({ ...base, html: undefined, text: 'line one\nline two' });
    assert.match(ascii, /Content-Transfer-Encoding: 7bit\r\n\r\nline one\r\nline two/);
    assert.doesNotMatch(ascii, /multipart/);
    const long = 'x'.repeat(2000);
    const utf = composeMime({ ...base, html: `<p>Grüße ${long}</p>` });
    assert.match(utf, /multipart\/alternative/);
    assert.ok(utf.split('\r\n').every((l) => l.length <= 998));
    const mail = await simpleParser(utf);
    assert.equal(mail.html, `<p>Grüße ${long}</p>`);
    assert.equal(mail.text?.trim(), 'plain');
  });

  it('attaches files: mixed around alternative, inline images related to the HTML', async () => {
    const pdf = Buffer.from(`%PDF-1.4 ${'\u0000\u00ff binary '.repeat(40)}`, 'latin1');
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 255]);
    const name = 'Rechnung März 2025 — Überweisung für 🦊 Füchse und Bären (Kopie).pdf';
    const raw = composeMime({
      ...base,
      html: '<p>Logo: <img src="cid:logo@acme.test"></p>',
      replyTo: 'Jörg Support <support@acme.test>',
      headers: { 'X-Campaign': 'spring' },
      attachments: [
        { filename: name, contentType: 'application/pdf', content: pdf.toString('base64') },
        {
          filename: 'logo.png',
          contentType: 'image/png',
          content: png.toString('base64'),
          contentId: 'logo@acme.test',
        },
        {
          filename: 'say "hi".txt',
          contentType: 'text/plain',
          content: Buffer.from('hi').toString('base64'),
        },
      ],
    });
    assert.ok(
      raw.split('\r\n').every((l) => l.length <= 78),
      'every line within 78',
    );
    const types = [...raw.matchAll(/^Content-Type: ([\w/.+-]+)/gm)].map((m) => m[1]);
    assert.deepEqual(types, [
      'multipart/mixed',
      'multipart/alternative',
      'text/plain',
      'multipart/related',
      'text/html',
      'image/png',
      'application/pdf',
      'text/plain',
    ]);
    assert.match(
      raw,
      /^Content-Disposition: attachment;\r\n filename\*0\*=UTF-8''Rechnung%20M%C3%A4rz/m,
    );
    const mail = await simpleParser(raw);
    assert.deepEqual(
      mail.replyTo?.value.map((a) => [a.name, a.address]),
      [['Jörg Support', 'support@acme.test']],
    );
    assert.equal(mail.headers.get('x-campaign'), 'spring');
    assert.equal(mail.text?.trim(), 'plain');
    const byName = new Map(mail.attachments.map((a) => [a.filename, a]));
    assert.deepEqual([...byName.keys()].sort(), ['logo.png', name, 'say "hi".txt'].sort());
    const file = byName.get(name)!;
    assert.equal(file.contentType, 'application/pdf');
    assert.equal(file.contentDisposition, 'attachment');
    assert.ok(file.content.equals(pdf), 'the bytes arrive as sent');
    const logo = byName.get('logo.png')!;
    assert.equal(logo.cid, 'logo@acme.test');
    assert.equal(logo.related, true, 'the image is part of the HTML');
    assert.equal(logo.contentDisposition, 'inline');
    assert.ok(logo.content.equals(png));
    assert.equal(byName.get('say "hi".txt')!.content.toString(), 'hi');
  });

  it('round-trips file names of any text and content of any bytes', async () => {
    const fileName = fc
      .string({ unit: 'grapheme', minLength: 1, maxLength: 60 })
      .filter((f) => !/[/\\\p{Cc}]/u.test(f) && f.trim() === f && f !== '');
    await fc.assert(
      fc.asyncProperty(fileName, fc.uint8Array({ maxLength: 600 }), async (filename, bytes) => {
        const content = Buffer.from(bytes);
        const mail = await simpleParser(
          composeMime({
            ...base,
            attachments: [
              {
                filename,
                contentType: 'application/octet-stream',
                content: content.toString('base64'),
              },
            ],
          }),
        );
        const [a] = mail.attachments;
        assert.equal(a?.filename, filename);
        assert.ok(a.content.equals(content));
      }),
      { numRuns: 100 },
    );
  });

  it('keeps a content id without HTML as an inline part of the mixed message', async () => {
    const raw = composeMime({
      ...base,
      html: undefined,
      attachments: [
        { filename: 'a.png', contentType: 'image/png', content: 'AAEC', contentId: 'a@x' },
      ],
    });
    assert.doesNotMatch(raw, /multipart\/related/);
    assert.match(raw, /^Content-Type: multipart\/mixed/m);
    assert.match(raw, /^Content-Disposition: inline;\r\n filename="a.png"\r\nContent-ID: <a@x>/m);
    const [a] = (await simpleParser(raw)).attachments;
    assert.equal(a?.cid, 'a@x');
    assert.deepEqual([...a.content], [0, 1, 2]);
  });

  it('quotes display names with specials', async () => {
    const mail = await simpleParser(
      composeMime({ ...base, from: 'Acme, Inc. "Ops" <ops@acme.test>' }),
    );
    assert.deepEqual(
      mail.from?.value.map((a) => [a.name, a.address]),
      [['Acme, Inc. "Ops"', 'ops@acme.test']],
    );
  });
});

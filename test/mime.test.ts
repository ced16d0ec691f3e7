/**
 * The email composer (channels/email/mime.ts), read back by mailparser as a mail client would:
 * non-ASCII and long headers, header injection from template text, bodies that need base64,
 * display names with specials, and single-part messages.
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

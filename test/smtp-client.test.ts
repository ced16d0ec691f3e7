/**
 * Herald's SMTP client (src/channels/email/smtp-client.ts): against the real SMTP server of the
 * sink, and against a small hand-written SMTP server in this process for what smtp-server does
 * not do on request (no PIPELINING, AUTH LOGIN only, dropping a connection mid-message).
 */
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { dataBlock, type SmtpError } from '../src/channels/email/smtp-client.js';
import { testSmtpClient } from './helpers/smtp-client.js';
import { startSmtpSink, type SmtpSink } from './helpers/smtp-sink.js';

const client = testSmtpClient;

describe('SMTP client, through the sink', () => {
  let sink: SmtpSink;
  before(async () => {
    sink = await startSmtpSink({ reject: /^bounce@/ });
  });
  after(() => sink.close());

  it('sends the text with CRLF line ends and leading dots kept, as nodemailer did', async () => {
    const smtp = client(sink.url);
    try {
      const text = 'Subject: dots\r\n\r\n.one\n..two\rthree\r\n.\r\nend';
      await smtp.send('a@example.com', 'b@example.org', text);
      const [mail] = await sink.waitForMessages(1);
      assert.equal(mail?.raw, 'Subject: dots\r\n\r\n.one\r\n..two\r\nthree\r\n.\r\nend\r\n');
      assert.deepEqual(mail?.envelope, { mailFrom: 'a@example.com', rcptTo: ['b@example.org'] });
    } finally {
      smtp.close();
    }
  });

  it('dataBlock: dots doubled at line starts, bare CR and LF made CRLF, the final dot', () => {
    assert.equal(dataBlock('.a\r\nb\r\n'), '..a\r\nb\r\n.\r\n');
    assert.equal(dataBlock('a\n.b\rc'), 'a\r\n..b\r\nc\r\n.\r\n');
  });

  it('pipelines 60 messages over one connection; a refused recipient among them fails alone', async () => {
    const before = await sink.stats();
    const smtp = client(sink.url, 1);
    try {
      const sends = Array.from({ length: 60 }, (_, i) =>
        smtp
          .send(
            'a@example.com',
            i === 30 ? 'bounce@example.org' : `r${i}@example.org`,
            `Subject: m${i}\r\n\r\nbody ${i}\r\n`,
          )
          .then(
            () => 'sent',
            (e: SmtpError) => `${e.code} ${e.responseCode} ${e.command}`,
          ),
      );
      const outcomes = await Promise.all(sends);
      assert.equal(outcomes[30], 'EENVELOPE 550 RCPT TO');
      assert.equal(outcomes.filter((o) => o === 'sent').length, 59);
      const mails = (await sink.waitForMessages(before.messages + 59)).slice(before.messages);
      assert.deepEqual(
        mails.map((m) => m.parsed.subject).sort(),
        Array.from({ length: 60 }, (_, i) => `m${i}`)
          .filter((s) => s !== 'm30')
          .sort(),
      );
      assert.equal((await sink.stats()).connections - before.connections, 1);
    } finally {
      smtp.close();
    }
  });
});

/**
 * A minimal SMTP server: EHLO (PIPELINING when asked), AUTH LOGIN when asked, MAIL, RCPT, DATA,
 * RSET, QUIT; `dropFirst` closes the first connection once it has a message's text.
 */
function scriptedServer(opts: { pipelining: boolean; authLogin: boolean; dropFirst: boolean }) {
  const received: { text: string; user: string | null; connection: number }[] = [];
  let connections = 0;
  const server: Server = createServer((socket: Socket) => {
    const id = ++connections;
    let buffer = '';
    let inData = false;
    let data = '';
    let auth: 'user' | 'pass' | null = null;
    let user: string | null = null;
    socket.write('220 scripted ESMTP\r\n');
    socket.on('data', (chunk) => {
      buffer += chunk.toString('latin1');
      let eol: number;
      while ((eol = buffer.indexOf('\r\n')) >= 0) {
        const line = buffer.slice(0, eol);
        buffer = buffer.slice(eol + 2);
        if (inData) {
          if (line === '.') {
            inData = false;
            if (opts.dropFirst && id === 1) {
              socket.destroy();
              return;
            }
            received.push({ text: data, user, connection: id });
            socket.write('250 2.0.0 queued\r\n');
          } else data += `${line.startsWith('.') ? line.slice(1) : line}\r\n`;
          continue;
        }
        if (auth === 'user') {
          user = Buffer.from(line, 'base64').toString();
          auth = 'pass';
          socket.write('334 UGFzc3dvcmQ6\r\n');
          continue;
        }
        if (auth === 'pass') {
          auth = null;
          socket.write('235 2.7.0 ok\r\n');
          continue;
        }
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO') {
          const ext = [
            ...(opts.pipelining ? ['PIPELINING'] : []),
            ...(opts.authLogin ? ['AUTH LOGIN'] : []),
          ];
          socket.write(
            ['scripted', ...ext]
              .map((e, i, all) => `250${i < all.length - 1 ? '-' : ' '}${e}\r\n`)
              .join(''),
          );
        } else if (verb === 'AUTH') {
          auth = 'user';
          socket.write('334 VXNlcm5hbWU6\r\n');
        } else if (verb === 'DATA') {
          inData = true;
          data = '';
          socket.write('354 go ahead\r\n');
        } else if (verb === 'QUIT') {
          socket.end('221 bye\r\n');
        } else socket.write('250 ok\r\n');
      }
    });
    socket.on('error', () => undefined);
  });
  return {
    received,
    connections: () => connections,
    async start(): Promise<string> {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return `127.0.0.1:${(server.address() as { port: number }).port}`;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('SMTP client, against a scripted server', () => {
  it('without PIPELINING: one command at a time, AUTH LOGIN when that is all the server offers', async () => {
    const server = scriptedServer({ pipelining: false, authLogin: true, dropFirst: false });
    const smtp = client(`smtp://me%40app:pw@${await server.start()}`, 1);
    try {
      await Promise.all(
        [1, 2, 3].map((i) =>
          smtp.send('a@example.com', 'b@example.org', `Subject: ${i}\r\n\r\n.x\r\n`),
        ),
      );
      assert.deepEqual(
        server.received.map((m) => [m.text, m.user]),
        [1, 2, 3].map((i) => [`Subject: ${i}\r\n\r\n.x\r\n`, 'me@app']),
      );
    } finally {
      smtp.close();
      await server.close();
    }
  });

  it('a message whose connection the server closed goes again over a new one', async () => {
    const server = scriptedServer({ pipelining: true, authLogin: false, dropFirst: true });
    const smtp = client(`smtp://${await server.start()}`, 1);
    try {
      await smtp.send('a@example.com', 'b@example.org', 'Subject: again\r\n\r\nhello\r\n');
      assert.deepEqual(
        server.received.map((m) => [m.text, m.connection]),
        [['Subject: again\r\n\r\nhello\r\n', 2]],
      );
    } finally {
      smtp.close();
      await server.close();
    }
  });
});

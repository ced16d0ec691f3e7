/**
 * Herald's SMTP client (src/channels/email/smtp-client.ts) over TLS, against a real SMTP server
 * (the `smtp-server` package, in this process so the test reads each session's own record of
 * itself: `secure`, the authenticated user): STARTTLS taken when offered, `requireTLS`,
 * `ignoreTLS`, `smtps://`, a self-signed certificate refused by default and accepted with
 * `tls.rejectUnauthorized=false`, AUTH PLAIN and LOGIN with a URL-encoded user and password.
 *
 * The certificate is a throw-away self-signed one made by openssl for this run. The client has
 * no option to trust a given CA (nodemailer's URL had none either), so the trusted case runs
 * with `tls.rejectUnauthorized=false`, and the default's refusal is tested on its own.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import type { SmtpError } from '../src/channels/email/smtp-client.js';
import { testSmtpClient } from './helpers/smtp-client.js';
import { selfSignedCertificate } from './helpers/tls-certificate.js';

const USER = 'me@app.test';
// Characters a URL must encode (@ : / % + space) and one outside ASCII.
const PASS = 'p@ss:w/rd%+ é';
const CREDENTIALS = `${encodeURIComponent(USER)}:${encodeURIComponent(PASS)}`;

interface Received {
  raw: string;
  from: string | false;
  to: string[];
  user: string | null;
  secure: boolean;
  session: string;
}

interface TestServer {
  /** `127.0.0.1:<port>` */
  address: string;
  received: Received[];
  /** AUTH attempts: the method, user and password the server decoded, and its answer. */
  logins: { method: string; user: string; pass: string; ok: boolean }[];
  close(): Promise<void>;
}

let certificate: { key: string; cert: string };

function makeCertificate(): { key: string; cert: string } {
  return selfSignedCertificate('localhost', ['DNS:localhost', 'IP:127.0.0.1']);
}

/**
 * An smtp-server with the test certificate: `secure` for TLS from the first byte, else plain
 * with STARTTLS offered unless `starttls: false`. AUTH is required when `auth` lists methods
 * (USER and PASS accepted, anything else refused with 535), optional otherwise.
 */
async function startServer(
  opts: { secure?: boolean; starttls?: boolean; auth?: ('PLAIN' | 'LOGIN')[] } = {},
): Promise<TestServer> {
  const received: Received[] = [];
  const logins: TestServer['logins'] = [];
  const options: SMTPServerOptions = {
    key: certificate.key,
    cert: certificate.cert,
    secure: opts.secure ?? false,
    logger: false,
    disableReverseLookup: true,
    authOptional: !opts.auth,
    authMethods: opts.auth ?? ['PLAIN', 'LOGIN'],
    ...(opts.starttls === false ? { disabledCommands: ['STARTTLS'], hideSTARTTLS: true } : {}),
    onAuth(auth, _session, callback) {
      const ok = auth.username === USER && auth.password === PASS;
      logins.push({
        method: auth.method,
        user: auth.username ?? '',
        pass: auth.password ?? '',
        ok,
      });
      if (ok) callback(null, { user: auth.username });
      else callback(new Error('Invalid username or password'));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        received.push({
          raw: Buffer.concat(chunks).toString('utf8'),
          from: session.envelope.mailFrom && session.envelope.mailFrom.address,
          to: session.envelope.rcptTo.map((r) => r.address),
          user: typeof session.user === 'string' ? session.user : null,
          secure: session.secure,
          session: session.id,
        });
        callback(null);
      });
    },
  };
  const server = new SMTPServer(options);
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as { port: number };
  return {
    address: `127.0.0.1:${port}`,
    received,
    logins,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const client = testSmtpClient;

/** The send's failure, or a test failure if it was sent. */
async function failure(promise: Promise<string>): Promise<SmtpError> {
  try {
    await promise;
  } catch (err) {
    return err as SmtpError;
  }
  assert.fail('the send was expected to fail');
}

const TEXT = 'Subject: over TLS\r\n\r\nhello\r\n.dot\r\n';

describe('SMTP client over TLS', () => {
  before(() => {
    certificate = makeCertificate();
  });

  describe('STARTTLS', () => {
    let server: TestServer;
    before(async () => {
      server = await startServer();
    });
    after(() => server.close());

    it('is taken when the server offers it: the messages go over the secured session', async () => {
      const smtp = client(`smtp://${server.address}?tls.rejectUnauthorized=false`);
      try {
        const before = server.received.length;
        await Promise.all(
          [1, 2, 3].map((i) => smtp.send('a@example.com', `r${i}@example.org`, `${TEXT}${i}\r\n`)),
        );
        const got = server.received.slice(before);
        assert.deepEqual(
          got.map((m) => [m.raw, m.from, m.to, m.secure, m.user]),
          [1, 2, 3].map((i) => [
            `${TEXT}${i}\r\n`,
            'a@example.com',
            [`r${i}@example.org`],
            true,
            null,
          ]),
        );
        // One connection carried the three of them (pipelined after the upgrade).
        assert.equal(new Set(got.map((m) => m.session)).size, 1);
      } finally {
        smtp.close();
      }
    });

    it('refuses the self-signed certificate by default: ETLS, saying what to do', async () => {
      const smtp = client(`smtp://${server.address}`);
      try {
        const before = server.received.length;
        const err = await failure(smtp.send('a@example.com', 'b@example.org', TEXT));
        assert.equal(err.code, 'ETLS');
        assert.equal(err.command, 'STARTTLS');
        assert.match(err.message, /self[- ]signed certificate/);
        assert.match(err.message, /tls\.rejectUnauthorized=false/);
        assert.equal(server.received.length, before);
      } finally {
        smtp.close();
      }
    });

    it('is not taken with ignoreTLS: the message goes in clear', async () => {
      const smtp = client(`smtp://${server.address}?ignoreTLS=true`);
      try {
        const before = server.received.length;
        await smtp.send('a@example.com', 'b@example.org', TEXT);
        const [mail] = server.received.slice(before);
        assert.equal(mail?.raw, TEXT);
        assert.equal(mail?.secure, false);
      } finally {
        smtp.close();
      }
    });

    it('requireTLS is met when the server offers STARTTLS', async () => {
      const smtp = client(`smtp://${server.address}?requireTLS=true&tls.rejectUnauthorized=false`);
      try {
        const before = server.received.length;
        await smtp.send('a@example.com', 'b@example.org', TEXT);
        assert.deepEqual(
          server.received.slice(before).map((m) => [m.raw, m.secure]),
          [[TEXT, true]],
        );
      } finally {
        smtp.close();
      }
    });
  });

  it('requireTLS fails with ETLS when the server does not offer STARTTLS, sending nothing', async () => {
    const server = await startServer({ starttls: false });
    const smtp = client(`smtp://${server.address}?requireTLS=true&tls.rejectUnauthorized=false`);
    try {
      const err = await failure(smtp.send('a@example.com', 'b@example.org', TEXT));
      assert.equal(err.code, 'ETLS');
      assert.equal(err.command, 'STARTTLS');
      assert.equal(err.message, 'Server does not support STARTTLS');
      assert.equal(server.received.length, 0);
      // Without requireTLS the same server takes the message in clear.
      const plain = client(`smtp://${server.address}`);
      try {
        await plain.send('a@example.com', 'b@example.org', TEXT);
        assert.deepEqual(
          server.received.map((m) => [m.raw, m.secure]),
          [[TEXT, false]],
        );
      } finally {
        plain.close();
      }
    } finally {
      smtp.close();
      await server.close();
    }
  });

  describe('smtps://', () => {
    let server: TestServer;
    before(async () => {
      server = await startServer({ secure: true });
    });
    after(() => server.close());

    it('speaks TLS from the first byte', async () => {
      const smtp = client(`smtps://${server.address}?tls.rejectUnauthorized=false`);
      try {
        const before = server.received.length;
        await smtp.send('a@example.com', 'b@example.org', TEXT);
        assert.deepEqual(
          server.received.slice(before).map((m) => [m.raw, m.from, m.to, m.secure]),
          [[TEXT, 'a@example.com', ['b@example.org'], true]],
        );
      } finally {
        smtp.close();
      }
    });

    it('refuses the self-signed certificate by default: ESOCKET with the TLS code, saying what to do', async () => {
      const smtp = client(`smtps://${server.address}`);
      try {
        const before = server.received.length;
        const err = await failure(smtp.send('a@example.com', 'b@example.org', TEXT));
        assert.equal(err.code, 'ESOCKET');
        assert.equal(err.originalCode, 'DEPTH_ZERO_SELF_SIGNED_CERT');
        assert.match(err.message, /self[- ]signed certificate/);
        assert.match(err.message, /tls\.rejectUnauthorized=false/);
        assert.equal(server.received.length, before);
      } finally {
        smtp.close();
      }
    });
  });

  describe('AUTH over TLS, the user and password URL-decoded', () => {
    for (const [method, secure] of [
      ['PLAIN', false],
      ['LOGIN', false],
      ['PLAIN', true],
      ['LOGIN', true],
    ] as const) {
      const how = secure ? 'smtps' : 'STARTTLS';
      it(`AUTH ${method} over ${how}: logged in as the user; a wrong password is EAUTH`, async () => {
        const server = await startServer({ secure, auth: [method] });
        const scheme = secure ? 'smtps' : 'smtp';
        const ok = client(
          `${scheme}://${CREDENTIALS}@${server.address}?tls.rejectUnauthorized=false`,
        );
        const wrong = client(
          `${scheme}://${encodeURIComponent(USER)}:nope@${server.address}?tls.rejectUnauthorized=false`,
        );
        try {
          await ok.send('a@example.com', 'b@example.org', TEXT);
          assert.deepEqual(
            server.received.map((m) => [m.raw, m.user, m.secure]),
            [[TEXT, USER, true]],
          );
          const err = await failure(wrong.send('a@example.com', 'c@example.org', TEXT));
          assert.equal(err.code, 'EAUTH');
          assert.equal(err.responseCode, 535);
          assert.equal(err.command, `AUTH ${method}`);
          assert.match(err.message, /^Invalid login: 535/);
          assert.equal(server.received.length, 1);
          assert.deepEqual(server.logins, [
            { method, user: USER, pass: PASS, ok: true },
            { method, user: USER, pass: 'nope', ok: false },
          ]);
        } finally {
          ok.close();
          wrong.close();
          await server.close();
        }
      });
    }
  });
});

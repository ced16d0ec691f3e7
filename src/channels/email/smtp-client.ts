/**
 * A pooled SMTP client for one relay: what the SMTP provider (smtp.ts) sends through.
 *
 * Written here instead of using nodemailer's pooled transport because Herald hands it a finished
 * MIME text (mime.ts) and one recipient, and needs nothing of the rest: on the pipeline
 * benchmark nodemailer was 41 % of the worker's CPU per email (its Mailer, MimeNode and stream
 * pipeline around a raw message, a dot-stuffing Transform stream scanning every byte in
 * JavaScript, three socket writes per message), and email throughput is bound by CPU
 * (bench/RESULTS.md). This client writes one socket write per message: with PIPELINING
 * (RFC 2920) the envelope goes as one group, and the message text goes out together with its
 * terminating dot and the envelope of the connection's next message, which RFC 2920 allows
 * ("the actual transfer of message content is explicitly allowed to be the first command in a
 * group").
 *
 * What it does, as nodemailer's pool did:
 * - `smtp://[user:pass@]host[:port]` (port 587; STARTTLS when the server offers it) or
 *   `smtps://` (TLS from the start, port 465); user and password URL-decoded; AUTH PLAIN, or
 *   LOGIN when the server offers only that. URL options `name` (the EHLO name), `ignoreTLS`,
 *   `requireTLS` and `tls.rejectUnauthorized`, as nodemailer read them; other options are ignored.
 *   A refused server certificate fails with Node's message and what to do about it.
 * - EHLO, HELO when EHLO is refused; commands one at a time when the server has no PIPELINING.
 * - Up to `maxConnections` connections, any number of messages each, idle ones closed after
 *   `idleTimeoutMs` (QUIT). Timeouts: to connect, for the greeting (both within
 *   `connectionTimeoutMs` for the whole set-up), and `socketTimeoutMs` of silence during a send.
 * - Errors carry nodemailer's fields (`code`, `originalCode`, `responseCode`, `response`,
 *   `command`) and messages, which `classifySmtpError` reads: EENVELOPE (an address it cannot
 *   use, or the recipient refused), EMESSAGE (the message refused after DATA), EAUTH, ETLS,
 *   ESOCKET (with the system code as `originalCode`), ETIMEDOUT, ECONNECTION, EPROTOCOL, EABORT.
 * - A connection the server closes while a message is on it (no error, no reply) sends the
 *   message again on another connection, at most 5 times; a socket error or timeout fails it.
 *   A send whose signal aborts leaves the queue, or closes the connection carrying it.
 * - The message text goes with CRLF line ends, dots at line starts doubled, a bare CR or LF
 *   made CRLF, as nodemailer's DataStream did: the same bytes on the wire.
 */
import net from 'node:net';
import os from 'node:os';
import tls from 'node:tls';

export interface SmtpClientOptions {
  url: string;
  maxConnections: number;
  connectionTimeoutMs: number;
  greetingTimeoutMs: number;
  socketTimeoutMs: number;
  idleTimeoutMs: number;
  /** Reports a connection's failure that no send is waiting on (logging only). */
  onError?: (err: SmtpError) => void;
}

/** The fields nodemailer put on its errors; `classifySmtpError` reads them. */
export class SmtpError extends Error {
  code: string;
  originalCode?: string;
  responseCode?: number;
  response?: string;
  command?: string;
  constructor(
    message: string,
    code: string,
    fields: { response?: string; command?: string; originalCode?: string } = {},
  ) {
    super(message);
    this.name = 'SmtpError';
    this.code = code;
    if (fields.response !== undefined) {
      this.response = fields.response;
      const n = Number(fields.response.slice(0, 3));
      if (n >= 200 && n < 600) this.responseCode = n;
    }
    if (fields.command !== undefined) this.command = fields.command;
    if (fields.originalCode !== undefined) this.originalCode = fields.originalCode;
  }
}

interface Reply {
  code: number;
  /** The reply's lines joined with a space, codes included: "250 2.0.0 OK". */
  text: string;
}

interface Target {
  host: string;
  port: number;
  secure: boolean;
  user?: string;
  pass?: string;
  name: string;
  ignoreTLS: boolean;
  requireTLS: boolean;
  rejectUnauthorized: boolean;
}

function hostName(): string {
  const name = os.hostname();
  // nodemailer's rule: a name with a dot, else the loopback address literal.
  return name.includes('.') ? name : '[127.0.0.1]';
}

function parseTarget(url: string): Target {
  const u = new URL(url);
  const secure = u.protocol === 'smtps:';
  const flag = (name: string) => /^(true|1|yes)$/i.test(u.searchParams.get(name) ?? '');
  return {
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: u.port ? Number(u.port) : secure ? 465 : 587,
    secure,
    ...(u.username ? { user: decodeURIComponent(u.username) } : {}),
    ...(u.username ? { pass: decodeURIComponent(u.password) } : {}),
    name: u.searchParams.get('name') ?? hostName(),
    ignoreTLS: flag('ignoreTLS'),
    requireTLS: flag('requireTLS'),
    rejectUnauthorized: !/^(false|0|no)$/i.test(u.searchParams.get('tls.rejectUnauthorized') ?? ''),
  };
}

/** One message to send: an envelope of one sender and one recipient, and the MIME text. */
interface Entry {
  from: string;
  to: string;
  /** The text as it goes after DATA, dot-stuffed, with the terminating ".\r\n". */
  data: string;
  signal: AbortSignal | undefined;
  requeues: number;
  resolve: (response: string) => void;
  reject: (err: Error) => void;
  /** Settled (sent, failed, aborted): later events about it are ignored. */
  done: boolean;
  connection: { abort(entry: Entry): void } | null;
  onAbort: (() => void) | null;
  /** The envelope's failure, kept until DATA's reply. */
  envelopeError: SmtpError | null;
}

const MAX_REQUEUES = 5;
// Bare CR or LF (not a CRLF pair): what DataStream turned into CRLF.
const BARE_EOL = /\r(?!\n)|(?<!\r)\n/;

/** The message text as it goes after DATA: CRLF line ends, leading dots doubled, the final dot. */
export function dataBlock(text: string): string {
  const crlf = BARE_EOL.test(text) ? text.replace(/\r\n|\r|\n/g, '\r\n') : text;
  const stuffed = crlf.replace(/(^|\n)\./g, '$1..');
  return stuffed.endsWith('\r\n') ? `${stuffed}.\r\n` : `${stuffed}\r\n.\r\n`;
}

const ADDRESS = /^[^\s<>]+@[^\s<>@]+$/;

export function createSmtpClient(options: SmtpClientOptions) {
  const target = parseTarget(options.url);
  const queue: Entry[] = [];
  const connections = new Set<Connection>();
  let closed = false;

  function settle(entry: Entry, err: Error | null, response = ''): void {
    if (entry.done) return;
    entry.done = true;
    entry.connection = null;
    if (entry.onAbort) entry.signal?.removeEventListener('abort', entry.onAbort);
    if (err) entry.reject(err);
    else entry.resolve(response);
  }

  function dispatch(): void {
    if (closed) return;
    while (queue.length > 0) {
      let idle: Connection | undefined;
      for (const c of connections)
        if (c.idle()) {
          idle = c;
          break;
        }
      if (idle) {
        idle.start(queue.shift() as Entry);
        continue;
      }
      // Every connection busy (or setting up): one more if the pool has room for it.
      const starting = [...connections].filter((c) => c.settingUp()).length;
      if (connections.size < options.maxConnections && starting < queue.length) {
        connections.add(new Connection());
        continue;
      }
      return;
    }
  }

  /** Puts a message its connection lost back at the head of the queue, or fails it. */
  function requeue(entry: Entry, err: SmtpError | null): void {
    if (entry.done) return;
    entry.connection = null;
    entry.envelopeError = null;
    if (err) return settle(entry, err);
    if (closed || entry.requeues >= MAX_REQUEUES) {
      return settle(
        entry,
        new SmtpError(
          'Reached maximum number of retries after connection was closed',
          'ECONNECTION',
        ),
      );
    }
    entry.requeues += 1;
    queue.unshift(entry);
  }

  class Connection {
    private socket: net.Socket | tls.TLSSocket | null = null;
    private buffer = '';
    /** Handlers of the replies still to come, in order. */
    private waiting: ((reply: Reply) => void)[] = [];
    private lines: string[] = [];
    private ready = false;
    private dead = false;
    private pipelining = false;
    private smtpUtf8 = false;
    /** Messages on this connection whose last reply has not come (at most two: one pipelined). */
    private inFlight: Entry[] = [];
    /** RSET sent after a failed transaction, not answered yet. */
    private busyReset = false;
    private idleTimer: NodeJS.Timeout | null = null;
    private setupTimer: NodeJS.Timeout | null = null;

    constructor() {
      void this.open();
    }

    idle(): boolean {
      return this.ready && !this.dead && this.inFlight.length === 0;
    }

    settingUp(): boolean {
      return !this.ready && !this.dead;
    }

    private async open(): Promise<void> {
      try {
        this.setupTimer = setTimeout(
          () =>
            this.fail(
              new SmtpError(
                this.socket ? 'Greeting never received' : 'Connection timeout',
                'ETIMEDOUT',
              ),
            ),
          options.connectionTimeoutMs,
        );
        await this.connect();
        let greeting = await this.reply(options.greetingTimeoutMs);
        if (greeting.code !== 220)
          throw new SmtpError(`Invalid greeting. response=${greeting.text}`, 'EPROTOCOL', {
            response: greeting.text,
            command: 'CONN',
          });
        let ext = await this.hello();
        if (!target.secure && !target.ignoreTLS && /^STARTTLS$/im.test(ext)) {
          this.write('STARTTLS\r\n');
          greeting = await this.reply();
          if (greeting.code !== 220)
            throw new SmtpError(`Error upgrading connection with STARTTLS`, 'ETLS', {
              response: greeting.text,
              command: 'STARTTLS',
            });
          await this.upgrade();
          ext = await this.hello();
        } else if (!target.secure && target.requireTLS) {
          throw new SmtpError('Server does not support STARTTLS', 'ETLS', { command: 'STARTTLS' });
        }
        this.pipelining = /^PIPELINING\b/im.test(ext);
        this.smtpUtf8 = /^SMTPUTF8\b/im.test(ext);
        if (target.user !== undefined) await this.login(ext);
        if (this.setupTimer) clearTimeout(this.setupTimer);
        if (this.dead) return;
        this.ready = true;
        this.armIdle();
        dispatch();
      } catch (err) {
        this.fail(err instanceof SmtpError ? err : socketError(err));
      }
    }

    private connect(): Promise<void> {
      return new Promise((resolve, reject) => {
        const onError = (err: Error) => reject(socketError(err));
        const socket = target.secure
          ? tls.connect({
              host: target.host,
              port: target.port,
              rejectUnauthorized: target.rejectUnauthorized,
              ...(net.isIP(target.host) ? {} : { servername: target.host }),
            })
          : net.connect({ host: target.host, port: target.port });
        socket.once(target.secure ? 'secureConnect' : 'connect', () => {
          socket.off('error', onError);
          this.attach(socket);
          resolve();
        });
        socket.once('error', onError);
        this.socket = socket;
      });
    }

    private upgrade(): Promise<void> {
      return new Promise((resolve, reject) => {
        const plain = this.socket as net.Socket;
        plain.removeAllListeners('data');
        plain.removeAllListeners('error');
        plain.removeAllListeners('close');
        const onError = (err: Error) =>
          reject(new SmtpError(tlsMessage(err), 'ETLS', { command: 'STARTTLS' }));
        const secure = tls.connect({
          socket: plain,
          rejectUnauthorized: target.rejectUnauthorized,
          ...(net.isIP(target.host) ? {} : { servername: target.host }),
        });
        secure.once('secureConnect', () => {
          secure.off('error', onError);
          this.attach(secure);
          resolve();
        });
        secure.once('error', onError);
        this.socket = secure;
      });
    }

    private attach(socket: net.Socket): void {
      socket.setNoDelay(true);
      socket.setKeepAlive(true, 120_000);
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => this.onData(chunk));
      socket.on('error', (err) => this.fail(socketError(err)));
      socket.on('timeout', () => this.fail(new SmtpError('Timeout', 'ETIMEDOUT')));
      socket.on('close', () => this.onClose());
    }

    private async hello(): Promise<string> {
      this.write(`EHLO ${target.name}\r\n`);
      const ehlo = await this.reply();
      // The extension lines without their reply codes: "PIPELINING", "AUTH PLAIN LOGIN"...
      if (ehlo.code === 250) return ehlo.text.replace(/^\d{3}[ -]/gm, '');
      this.write(`HELO ${target.name}\r\n`);
      const helo = await this.reply();
      if (helo.code !== 250)
        throw new SmtpError(`Invalid response for EHLO/HELO: ${helo.text}`, 'EPROTOCOL', {
          response: helo.text,
          command: 'HELO',
        });
      return '';
    }

    private async login(ext: string): Promise<void> {
      const user = target.user ?? '';
      const pass = target.pass ?? '';
      const auth = /^AUTH\b(.*)$/im.exec(ext)?.[1] ?? '';
      const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
      const failed = (reply: Reply, command: string) =>
        new SmtpError(`Invalid login: ${reply.text}`, 'EAUTH', { response: reply.text, command });
      if (!/\bPLAIN\b/i.test(auth) && /\bLOGIN\b/i.test(auth)) {
        this.write('AUTH LOGIN\r\n');
        let r = await this.reply();
        if (r.code !== 334) throw failed(r, 'AUTH LOGIN');
        this.write(`${b64(user)}\r\n`);
        r = await this.reply();
        if (r.code !== 334) throw failed(r, 'AUTH LOGIN');
        this.write(`${b64(pass)}\r\n`);
        r = await this.reply();
        if (r.code !== 235) throw failed(r, 'AUTH LOGIN');
        return;
      }
      this.write(`AUTH PLAIN ${b64(`\u0000${user}\u0000${pass}`)}\r\n`);
      const r = await this.reply();
      if (r.code !== 235) throw failed(r, 'AUTH PLAIN');
    }

    /** The next reply (set-up only: sending queues its handlers directly). */
    private reply(timeoutMs?: number): Promise<Reply> {
      return new Promise((resolve, reject) => {
        const timer =
          timeoutMs === undefined
            ? null
            : setTimeout(
                () => reject(new SmtpError('Greeting never received', 'ETIMEDOUT')),
                timeoutMs,
              );
        this.waiting.push((r) => {
          if (timer) clearTimeout(timer);
          if (r.code === 0) reject(new SmtpError('Connection closed', 'ECONNECTION'));
          else resolve(r);
        });
      });
    }

    private write(text: string): void {
      this.socket?.write(text);
    }

    private onData(chunk: string): void {
      this.buffer += chunk;
      let eol: number;
      while ((eol = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, eol).replace(/\r$/, '');
        this.buffer = this.buffer.slice(eol + 1);
        this.lines.push(line);
        // "250-..." continues the reply, "250 ..." (or a bare code) ends it.
        if (line.length > 3 && line[3] === '-') continue;
        const text = this.lines.join('\n');
        this.lines = [];
        const reply = { code: Number(line.slice(0, 3)) || 0, text };
        if (reply.code === 421 && this.ready) {
          // The server is closing the session: the message in flight fails with its reply.
          this.fail(
            new SmtpError(`Server terminates connection. response=${text}`, 'ECONNECTION', {
              response: text,
              command: 'CONN',
            }),
          );
          return;
        }
        this.waiting.shift()?.(reply);
        if (this.dead) return;
      }
    }

    /** Starts sending `entry` on this idle connection. */
    start(entry: Entry): void {
      this.disarmIdle();
      this.socket?.setTimeout(options.socketTimeoutMs);
      this.write(this.envelope(entry));
    }

    /**
     * Takes `entry` on, answers handlers pushed, and returns the envelope's commands to write
     * (all of them with PIPELINING; else MAIL FROM, the rest one by one from its reply on).
     */
    private envelope(entry: Entry): string {
      entry.connection = this;
      this.inFlight.push(entry);
      const utf8 = this.smtpUtf8 && /[^\p{ASCII}]/u.test(entry.from + entry.to) ? ' SMTPUTF8' : '';
      const mail = `MAIL FROM:<${entry.from}>${utf8}\r\n`;
      const rcpt = `RCPT TO:<${entry.to}>\r\n`;
      const onData = (r: Reply) => this.onDataReply(entry, r);
      const onRcpt = (r: Reply) => {
        if (r.code !== 250 && r.code !== 251 && !entry.envelopeError) {
          entry.envelopeError = new SmtpError(
            `Can't send mail - all recipients were rejected: ${r.text}`,
            'EENVELOPE',
            { response: r.text, command: 'RCPT TO' },
          );
        }
      };
      const onMail = (r: Reply) => {
        if (r.code !== 250) {
          entry.envelopeError = new SmtpError(`Mail command failed: ${r.text}`, 'EENVELOPE', {
            response: r.text,
            command: 'MAIL FROM',
          });
        }
      };
      if (this.pipelining) {
        this.waiting.push(onMail, onRcpt, onData);
        return `${mail}${rcpt}DATA\r\n`;
      }
      // One command at a time: each reply writes the next, a refusal skips to RSET.
      this.waiting.push((r) => {
        onMail(r);
        if (entry.envelopeError) return this.abandon(entry);
        this.waiting.push((r2) => {
          onRcpt(r2);
          if (entry.envelopeError) return this.abandon(entry);
          this.waiting.push(onData);
          this.write('DATA\r\n');
        });
        this.write(rcpt);
      });
      return mail;
    }

    /** DATA's reply: 354 sends the text (with the next message's envelope), else it failed. */
    private onDataReply(entry: Entry, r: Reply): void {
      if (r.code !== 354) {
        const err =
          entry.envelopeError ??
          new SmtpError(`Data command failed: ${r.text}`, 'EENVELOPE', {
            response: r.text,
            command: 'DATA',
          });
        this.reset();
        this.finish(entry, err);
        return;
      }
      if (entry.envelopeError || entry.done) {
        // The server took DATA although the envelope failed, or the send was aborted: an
        // empty message ends the data, and RSET forgets it.
        const err = entry.envelopeError;
        this.waiting.push(() => undefined);
        this.write('.\r\n');
        this.reset();
        this.finish(entry, err);
        return;
      }
      this.waiting.push((end) => {
        if (end.code === 250) this.finish(entry, null, end.text);
        else
          this.finish(
            entry,
            new SmtpError(`Message failed: ${end.text}`, 'EMESSAGE', {
              response: end.text,
              command: 'DATA',
            }),
          );
      });
      // With PIPELINING the next queued message's envelope rides along with this text.
      const next = this.pipelining && !closed ? queue.shift() : undefined;
      this.write(next ? entry.data + this.envelope(next) : entry.data);
    }

    /** Without PIPELINING: the envelope failed before DATA was sent. */
    private abandon(entry: Entry): void {
      this.reset();
      this.finish(entry, entry.envelopeError);
    }

    /** RSET after a failed transaction; the connection is free once it is answered. */
    private reset(): void {
      this.busyReset = true;
      this.waiting.push((r) => {
        this.busyReset = false;
        if (r.code !== 250)
          return this.fail(
            new SmtpError(`Could not reset session state. response=${r.text}`, 'EPROTOCOL', {
              response: r.text,
              command: 'RSET',
            }),
          );
        this.afterMessage();
      });
      this.write('RSET\r\n');
    }

    private finish(entry: Entry, err: Error | null, response = ''): void {
      const i = this.inFlight.indexOf(entry);
      if (i >= 0) this.inFlight.splice(i, 1);
      settle(entry, err, response);
      this.afterMessage();
    }

    private afterMessage(): void {
      if (this.inFlight.length > 0 || this.busyReset || this.dead) return;
      this.socket?.setTimeout(0);
      if (closed) return this.quit();
      this.armIdle();
      dispatch();
    }

    /** Aborting the message on this connection: the connection goes, the others stay. */
    abort(entry: Entry): void {
      const i = this.inFlight.indexOf(entry);
      if (i >= 0) this.inFlight.splice(i, 1);
      this.fail(null);
    }

    private armIdle(): void {
      this.disarmIdle();
      this.idleTimer = setTimeout(() => this.quit(), options.idleTimeoutMs);
      this.idleTimer.unref();
    }

    private disarmIdle(): void {
      if (this.idleTimer) clearTimeout(this.idleTimer);
      this.idleTimer = null;
    }

    /** Ends an idle connection politely. */
    quit(): void {
      if (this.dead) return;
      this.dead = true;
      connections.delete(this);
      this.disarmIdle();
      if (this.setupTimer) clearTimeout(this.setupTimer);
      const socket = this.socket;
      if (!socket) return;
      this.waiting = [];
      socket.end('QUIT\r\n');
      setTimeout(() => socket.destroy(), 1_000).unref();
    }

    /** The server closed the connection: messages on it go again (or fail after 5 tries). */
    private onClose(): void {
      if (this.dead) return;
      this.teardown(null);
      dispatch();
    }

    /** A failure of the connection: the messages on it fail with `err` (none: requeued). */
    fail(err: SmtpError | null): void {
      if (this.dead) return;
      if (err && this.inFlight.length === 0) options.onError?.(err);
      this.teardown(err);
      this.socket?.destroy();
      dispatch();
    }

    private teardown(err: SmtpError | null): void {
      this.dead = true;
      connections.delete(this);
      this.disarmIdle();
      if (this.setupTimer) clearTimeout(this.setupTimer);
      const waiting = this.waiting;
      this.waiting = [];
      // Set-up steps waiting for a reply learn that none is coming.
      for (const handler of waiting) if (!this.ready) handler({ code: 0, text: '' });
      const inFlight = this.inFlight;
      this.inFlight = [];
      for (const entry of inFlight) requeue(entry, err);
      // A connection that never came up fails the oldest queued message with its error, as
      // nodemailer's pool failed the message it had given that connection (so a refused port
      // fails the sends one per attempt instead of retrying forever); the others wait.
      if (!this.ready && err) {
        const first = queue.shift();
        if (first) settle(first, err);
      }
    }
  }

  return {
    /** Sends `text` (a MIME message) from `from` to `to`; resolves with the server's reply. */
    send(from: string, to: string, text: string, signal?: AbortSignal): Promise<string> {
      return new Promise<string>((resolve, reject) => {
        if (closed) return reject(new SmtpError('Connection pool was closed', 'ECONNECTION'));
        if (from !== '' && /[\r\n<>]/.test(from))
          return reject(
            new SmtpError(`Invalid sender ${JSON.stringify(from)}`, 'EENVELOPE', {
              command: 'API',
            }),
          );
        if (!ADDRESS.test(to))
          return reject(
            new SmtpError(`Invalid recipient ${JSON.stringify(to)}`, 'EENVELOPE', {
              command: 'API',
            }),
          );
        if (signal?.aborted) return reject(abortError(signal));
        const entry: Entry = {
          from,
          to,
          data: dataBlock(text),
          signal,
          requeues: 0,
          resolve,
          reject,
          done: false,
          connection: null,
          onAbort: null,
          envelopeError: null,
        };
        if (signal) {
          entry.onAbort = () => {
            if (entry.done) return;
            const i = queue.indexOf(entry);
            if (i >= 0) queue.splice(i, 1);
            const connection = entry.connection;
            settle(entry, abortError(signal));
            connection?.abort(entry);
          };
          signal.addEventListener('abort', entry.onAbort, { once: true });
        }
        queue.push(entry);
        dispatch();
      });
    },

    /** Idle connections end now, busy ones after their message; queued sends fail. */
    close(): void {
      closed = true;
      for (const entry of queue.splice(0))
        settle(entry, new SmtpError('Connection pool was closed', 'ECONNECTION'));
      for (const c of [...connections]) if (c.idle() || c.settingUp()) c.quit();
    },
  };
}

function socketError(err: unknown): SmtpError {
  const e = err as NodeJS.ErrnoException;
  if (e instanceof SmtpError) return e;
  return new SmtpError(tlsMessage(e), 'ESOCKET', e.code ? { originalCode: e.code } : {});
}

// OpenSSL's verification failures as Node names them (DEPTH_ZERO_SELF_SIGNED_CERT,
// UNABLE_TO_VERIFY_LEAF_SIGNATURE, CERT_HAS_EXPIRED...) and Node's own host name check.
const CERTIFICATE_CODES =
  /CERT|SIGNATURE|^INVALID_CA$|^PATH_LENGTH_EXCEEDED$|^INVALID_PURPOSE$|^HOSTNAME_MISMATCH$/;

/** The error's message, with what to do when it is the server's certificate that was refused. */
function tlsMessage(err: NodeJS.ErrnoException): string {
  if (!err.code || !CERTIFICATE_CODES.test(err.code)) return err.message;
  return (
    `${err.message}: the SMTP server's TLS certificate is not trusted; give the server one ` +
    `from a trusted CA (or trust its CA with NODE_EXTRA_CA_CERTS), or accept it anyway with ` +
    `tls.rejectUnauthorized=false in the SMTP URL`
  );
}

function abortError(signal: AbortSignal): SmtpError {
  const reason: unknown = signal.reason;
  const message = reason instanceof Error ? reason.message : 'The operation was aborted';
  return new SmtpError(message, 'EABORT', { command: 'API' });
}

export type SmtpClient = ReturnType<typeof createSmtpClient>;

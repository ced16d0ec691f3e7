/**
 * A real SMTP server in a child process (test/fixtures/smtp-sink.mjs) for the email tests and
 * benchmarks, and what it received, parsed with mailparser.
 *
 *   const sink = await startSmtpSink({ reject: /^bounce@/ });
 *   try {
 *     await provider.send(message);
 *     const [mail] = await sink.waitForMessages(1);
 *     assert.equal(mail?.parsed.subject, 'Hello');
 *   } finally {
 *     await sink.close();
 *   }
 *
 * A sink that dies on its own makes every later call (and any pending wait) throw, with its
 * stderr. The child never outlives the test process: it exits when the IPC channel closes.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { simpleParser, type ParsedMail } from 'mailparser';

const FIXTURE = fileURLToPath(new URL('../fixtures/smtp-sink.mjs', import.meta.url));

export interface SmtpSinkOptions {
  /** Recipients answered 550 5.1.1 (permanent). Matched case-insensitively; flags are ignored. */
  reject?: RegExp;
  /** Recipients answered 451 4.3.0 (transient). */
  defer?: RegExp;
  /** Recipients answered 450 4.7.1 "Too many messages, slow down" (rate limited). */
  throttle?: RegExp;
  /** Keep no message, only count them (benchmarks); `messages()` stays empty. */
  countOnly?: boolean;
  /** How often a count-only sink reports its count while mail arrives. Default 50 ms. */
  countIntervalMs?: number;
  /** Time allowed for the child to start listening. Default 10 s. */
  startTimeoutMs?: number;
}

export interface SinkStats {
  /** Messages accepted (250 after DATA). */
  messages: number;
  /** TCP connections accepted since the start. */
  connections: number;
  openConnections: number;
  maxOpenConnections: number;
  /** Users that authenticated (AUTH PLAIN/LOGIN). */
  users: string[];
}

export interface ReceivedMail {
  /** The message as it came after DATA (RFC 5322, CRLF line ends). */
  raw: string;
  envelope: { mailFrom: string | false; rcptTo: string[] };
  /** The authenticated user of the session, if the client logged in. */
  user: string | null;
  /** The sink's id of the SMTP session (connection) that carried the message. */
  connectionId: string;
  parsed: ParsedMail;
}

export interface SmtpSink {
  port: number;
  /** The child's pid (to test what a crash does). */
  pid: number;
  /** `smtp://127.0.0.1:<port>` */
  url: string;
  /** The messages received and parsed so far, in arrival order. */
  messages(): ReceivedMail[];
  /** Resolves with `messages()` once `n` messages arrived (count-only: were counted). */
  waitForMessages(n: number, timeoutMs?: number): Promise<ReceivedMail[]>;
  /** Messages received so far (count-only: as of the last report, at most 50 ms old). */
  count(): number;
  /** The sink's own numbers right now, asked over IPC. */
  stats(): Promise<SinkStats>;
  /** Stops the server and the child process (killed if it does not exit within 5 s). */
  close(): Promise<void>;
}

interface SinkReport {
  type: 'ready' | 'message' | 'count' | 'stats';
  port?: number;
  raw?: string;
  envelope?: ReceivedMail['envelope'];
  user?: string | null;
  connectionId?: string;
  stats?: SinkStats;
}

export async function startSmtpSink(options: SmtpSinkOptions = {}): Promise<SmtpSink> {
  const args = [
    ...(options.reject ? [`--reject=${options.reject.source}`] : []),
    ...(options.defer ? [`--defer=${options.defer.source}`] : []),
    ...(options.throttle ? [`--throttle=${options.throttle.source}`] : []),
    ...(options.countOnly ? ['--count-only'] : []),
    ...(options.countIntervalMs ? [`--count-interval=${options.countIntervalMs}`] : []),
  ];
  // No tsx loader or test-runner flags for a plain .mjs server.
  const child: ChildProcess = fork(FIXTURE, args, {
    execArgv: [],
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
  const stderr: string[] = [];
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));

  const received: ReceivedMail[] = [];
  let rawCount = 0;
  let reportedCount = 0;
  let failure: Error | undefined;
  let closing = false;
  let parsing: Promise<void> = Promise.resolve();
  const listeners = new Set<() => void>();
  const statsRequests: Array<(stats: SinkStats) => void> = [];
  const changed = () => listeners.forEach((listener) => listener());
  const fail = (err: Error) => {
    failure ??= err;
    changed();
  };
  const check = () => {
    if (failure) throw failure;
  };

  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', (code, signal) => {
    if (!closing) {
      fail(
        new Error(
          `the SMTP sink exited unexpectedly (code ${code}, signal ${signal}): ${stderr.join('').trim() || 'no stderr'}`,
        ),
      );
    }
  });
  child.once('error', (err) => fail(new Error(`the SMTP sink failed: ${err.message}`)));

  let ready: ((port: number) => void) | undefined;
  const port = new Promise<number>((resolve) => (ready = resolve));
  child.on('message', (report: SinkReport) => {
    if (report.type === 'ready' && report.port) {
      ready?.(report.port);
    } else if (report.type === 'message' && report.raw !== undefined) {
      rawCount += 1;
      const raw = Buffer.from(report.raw, 'base64');
      const { envelope, user, connectionId } = report;
      // Parsed one after the other, so messages() keeps the arrival order.
      parsing = parsing
        .then(async () => {
          const parsed = await simpleParser(raw);
          received.push({
            raw: raw.toString('utf8'),
            envelope: envelope ?? { mailFrom: false, rcptTo: [] },
            user: user ?? null,
            connectionId: connectionId ?? '',
            parsed,
          });
          changed();
        })
        .catch((err: unknown) =>
          fail(new Error(`the sink could not parse a message: ${String(err)}`, { cause: err })),
        );
    } else if (report.type === 'count' && report.stats) {
      reportedCount = report.stats.messages;
      changed();
    } else if (report.type === 'stats' && report.stats) {
      statsRequests.shift()?.(report.stats);
    }
  });

  const startTimeoutMs = options.startTimeoutMs ?? 10_000;
  let startTimer: NodeJS.Timeout | undefined;
  try {
    const listening = await Promise.race([
      port,
      new Promise<never>((_, reject) => {
        startTimer = setTimeout(
          () => reject(new Error(`the SMTP sink did not start within ${startTimeoutMs} ms`)),
          startTimeoutMs,
        );
        listeners.add(() => failure && reject(failure));
      }),
    ]);
    listeners.clear();
    // The test process may exit while a sink runs (a test forgot close): the child follows.
    child.unref();
    child.channel?.unref();
    (child.stderr as unknown as { unref?: () => void } | null)?.unref?.();
    return makeSink(listening);
  } catch (err) {
    closing = true;
    child.kill('SIGKILL');
    throw err;
  } finally {
    clearTimeout(startTimer);
  }

  function makeSink(listening: number): SmtpSink {
    const count = () => (options.countOnly ? reportedCount : rawCount);
    return {
      port: listening,
      pid: child.pid ?? 0,
      url: `smtp://127.0.0.1:${listening}`,
      messages() {
        check();
        return [...received];
      },
      count() {
        check();
        return count();
      },
      waitForMessages(n, timeoutMs = 10_000) {
        const done = () => (options.countOnly ? reportedCount : received.length) >= n;
        return new Promise<ReceivedMail[]>((resolve, reject) => {
          const settle = () => {
            if (failure) reject(failure);
            else if (done()) resolve([...received]);
            else return;
            clearTimeout(timer);
            listeners.delete(settle);
          };
          const timer = setTimeout(() => {
            listeners.delete(settle);
            reject(
              new Error(
                `timed out after ${timeoutMs} ms waiting for ${n} messages (got ${count()})`,
              ),
            );
          }, timeoutMs);
          listeners.add(settle);
          settle();
        });
      },
      stats() {
        check();
        return new Promise<SinkStats>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('the SMTP sink did not answer')), 5_000);
          statsRequests.push((stats) => {
            clearTimeout(timer);
            resolve(stats);
          });
          child.send({ type: 'stats' });
        });
      },
      async close() {
        if (!closing) {
          closing = true;
          if (child.connected) child.send({ type: 'close' });
          const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
          await exited;
          clearTimeout(killer);
          await parsing;
        }
        await exited;
        // A sink that crashed before close() fails the test here at the latest.
        check();
      },
    };
  }
}

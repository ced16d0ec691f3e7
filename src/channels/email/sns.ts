/**
 * Amazon SNS messages to an HTTPS subscriber, verified as "Verifying the signatures of Amazon
 * SNS messages" says (https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html).
 *
 * SNS POSTs a JSON document (Content-Type text/plain) with the header `x-amz-sns-message-type`:
 * `SubscriptionConfirmation`, `Notification` or `UnsubscribeConfirmation`. `Signature` is
 * base64 RSA over the string to sign: for a Notification the fields Message, MessageId,
 * Subject (only if present), Timestamp, TopicArn, Type; for the confirmations Message,
 * MessageId, SubscribeURL, Timestamp, Token, TopicArn, Type; each as `Name\nValue\n`, in that
 * order. `SignatureVersion` 1 is SHA1withRSA, 2 SHA256withRSA. The key is in the X.509
 * certificate at `SigningCertURL`, which must be https on an SNS host
 * (`sns.<region>.amazonaws.com`, `.com.cn` in China) and end in `.pem`; the certificate is
 * fetched over TLS checked against Node's trust store, so its bytes are AWS's, and kept in
 * memory by URL.
 *
 * Before anything is fetched the message must name an allowed topic (`TopicArn`), so a forger
 * cannot make Herald fetch certificates or confirm subscriptions for topics of their own.
 * SNS retries an HTTP delivery for an hour at the most (its total retry time is capped at
 * 3,600 s) and `Timestamp` is when the message was published, so one older than that (plus 5
 * minutes of clock skew), or more than 5 minutes ahead, is refused as a replay.
 */
import { X509Certificate, verify } from 'node:crypto';
import { get } from 'node:https';
import type { Refusal } from '../webhook-check.js';

export const SNS_MESSAGE_TYPE_HEADER = 'x-amz-sns-message-type';
/** The hosts SNS serves signing certificates and SubscribeURLs from. */
export const SNS_DEFAULT_CERT_HOST = '^sns\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?$';
export const SNS_MAX_AGE_MS = 65 * 60_000;
export const SNS_MAX_AHEAD_MS = 5 * 60_000;
const FETCH_TIMEOUT_MS = 10_000;
const MAX_FETCH_BYTES = 64 * 1024;
const MAX_CACHED_CERTS = 50;

export const SNS_TYPES = ['Notification', 'SubscriptionConfirmation', 'UnsubscribeConfirmation'];

export interface SnsMessage {
  Type: 'Notification' | 'SubscriptionConfirmation' | 'UnsubscribeConfirmation';
  MessageId: string;
  TopicArn: string;
  Message: string;
  Timestamp: string;
  SignatureVersion: string;
  Signature: string;
  SigningCertURL: string;
  Subject?: string;
  SubscribeURL?: string;
  Token?: string;
  UnsubscribeURL?: string;
}

const CONFIRMATION_FIELDS: (keyof SnsMessage)[] = [
  'Message',
  'MessageId',
  'SubscribeURL',
  'Timestamp',
  'Token',
  'TopicArn',
  'Type',
];
const SIGNED_FIELDS: Record<SnsMessage['Type'], (keyof SnsMessage)[]> = {
  Notification: ['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type'],
  SubscriptionConfirmation: CONFIRMATION_FIELDS,
  UnsubscribeConfirmation: CONFIRMATION_FIELDS,
};

/** The string SNS signs for a message: its type's fields in order, `Name\nValue\n` each. */
export function snsStringToSign(m: SnsMessage): string {
  return SIGNED_FIELDS[m.Type]
    .filter((f) => typeof m[f] === 'string')
    .map((f) => `${f}\n${m[f]}\n`)
    .join('');
}

/** Whether `url` is https on a host matching `host` (no credentials in it). */
export function isSnsUrl(url: string, host: RegExp): boolean {
  try {
    const u = new URL(url);
    return u.protocol === 'https:' && !u.username && !u.password && host.test(u.hostname);
  } catch {
    return false;
  }
}

export interface SnsVerifierOptions {
  /** The topics whose messages are taken. */
  topicArns: readonly string[];
  /** The hosts certificates and SubscribeURLs may be on. */
  certHost: RegExp;
  /** CA certificates (PEM) trusted for those fetches instead of Node's (tests). */
  ca?: string | string[];
  now?: () => number;
}

/** GETs an https URL: the body of a 200, else throws. */
function fetchText(url: string, ca: string | string[] | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = get(url, { timeout: FETCH_TIMEOUT_MS, ...(ca ? { ca } : {}) }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`${url} answered ${res.statusCode}`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_FETCH_BYTES) req.destroy(new Error(`${url}: more than 64 KiB`));
        else chunks.push(c);
      });
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer in 10 s`)));
    req.on('error', reject);
  });
}

const refusal = (status: Refusal['status'], message: string): Refusal => ({ status, message });

export function makeSnsVerifier(options: SnsVerifierOptions) {
  const topics = new Set(options.topicArns);
  const now = options.now ?? Date.now;
  const certs = new Map<string, Promise<X509Certificate>>();

  /** The certificate at `url`, fetched once (a failed fetch is not kept). */
  function certificate(url: string): Promise<X509Certificate> {
    let cert = certs.get(url);
    if (!cert) {
      if (certs.size >= MAX_CACHED_CERTS) certs.delete(certs.keys().next().value as string);
      cert = fetchText(url, options.ca).then((pem) => new X509Certificate(pem));
      certs.set(url, cert);
      cert.catch(() => certs.delete(url));
    }
    return cert;
  }

  return {
    /** The message, or why it is refused: it must be well formed, for an allowed topic, recent and signed by SNS. */
    async check(
      typeHeader: string | undefined,
      raw: string,
    ): Promise<{ message: SnsMessage } | Refusal> {
      if (!typeHeader) return refusal(400, `missing ${SNS_MESSAGE_TYPE_HEADER} header`);
      let m: Record<string, unknown>;
      try {
        m = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        return refusal(400, 'the body is not JSON');
      }
      if (!m || typeof m !== 'object' || !SNS_TYPES.includes(m.Type as string))
        return refusal(400, 'not an SNS message');
      if (m.Type !== typeHeader)
        return refusal(400, `${SNS_MESSAGE_TYPE_HEADER} is not the message's Type`);
      const needed = ['MessageId', 'TopicArn', 'Message', 'Timestamp'];
      if (m.Type !== 'Notification') needed.push('SubscribeURL', 'Token');
      const missing = needed.filter((f) => typeof m[f] !== 'string');
      if (missing.length > 0) return refusal(400, `the SNS message has no ${missing.join(', ')}`);
      if (![m.Signature, m.SigningCertURL, m.SignatureVersion].every((v) => typeof v === 'string'))
        return refusal(401, 'the SNS message is not signed');
      const message = m as unknown as SnsMessage;
      if (!topics.has(message.TopicArn))
        return refusal(403, `topic ${message.TopicArn} is not in HERALD_SES_SNS_TOPIC_ARNS`);
      const algorithm = { '1': 'sha1', '2': 'sha256' }[message.SignatureVersion];
      if (!algorithm)
        return refusal(403, `SignatureVersion ${message.SignatureVersion} is not 1 or 2`);
      const at = Date.parse(message.Timestamp);
      const age = now() - at;
      if (Number.isNaN(at) || age > SNS_MAX_AGE_MS || -age > SNS_MAX_AHEAD_MS)
        return refusal(403, 'the SNS Timestamp is more than an hour old, or ahead of now');
      const certUrl = message.SigningCertURL;
      if (!isSnsUrl(certUrl, options.certHost) || !new URL(certUrl).pathname.endsWith('.pem'))
        return refusal(403, `SigningCertURL ${certUrl} is not an SNS certificate URL`);
      let cert: X509Certificate;
      try {
        cert = await certificate(certUrl);
      } catch (err) {
        return refusal(502, `the SNS signing certificate: ${(err as Error).message}`);
      }
      const t = now();
      if (t < Date.parse(cert.validFrom) || t > Date.parse(cert.validTo))
        return refusal(403, 'the SNS signing certificate is not valid now');
      const ok = verify(
        algorithm,
        Buffer.from(snsStringToSign(message), 'utf8'),
        cert.publicKey,
        Buffer.from(message.Signature, 'base64'),
      );
      return ok ? { message } : refusal(403, 'the SNS signature does not match');
    },

    /** Confirms a verified SubscriptionConfirmation: a GET of its SubscribeURL. */
    async confirm(message: SnsMessage): Promise<Refusal | null> {
      const url = message.SubscribeURL ?? '';
      if (!isSnsUrl(url, options.certHost))
        return refusal(403, `SubscribeURL ${url} is not on an SNS host`);
      try {
        await fetchText(url, options.ca);
        return null;
      } catch (err) {
        return refusal(502, `confirming the subscription: ${(err as Error).message}`);
      }
    },
  };
}

export type SnsVerifier = ReturnType<typeof makeSnsVerifier>;

/**
 * A local stand-in for the HTTPS side of Amazon SNS: a real TLS server on 127.0.0.1 (its
 * certificate made with openssl at start; `ca` is it, for the client to trust) that serves a
 * topic's signing certificate at `/SimpleNotificationService-test.pem` (an RSA key and a
 * self-signed X.509 certificate, also made with openssl) and answers SubscribeURL GETs
 * (`/?Action=ConfirmSubscription&TopicArn=...&Token=...`) with SNS's
 * ConfirmSubscriptionResponse, recording every request.
 *
 * `signed` signs a message as SNS does, written here from the SNS documentation apart from
 * src/channels/email/sns.ts so a mistake there is not shared by its judge: the type's fields in
 * their fixed order, `Name\nValue\n` each (Subject only when present), RSA with SHA1
 * (SignatureVersion 1) or SHA256 (2).
 */
import { randomUUID, sign } from 'node:crypto';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { opensslCertificate, selfSignedCertificate } from './tls-certificate.js';

export interface SnsServer {
  /** `https://127.0.0.1:<port>` */
  url: string;
  /** The TLS certificate of the server (PEM), to trust. */
  ca: string;
  /** The signing certificate's URL. */
  certUrl: string;
  /** The signing key (PEM) and a key SNS never had, for forgeries. */
  key: string;
  otherKey: string;
  /** Paths of every GET, in order. */
  requests: string[];
  close(): Promise<void>;
}

export type SnsFields = Record<string, string | undefined>;

const NOTIFICATION = ['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type'];
const CONFIRMATION = [
  'Message',
  'MessageId',
  'SubscribeURL',
  'Timestamp',
  'Token',
  'TopicArn',
  'Type',
];

/** The message with SignatureVersion, Signature and SigningCertURL, signed with `key`. */
export function signed(
  message: SnsFields,
  key: string,
  certUrl: string,
  version: '1' | '2' = '2',
): SnsFields {
  const fields = message.Type === 'Notification' ? NOTIFICATION : CONFIRMATION;
  const text = fields
    .filter((name) => message[name] !== undefined)
    .map((name) => `${name}\n${message[name]}\n`)
    .join('');
  const signature = sign(version === '1' ? 'sha1' : 'sha256', Buffer.from(text, 'utf8'), key);
  return {
    ...message,
    SignatureVersion: version,
    Signature: signature.toString('base64'),
    SigningCertURL: certUrl,
  };
}

export async function startSnsServer(): Promise<SnsServer> {
  const tls = selfSignedCertificate();
  const signing = opensslCertificate(['-newkey', 'rsa:2048', '-subj', '/CN=sns.amazonaws.com']);
  const other = opensslCertificate(['-newkey', 'rsa:2048', '-subj', '/CN=sns.amazonaws.com']);
  const requests: string[] = [];
  const server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    const path = req.url ?? '/';
    requests.push(path);
    const url = new URL(path, 'https://127.0.0.1');
    if (req.method === 'GET' && url.pathname === '/SimpleNotificationService-test.pem') {
      res.writeHead(200, { 'content-type': 'application/x-x509-ca-cert' }).end(signing.cert);
    } else if (
      req.method === 'GET' &&
      url.pathname === '/' &&
      url.searchParams.get('Action') === 'ConfirmSubscription' &&
      url.searchParams.get('Token')
    ) {
      const arn = `${url.searchParams.get('TopicArn')}:${randomUUID()}`;
      res
        .writeHead(200, { 'content-type': 'text/xml' })
        .end(
          '<ConfirmSubscriptionResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">' +
            `<ConfirmSubscriptionResult><SubscriptionArn>${arn}</SubscriptionArn>` +
            '</ConfirmSubscriptionResult><ResponseMetadata><RequestId>' +
            `${randomUUID()}</RequestId></ResponseMetadata></ConfirmSubscriptionResponse>`,
        );
    } else {
      res
        .writeHead(404, { 'content-type': 'text/xml' })
        .end('<Error><Code>NotFound</Code></Error>');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `https://127.0.0.1:${port}`;
  return {
    url,
    ca: tls.cert,
    certUrl: `${url}/SimpleNotificationService-test.pem`,
    key: signing.key,
    otherKey: other.key,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

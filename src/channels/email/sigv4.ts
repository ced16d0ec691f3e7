/**
 * AWS Signature Version 4 (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html),
 * header form, with node:crypto: what the Amazon SES provider signs its requests with.
 *
 * 1. canonical request: method, URI path (each segment URI-encoded), sorted query, the signed
 *    headers as `name:value` lines (lowercase names, trimmed values, sorted), the signed header
 *    names joined by `;`, and the SHA-256 of the payload, hex;
 * 2. string to sign: `AWS4-HMAC-SHA256`, the `x-amz-date`, the credential scope
 *    `yyyymmdd/region/service/aws4_request`, the SHA-256 of the canonical request;
 * 3. signing key: HMAC chain `kDate = HMAC("AWS4" + secret, yyyymmdd)`, kRegion, kService,
 *    `kSigning = HMAC(kService, "aws4_request")`; the signature is HMAC(kSigning, string to sign).
 *
 * Signed are `host`, `x-amz-date` and every header the caller passes (SES: `content-type` and
 * `x-amz-content-sha256`). Checked against AWS's own test suite (get-vanilla, post-vanilla) in
 * test/email-ses.test.ts.
 */
import { createHash, createHmac } from 'node:crypto';

export interface SigV4Request {
  method: string;
  url: string;
  /** Headers to sign and send besides host and x-amz-date (any case). */
  headers?: Record<string, string>;
  body?: string;
  region: string;
  service: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The signing time. Default now. */
  now?: Date;
}

export interface SigV4Signed {
  /** The headers to send: the caller's, `x-amz-date` and `authorization` (host comes from the URL). */
  headers: Record<string, string>;
  signature: string;
  canonicalRequest: string;
  stringToSign: string;
}

export const sha256Hex = (data: string): string => createHash('sha256').update(data).digest('hex');

const hmac = (key: string | Buffer, data: string): Buffer =>
  createHmac('sha256', key).update(data).digest();

/** RFC 3986 encoding, as SigV4 wants it: unreserved characters as is, the rest %XX uppercase. */
const uriEncode = (s: string): string =>
  encodeURIComponent(s).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );

/** `20150830T123600Z` */
export const amzDate = (d: Date): string =>
  d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');

export function signV4(req: SigV4Request): SigV4Signed {
  const url = new URL(req.url);
  const date = amzDate(req.now ?? new Date());
  const day = date.slice(0, 8);
  const toSign: Record<string, string> = { host: url.host, 'x-amz-date': date };
  for (const [name, value] of Object.entries(req.headers ?? {}))
    toSign[name.toLowerCase()] = value.trim().replace(/\s+/g, ' ');
  const names = Object.keys(toSign).sort();
  const signedHeaders = names.join(';');
  const path =
    url.pathname
      .split('/')
      .map((seg) => uriEncode(decodeURIComponent(seg)))
      .join('/') || '/';
  const query = [...url.searchParams]
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const canonicalRequest = [
    req.method.toUpperCase(),
    path,
    query,
    ...names.map((n) => `${n}:${toSign[n]}`),
    '',
    signedHeaders,
    sha256Hex(req.body ?? ''),
  ].join('\n');
  const scope = `${day}/${req.region}/${req.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', date, scope, sha256Hex(canonicalRequest)].join('\n');
  const kDate = hmac(`AWS4${req.secretAccessKey}`, day);
  const kSigning = hmac(hmac(hmac(kDate, req.region), req.service), 'aws4_request');
  const signature = createHmac('sha256', kSigning).update(stringToSign).digest('hex');
  const sent: Record<string, string> = { ...toSign };
  delete sent.host;
  return {
    headers: {
      ...sent,
      authorization: `AWS4-HMAC-SHA256 Credential=${req.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
    },
    signature,
    canonicalRequest,
    stringToSign,
  };
}

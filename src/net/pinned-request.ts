/**
 * The transport of the egress guard: one HTTP(S) request to addresses that were already
 * checked, reading at most a bounded answer.
 *
 * Why node:http/https and not fetch: fetch (undici) resolves the name itself when it connects,
 * so a name could resolve to a public address for the check and to 127.0.0.1 for the
 * connection (DNS rebinding). Here the request's `lookup` answers the checked addresses and
 * never asks DNS again, while the URL's host name still goes into `Host` and TLS SNI and the
 * certificate is checked against it. (An undici dispatcher with a `connect.lookup` would do
 * the same, but needs the undici package pinned to Node's bundled version.)
 *
 * Keep-alive agents are per guard: a pooled socket was connected to an address checked under
 * that guard's allow-list.
 */
import http from 'node:http';
import https from 'node:https';
import type { LookupAddress, LookupOneOptions } from 'node:dns';

/** A URL whose addresses passed the guard. */
export interface CheckedTarget {
  url: URL;
  /** The host name as connected to: lower case, no brackets, no trailing dot. */
  hostname: string;
  /** Every address the name resolved to, all checked. */
  addresses: LookupAddress[];
}

export interface TransportRequest {
  method: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  signal: AbortSignal;
  /** The most bytes of the answer's body read; past them the connection is dropped. */
  maxAnswerBytes: number;
}

export interface EgressAnswer {
  status: number;
  headers: Headers;
  /** At most `maxAnswerBytes` of the body. */
  body: Buffer;
  /** The answer was longer than `maxAnswerBytes`, and not read past it. */
  truncated: boolean;
}

/** What connects and asks: the pinned node:http(s) request, or a test's stand-in. */
export type Transport = (target: CheckedTarget, request: TransportRequest) => Promise<EgressAnswer>;

function toHeaders(raw: http.IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(raw)) {
    for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) {
      try {
        headers.append(name, v);
      } catch {
        // A header fetch would refuse is dropped; nothing here needs it.
      }
    }
  }
  return headers;
}

/** A transport connecting only to the checked addresses. `ca` trusts a test certificate. */
export function makePinnedTransport(options: { ca?: string | undefined } = {}): Transport {
  const agents = {
    'http:': new http.Agent({ keepAlive: true }),
    'https:': new https.Agent({ keepAlive: true, ...(options.ca ? { ca: options.ca } : {}) }),
  };
  return (target, request) =>
    new Promise<EgressAnswer>((resolve, reject) => {
      const { url, addresses } = target;
      const first = addresses[0] as LookupAddress;
      // Answers the checked addresses; Node asks with `all` when it races IPv4 and IPv6.
      const lookup = (
        _host: string,
        opts: LookupOneOptions & { all?: boolean },
        done: (err: Error | null, address: string | LookupAddress[], family?: number) => void,
      ) => (opts?.all ? done(null, addresses) : done(null, first.address, first.family));
      const isHttps = url.protocol === 'https:';
      const req = (isHttps ? https : http).request({
        protocol: url.protocol,
        hostname: target.hostname,
        port: url.port || (isHttps ? 443 : 80),
        path: `${url.pathname}${url.search}`,
        method: request.method,
        headers: request.headers,
        agent: agents[isHttps ? 'https:' : 'http:'],
        lookup: lookup as never,
      });
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        req.destroy(err);
        reject(err);
      };
      const onAbort = () =>
        fail(request.signal.reason instanceof Error ? request.signal.reason : new Error('aborted'));
      if (request.signal.aborted) return onAbort();
      request.signal.addEventListener('abort', onAbort, { once: true });
      req.on('error', fail);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const finish = (truncated: boolean) => {
          if (settled) return;
          settled = true;
          request.signal.removeEventListener('abort', onAbort);
          if (truncated) res.destroy();
          resolve({
            status: res.statusCode ?? 0,
            headers: toHeaders(res.headers),
            body: Buffer.concat(chunks).subarray(0, request.maxAnswerBytes),
            truncated,
          });
        };
        res.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          size += chunk.length;
          if (size > request.maxAnswerBytes) finish(true);
        });
        res.on('end', () => finish(false));
        res.on('error', fail);
        res.on('aborted', () => fail(new Error('the answer was cut off')));
      });
      req.end(request.body);
    });
}

/**
 * The egress guard: every outbound HTTP request to a URL that a user, a recipient or a browser
 * supplied goes through `Egress.request` (Web Push endpoints, webhook and Slack URLs, the data
 * hook, the JWKS of recipient tokens). Provider base URLs from the configuration
 * (`HERALD_*_URL` of Twilio, Resend...) are the operator's own and do not.
 *
 * What it does, in order (docs/security.md#outbound-requests-the-egress-guard):
 * 1. only http(s) URLs without a user name or password;
 * 2. resolves the name once, every address (`localhost` and `*.localhost` are loopback
 *    without asking DNS);
 * 3. refuses unless every address is public (address.ts) or inside an `egressAllow` CIDR, or
 *    the host name itself is listed there: one error, `egress_refused`, whatever the range;
 * 4. connects to the checked addresses only (pinned-request.ts: no second lookup);
 * 5. never follows a redirect: a 3xx is `egress_redirect`, its Location never read;
 * 6. reads at most `maxAnswerBytes` of the answer (`truncated` says it was longer);
 * 7. any failure to get an answer (no such name, refused, reset, TLS, timeout) is one
 *    `egress_unreachable`, so error text cannot tell a closed port from a filtered one. The
 *    cause goes to the debug log for the operator, never into the error.
 *
 * No error carries the answer's body or the addresses the name resolved to.
 */
import { lookup } from 'node:dns/promises';
import type { LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import { toError } from '../errors.js';
import type { Logger } from '../obs/log.js';
import { isPublicAddress } from './address.js';
import { makeAllowList } from './allow.js';
import {
  makePinnedTransport,
  type CheckedTarget,
  type EgressAnswer,
  type Transport,
} from './pinned-request.js';

export type { EgressAnswer, Transport, CheckedTarget } from './pinned-request.js';

export type EgressErrorCode = 'egress_refused' | 'egress_redirect' | 'egress_unreachable';

const MESSAGES: Record<EgressErrorCode, string> = {
  egress_refused:
    'the URL is not a public http(s) address, so Herald does not call it (use a public https URL; an operator can allow an internal host with HERALD_EGRESS_ALLOW)',
  egress_redirect: 'the URL answered with a redirect, which is not followed: set the final URL',
  egress_unreachable:
    'no answer from the URL (the name did not resolve, the connection failed or timed out); it is tried again',
};

/**
 * Why a guarded request got no usable answer. `kind` is what a delivery makes of it: a
 * refused URL or a redirect fails the same way every time (permanent); no answer may pass.
 */
export class EgressError extends Error {
  override readonly name = 'EgressError';
  readonly kind: 'permanent' | 'transient';
  /** For the job queue: a refused URL or a redirect is not retried (queue/worker.ts). */
  readonly permanent: boolean;
  constructor(
    readonly code: EgressErrorCode,
    /** The redirect's status (`egress_redirect` only). */
    readonly status?: number,
  ) {
    super(status === undefined ? MESSAGES[code] : `${MESSAGES[code]} (HTTP ${status})`);
    this.kind = code === 'egress_unreachable' ? 'transient' : 'permanent';
    this.permanent = this.kind === 'permanent';
  }
}

export interface EgressRequest {
  method: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** The whole request, name resolution included, gives up after this long. */
  timeoutMs: number;
  /** Aborts the request (the job's lease was lost). */
  signal?: AbortSignal | undefined;
  /** The most bytes of the answer's body read (a few KiB for an answer only read on failure). */
  maxAnswerBytes: number;
}

/** The one seam of outbound requests to user-supplied URLs. */
export interface Egress {
  /** The answer (any status but 3xx), or throws an `EgressError`. */
  request(url: string, init: EgressRequest): Promise<EgressAnswer>;
}

/** Every address of a name (IPv4 and IPv6, in the resolver's order). */
export type Resolve = (hostname: string) => Promise<LookupAddress[]>;

export interface EgressOptions {
  /** `egressAllow`: CIDRs, addresses and host names let through although not public. */
  allow?: readonly string[] | undefined;
  log?: Logger | undefined;
  /** Name resolution (tests). Default: the system resolver, as every other connection. */
  resolve?: Resolve;
  /** What connects (tests). Default: node:http(s) pinned to the checked addresses. */
  transport?: Transport;
  /** A CA certificate (PEM) to trust as well as the system's (tests). */
  ca?: string;
}

const systemResolve: Resolve = (hostname) => lookup(hostname, { all: true, verbatim: true });

/** Rejects when `signal` aborts, else settles as `work` does (DNS lookups cannot be aborted). */
function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(toError(signal.reason));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(toError(signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export function makeEgress(options: EgressOptions = {}): Egress {
  const allow = makeAllowList(options.allow);
  const resolve = options.resolve ?? systemResolve;
  const transport = options.transport ?? makePinnedTransport({ ca: options.ca });
  const log = options.log?.child({ component: 'egress' });

  const refused = (host: string) => {
    log?.warn({ host }, 'egress:refused (not public, not in HERALD_EGRESS_ALLOW)');
    return new EgressError('egress_refused');
  };
  const unreachable = (thrown: unknown) => {
    const err = toError(thrown);
    const cause = (err as { code?: unknown }).code ?? err.name;
    log?.debug({ cause }, 'egress:unreachable');
    return new EgressError('egress_unreachable');
  };

  /** The URL's target, every address checked; throws `egress_refused` or `_unreachable`. */
  async function check(raw: string, signal: AbortSignal): Promise<CheckedTarget> {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw refused('(not a URL)');
    }
    // The WHATWG parser has already made 127.1, 0x7f000001, 2130706433 and 0177.0.0.1 into
    // 127.0.0.1, and [::ffff:127.0.0.1] into [::ffff:7f00:1].
    const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
    if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password)
      throw refused(hostname);
    const family = isIP(hostname);
    let addresses: LookupAddress[];
    if (family !== 0) addresses = [{ address: hostname, family }];
    else if (hostname === 'localhost' || hostname.endsWith('.localhost'))
      addresses = [{ address: '127.0.0.1', family: 4 }]; // RFC 6761: always loopback
    else {
      try {
        addresses = await raceAbort(resolve(hostname), signal);
      } catch (err) {
        throw unreachable(err);
      }
      if (addresses.length === 0) throw unreachable(new Error('no address'));
    }
    const hostListed = family === 0 && allow.allowsHost(hostname);
    const ok = (a: LookupAddress) => isPublicAddress(a.address) || allow.allowsAddress(a.address);
    if (!hostListed && !addresses.every(ok)) throw refused(hostname);
    return { url, hostname, addresses };
  }

  return {
    async request(raw, init) {
      const timeout = AbortSignal.timeout(init.timeoutMs);
      const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
      const target = await check(raw, signal);
      let answer: EgressAnswer;
      try {
        answer = await transport(target, { ...init, signal });
      } catch (err) {
        throw unreachable(err);
      }
      if (answer.status >= 300 && answer.status < 400)
        throw new EgressError('egress_redirect', answer.status);
      return answer;
    },
  };
}

/** The guard of the configuration (`egressAllow`). */
export function egressFromConfig(
  config: { egressAllow?: readonly string[] | undefined },
  log?: Logger,
): Egress {
  return makeEgress({ allow: config.egressAllow, log });
}

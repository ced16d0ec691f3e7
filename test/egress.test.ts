/**
 * The egress guard end to end, through each caller (webhook, Slack, Web Push, JWKS), against
 * real local servers on loopback. Loopback is the only place a test may send a packet: every
 * other range is reached only through an injected resolver AND a transport that throws when
 * called, so a broken guard fails the test instead of sending traffic.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { selfSignedCertificate } from './helpers/tls-certificate.js';
import { after, before, describe, it } from 'node:test';
import { Hono } from 'hono';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { ProviderError } from '../src/channels/provider.js';
import { makeSlackProvider } from '../src/channels/slack/slack.js';
import { makeWebhookProvider } from '../src/channels/webhook/webhook.js';
import { generateVapidKeys, makeWebPushProvider } from '../src/channels/push/webpush.js';
import { requireRecipient } from '../src/http/auth.js';
import { makeEgress, type Transport } from '../src/net/egress.js';
import { makeLogger } from '../src/obs/log.js';
import { startPushService } from './helpers/push-service.js';

const log = makeLogger('silent');
const SECRET = 'egress-test-webhook-secret-0123456789';
const CANARY = 'INTERNAL-ONLY-canary-7d41';

/** A local server that counts connections and requests, answering `handle` (default: canary). */
interface Local {
  port: number;
  url: (path?: string) => string;
  connections: number;
  requests: string[];
  /** Bytes of the answer body the server managed to hand to the socket. */
  written: number;
  closed: Promise<void>;
  close(): Promise<void>;
}

async function listen(
  handle?: (req: IncomingMessage, res: ServerResponse, local: Local) => void,
  server: Server = createServer(),
): Promise<Local> {
  let onClosed: () => void = () => undefined;
  const local: Local = {
    port: 0,
    url: (path = '/') => `http://127.0.0.1:${local.port}${path}`,
    connections: 0,
    requests: [],
    written: 0,
    closed: new Promise<void>((r) => (onClosed = r)),
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
  server.on('connection', (socket) => {
    local.connections++;
    socket.on('close', () => onClosed());
  });
  server.on('secureConnection', () => undefined);
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    local.requests.push(`${req.method} ${req.url}`);
    if (handle) handle(req, res, local);
    else res.end(CANARY);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  local.port = (server.address() as AddressInfo).port;
  return local;
}

/** A transport that fails the test if the guard ever lets a request through to it. */
const neverConnect: Transport = () => {
  throw new Error('the guard let a request through to connect');
};

const webhookMessage = (url: string) =>
  ({
    channel: 'webhook',
    deliveryId: '0190a0b0-0000-7000-8000-0000000000e1',
    url,
    notificationId: '0190a0b0-0000-7000-8000-0000000000e2',
    type: 't',
    recipientId: 'r',
    priority: 'normal',
    createdAt: '2026-01-02T03:04:05.000Z',
    content: { title: 'x' },
    data: {},
  }) as const;

async function providerError(p: Promise<unknown>): Promise<ProviderError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ProviderError, `expected a ProviderError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the send to fail');
}

/** The loopback spellings of a port, as a recipient could write them. */
const loopbackSpellings = (port: number) =>
  [
    '127.0.0.1',
    '127.1',
    '127.0.1',
    '0x7f000001',
    '0x7f.1',
    '2130706433',
    '0177.0.0.1',
    '[::1]',
    '[::ffff:127.0.0.1]',
    '[::ffff:7f00:1]',
    'localhost',
    'LOCALHOST.',
    'app.localhost',
    '0.0.0.0',
    '0',
  ].flatMap((host) => [`http://${host}:${port}/hook`, `https://${host}:${port}/hook`]);

describe('egress guard: loopback in every spelling is refused before any connection', () => {
  let local: Local;
  before(async () => {
    local = await listen();
  });
  after(() => local.close());

  it('webhook and Slack URLs: permanent, one error for all, the server sees nothing', async () => {
    // The default guard: no allow-list, as in production.
    const webhook = makeWebhookProvider({ secret: SECRET, log });
    const slack = makeSlackProvider({ log });
    const refusals = new Set<string>();
    for (const url of loopbackSpellings(local.port)) {
      for (const send of [
        () => webhook.send(webhookMessage(url)),
        () => slack.send({ channel: 'slack', deliveryId: 'd', to: url, content: { text: 'hi' } }),
      ]) {
        const err = await providerError(send());
        assert.equal(err.kind, 'permanent', url);
        // A few spellings fail earlier, as plain http to a host that is not loopback by name.
        if (err.providerCode === 'egress_refused') {
          refusals.add(err.message.replace(/^(webhook|slack): /, ''));
          assert.doesNotMatch(err.message, /127\.0\.0\.1|::1|7f00|localhost/i, url);
        } else assert.match(err.message, /must be an https URL/, url);
      }
    }
    assert.equal(
      refusals.size,
      1,
      `one refusal text whatever the spelling: ${[...refusals].join(' | ')}`,
    );
    assert.equal(local.connections, 0, 'no connection was made');
    assert.deepEqual(local.requests, []);
  });

  it('a name that resolves to loopback is refused', async () => {
    const resolvesToLoopback = makeEgress({
      resolve: () =>
        Promise.resolve([
          { address: '93.184.216.34', family: 4 },
          { address: '127.0.0.1', family: 4 },
        ]),
      transport: neverConnect,
    });
    const webhook = makeWebhookProvider({ secret: SECRET, log, egress: resolvesToLoopback });
    const err = await providerError(
      webhook.send(webhookMessage(`https://loopback.example:${local.port}/hook`)),
    );
    assert.deepEqual([err.kind, err.providerCode], ['permanent', 'egress_refused']);
    // The real guard (system resolver: /etc/hosts) on `localhost`, and a Web Push endpoint.
    const vapid = generateVapidKeys();
    const service = await startPushService();
    const { subscription } = service.subscribe(vapid.publicKey);
    await service.close();
    const push = makeWebPushProvider({
      vapidPublicKey: vapid.publicKey,
      vapidPrivateKey: vapid.privateKey,
      subject: 'mailto:ops@example.com',
      log,
      allowHttp: true,
    });
    for (const endpoint of [`http://localhost:${local.port}/push`, local.url('/push')]) {
      const pushErr = await providerError(
        push.sendToSubscription({ ...subscription, endpoint }, { title: 'x' }),
      );
      assert.deepEqual([pushErr.kind, pushErr.providerCode], ['permanent', 'egress_refused']);
    }
    assert.equal(local.connections, 0);
  });

  it('is let through by HERALD_EGRESS_ALLOW, by CIDR or by host name, to the checked address', async () => {
    const byCidr = makeWebhookProvider({
      secret: SECRET,
      log,
      egress: makeEgress({ allow: ['127.0.0.1/32'] }),
    });
    await byCidr.send(webhookMessage(`http://127.1:${local.port}/cidr`));
    // A listed host name: its address is whatever it resolves to, and the connection goes to
    // that address, never asking DNS again (the system resolver knows no `hooks.internal`).
    let resolved = 0;
    const egress = makeEgress({
      allow: ['hooks.internal'],
      resolve: () => {
        resolved++;
        return Promise.resolve([{ address: '127.0.0.1', family: 4 }]);
      },
    });
    const answer = await egress.request(`http://hooks.internal:${local.port}/named`, {
      method: 'GET',
      timeoutMs: 10_000,
      maxAnswerBytes: 1024,
    });
    assert.equal(answer.status, 200);
    assert.equal(answer.body.toString(), CANARY);
    assert.equal(resolved, 1);
    assert.deepEqual(local.requests, ['POST /cidr', 'GET /named']);
  });
});

describe('egress guard: private, link-local, CGNAT, metadata and IPv6 ranges (no packet sent)', () => {
  const targets: [string, string][] = [
    ['intranet.test', '10.0.0.1'],
    ['intranet.test', '172.20.1.1'],
    ['intranet.test', '192.168.0.10'],
    ['metadata.test', '169.254.169.254'],
    ['cgnat.test', '100.64.0.1'],
    ['multicast.test', '239.1.1.1'],
    ['broadcast.test', '255.255.255.255'],
    ['unspecified.test', '0.0.0.0'],
    ['ula.test', 'fd00::1'],
    ['linklocal.test', 'fe80::1'],
    ['mapped.test', '::ffff:10.0.0.1'],
    ['nat64.test', '64:ff9b::a9fe:a9fe'],
  ];

  it('names resolving there are refused, with the same text as loopback, for every caller', async () => {
    const texts = new Set<string>();
    for (const [name, address] of targets) {
      const egress = makeEgress({
        resolve: () => Promise.resolve([{ address, family: address.includes(':') ? 6 : 4 }]),
        transport: neverConnect,
      });
      const webhook = makeWebhookProvider({ secret: SECRET, log, egress });
      const err = await providerError(webhook.send(webhookMessage(`https://${name}/hook`)));
      assert.deepEqual([err.kind, err.providerCode], ['permanent', 'egress_refused'], address);
      assert.ok(!err.message.includes(address), 'the resolved address is not told');
      texts.add(err.message);
    }
    assert.equal(texts.size, 1);
  });

  it('literal addresses of those ranges are refused without resolving', async () => {
    const egress = makeEgress({
      resolve: () => assert.fail('a literal address is not resolved'),
      transport: neverConnect,
    });
    for (const host of [
      '10.0.0.1',
      '169.254.169.254',
      '100.64.0.1',
      '[fd00::1]',
      '[fe80::1]',
      '[::ffff:a9fe:a9fe]',
      '[64:ff9b::a00:1]',
      '0xa9.0xfe.0xa9.0xfe',
      '2852039166', // 169.254.169.254 as one number
    ])
      await assert.rejects(
        egress.request(`https://${host}/latest/meta-data/`, {
          method: 'GET',
          timeoutMs: 1000,
          maxAnswerBytes: 1024,
        }),
        (err: Error & { code?: string }) => err.code === 'egress_refused',
        host,
      );
  });

  it('a public answer reaches the transport with exactly the checked addresses', async () => {
    const seen: string[][] = [];
    const egress = makeEgress({
      resolve: () =>
        Promise.resolve([
          { address: '93.184.216.34', family: 4 },
          { address: '2606:2800:220:1::1', family: 6 },
        ]),
      transport: (target) => {
        seen.push(target.addresses.map((a) => a.address));
        return Promise.resolve({
          status: 204,
          headers: new Headers(),
          body: Buffer.alloc(0),
          truncated: false,
        });
      },
    });
    const answer = await egress.request('https://example.test/', {
      method: 'GET',
      timeoutMs: 1000,
      maxAnswerBytes: 1024,
    });
    assert.equal(answer.status, 204);
    assert.deepEqual(seen, [['93.184.216.34', '2606:2800:220:1::1']]);
  });
});

/** A certificate for 127.0.0.1. */
function testCertificate(): { cert: string; key: string } {
  return selfSignedCertificate();
}

describe('egress guard: redirects and answer bounds', () => {
  it('an https Web Push endpoint answering 303 to an internal URL: not followed, nothing copied', async () => {
    const internal = await listen();
    const { cert, key } = testCertificate();
    const endpointServer = await listen((_req, res) => {
      res.writeHead(303, { location: internal.url('/admin') }).end('see other');
    }, createTlsServer({ cert, key }));
    try {
      const vapid = generateVapidKeys();
      const service = await startPushService();
      const { subscription } = service.subscribe(vapid.publicKey);
      await service.close();
      const push = makeWebPushProvider({
        vapidPublicKey: vapid.publicKey,
        vapidPrivateKey: vapid.privateKey,
        subject: 'mailto:ops@example.com',
        log,
        // Even with loopback allowed (the endpoint server is local), the redirect is not taken.
        egress: makeEgress({ allow: ['127.0.0.1/32'], ca: cert }),
      });
      const endpoint = `https://127.0.0.1:${endpointServer.port}/push/sub`;
      const err = await providerError(
        push.sendToSubscription({ ...subscription, endpoint }, { title: 'x' }),
      );
      assert.deepEqual([err.kind, err.providerCode], ['permanent', 'egress_redirect']);
      assert.deepEqual(endpointServer.requests, ['POST /push/sub']);
      assert.equal(internal.connections, 0, 'the redirect target was never called');
      assert.ok(!err.message.includes(CANARY));
      assert.ok(!err.message.includes(String(internal.port)), 'the Location is not told');
      assert.ok(!err.message.includes('see other'));
    } finally {
      await endpointServer.close();
      await internal.close();
    }
  });

  it('an answer larger than the bound is cut: the sender does not read it all', async () => {
    const TOTAL = 64 * 1024 * 1024;
    const chunk = Buffer.alloc(64 * 1024, 'x');
    // Writes as fast as the client reads, until the whole answer is out or the client hangs up.
    const flood = await listen((_req, res, local) => {
      res.writeHead(201, { 'content-length': String(TOTAL) });
      const more = () => {
        while (local.written < TOTAL && !res.destroyed) {
          local.written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', more);
        }
        res.end();
      };
      res.on('close', () => undefined);
      more();
    });
    try {
      const vapid = generateVapidKeys();
      const service = await startPushService();
      const { subscription } = service.subscribe(vapid.publicKey);
      await service.close();
      const push = makeWebPushProvider({
        vapidPublicKey: vapid.publicKey,
        vapidPrivateKey: vapid.privateKey,
        subject: 'mailto:ops@example.com',
        log,
        allowHttp: true,
        egress: makeEgress({ allow: ['127.0.0.1/32'] }),
      });
      const result = await push.sendToSubscription(
        { ...subscription, endpoint: flood.url('/push/flood') },
        { title: 'x' },
      );
      assert.equal(result.status, 201);
      await flood.closed; // the client hung up
      assert.ok(
        flood.written < TOTAL / 4,
        `the client stopped reading: ${flood.written} of ${TOTAL} bytes written`,
      );
    } finally {
      await flood.close();
    }
  });
});

describe('egress guard: the JWKS of recipient tokens', () => {
  let jwksServer: Local;
  let token: string;
  before(async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    jwksServer = await listen((_req, res) => {
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ keys: [jwk] }));
    });
    token = await new SignJWT({})
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setSubject('r1')
      .setExpirationTime('5m')
      .sign(privateKey);
  });
  after(() => jwksServer.close());

  const app = (allow?: string[]) =>
    new Hono()
      .use(
        requireRecipient({
          jwksUrl: jwksServer.url('/.well-known/jwks.json'),
          egress: makeEgress({ allow }),
        }),
      )
      .get('/me', (c) => c.text('ok'));
  const call = (allow?: string[]) =>
    app(allow).request('/me', { headers: { authorization: `Bearer ${token}` } });

  it('a JWKS URL on loopback is refused unless allowed', async () => {
    assert.equal((await call()).status, 401);
    assert.equal(jwksServer.connections, 0, 'the JWKS was not fetched');
    assert.equal((await call(['127.0.0.1/32'])).status, 200);
    assert.equal(jwksServer.requests.length, 1);
  });
});

// The app's side of <herald-inbox>: a page with the element, and the one thing only the app can
// do, vouch for who its user is. It signs a recipient token (HS256 with the secret Herald checks,
// HERALD_JWT_SECRET) for the signed-in user at GET /token, and the element asks for a new one
// before each runs out. It also passes /herald/... on to Herald, WebSocket included, so the page
// talks to one origin (Herald's /v1/me routes send no CORS headers; see README.md).
//
//   HERALD_JWT_SECRET=... node examples/inbox-app/server.js   # http://127.0.0.1:3000
import { createServer, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { pathToFileURL } from 'node:url';
import { SignJWT } from 'jose';

const PREFIX = '/herald';

/** The page: the element in the app's header, themed with the app's colours. */
const page = (user) => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Acme Tasks</title>
<link rel="icon" href="data:,">
<style>
  body { margin: 0; font-family: system-ui, sans-serif; background: #f8fafc; color: #0f172a; }
  header { display: flex; align-items: center; gap: 12px; padding: 8px 20px; background: #fff; border-bottom: 1px solid #e2e8f0; }
  header h1 { font-size: 18px; margin: 0; flex: 1; }
  main { padding: 20px; }
  herald-inbox { --herald-accent: #7c3aed; --herald-radius: 10px; --herald-font: system-ui, sans-serif; }
</style>
<script type="module" src="${PREFIX}/client/herald-inbox.js"></script>
</head>
<body>
<header>
  <h1>Acme Tasks</h1>
  <span>${user}</span>
  <herald-inbox url="${PREFIX}"></herald-inbox>
</header>
<main>
  <p>Signed in as <b>${user}</b> (<a href="/login?user=${user === 'ann' ? 'bob' : 'ann'}">switch user</a>).
  Notifications sent to <code>${user}</code> with the <code>inapp</code> channel appear in the bell as they are sent.</p>
</main>
<script type="module">
  // The token comes from the app's server, which knows who is signed in; never from the page.
  document.querySelector('herald-inbox').getToken = async () => {
    const res = await fetch('/token');
    if (!res.ok) throw new Error('no token: ' + res.status);
    return (await res.json()).token;
  };
</script>
</body>
</html>
`;

/** The signed-in user: a cookie set by /login (a stand-in for the app's real sessions). */
function userOf(req) {
  const m = /(?:^|;\s*)user=([a-z0-9_-]{1,64})/.exec(req.headers.cookie ?? '');
  return m?.[1];
}

/**
 * Starts the app. `heraldUrl` is Herald's base URL; `secret` its HERALD_JWT_SECRET;
 * `tokenSeconds` how long each token lives. Resolves to `{ url, close() }`.
 */
export async function startInboxApp({
  port = 3000,
  host = '127.0.0.1',
  heraldUrl = 'http://127.0.0.1:8710',
  secret,
  tokenSeconds = 600,
}) {
  if (!secret) throw new Error('inbox-app: set HERALD_JWT_SECRET (the same secret Herald checks)');
  const key = new TextEncoder().encode(secret);
  const herald = new URL(heraldUrl);
  const upgraded = new Set();

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://app');
    if (url.pathname.startsWith(`${PREFIX}/`)) return forward(herald, req, res);
    if (url.pathname === '/login') {
      const user = /^[a-z0-9_-]{1,64}$/.test(url.searchParams.get('user') ?? '')
        ? url.searchParams.get('user')
        : 'ann';
      res.writeHead(303, {
        location: '/',
        'set-cookie': `user=${user}; Path=/; HttpOnly; SameSite=Lax`,
      });
      return res.end();
    }
    const user = userOf(req);
    if (url.pathname === '/') {
      if (!user) return res.writeHead(303, { location: '/login?user=ann' }).end();
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      return res.end(page(user));
    }
    if (url.pathname === '/token') {
      if (!user) return res.writeHead(401).end();
      // `sub` is the Herald recipient id: here the app's user name.
      const token = await new SignJWT({})
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(user)
        .setIssuedAt()
        .setExpirationTime(Math.floor(Date.now() / 1000) + tokenSeconds)
        .sign(key);
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      return res.end(JSON.stringify({ token }));
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
  });

  // The WebSocket (/herald/v1/me/ws): the upgrade request goes to Herald as it came, then the
  // two sockets are joined, so frames, pings and close codes pass through untouched.
  server.on('upgrade', (req, socket, head) => {
    if (!req.url?.startsWith(`${PREFIX}/`)) return socket.destroy();
    const secure = herald.protocol === 'https:';
    const port = Number(herald.port) || (secure ? 443 : 80);
    const options = { host: herald.hostname, port, servername: herald.hostname };
    const up = secure ? tlsConnect(options) : netConnect(options);
    const end = () => {
      up.destroy();
      socket.destroy();
      upgraded.delete(socket);
    };
    upgraded.add(socket);
    up.on('error', end).on('close', end);
    socket.on('error', end).on('close', end);
    up.once(secure ? 'secureConnect' : 'connect', () => {
      const lines = [`${req.method} ${req.url.slice(PREFIX.length)} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const name = req.rawHeaders[i];
        lines.push(
          name.toLowerCase() === 'host'
            ? `Host: ${herald.host}`
            : `${name}: ${req.rawHeaders[i + 1]}`,
        );
      }
      up.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length > 0) up.write(head);
      up.pipe(socket);
      socket.pipe(up);
    });
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const { port: bound } = server.address();
  return {
    url: `http://${host}:${bound}`,
    close: () =>
      new Promise((resolve) => {
        for (const socket of upgraded) socket.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** One HTTP request passed on to Herald, `/herald` taken off its path. */
function forward(herald, req, res) {
  const send = herald.protocol === 'https:' ? httpsRequest : httpRequest;
  const up = send(
    herald,
    {
      method: req.method,
      path: req.url.slice(PREFIX.length),
      headers: { ...req.headers, host: herald.host },
      // A new connection each time: one kept alive would fail once after Herald restarts.
      agent: false,
    },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  up.on('error', () => {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
    res.end('Herald is not reachable');
  });
  req.pipe(up);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const heraldUrl = process.env.HERALD_URL ?? 'http://127.0.0.1:8710';
  try {
    const app = await startInboxApp({
      port: Number(process.env.PORT ?? 3000),
      heraldUrl,
      secret: process.env.HERALD_JWT_SECRET,
    });
    console.log(`inbox-app: ${app.url} (Herald at ${heraldUrl})`);
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
}

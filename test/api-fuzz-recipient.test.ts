/**
 * The recipient realm and the public unsubscribe link fuzzed (fast-check), on both backends:
 * never a 5xx, and a 4xx answer changes no row in any table.
 *
 * - `/v1/me/notifications` with a valid token: read, unread and delete with your own item ids,
 *   someone else's, and any string; read-all; the list with random `cursor`, `limit` and
 *   `unread` (and broken percent escapes). Only your own items ever change, only as asked.
 * - Tokens signed for any subject (NUL, lone surrogates, 300 characters).
 * - `/v1/unsubscribe` by GET and POST with the genuine token, altered ones, forged ones (another
 *   target under a genuine signature), tokens Herald signed for other targets, and garbage:
 *   GET never changes anything, and a POST changes only the type of the recipient its genuine
 *   token names.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeJwt } from 'jose';
import type { Hono } from 'hono';
import type { Herald } from '../src/index.js';
import { makeApp } from '../src/http/app.js';
import type { InboxPage } from '../src/notify/inbox.js';
import { BACKENDS, closeHerald, openHerald, pgSkipReason } from './helpers/db.js';
import { apiCaller, recipientToken } from './helpers/api.js';
import {
  anyJson,
  changed,
  oddString,
  rawUrlPart,
  runs,
  tableSnapshot,
  urlSafe,
  type Snapshot,
} from './helpers/fuzz.js';

const SECRET = 'fuzz-test-jwt-secret-of-32-characters-or-more';
const pgSkip = await pgSkipReason();
const id = oddString(300);

// ---------------------------------------------------------------------------------------------
// Recipient realm and unsubscribe links.

/** An item in a pool of known ids (resolved when the run starts), or any string. */
type Target = { mine: number } | { theirs: number } | { id: string } | { raw: string };
const target: fc.Arbitrary<Target> = fc.oneof(
  { weight: 3, arbitrary: fc.nat().map((mine) => ({ mine })) },
  { weight: 1, arbitrary: fc.nat().map((theirs) => ({ theirs })) },
  { weight: 1, arbitrary: fc.uuid().map((u) => ({ id: u })) },
  { weight: 1, arbitrary: id.map((s) => ({ id: s })) },
  { weight: 1, arbitrary: rawUrlPart.map((raw) => ({ raw })) },
);

const queryValue = fc.oneof(
  oddString(30),
  fc.integer().map(String),
  fc.constantFrom(
    'true',
    'false',
    '0',
    '1',
    '100',
    '101',
    '1e2',
    '-1',
    'NaN',
    'Infinity',
    ' 5',
    '0x10',
    '',
  ),
  fc
    .tuple(
      fc.oneof(fc.bigInt({ min: 0n, max: 10n ** 17n }).map(String), oddString(10)),
      fc.oneof(fc.uuid(), oddString(10)),
    )
    .map(([us, u]) => Buffer.from(`${us}|${u}`).toString('base64url')),
);
const inboxQuery = fc.oneof(
  fc
    .dictionary(fc.oneof(fc.constantFrom('cursor', 'limit', 'unread'), oddString(8)), queryValue, {
      maxKeys: 4,
    })
    .map((q) =>
      new URLSearchParams(
        Object.entries(q).map(([k, v]) => [urlSafe(k), urlSafe(v)] as [string, string]),
      ).toString(),
    ),
  rawUrlPart,
);

type MeOp =
  | { kind: 'read' | 'unread' | 'delete'; target: Target }
  | { kind: 'read-all' }
  | { kind: 'list'; query: string };
const meOp: fc.Arbitrary<MeOp> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constantFrom('read', 'unread', 'delete'), target }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'read-all' as const }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('list' as const), query: inboxQuery }) },
);

/** Herald signs links for its own types only, so a genuine link names a valid type name. */
const typeName = fc.oneof(
  fc.constantFrom('promo', 'multi', 'no-such-type'),
  fc.stringMatching(/^[a-z0-9][a-z0-9_.-]{0,20}$/),
);
const anyTypeName = fc.oneof(
  typeName,
  fc.constantFrom('<script>alert(1)</script>', '"><img src=x onerror=alert(1)>'),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
);
type TokenCase =
  | { kind: 'valid' }
  | { kind: 'none' }
  | { kind: 'altered'; at: number; ch: string; how: 'replace' | 'insert' | 'delete' | 'truncate' }
  | { kind: 'signed'; recipientId: string; type: string }
  | { kind: 'forged'; recipientId: string; type: string }
  | { kind: 'string'; s: string }
  | { kind: 'raw'; raw: string };
const b64 = fc.string({ unit: fc.constantFrom(...'ABCxyz0189-_'), maxLength: 60 });
const tokenCase: fc.Arbitrary<TokenCase> = fc.oneof(
  fc.constant({ kind: 'valid' as const }),
  fc.constant({ kind: 'none' as const }),
  fc.record({
    kind: fc.constant('altered' as const),
    at: fc.nat(),
    ch: fc.constantFrom(...'AZaz09-_.=+/%~ '),
    how: fc.constantFrom('replace', 'insert', 'delete', 'truncate'),
  }),
  fc.record({
    kind: fc.constant('signed' as const),
    recipientId: fc.oneof(
      fc.constantFrom('sub', 'fixed', 'nobody'),
      fc.string({ unit: 'grapheme', maxLength: 30 }),
    ),
    type: typeName,
  }),
  fc.record({
    kind: fc.constant('forged' as const),
    recipientId: fc.oneof(fc.constantFrom('sub', 'fixed', 'nobody'), oddString(30)),
    type: anyTypeName,
  }),
  oddString(200).map((s) => ({ kind: 'string' as const, s })),
  fc.tuple(b64, b64).map(([a, b]) => ({ kind: 'string' as const, s: `${a}.${b}` })),
  rawUrlPart.map((raw) => ({ kind: 'raw' as const, raw })),
);

function alter(token: string, c: Extract<TokenCase, { kind: 'altered' }>): string {
  const i = c.at % (token.length + 1);
  if (c.how === 'replace') return token.slice(0, i) + c.ch + token.slice(i + 1);
  if (c.how === 'insert') return token.slice(0, i) + c.ch + token.slice(i);
  if (c.how === 'delete') return token.slice(0, i) + token.slice(i + 1);
  return token.slice(0, i);
}

const jwt = (sub: string) => recipientToken(sub, SECRET);

for (const backend of BACKENDS)
  describe(
    `fuzzing the recipient realm and unsubscribe links on ${backend}`,
    { skip: backend === 'pg' ? pgSkip : undefined },
    () => {
      let herald: Herald;
      let app: Hono;
      let snapshot: () => Promise<Snapshot>;
      let s: string;
      let meToken: string;
      let validUnsubscribe: string;
      const mine: string[] = [];
      const theirs: string[] = [];

      before(async () => {
        herald = await openHerald(backend, { jwtSecret: SECRET });
        app = makeApp(herald);
        snapshot = tableSnapshot(herald);
        s = `"${herald.config.schema}"`;
        await herald.types.put('note', {
          channels: ['inapp'],
          templates: { inapp: { title: 'n', body: '{{x}}' } },
        });
        await herald.types.put('promo', {
          category: 'marketing',
          channels: ['email'],
          templates: { email: { subject: 's', html: '<p>{{x}}</p>', text: '{{x}}' } },
        });
        for (const who of ['me', 'r1', 'fixed']) await herald.recipients.upsert(who, {});
        await herald.recipients.upsert('sub', { email: 'sub@example.com' });
        await herald.preferences.put('sub', { consent: { marketing: true } });

        // Inbox items of `me` (and two of r1's), as the deliver job leaves them.
        for (const [who, pool] of [
          ['me', mine],
          ['me', mine],
          ['me', mine],
          ['me', mine],
          ['me', mine],
          ['me', mine],
          ['r1', theirs],
          ['r1', theirs],
        ] as const) {
          const { notifications } = await herald.send({ type: 'note', to: who, data: { x: 1 } });
          pool.push(notifications[0]!.id);
        }
        await herald.db.query(
          `UPDATE ${s}.notifications SET inbox = '{"title":"n","body":"1"}', inbox_at = now()
           WHERE type = 'note'`,
        );
        meToken = await jwt('me');
        // Also makes the signing key, which the first token of a fresh database stores.
        validUnsubscribe = await herald.unsubscribe.token({ recipientId: 'sub', type: 'promo' });
      });
      after(async () => {
        await closeHerald(herald);
      });

      it('tokens whose subject the database cannot store: never a 5xx, nothing written', async () => {
        const cases: [string, string, string][] = [
          // Recipient tokens whose subject PostgreSQL cannot store. (PGlite's driver also
          // breaks on a lone surrogate after a non-ASCII character; pg sends U+FFFD.)
          ['GET', '/v1/me/notifications', await jwt('\u0000')],
          ['POST', '/v1/me/notifications/read-all', await jwt('me\u0000')],
          ['GET', '/v1/me/notifications', await jwt('é\udc00')],
          ['POST', `/v1/me/notifications/${mine[0]!}/read`, await jwt('\u0000')],
        ];
        const failures: string[] = [];
        for (const [method, path, token] of cases) {
          const before = await snapshot();
          const res = await apiCaller(app, token)(method, path);
          const what = `${method} ${path} (sub ${JSON.stringify(decodeJwt(token).sub)})`;
          if (res.status >= 500) failures.push(`${what} → ${res.status}`);
          else if (res.status >= 400 && changed(before, await snapshot()).length > 0)
            failures.push(`${what} → ${res.status} and wrote`);
        }
        assert.deepEqual(failures, []);
      });

      it('/v1/me/notifications writes: 404 for anything not in your inbox, and nothing changes', async () => {
        const me = (method: string, path: string, b?: unknown, token = meToken) =>
          apiCaller(app, token)(method, path, b);
        const unread = async (who: string) => {
          const { rows } = await herald.db.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM ${s}.notifications
             WHERE recipient_id = $1 AND inbox_at IS NOT NULL AND archived_at IS NULL AND read_at IS NULL`,
            [who],
          );
          return rows[0]!.n;
        };
        await fc.assert(
          fc.asyncProperty(meOp, fc.boolean(), fc.option(anyJson), async (op, reset, b) => {
            if (reset) {
              await herald.db.query(
                `UPDATE ${s}.notifications SET read_at = NULL, archived_at = NULL WHERE type = 'note'`,
              );
            }
            const theirsUnread = await unread('r1');
            const before = await snapshot();
            let method = 'POST';
            let path: string;
            let item: string | undefined;
            if (op.kind === 'list') {
              method = 'GET';
              path = `/v1/me/notifications${op.query ? `?${op.query}` : ''}`;
            } else if (op.kind === 'read-all') {
              path = '/v1/me/notifications/read-all';
            } else {
              const t = op.target;
              item =
                'mine' in t
                  ? mine[t.mine % mine.length]
                  : 'theirs' in t
                    ? theirs[t.theirs % theirs.length]
                    : undefined;
              const segment =
                item ??
                ('raw' in t ? t.raw : encodeURIComponent(urlSafe((t as { id: string }).id)));
              if (op.kind === 'delete') method = 'DELETE';
              path = `/v1/me/notifications/${segment}${op.kind === 'delete' ? '' : `/${op.kind}`}`;
            }
            const res = await me(method, path, method === 'GET' ? undefined : (b ?? undefined));
            const answer = await res.text();
            assert.ok(res.status < 500, `${method} ${path} → ${res.status}: ${answer}`);
            const after = await snapshot();
            assert.equal(await unread('r1'), theirsUnread, "someone else's inbox is never touched");
            if (res.status >= 400 || op.kind === 'list') {
              assert.deepEqual(
                changed(before, after),
                [],
                `${op.kind} ${res.status} must not write`,
              );
            }
            if (op.kind === 'list') {
              assert.ok([200, 400].includes(res.status), `${op.query} → ${res.status}: ${answer}`);
              if (res.status === 200) {
                const page = JSON.parse(answer) as InboxPage;
                assert.ok(page.items.length <= 100);
                assert.ok(page.items.every((i) => mine.includes(i.id)));
                const times = page.items.map((i) => i.createdAt);
                assert.deepEqual([...times].sort().reverse(), times, 'newest first');
                if (new URLSearchParams(op.query).get('unread') === 'true')
                  assert.ok(page.items.every((i) => !i.read));
              }
            } else if (op.kind === 'read-all') {
              assert.equal(res.status, 200);
              assert.equal(await unread('me'), 0);
            } else {
              // Only your own items can change. An id that is empty, or `.` or `..` (which the
              // URL resolves away), matches no /v1/me route, and the server realm behind them
              // refuses a recipient token.
              const resolved = new URL(path, 'http://herald.test').pathname;
              const routed = (
                method === 'DELETE'
                  ? /^\/v1\/me\/notifications\/[^/]+$/
                  : /^\/v1\/me\/notifications\/[^/]+\/(read|unread)$/
              ).test(resolved);
              const expected =
                item !== undefined && mine.includes(item)
                  ? [204, 404]
                  : routed
                    ? [404]
                    : [401, 404];
              assert.ok(expected.includes(res.status), `${path} → ${res.status}: ${answer}`);
              if (res.status === 204) {
                assert.deepEqual(
                  changed(before, after),
                  before.notifications === after.notifications ? [] : ['notifications'],
                );
                const { rows } = await herald.db.query<{ read: boolean; archived: boolean }>(
                  `SELECT read_at IS NOT NULL AS read, archived_at IS NOT NULL AS archived
                   FROM ${s}.notifications WHERE id = $1`,
                  [item],
                );
                if (op.kind === 'delete') assert.equal(rows[0]?.archived, true);
                else assert.equal(rows[0]?.read, op.kind === 'read');
              }
            }
          }),
          { numRuns: runs(150) },
        );
      });

      it('/v1/me with a token for any subject: never a 5xx, and a 4xx writes nothing', async () => {
        const sub = fc.oneof(
          fc.constantFrom('\u0000', 'me\u0000', '\ud800', 'é\udc00', 'x'.repeat(300), ''),
          oddString(300),
        );
        await fc.assert(
          fc.asyncProperty(
            sub,
            fc.constantFrom('list', 'read-all', 'read', 'delete'),
            async (who, op) => {
              const me = apiCaller(app, await jwt(who));
              const before = await snapshot();
              const res =
                op === 'list'
                  ? await me('GET', '/v1/me/notifications')
                  : op === 'read-all'
                    ? await me('POST', '/v1/me/notifications/read-all')
                    : op === 'read'
                      ? await me('POST', `/v1/me/notifications/${mine[0]!}/read`)
                      : await me('DELETE', `/v1/me/notifications/${mine[0]!}`);
              assert.ok(
                res.status < 500,
                `sub ${JSON.stringify(who)} ${op} → ${res.status}: ${await res.text()}`,
              );
              if (res.status >= 400) assert.deepEqual(changed(before, await snapshot()), []);
            },
          ),
          { numRuns: runs(40) },
        );
      });

      it('/v1/unsubscribe: GET never changes anything; POST changes only what a genuine link names', async () => {
        const [validBody] = validUnsubscribe.split('.');
        const validSig = validUnsubscribe.split('.')[1]!;
        await fc.assert(
          fc.asyncProperty(
            fc.constantFrom('GET', 'POST'),
            tokenCase,
            fc.oneof(fc.constant('List-Unsubscribe=One-Click'), oddString(50)),
            fc.boolean(),
            async (method, tc, formBody, reset) => {
              if (reset) await herald.preferences.put('sub', { consent: { marketing: true } });
              let query: string;
              let genuine: { recipientId: string; type: string } | undefined;
              if (tc.kind === 'valid') {
                query = `?token=${validUnsubscribe}`;
                genuine = { recipientId: 'sub', type: 'promo' };
              } else if (tc.kind === 'none') query = '';
              else if (tc.kind === 'altered')
                query = `?token=${encodeURIComponent(alter(validUnsubscribe, tc))}`;
              else if (tc.kind === 'signed') {
                genuine = { recipientId: tc.recipientId, type: tc.type };
                query = `?token=${await herald.unsubscribe.token(genuine)}`;
              } else if (tc.kind === 'forged') {
                // Another target's body under the valid link's signature.
                const forgedBody = Buffer.from(
                  JSON.stringify({ r: tc.recipientId, t: tc.type }),
                ).toString('base64url');
                query = `?token=${forgedBody}.${validSig}`;
                if (forgedBody === validBody) genuine = { recipientId: 'sub', type: 'promo' };
              } else if (tc.kind === 'string')
                query = `?token=${encodeURIComponent(urlSafe(tc.s))}`;
              else query = `?token=${tc.raw}`;

              const before = await snapshot();
              const res = await app.request(`/v1/unsubscribe${query}`, {
                method,
                headers: { 'content-type': 'application/x-www-form-urlencoded' },
                ...(method === 'POST' ? { body: formBody } : {}),
              });
              const html = await res.text();
              const shown = `${method} ${query.slice(0, 300)} (${tc.kind})`;
              assert.ok(
                [200, 400].includes(res.status),
                `${shown} → ${res.status}: ${html.slice(0, 300)}`,
              );
              const type = res.headers.get('content-type') ?? '';
              if (method === 'POST' && res.status === 400) {
                // A refused one-click POST (a mail client, not asking for HTML) gets problem+json.
                assert.match(type, /^application\/problem\+json/, shown);
                assert.equal((JSON.parse(html) as { code: string }).code, 'invalid_token', shown);
              } else {
                assert.match(type, /^text\/html/, shown);
                assert.doesNotMatch(html, /<script|<img/i, 'the type name is escaped');
                if (res.status === 400) assert.match(html, /not valid/);
              }
              const after = await snapshot();
              if (method === 'GET' || res.status === 400) {
                assert.deepEqual(
                  changed(before, after),
                  [],
                  `${shown} → ${res.status} must not write`,
                );
                return;
              }
              // A 200 POST: only a genuine link (or an alteration that decodes to the same
              // signature) unsubscribes, and only its own recipient from its own type.
              const effective = genuine ?? { recipientId: 'sub', type: 'promo' };
              assert.ok(genuine || tc.kind === 'altered', `${shown} was accepted`);
              assert.deepEqual(
                changed(before, after).filter((t) => t !== 'preferences'),
                [],
              );
              const exists =
                (await herald.recipients.get(effective.recipientId).catch(() => null)) !== null;
              if (exists) {
                const prefs = await herald.preferences.get(effective.recipientId);
                assert.equal(prefs.types[effective.type], false);
              } else assert.deepEqual(changed(before, after), []);
            },
          ),
          { numRuns: runs(150) },
        );
      });
    },
  );

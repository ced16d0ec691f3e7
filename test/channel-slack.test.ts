/**
 * The slack channel end to end: a trigger over HTTP, a worker, the Slack provider, and a local
 * Slack incoming-webhooks endpoint that checks requests as Slack does and answers as Slack
 * documents (helpers/slack-server.ts). The exact request, with values escaped for Slack; the
 * type's URL and the recipient's (which wins); no URL; 404 no_service, 410
 * channel_is_archived, 400 invalid_blocks, 500 and 429 answers; blocks that are not JSON.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isProviderError } from '../src/channels/provider.js';
import { classifySlackError, makeSlackProvider, slackBody } from '../src/channels/slack/slack.js';
import { makeLogger } from '../src/obs/log.js';
import { pgSkipReason, providerBackends } from './helpers/db.js';
import { startHookPipeline, statusesOf } from './helpers/hook-pipeline.js';
import { slackError, startSlackServer, type SlackServer } from './helpers/slack-server.js';

const pgSkip = await pgSkipReason();
const log = makeLogger('silent');

const deployBlocks =
  '[{"type":"section","text":{"type":"mrkdwn","text":"*{{service}}* deployed by {{who}}"}},' +
  '{"type":"context","elements":[{"type":"mrkdwn","text":"build {{build}}"}]}]';

for (const backend of await providerBackends()) {
  describe(`slack channel on ${backend}`, { skip: backend === 'pg' ? pgSkip : undefined }, () => {
    let slack: SlackServer;
    let typeHook: string;
    let pipeline: Awaited<ReturnType<typeof startHookPipeline>>;

    before(async () => {
      slack = await startSlackServer();
      typeHook = slack.hook();
      // No webhook secret: Slack needs no setting at all.
      pipeline = await startHookPipeline(backend);
      await pipeline.put('/v1/types/deploy', {
        channels: ['slack'],
        templates: { slack: { text: 'Deployed {{service}} ({{who}})', blocks: deployBlocks } },
        slack: { url: typeHook },
      });
      await pipeline.put('/v1/types/note', {
        channels: ['slack'],
        templates: { slack: { text: '{{message}}' } },
      });
      // Blocks Slack refuses (no type), an object rather than an array, and not JSON at all.
      for (const [name, blocks] of [
        ['untyped-blocks', '[{"text":{"type":"plain_text","text":"{{t}}"}}]'],
        ['object-blocks', '{"type":"divider","t":"{{t}}"}'],
        ['raw-blocks', '[{{t}}]'],
      ])
        await pipeline.put(`/v1/types/${name}`, {
          channels: ['slack'],
          templates: { slack: { text: 'hi', blocks } },
        });
    });
    after(async () => {
      await pipeline?.close();
      await slack?.close();
    });

    it('posts {text, blocks} to the type’s webhook, with values escaped for Slack', async () => {
      await pipeline.put('/v1/recipients/ops', { email: 'ops@example.com' });
      const data = { service: 'api "v2"', who: '<!channel> & Ann', build: 42 };
      const { delivery: d } = await pipeline.deliver('deploy', 'ops', data);
      assert.equal(d.status, 'sent', d.error ?? '');
      assert.equal(d.provider, 'slack');
      assert.equal(d.providerMessageId, d.id);
      // The secret last part of the URL is not kept on the delivery.
      assert.equal(d.address, typeHook.replace(/[^/]+$/, '…'));

      const [req, ...more] = slack.requestsTo(typeHook);
      assert.ok(req);
      assert.equal(more.length, 0);
      assert.equal(req.method, 'POST');
      assert.equal(req.path, new URL(typeHook).pathname);
      assert.equal(req.headers['content-type'], 'application/json');
      assert.equal(req.reply?.status, 200);
      assert.equal(req.reply?.body, 'ok');
      assert.equal(
        req.raw,
        JSON.stringify({
          text: 'Deployed api "v2" (&lt;!channel&gt; &amp; Ann)',
          blocks: [
            {
              type: 'section',
              text: { type: 'mrkdwn', text: '*api "v2"* deployed by &lt;!channel&gt; &amp; Ann' },
            },
            { type: 'context', elements: [{ type: 'mrkdwn', text: 'build 42' }] },
          ],
        }),
      );
    });

    it('the recipient’s webhook wins over the type’s; without either: no_address', async () => {
      const own = slack.hook();
      await pipeline.put('/v1/recipients/dev', { slackWebhookUrl: own });
      const before = slack.requestsTo(typeHook).length;
      const { delivery: d } = await pipeline.deliver('deploy', 'dev', {
        service: 'web',
        who: 'Bo',
        build: 1,
      });
      assert.equal(d.status, 'sent', d.error ?? '');
      assert.equal(slack.requestsTo(own).length, 1);
      assert.equal(slack.requestsTo(typeHook).length, before);
      assert.deepEqual(slack.requestsTo(own)[0]?.json, {
        text: 'Deployed web (Bo)',
        blocks: [
          { type: 'section', text: { type: 'mrkdwn', text: '*web* deployed by Bo' } },
          { type: 'context', elements: [{ type: 'mrkdwn', text: 'build 1' }] },
        ],
      });

      const note = await pipeline.deliver('note', 'dev', { message: 'plain text only' });
      assert.equal(note.delivery.status, 'sent');
      assert.deepEqual(slack.requestsTo(own)[1]?.json, { text: 'plain text only' });

      await pipeline.put('/v1/recipients/nobody', { email: 'nobody@example.com' });
      const none = await pipeline.deliver('note', 'nobody', { message: 'x' });
      assert.equal(none.delivery.status, 'skipped');
      assert.equal(none.delivery.reason, 'no_address');
    });

    it('a switched-off slack channel is skipped like any other', async () => {
      await pipeline.put('/v1/recipients/quiet', { slackWebhookUrl: slack.hook() });
      const prefs = await pipeline.put('/v1/recipients/quiet/preferences', {
        channels: { slack: false, webhook: true },
      });
      assert.deepEqual(prefs.channels, { slack: false, webhook: true });
      const { delivery: d } = await pipeline.deliver('note', 'quiet', { message: 'x' });
      assert.equal(d.status, 'skipped');
      assert.equal(d.reason, 'channel_disabled');
    });

    it('no_service and channel_is_archived are permanent, 500 is retried, 429 waits', async () => {
      const gone = slack.unknownHook();
      const archived = slack.hook();
      const down = slack.hook();
      const busy = slack.hook();
      slack.script(archived, slackError(410, 'channel_is_archived'));
      slack.script(down, slackError(500, 'rollup_error'), slackError(503, 'rollup_error'));
      slack.script(busy, slackError(429, 'rate_limited', { 'retry-after': '1' }));
      const hooks = { gone, archived, down, busy };
      for (const [name, url] of Object.entries(hooks))
        await pipeline.put(`/v1/recipients/s-${name}`, { slackWebhookUrl: url });
      const [g, a, dn, b] = (
        await Promise.all(
          Object.keys(hooks).map((name) => pipeline.deliver('note', `s-${name}`, { message: 'm' })),
        )
      ).map((r) => r.delivery);

      for (const [d, code] of [
        [g!, 'slack 404 \\(no_service\\): the webhook URL is gone'],
        [a!, 'slack 410 \\(channel_is_archived\\)'],
      ] as const) {
        assert.equal(d.status, 'failed');
        assert.equal(d.reason, 'permanent_error');
        assert.equal(d.attempts, 1);
        assert.match(d.error ?? '', new RegExp(code));
      }
      assert.equal(slack.requestsTo(gone).length, 1);

      assert.equal(dn!.status, 'failed');
      assert.equal(dn!.reason, 'retries_exhausted');
      assert.deepEqual(statusesOf(dn!), ['queued', 'retrying', 'failed']);
      assert.match(dn!.error ?? '', /slack 503 \(rollup_error\)/);
      assert.equal(slack.requestsTo(down).length, 2);

      assert.equal(b!.status, 'sent');
      assert.deepEqual(statusesOf(b!), ['queued', 'retrying', 'sent']);
      assert.match(b!.events[1]?.detail ?? '', /slack 429 \(rate_limited\)/);
      const waited = Date.parse(b!.events[2]!.at) - Date.parse(b!.events[1]!.at);
      assert.ok(waited >= 900, `waited ${waited} ms after the rate limit`);
    });

    it('blocks Slack refuses fail permanently; blocks that are not a JSON array never leave', async () => {
      const hook = slack.hook();
      await pipeline.put('/v1/recipients/blocky', { slackWebhookUrl: hook });
      const refused = await pipeline.deliver('untyped-blocks', 'blocky', { t: 'x' });
      assert.equal(refused.delivery.status, 'failed');
      assert.equal(refused.delivery.reason, 'permanent_error');
      assert.match(refused.delivery.error ?? '', /slack 400 \(invalid_blocks\)/);
      assert.equal(slack.requestsTo(hook).length, 1);

      // A value with a quote inside a JSON string of the template does not break the array.
      const quoted = await pipeline.deliver('deploy', 'blocky', {
        service: 'say "hi"\n',
        who: 'a\\b',
        build: 2,
      });
      assert.equal(quoted.delivery.status, 'sent', quoted.delivery.error ?? '');

      for (const type of ['object-blocks', 'raw-blocks']) {
        const before = slack.requestsTo(hook).length;
        const { delivery: d } = await pipeline.deliver(type, 'blocky', { t: 'x' });
        assert.equal(d.status, 'failed');
        assert.equal(d.reason, 'permanent_error');
        assert.match(d.error ?? '', /slack blocks (must be a JSON array|are not JSON)/);
        assert.equal(slack.requestsTo(hook).length, before);
      }
    });
  });
}

describe('slack provider without the pipeline', () => {
  it('classifies Slack’s answers', () => {
    const answer = (status: number, text: string, headers: Record<string, string> = {}) => ({
      status,
      headers: new Headers(headers),
      json: undefined,
      text,
    });
    for (const [status, text] of [
      [400, 'invalid_payload'],
      [400, 'no_text'],
      [403, 'action_prohibited'],
      [403, 'invalid_token'],
      [404, 'channel_not_found'],
      [404, 'no_team'],
      [410, 'channel_is_archived'],
    ] as const) {
      const err = classifySlackError(answer(status, text));
      assert.equal(err.kind, 'permanent', text);
      assert.equal(err.providerCode, text);
    }
    assert.equal(classifySlackError(answer(500, 'rollup_error')).kind, 'transient');
    assert.equal(classifySlackError(answer(408, '')).kind, 'transient');
    const html = classifySlackError(answer(502, '<html>Bad Gateway</html>'));
    assert.equal(html.kind, 'transient');
    assert.equal(html.providerCode, '502');
    const limited = classifySlackError(answer(429, 'rate_limited', { 'retry-after': '3' }));
    assert.equal(limited.kind, 'rate_limited');
    assert.equal(limited.retryAfterMs, 3_000);
  });

  it('builds the body, and needs text', () => {
    assert.deepEqual(slackBody({ text: 'hi', blocks: '  ' }), { text: 'hi' });
    assert.deepEqual(slackBody({ text: 'hi', blocks: '[{"type":"divider"}]' }), {
      text: 'hi',
      blocks: [{ type: 'divider' }],
    });
    assert.throws(
      () => slackBody({ text: '' }),
      (err) => isProviderError(err, 'permanent'),
    );
  });

  it('refuses a plain-http URL to another host before any request', async () => {
    const provider = makeSlackProvider({ log });
    await assert.rejects(
      provider.send({
        channel: 'slack',
        deliveryId: 'd',
        to: 'http://hooks.slack.com/services/T/B/x',
        content: { text: 'hi' },
      }),
      (err) => isProviderError(err, 'permanent') && /https URL/.test(err.message),
    );
  });
});

/**
 * The monitoring files Herald ships, checked by Prometheus's own tool:
 *
 * - ops/prometheus/alerts.yml passes `promtool check rules`, and `promtool test rules` runs
 *   alerts.test.yml, where each alert fires on a synthetic series and stays quiet on others;
 *   every alert has a unit test, a `for`, a severity, a summary, a description and a
 *   runbook_url naming a section docs/operations.md has;
 * - ops/grafana/herald.json imports anywhere (its datasource is the `DS_PROMETHEUS` input) and
 *   each of its queries is valid PromQL (promtool parses them as recording rules).
 *
 * That they name only series Herald serves is metrics-promtool.test.ts's part (a live scrape).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { dashboardExprs, panelsOf, type Dashboard } from './helpers/grafana.js';
import { findPromtool, promtool } from './helpers/promtool.js';

const ALERTS = 'ops/prometheus/alerts.yml';
const ALERT_TESTS = 'ops/prometheus/alerts.test.yml';
const DASHBOARD = 'ops/grafana/herald.json';
const promtoolMissing = findPromtool().skip;

/** GitHub's anchor of each heading of a Markdown file. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  for (const [, heading] of markdown.matchAll(/^#{1,6} (.+)$/gm))
    anchors.add(
      (heading ?? '')
        .toLowerCase()
        .replace(/[^a-z0-9 _-]/g, '')
        .replace(/ /g, '-'),
    );
  return anchors;
}

/** Each alert's name and the text of its rule. */
function alertsOf(yaml: string): { name: string; rule: string }[] {
  return yaml
    .split(/^\s*- alert: /m)
    .slice(1)
    .map((block) => ({ name: block.split('\n')[0]?.trim() ?? '', rule: block }));
}

describe('alert rules', () => {
  it('pass promtool check rules', { skip: promtoolMissing }, async () => {
    const { code, stdout, stderr } = await promtool(['check', 'rules', ALERTS]);
    assert.equal(code, 0, stdout + stderr);
    assert.match(stdout, /SUCCESS: \d+ rules found/);
  });

  it('fire when they should (promtool test rules)', { skip: promtoolMissing }, async () => {
    const { code, stdout, stderr } = await promtool(['test', 'rules', ALERT_TESTS]);
    assert.equal(code, 0, stdout + stderr);
    assert.match(stdout, /SUCCESS/);
  });

  it('each has a unit test, a for, a severity and annotations that point at the runbook', () => {
    const alerts = alertsOf(readFileSync(ALERTS, 'utf8'));
    const tests = readFileSync(ALERT_TESTS, 'utf8');
    const anchors = anchorsOf(readFileSync('docs/operations.md', 'utf8'));
    assert.ok(alerts.length >= 6, `${alerts.length} alerts`);
    for (const { name, rule } of alerts) {
      assert.match(name, /^Herald[A-Z]\w+$/);
      assert.match(rule, /^\s+for: \d+[sm]$/m, `${name}: for`);
      assert.match(rule, /^\s+severity: (warning|critical)$/m, `${name}: severity`);
      assert.match(rule, /^\s+summary: \S/m, `${name}: summary`);
      assert.match(rule, /^\s+description: \S/m, `${name}: description`);
      const runbook = /^\s+runbook_url: docs\/operations\.md#(\S+)$/m.exec(rule)?.[1];
      assert.ok(runbook && anchors.has(runbook), `${name}: runbook section #${runbook}`);
      // A test that expects the alert to fire (exp_labels follow its name).
      const fires = new RegExp(`alertname: ${name}\\n\\s+exp_alerts:\\n\\s+- exp_labels`);
      assert.match(tests, fires, `${name}: a unit test in which it fires`);
    }
  });
});

describe('Grafana dashboard', () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;

  it('asks for its Prometheus datasource on import, and every panel uses it', () => {
    assert.deepEqual(
      dashboard.__inputs?.map((i) => [i.name, i.type, i.pluginId]),
      [['DS_PROMETHEUS', 'datasource', 'prometheus']],
    );
    const panels = panelsOf(dashboard).filter((p) => p.type !== 'row');
    assert.ok(panels.length >= 10, `${panels.length} panels`);
    const ds = { type: 'prometheus', uid: '${DS_PROMETHEUS}' };
    for (const p of panels) {
      assert.deepEqual(p.datasource, ds, `panel "${p.title}"`);
      assert.ok((p.targets ?? []).length > 0, `panel "${p.title}" has queries`);
      for (const t of p.targets ?? []) assert.deepEqual(t.datasource, ds, `panel "${p.title}"`);
    }
  });

  it('queries valid PromQL (promtool check rules)', { skip: promtoolMissing }, async () => {
    const exprs = dashboardExprs(readFileSync(DASHBOARD, 'utf8'));
    // Each query as a recording rule: promtool parses every expression of a rules file.
    const rules = exprs.map(
      ({ expr }, i) =>
        `      - record: dashboard:query_${i}\n        expr: ${JSON.stringify(expr)}`,
    );
    const dir = mkdtempSync(join(tmpdir(), 'herald-dashboard-'));
    try {
      const file = join(dir, 'dashboard-rules.yml');
      writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules.join('\n')}\n`);
      const { code, stdout, stderr } = await promtool(['check', 'rules', file]);
      assert.equal(code, 0, stdout + stderr);
      assert.match(stdout, new RegExp(`SUCCESS: ${exprs.length} rules found`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * Reading what Herald serves at /metrics, and what dashboards and alert rules ask of it: the
 * series names and label names of a Prometheus text exposition, and the metric selectors and
 * grouping labels of a PromQL expression. Enough to tell that a query names only series that
 * exist, with labels they have; promtool checks the syntax.
 */

/** The series names of an exposition, each with the label names its samples carry. */
export function seriesOf(exposition: string): Map<string, Set<string>> {
  const series = new Map<string, Set<string>>();
  for (const line of exposition.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+\S+$/.exec(line);
    if (!m?.[1]) continue;
    const labels = series.get(m[1]) ?? new Set<string>();
    for (const [, name] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"/g))
      if (name) labels.add(name);
    series.set(m[1], labels);
  }
  return series;
}

/** The `# TYPE` of each metric family of an exposition. */
export function typesOf(exposition: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const [, name, type] of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm))
    if (name && type) types.set(name, type);
  return types;
}

export interface Selector {
  name: string;
  /** Label names its matchers use. */
  labels: string[];
}

/** The selectors of Herald's metrics (`herald_…{…}`) in a PromQL expression. */
export function selectorsOf(expr: string): Selector[] {
  const out: Selector[] = [];
  for (const [, name, matchers] of expr.matchAll(/\b(herald_[a-zA-Z0-9_:]*)\s*(\{[^}]*\})?/g)) {
    if (!name) continue;
    const labels = [...(matchers ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)];
    out.push({ name, labels: labels.map((l) => l[1] ?? '') });
  }
  return out;
}

/** The labels an expression groups or matches by: `by (…)`, `without (…)`, `on (…)` … */
export function groupingLabelsOf(expr: string): string[] {
  const out: string[] = [];
  const clause = /\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g;
  for (const [, list] of expr.matchAll(clause))
    for (const label of (list ?? '').split(',')) if (label.trim()) out.push(label.trim());
  return out;
}

/**
 * What is wrong with `expr` against the series Herald serves: selectors of series that do not
 * exist, matchers or groupings on labels those series lack. Empty when nothing is.
 */
export function problemsOf(expr: string, series: Map<string, Set<string>>): string[] {
  const problems: string[] = [];
  const selectors = selectorsOf(expr);
  const labels = new Set<string>();
  for (const s of selectors) {
    const has = series.get(s.name);
    if (!has) {
      problems.push(`${s.name} is not served`);
      continue;
    }
    for (const l of has) labels.add(l);
    for (const l of s.labels)
      if (!has.has(l))
        problems.push(`${s.name} has no label "${l}" (it has ${[...has].join(', ')})`);
  }
  for (const l of groupingLabelsOf(expr))
    if (!labels.has(l)) problems.push(`no selected series has the label "${l}" it groups by`);
  return problems;
}

/** The `expr:` values of a Prometheus rules file (inline, or a `|` / `>` block). */
export function ruleExprsOf(yaml: string): string[] {
  const lines = yaml.split('\n');
  const exprs: string[] = [];
  lines.forEach((line, i) => {
    const m = /^(\s*)(?:- )?expr:\s*(.*)$/.exec(line);
    if (!m) return;
    const [, indent = '', rest = ''] = m;
    if (!/^[|>][-+]?$/.test(rest.trim())) return void exprs.push(rest.trim());
    const block: string[] = [];
    for (const next of lines.slice(i + 1)) {
      if (next.trim() !== '' && next.search(/\S/) <= indent.length) break;
      block.push(next.trim());
    }
    exprs.push(block.join('\n').trim());
  });
  return exprs;
}

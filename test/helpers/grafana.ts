/** Reading a Grafana dashboard's JSON: its panels (rows opened up) and their PromQL queries. */

export interface Panel {
  title?: string;
  type?: string;
  datasource?: { type?: string; uid?: string };
  targets?: { expr?: string; refId?: string; datasource?: { type?: string; uid?: string } }[];
  panels?: Panel[];
}

export interface Dashboard {
  __inputs?: { name: string; type: string; pluginId?: string }[];
  title?: string;
  uid?: string;
  panels?: Panel[];
}

/** Every panel, those inside collapsed rows too. */
export function panelsOf(dashboard: Dashboard): Panel[] {
  const walk = (panels: Panel[] = []): Panel[] => panels.flatMap((p) => [p, ...walk(p.panels)]);
  return walk(dashboard.panels);
}

/** Every query of the dashboard's panels, with `$__rate_interval` and `$__interval` as 5m. */
export function dashboardExprs(json: string): { panel: string; expr: string }[] {
  return panelsOf(JSON.parse(json) as Dashboard).flatMap((p) =>
    (p.targets ?? []).map((t) => ({
      panel: p.title ?? '(untitled)',
      expr: (t.expr ?? '').replace(/\$__(rate_)?interval/g, '5m'),
    })),
  );
}

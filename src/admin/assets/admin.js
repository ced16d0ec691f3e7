// The Herald console's only script (the CSP allows no other): charts on the overview, live
// refresh while the tab is visible, and confirmation of destructive forms.
'use strict';

(function () {
  const PALETTE = ['#1f5fbf', '#1a7f37', '#b42318', '#9a6700', '#8250df', '#0a7ea4', '#6e7781'];

  // Forms with data-confirm ask first (bulk actions, discards, cancels).
  document.addEventListener('submit', (event) => {
    const form = event.target;
    if (
      form instanceof HTMLFormElement &&
      form.dataset.confirm &&
      !window.confirm(form.dataset.confirm)
    )
      event.preventDefault();
  });

  /** Runs `fn` every `ms` while the tab is visible; on return to the tab, at once. */
  function whileVisible(fn, ms) {
    let timer;
    const arm = () => {
      clearTimeout(timer);
      if (document.visibilityState === 'visible') timer = setTimeout(tick, ms);
    };
    const tick = async () => {
      try {
        await fn();
      } finally {
        arm();
      }
    };
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') tick();
      else clearTimeout(timer);
    });
    arm();
  }

  // Pages with work in flight (a queued delivery, a running schedule) reload until it is done.
  const refresh = Number(document.body.dataset.refreshMs);
  if (refresh > 0) whileVisible(() => window.location.reload(), refresh);

  const charts = document.querySelector('[data-overview]');
  if (charts && window.uPlot) {
    const url = charts.getAttribute('data-overview');
    const drawn = new Map();
    const seriesOf = (data, name) => {
      if (name === 'notifications') return { notifications: data.notifications };
      if (name === 'failureRate')
        return { 'failure rate %': data.failureRate.map((x) => (x === null ? null : x * 100)) };
      return data[name];
    };
    const draw = (data) => {
      for (const el of charts.querySelectorAll('[data-chart]')) {
        const series = seriesOf(data, el.dataset.chart);
        const names = Object.keys(series);
        const key = el.dataset.chart + ':' + names.join(',');
        const values = [data.buckets, ...names.map((n) => series[n])];
        const old = drawn.get(el);
        if (old && old.key === key) {
          old.plot.setData(values);
          continue;
        }
        if (old) old.plot.destroy();
        el.textContent = '';
        if (names.length === 0) {
          el.textContent = 'Nothing in this range.';
          continue;
        }
        const plot = new window.uPlot(
          {
            width: Math.max(300, el.clientWidth || 420),
            height: 220,
            series: [
              {},
              ...names.map((n, i) => ({ label: n, stroke: PALETTE[i % PALETTE.length], width: 2 })),
            ],
            axes: [{}, { size: 50 }],
          },
          values,
          el,
        );
        drawn.set(el, { key, plot });
      }
    };
    const load = async () => {
      const res = await fetch(url, {
        credentials: 'same-origin',
        headers: { accept: 'application/json' },
      });
      if (res.ok) draw(await res.json());
    };
    load();
    whileVisible(load, Number(charts.getAttribute('data-every-ms')) || 10000);
  }
})();

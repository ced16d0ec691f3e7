import { makeAdapter } from './peers/pg-boss.js';
import { measure, sizesFromEnv } from './scenarios.js';
for (const v of ['defaults', 'tuned'] as const) {
  const a = makeAdapter(v);
  await measure(a, { sizes: sizesFromEnv() });
  await a.teardown();
}
setTimeout(() => {
  // eslint-disable-next-line
  const hs = (process as any)._getActiveHandles();
  for (const h of hs) console.error(h.constructor?.name, h._onTimeout?.toString().slice(0, 300), h._idleTimeout, h.hasRef?.());
  process.exit(0);
}, 3000).unref();

import { makeAdapter } from './peers/pg-boss.js';
import { sleep } from './env.js';
const variant = (process.argv[2] ?? 'defaults') as 'defaults' | 'tuned';
const a = makeAdapter(variant);
await a.setup();
await a.enqueueBulk(Array.from({ length: 50 }, (_, n) => ({ t: performance.now(), n })));
let c = 0;
await a.startWorkers(10, () => { c++; });
await sleep(Number(process.argv[3] ?? 3000));
console.error('handled', c);
await a.stopWorkers();
await a.teardown();
setTimeout(() => {
  // eslint-disable-next-line
  const hs = (process as any)._getActiveHandles();
  for (const h of hs) console.error(h.constructor?.name, h._onTimeout?.toString().slice(0, 200), h._idleTimeout);
  process.exit(0);
}, 3000).unref();

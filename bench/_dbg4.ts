import { makeAdapter } from './peers/pg-boss.js';
import { measure, sizesFromEnv } from './scenarios.js';
const a = makeAdapter('tuned');
const m = await measure(a, { sizes: sizesFromEnv() });
await a.teardown();
console.log(process.env.HERALD_BENCH_PGBOSS_BATCH_SIZE, m.process_c10_per_s, m.process_c50_per_s, m.latency_p50_ms, m.latency_p99_ms);

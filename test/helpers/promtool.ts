/**
 * Prometheus's own checker, `promtool` (Debian package `prometheus`; .ci/run installs it).
 * Without it the tests that need it skip with one line, except under CI, where they fail.
 */
import { spawn, spawnSync } from 'node:child_process';

let found: { path?: string; skip?: string } | undefined;

/** promtool's path, or why the tests that need it skip (under CI: throws). */
export function findPromtool(): { path?: string; skip?: string } {
  found ??= (() => {
    const which = spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' });
    const path = which.stdout.trim();
    if (which.status === 0 && path) return { path };
    const why = 'promtool tests skipped: no promtool on PATH (apt-get install prometheus)';
    if (process.env.CI) throw new Error(`${why} — under CI they must run`);
    process.stderr.write(why + '\n');
    return { skip: why };
  })();
  return found;
}

export interface PromtoolResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `promtool args...` with `input` on stdin. */
export function promtool(args: string[], input = ''): Promise<PromtoolResult> {
  const path = findPromtool().path;
  if (!path) throw new Error('promtool is not installed');
  return new Promise((resolve, reject) => {
    const child = spawn(path, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

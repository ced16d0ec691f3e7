/**
 * Headless Chromium for browser tests: Debian's package (`apt-get install chromium`) driven by
 * playwright-core, so nothing is downloaded at test time. Under CI a missing browser fails the
 * run; elsewhere its tests are skipped with one line.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env.HERALD_CHROMIUM ?? '/usr/bin/chromium';

/** undefined when Chromium is installed, else why not (and then browser tests skip, or fail in CI). */
export function browserSkipReason(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  const why = `browser tests skipped: no Chromium at ${CHROMIUM}; apt-get install chromium (or set HERALD_CHROMIUM)`;
  if (process.env.CI === 'true') throw new Error(`${why} — under CI they must run`);
  process.stderr.write(why + '\n');
  return why;
}

/** Launches headless Chromium with nothing phoning home (no network at test time). */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

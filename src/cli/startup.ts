/**
 * What a command says on stderr while it opens Herald, for the person at the terminal: which
 * database it uses (the embedded one is chosen silently when DATABASE_URL is unset), that a
 * first start is migrating (it takes many seconds on the embedded database), and where the
 * server is ready. One `herald: ...` line each; the JSON logs on stdout carry the same steps
 * (db:opening, db:migrating, herald:started) for machines.
 */
import { existsSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { HeraldConfig } from '../config.js';
import { DataFolderInUseError } from '../db/pglite.js';
import { HeraldError } from '../errors.js';
import type { StartupStep } from '../herald.js';

const say = (line: string) => process.stderr.write(`herald: ${line}\n`);

/** A folder as the user would type it: relative when under the current folder. */
export function shownPath(dir: string): string {
  const rel = relative(process.cwd(), dir);
  if (rel === '') return '.';
  if (rel.startsWith('..') || rel.startsWith(sep)) return dir;
  return `.${sep}${rel}`;
}

/**
 * Turns createHerald's startup steps into lines. The embedded database is named before it
 * opens (that is the slow part); a PostgreSQL server once it answered (`opened()`) or before
 * migrating, so that an unreachable server is still one error line.
 */
export function startupLines(): { onStartup: (step: StartupStep) => void; opened: () => void } {
  let held: string | undefined;
  const flush = () => {
    if (held) say(held);
    held = undefined;
  };
  return {
    onStartup(step) {
      if (step.step === 'opening') {
        if (step.database === 'postgres') held = `using PostgreSQL at ${step.where}`;
        else if (step.where === '(in memory)') say('using an embedded database in memory');
        else {
          // Creating the embedded database is the slow part of a first start (PGlite's
          // initdb: tens of seconds on a busy machine), so say it is expected.
          const first = !existsSync(join(step.where, 'pgdata'));
          say(
            `using the embedded database in ${shownPath(step.where)} (set DATABASE_URL to use PostgreSQL)${
              first ? '; creating it, which takes up to a minute the first time' : ''
            }`,
          );
        }
        return;
      }
      flush();
      say(
        `migrating the database: ${step.steps} step${step.steps === 1 ? '' : 's'} (from ${step.from} to ${step.to})`,
      );
    },
    opened: flush,
  };
}

/** The line a server prints once it answers: its URL, and the development key's file. */
export function readyLine(config: HeraldConfig, url: string | undefined, roles: string[]): void {
  if (!url) {
    say(`running: ${roles.join(', ')} (SIGTERM or Ctrl-C stops it)`);
    return;
  }
  const keyFile = join(config.dataDir, 'dev-api-key');
  const key =
    !config.databaseUrl && config.dataDir !== ':memory:' && existsSync(keyFile)
      ? ` — API key in ${shownPath(keyFile)}`
      : '';
  say(`ready at ${url}${key} (API reference at ${url}/docs)`);
}

/** The hint of a command that an HTTP call of the running server does as well. */
export const viaHttp = (call: string) =>
  `While it runs, its HTTP API does the same: ${call} (docs/api.md)`;

/**
 * A one-shot command refused because `herald start` holds the embedded database: add what to
 * do instead while it runs (`viaHttp(...)` for most commands).
 */
export function withHint(err: unknown, hint: string | undefined): unknown {
  if (!(err instanceof DataFolderInUseError) || !hint) return err;
  return new HeraldError(err.code, `${err.message}. ${hint}`);
}

/** What every command shares: the settings flags, turning them into a config, and errors. */
import type { Command } from 'commander';
import { resolveConfig, type HeraldConfig, type HeraldConfigInput } from '../config.js';
import { createHerald, type Herald } from '../herald.js';
import { HeraldError } from '../errors.js';
import { startupLines, withHint } from './startup.js';

export interface SettingsFlags {
  databaseUrl?: string;
  dataDir?: string;
  config?: string;
  schema?: string;
  port?: string;
  host?: string;
  concurrency?: string;
  logLevel?: string;
}

/** Adds the database flags every command takes. */
export function withDbFlags(cmd: Command): Command {
  return cmd
    .option(
      '--database-url <url>',
      'PostgreSQL server (env DATABASE_URL); absent: the embedded database',
    )
    .option('--data-dir <dir>', 'embedded database folder (env HERALD_DATA_DIR, default ./.herald)')
    .option('--config <path>', 'folder or file holding herald.config.json (env HERALD_CONFIG)')
    .option(
      '--schema <name>',
      "PostgreSQL schema for Herald's tables (env HERALD_SCHEMA, default herald)",
    );
}

export function configFrom(flags: SettingsFlags, overrides: HeraldConfigInput = {}): HeraldConfig {
  const fromFlags: HeraldConfigInput = { ...overrides };
  if (flags.databaseUrl) fromFlags.databaseUrl = flags.databaseUrl;
  if (flags.dataDir) fromFlags.dataDir = flags.dataDir;
  if (flags.schema) fromFlags.schema = flags.schema;
  if (flags.port) fromFlags.port = flags.port; // a string: coerced and checked by the schema
  if (flags.host) fromFlags.host = flags.host;
  if (flags.logLevel) fromFlags.logLevel = flags.logLevel as HeraldConfig['logLevel'];
  if (flags.concurrency) fromFlags.worker = { concurrency: flags.concurrency as unknown as number };
  return resolveConfig({ flags: fromFlags, ...(flags.config ? { configPath: flags.config } : {}) });
}

/**
 * Opens Herald for a command, saying on stderr which database it uses and when it migrates.
 * `instead`: what to do while a running `herald start` holds the embedded database (the
 * HTTP call that does the same, `viaHttp(...)`), added to that refusal.
 */
export async function openHerald(config: HeraldConfig, instead?: string): Promise<Herald> {
  const lines = startupLines();
  try {
    const herald = await createHerald({ config, onStartup: lines.onStartup });
    lines.opened();
    return herald;
  } catch (err) {
    throw withHint(err, instead);
  }
}

/** Opens Herald for a one-shot command: quiet logs unless asked otherwise. */
export async function openForCommand(flags: SettingsFlags, instead?: string): Promise<Herald> {
  const config = configFrom(flags, process.env.HERALD_LOG_LEVEL ? {} : { logLevel: 'warn' });
  return openHerald(config, instead);
}

/** Prints a one-line error (no stack trace for errors the user can fix) and exits non-zero. */
export function fail(err: unknown): never {
  if (err instanceof HeraldError) {
    process.stderr.write(`herald: ${err.message}\n`);
    process.exit(err.code === 'validation_failed' ? 2 : 1);
  }
  const e = err as Error;
  process.stderr.write(`herald: unexpected error: ${e?.message ?? String(err)}\n`);
  if (process.env.HERALD_DEBUG) process.stderr.write(`${e?.stack ?? ''}\n`);
  process.exit(1);
}

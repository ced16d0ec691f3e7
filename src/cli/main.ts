/** The `herald` command. Every subcommand has --help; errors are one line and exit non-zero. */
import { Command } from 'commander';
import {
  configFrom,
  fail,
  openForCommand,
  openHerald,
  withDbFlags,
  type SettingsFlags,
} from './common.js';
import { readyLine, startupLines, withHint } from './startup.js';
import { jobsCommand } from './jobs.js';
import { statusCommand } from './status.js';
import { recipientsCommand } from './recipients.js';
import { templatesCommand } from './templates.js';
import { openingStep } from '../herald.js';
import { migrate } from '../db/migrate.js';
import { openDb } from '../db/open.js';
import { makeProviders } from '../channels/registry.js';
import { configuredPushSenders } from '../channels/push/index.js';
import { makeLogger } from '../obs/log.js';
import { serveHerald } from '../http/server.js';
import { packageVersion } from '../version.js';
import { runUntilSignal } from '../process.js';
import type { Worker } from '../queue/worker.js';
import type { Role } from '../queue/presence.js';
import { builtinHandlers } from '../handlers.js';
import { loadTemplateFolder } from '../notify/template-files.js';
import { ensureDevKey } from './dev-key.js';
import { sendCommand } from './send.js';
import { demoCommand } from './demo.js';

async function run(roles: Role[], flags: SettingsFlags): Promise<void> {
  const config = configFrom(flags);
  const herald = await openHerald(
    config,
    'If it is `herald start`, it runs the API, the workers and the scheduler already: GET /health answers while it runs',
  );
  if (config.templatesDir) {
    try {
      const loaded = await loadTemplateFolder(herald, config.templatesDir);
      herald.log.info({ dir: config.templatesDir, ...loaded }, 'templates:loaded');
    } catch (err) {
      await herald.close();
      throw err;
    }
  }
  if (roles.includes('api')) await ensureDevKey(herald);
  const workers: Worker[] = [];
  if (roles.includes('worker')) {
    const worker = herald.worker({ handlers: builtinHandlers(herald) });
    await worker.start();
    workers.push(worker);
  }
  if (roles.includes('scheduler')) {
    // The config file's schedules replace the config-made ones (admin API ones stay).
    await herald.schedules.syncFromConfig(config.schedules);
    herald.scheduler().start();
  }
  const server = roles.includes('api')
    ? await serveHerald(herald, config.port, config.host)
    : undefined;
  // For `herald status`: worker pools record themselves; the other roles are recorded here.
  await herald.presence.record(roles.filter((r) => r !== 'worker'));
  // Signals are handled before the process says it started: whoever reads that line may
  // send SIGTERM at once, and before process.on the default action kills without a shutdown.
  const stopped = runUntilSignal({ herald, workers, ...(server ? { server } : {}) });
  herald.log.info(
    {
      roles,
      database: herald.db.kind,
      where: herald.db.where,
      ...(server ? { url: `http://${config.host}:${server.port}` } : {}),
    },
    'herald:started',
  );
  readyLine(config, server ? `http://${config.host}:${server.port}` : undefined, roles);
  await stopped;
}

function serveCommand(name: string, roles: Role[], description: string): Command {
  const cmd = withDbFlags(new Command(name)).description(description);
  if (roles.includes('api')) {
    cmd
      .option('--port <port>', 'HTTP port (env HERALD_PORT, default 8710)')
      .option('--host <host>', 'HTTP bind address (env HERALD_HOST, default 127.0.0.1)');
  }
  if (roles.includes('worker'))
    cmd.option('--concurrency <n>', 'jobs run at once (env HERALD_CONCURRENCY, default 10)');
  return cmd
    .option('--log-level <level>', 'trace|debug|info|warn|error (env HERALD_LOG_LEVEL)')
    .action((flags: SettingsFlags) => run(roles, flags));
}

export function program(): Command {
  const prog = new Command('herald')
    .description('Herald: a self-hosted notification engine (docs: README.md and docs/)')
    .version(packageVersion(), '-v, --version');

  prog.addCommand(
    serveCommand(
      'start',
      ['api', 'worker', 'scheduler'],
      'run the API, the workers and the scheduler in one process',
    ),
  );
  prog.addCommand(serveCommand('api', ['api'], 'run only the HTTP API'));
  prog.addCommand(serveCommand('worker', ['worker'], 'run only the workers'));
  prog.addCommand(
    serveCommand('scheduler', ['scheduler'], 'run only the scheduler (cron and local-time runs)'),
  );

  withDbFlags(prog.command('migrate'))
    .description('bring the database schema up to date (start does this too)')
    .action(async (flags: SettingsFlags) => {
      const config = configFrom(flags);
      const log = makeLogger('warn');
      // Every setting is checked before the schema is touched, the providers' too (as
      // `herald start` does), so a typo never migrates a database that then cannot start.
      await makeProviders(config, log, [], {
        senders: configuredPushSenders(config, log),
        disableDevices: () => Promise.resolve(),
      }).close();
      const lines = startupLines();
      lines.onStartup(openingStep(config));
      const db = await openDb({
        databaseUrl: config.databaseUrl,
        directDatabaseUrl: config.directDatabaseUrl,
        preparedStatements: config.preparedStatements,
        dataDir: config.dataDir,
        pgliteSeed: config.pgliteSeed,
        log,
      }).catch((err: unknown) => {
        throw withHint(
          err,
          'It brought the schema up to date when it started: GET /ready answers with the migration it is at',
        );
      });
      lines.opened();
      try {
        const { applied, current } = await migrate(db, config.schema);
        process.stdout.write(
          applied.length === 0
            ? `schema "${config.schema}" is up to date (migration ${current})\n`
            : applied.map((m) => `applied ${String(m.id).padStart(4, '0')}_${m.name}\n`).join('') +
                `schema "${config.schema}" is at migration ${current}\n`,
        );
      } finally {
        await db.close();
      }
    });

  const keys = prog.command('keys').description('server API keys');
  withDbFlags(keys.command('create'))
    .description('make an API key and print it once (only its hash is stored)')
    .option('--admin', 'the key may also use /v1/admin/... and the console (/admin)')
    .option('--read-only', 'an admin key that may read everything and change nothing')
    .option('--name <name>', 'a note saying who or what uses the key')
    .action(
      async (flags: SettingsFlags & { admin?: boolean; readOnly?: boolean; name?: string }) => {
        const herald = await openForCommand(
          flags,
          'Keys are made only by this command: stop it, make the key, start it again',
        );
        try {
          const made = await herald.keys.create({
            admin: flags.admin ?? false,
            readOnly: flags.readOnly ?? false,
            ...(flags.name ? { name: flags.name } : {}),
          });
          process.stdout.write(`${made.key}\n`);
          process.stderr.write(
            `herald: ${made.readOnly ? 'read-only admin' : made.admin ? 'admin' : 'server'} key ${made.id} created; it is shown only now, store it\n`,
          );
        } finally {
          await herald.close();
        }
      },
    );

  prog.addCommand(statusCommand());
  prog.addCommand(jobsCommand());
  prog.addCommand(recipientsCommand());
  prog.addCommand(sendCommand());
  prog.addCommand(demoCommand());
  prog.addCommand(templatesCommand());
  // Subcommands added with addCommand do not inherit output settings: give every one the
  // same one-line `herald: ...` errors.
  const oneLine = (cmd: Command): void => {
    cmd.configureOutput({
      outputError: (str, write) => write(`herald: ${str.replace(/^error: /, '')}`),
    });
    cmd.showSuggestionAfterError();
    cmd.commands.forEach(oneLine);
  };
  oneLine(prog);
  return prog;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await program().parseAsync(argv);
  } catch (err) {
    fail(err);
  }
}

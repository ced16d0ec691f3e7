/** `herald templates check|load`: the templates folder (docs/templates.md). */
import { Command } from 'commander';
import { configFrom, openForCommand, withDbFlags, type SettingsFlags } from './common.js';
import { HeraldError } from '../errors.js';
import { count, print } from './format.js';
import type { HeraldConfig } from '../config.js';
import {
  loadTemplateFolder,
  readTemplateFolder,
  type LoadCounts,
} from '../notify/template-files.js';

type TemplatesFlags = SettingsFlags & { templatesDir?: string };

const DIR_HELP =
  'the templates folder (env HERALD_TEMPLATES_DIR; default templates/ beside herald.config.json)';

export function templatesCommand(): Command {
  const templates = new Command('templates').description(
    'notification types, layouts and partials kept as files (docs/templates.md)',
  );

  templates
    .command('check')
    .description(
      'read the templates folder and render every type with its sample.json; list each problem (no database needed)',
    )
    .option('--config <path>', 'folder or file holding herald.config.json (env HERALD_CONFIG)')
    .option('--templates-dir <dir>', DIR_HELP)
    .action((flags: TemplatesFlags) => {
      const dir = templatesDir(configFor(flags));
      const folder = readTemplateFolder(dir);
      for (const p of folder.problems) print(`${p.file}: ${p.message}`);
      if (folder.unsampled.length > 0) {
        print(
          `note: no sample.json in ${folder.unsampled.join(', ')}: their variables are not checked`,
        );
      }
      const counted = [
        count(Object.keys(folder.types).length, 'type'),
        count(Object.keys(folder.layouts).length, 'layout'),
        count(Object.keys(folder.partials).length, 'partial'),
      ].join(', ');
      const verdict =
        folder.problems.length === 0 ? 'OK' : count(folder.problems.length, 'problem');
      print(`${dir}: ${counted}: ${verdict}`);
      if (folder.problems.length > 0) process.exitCode = 1;
    });

  withDbFlags(templates.command('load'))
    .description(
      'write the templates folder to the database (start does this too); nothing on a problem',
    )
    .option('--templates-dir <dir>', DIR_HELP)
    .action(async (flags: TemplatesFlags) => {
      const config = configFor(flags);
      const dir = templatesDir(config);
      const herald = await openForCommand(
        flags,
        'It loads this folder itself when it starts (restart it), or write each type with PUT /v1/types/{name} (docs/api.md)',
      );
      try {
        const loaded = await loadTemplateFolder(herald, dir);
        const line = (what: string, c: LoadCounts) =>
          `${what}: ${c.created} created, ${c.updated} updated, ${c.unchanged} unchanged`;
        print(
          [
            line('types', loaded.types),
            line('layouts', loaded.layouts),
            line('partials', loaded.partials),
          ].join('\n'),
        );
      } finally {
        await herald.close();
      }
    });

  return templates;
}

function configFor(flags: TemplatesFlags): HeraldConfig {
  return configFrom(flags, flags.templatesDir ? { templatesDir: flags.templatesDir } : {});
}

function templatesDir(config: HeraldConfig): string {
  if (config.templatesDir) return config.templatesDir;
  throw new HeraldError(
    'config_invalid',
    'no templates folder: give --templates-dir, set HERALD_TEMPLATES_DIR, or make a templates/ folder beside herald.config.json',
  );
}

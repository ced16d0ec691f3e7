/**
 * The recipes (docs/recipes.md): ready-made notification types for the daily
 * briefing, the weekly summary, due-date reminders and achievement nudges, with their email,
 * SMS, push and in-app templates in English and German. They ship as a templates folder
 * (`recipes/` at the package root, docs/recipes.md), loaded like any other: point
 * `templatesDir` / `HERALD_TEMPLATES_DIR` at it, copy it into your own, or call `loadRecipes`.
 */
import { fileURLToPath } from 'node:url';
import type { Herald } from './herald.js';
import { loadTemplateFolder, type LoadResult } from './notify/template-files.js';

/** The recipes folder: src/ and dist/ both sit one folder below the package root, beside it. */
export const RECIPES_DIR = fileURLToPath(new URL('../recipes', import.meta.url));

/** The recipe types, as the folder names them. */
export const RECIPE_TYPES = [
  'daily_briefing',
  'weekly_summary',
  'due_date_reminder',
  'achievement_nudge',
] as const;

/**
 * Writes the recipes' types, layout and partials to the database, as `herald templates load`
 * does for a folder: created when new, replaced when they differ, untouched when equal.
 */
export function loadRecipes(herald: Pick<Herald, 'types' | 'templateParts'>): Promise<LoadResult> {
  return loadTemplateFolder(herald, RECIPES_DIR);
}

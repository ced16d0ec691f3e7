/** Herald's version, from package.json (the User-Agent of webhooks, the CLI, the API reference). */
import { readFileSync } from 'node:fs';

let version: string | undefined;

export function packageVersion(): string {
  // dist/version.js and src/version.ts both sit one folder below package.json.
  version ??= (
    JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    }
  ).version;
  return version;
}

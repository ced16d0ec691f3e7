// ESLint flat config: type-aware rules for src/, test/ and bench/. Import cycles are checked by
// dependency-cruiser (.dependency-cruiser.cjs, in `npm run lint`): it sees type-only imports too.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

// Focused tests (node:test's `only`) pass locally and silently skip the rest of a file in CI.
export const focusedTests = [
  {
    selector: "MemberExpression[object.name=/^(test|describe|it|suite)$/][property.name='only']",
    message: 'A focused test (.only) skips the rest of the file: remove it before committing.',
  },
  {
    selector:
      "MemberExpression[object.property.name=/^(test|describe|it|suite)$/][property.name='only']",
    message: 'A focused test (.only) skips the rest of the file: remove it before committing.',
  },
  {
    selector:
      "CallExpression[callee.name=/^(test|describe|it|suite)$/] > ObjectExpression > Property[key.name='only']",
    message:
      'A focused test ({ only: true }) skips the rest of the file: remove it before committing.',
  },
  {
    selector:
      "CallExpression[callee.property.name=/^(test|describe|it|suite)$/] > ObjectExpression > Property[key.name='only']",
    message:
      'A focused test ({ only: true }) skips the rest of the file: remove it before committing.',
  },
  {
    selector: "CallExpression[callee.property.name='runOnly']",
    message: 't.runOnly() focuses a test file: remove it before committing.',
  },
];

export default tseslint.config(
  { ignores: ['dist/**', 'dist.*/**', 'node_modules/**', '.herald/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: globals.node,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/no-floating-promises': 'error',
      'no-console': 'error',
    },
  },
  {
    // The browser client runs in pages (and in Node when a server passes it a WebSocket); the
    // console's script runs in its pages.
    files: ['src/client/**', 'src/admin/assets/**'],
    languageOptions: { globals: globals.browser },
  },
  {
    // The CLI, benchmarks, tests and scripts talk to a terminal on purpose.
    files: ['src/cli/**', 'bench/**', 'test/**', 'scripts/**'],
    rules: { 'no-console': 'off' },
  },
  {
    // node:test's describe/it return promises the runner awaits; pg rows in tests are untyped.
    files: ['test/**'],
    rules: {
      '@typescript-eslint/no-floating-promises': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      'no-restricted-syntax': ['error', ...focusedTests],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
);

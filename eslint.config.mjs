// Flat ESLint config: typescript-eslint over src, webview and test; src/core stays pure.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['dist/**', 'out/**', 'node_modules/**', 'test-output/**', 'test/fixtures/**', 'media/**', 'bench-data/**', 'src/core/analysis/kernels/assembly/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: { ...globals.node } },
  },
  {
    files: ['webview/**/*.ts'],
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      eqeqeq: ['error', 'smart'],
      'no-eval': 'error',
      'no-new-func': 'error',
    },
  },
  {
    // The core runs in the extension host, a worker, the CLI and (later) a web extension:
    // no VS Code API, no Node built-ins, no DOM.
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ['vscode', 'fs', 'path', 'os', 'zlib', 'worker_threads', 'child_process', 'crypto', 'stream', 'buffer', 'util'].map((name) => ({
            name,
            message: 'src/core must stay pure: read bytes through ByteSource, keep platform code in src/platform or src/extension.',
          })),
          patterns: [{ group: ['node:*'], message: 'src/core must not import Node built-ins.' }],
        },
      ],
      'no-restricted-globals': ['error', 'window', 'document', 'navigator', 'require', 'process', 'Buffer'],
    },
  },
);

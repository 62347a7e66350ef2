// One build script for every bundle: extension host, CLI, analysis worker, webviews and CSS.
// Usage: node esbuild.mjs [--watch] [--production]
import * as esbuild from 'esbuild';
import { existsSync, readFileSync, chmodSync, mkdirSync, rmSync } from 'node:fs';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');
const pkg = JSON.parse(readFileSync('package.json', 'utf8'));

/** Options every bundle shares. */
const common = {
  bundle: true,
  sourcemap: production ? false : 'linked',
  minify: production,
  logLevel: 'info',
  define: { NORMLENS_VERSION: JSON.stringify(pkg.version) },
};

/** Node-side bundles (CommonJS; `vscode` is provided by the extension host). */
const nodeBuilds = [
  { entryPoints: { extension: 'src/extension/extension.ts' }, external: ['vscode'] },
  { entryPoints: { cli: 'src/cli/main.ts' }, banner: { js: '#!/usr/bin/env node' } },
  { entryPoints: { worker: 'src/worker/analysisWorker.ts' } },
].filter((b) => Object.values(b.entryPoints).every((p) => existsSync(p)));

/** Browser-side bundles for the webviews. */
const webBuilds = [
  {
    entryPoints: Object.fromEntries(
      ['inspector', 'sidePanel', 'abPanel'].filter((n) => existsSync(`webview/${n}/main.ts`)).map((n) => [n, `webview/${n}/main.ts`]),
    ),
  },
  { entryPoints: { styles: 'webview/styles.css' } },
].filter((b) => Object.keys(b.entryPoints).length > 0 && Object.values(b.entryPoints).every((p) => existsSync(p)));

const configs = [
  ...nodeBuilds.map((b) => ({ ...common, platform: 'node', target: 'node20', format: 'cjs', outdir: 'dist', ...b })),
  // Webview bundles are minified in every build (with linked source maps outside production): the
  // integration tests and their timings run the same page code the .vsix holds.
  ...webBuilds.map((b) => ({ ...common, minify: true, platform: 'browser', target: 'es2022', format: 'iife', outdir: 'dist/webview', ...b })),
];

/**
 * Test entries that run inside VS Code (mocha is loaded from node_modules at run time): the
 * integration suites, and the packaged-extension (Restricted Mode) suite.
 */
for (const suite of ['integration', 'restricted']) {
  if (production || !existsSync(`test/${suite}/index.ts`)) continue;
  configs.push({
    ...common,
    sourcemap: 'inline',
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    outdir: `out/test/${suite}`,
    entryPoints: [`test/${suite}/index.ts`],
    external: ['vscode', 'mocha'],
  });
}

// A production build starts clean so no stale source maps or bundles get packaged.
if (production) rmSync('dist', { recursive: true, force: true });
mkdirSync('dist', { recursive: true });
if (watch) {
  const contexts = await Promise.all(configs.map((c) => esbuild.context(c)));
  await Promise.all(contexts.map((c) => c.watch()));
  console.log('[watch] build started; watching for changes');
} else {
  await Promise.all(configs.map((c) => esbuild.build(c)));
  if (existsSync('dist/cli.js')) chmodSync('dist/cli.js', 0o755);
}

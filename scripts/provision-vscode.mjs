#!/usr/bin/env node
// Provisions VS Code 1.139 (the server and web workbench shipped in the npm package
// `code-server`) into a cache folder outside the repo, once per version, and prints its path.
// See ../shared/VSCODE-TESTS-OFFLINE.md for why this route exists.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const CODE_SERVER_VERSION = '4.139.1';
const NODE_PACKAGE = 'node@24.9.0';
const CROSS_ENV = 'cross-env@10.1.0';

/** The cache folder for one code-server version (override with NORMLENS_VSCODE_CACHE). */
export function cacheDir() {
  const root = process.env.NORMLENS_VSCODE_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'normlens-vscode');
  return join(root, `code-server-${CODE_SERVER_VERSION}`);
}

/** Paths inside a provisioned cache. */
export function layout(dir = cacheDir()) {
  const bin = join(dir, 'node_modules', '.bin');
  return {
    dir,
    bin,
    node: join(dir, 'node_modules', 'node', 'bin', 'node'),
    serverMain: join(dir, 'node_modules', 'code-server', 'lib', 'vscode', 'out', 'server-main.js'),
    productJson: join(dir, 'node_modules', 'code-server', 'lib', 'vscode', 'product.json'),
    stamp: join(dir, '.provisioned'),
  };
}

function npmInstall(dir, pkgs, env) {
  const r = spawnSync('npm', ['install', '--prefix', dir, '--no-audit', '--no-fund', '--loglevel=error', ...pkgs], {
    stdio: 'inherit',
    env,
  });
  if (r.status !== 0) throw new Error(`npm install ${pkgs.join(' ')} failed with exit ${r.status}`);
}

/**
 * The environment for the nested installs: without the npm_* variables of an enclosing
 * `npm test`, which the nested npm would read as its own configuration (code-server's install
 * script checks the Node version in npm_config_user_agent, and would see the outer Node 20).
 */
function cleanEnv(extraPath) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && k !== 'INIT_CWD' && k !== 'NODE'));
  if (extraPath) env.PATH = `${extraPath}:${env.PATH}`;
  return env;
}

/** Installs (if needed) and returns the layout. Idempotent; a stamp file marks completion. */
export function provision({ quiet = false } = {}) {
  const l = layout();
  if (existsSync(l.stamp) && existsSync(l.serverMain) && existsSync(l.node)) return l;
  const log = (m) => quiet || console.log(`[provision] ${m}`);
  log(`installing VS Code (code-server ${CODE_SERVER_VERSION}) into ${l.dir}; this takes a few minutes once`);
  rmSync(l.dir, { recursive: true, force: true });
  mkdirSync(l.dir, { recursive: true });
  writeFileSync(join(l.dir, 'package.json'), JSON.stringify({ name: 'normlens-vscode-cache', private: true }));
  npmInstall(l.dir, [NODE_PACKAGE, CROSS_ENV], cleanEnv());
  npmInstall(l.dir, [`code-server@${CODE_SERVER_VERSION}`], cleanEnv(l.bin));
  if (!existsSync(l.serverMain)) throw new Error(`code-server installed but ${l.serverMain} is missing`);
  writeFileSync(l.stamp, new Date().toISOString());
  log('done');
  return l;
}

/** The VS Code version the cache carries. */
export function vscodeVersion(l = layout()) {
  return JSON.parse(readFileSync(join(l.dir, 'node_modules', 'code-server', 'lib', 'vscode', 'package.json'), 'utf8')).version;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const l = provision();
  console.log(`VS Code ${vscodeVersion(l)} at ${l.dir}`);
}

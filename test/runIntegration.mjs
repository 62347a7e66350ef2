#!/usr/bin/env node
// Runs the integration tests (test/integration, bundled to out/test/integration/index.js) inside a
// real VS Code. Route 1: @vscode/test-electron, when a desktop VS Code is given
// (VSCODE_EXECUTABLE_PATH) or can be downloaded. Route 2 (offline; what CI here takes): VS Code's
// server + web workbench from the npm package code-server, opened in Debian's Chromium through
// playwright-core. See ../shared/VSCODE-TESTS-OFFLINE.md.
// Env: NORMLENS_TEST_GREP (mocha grep), NORMLENS_TEST_TIMEOUT_MS (whole run), NORMLENS_ROUTE=offline|electron.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { provision, vscodeVersion } from '../scripts/provision-vscode.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const testsEntry = join(root, 'out', 'test', 'integration', 'index.js');
const workspace = join(root, 'test', 'fixtures');
const outputDir = join(root, 'test-output');
const screenshotDir = join(outputDir, 'screenshots');
const timeoutMs = Number(process.env.NORMLENS_TEST_TIMEOUT_MS || 20 * 60 * 1000);

function log(msg) {
  console.log(`[integration] ${msg}`);
}

async function tryElectron() {
  if (process.env.NORMLENS_ROUTE === 'offline') return undefined;
  const { runTests } = await import('@vscode/test-electron');
  try {
    const code = await runTests({
      extensionDevelopmentPath: root,
      extensionTestsPath: testsEntry,
      launchArgs: [workspace, '--disable-extensions', '--disable-workspace-trust'],
      ...(process.env.VSCODE_EXECUTABLE_PATH ? { vscodeExecutablePath: process.env.VSCODE_EXECUTABLE_PATH } : { version: '1.139.0' }),
      extensionTestsEnv: { NORMLENS_SCREENSHOT_DIR: '' },
    });
    return code;
  } catch (e) {
    if (process.env.VSCODE_EXECUTABLE_PATH || process.env.NORMLENS_ROUTE === 'electron') throw e;
    log(`desktop VS Code not available (${String(e?.message ?? e).split('\n')[0]}); taking the offline route`);
    return undefined;
  }
}

function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

async function waitForHttp(url, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      const r = await fetch(url);
      if (r.status < 500) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`VS Code server did not answer at ${url} within ${ms} ms`);
}

function findChromium() {
  for (const p of [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome']) {
    if (p && existsSync(p)) return p;
  }
  throw new Error('Chromium not found: install Debian\'s chromium package (apt-get install chromium) or set CHROMIUM_PATH');
}

async function runOffline() {
  const cache = provision();
  log(`VS Code ${vscodeVersion(cache)} (code-server cache ${cache.dir})`);
  const { chromium } = await import('playwright-core');
  const tmp = mkdtempSync(join(tmpdir(), 'normlens-it-'));
  const port = await freePort();
  rmSync(screenshotDir, { recursive: true, force: true });
  mkdirSync(screenshotDir, { recursive: true });
  const server = spawn(
    cache.node,
    [
      cache.serverMain,
      '--host', '127.0.0.1', '--port', String(port),
      '--without-connection-token', '--accept-server-license-terms', '--enable-smoke-test-driver',
      '--disable-telemetry', '--disable-workspace-trust',
      '--server-data-dir', join(tmp, 'server-data'), '--user-data-dir', join(tmp, 'user-data'), '--extensions-dir', join(tmp, 'extensions'),
    ],
    {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NORMLENS_SCREENSHOT_DIR: screenshotDir, NORMLENS_INTEGRATION: '1' },
    },
  );
  const serverLog = [];
  server.stdout.on('data', (d) => serverLog.push(String(d)));
  server.stderr.on('data', (d) => serverLog.push(String(d)));
  const killServer = () => {
    try {
      process.kill(-server.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  };
  process.on('exit', killServer);
  let browser;
  const timers = [];
  try {
    await waitForHttp(`http://127.0.0.1:${port}/`, 30000);
    browser = await chromium.launch({
      executablePath: findChromium(),
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    });
    const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    let finish;
    const finished = new Promise((r) => (finish = r));
    await page.exposeFunction('codeAutomationExit', async (code) => {
      finish(typeof code === 'number' ? code : 1);
    });
    page.on('console', (msg) => {
      if (process.env.NORMLENS_TEST_RAW_CONSOLE) console.log(`[raw ${msg.type()}] ${msg.text()}`);
      // Extension-host lines arrive as '%c INFO color: #33f <text>'; print the test report only.
      const text = msg.text().replace(/^%c\s*[A-Z]+\s+color:\s*#[0-9a-f]+\s?/i, '');
      const m = /^\[mocha\] ?(.*)$/s.exec(text);
      if (m) console.log(m[1]);
      else if (text.startsWith('[normlens-test]')) console.log(text);
    });
    // Screenshot requests from tests: NAME.request -> NAME.png.
    const poll = setInterval(async () => {
      for (const f of readdirSync(screenshotDir)) {
        if (!f.endsWith('.request')) continue;
        const name = f.slice(0, -'.request'.length);
        try {
          unlinkSync(join(screenshotDir, f));
          await page.screenshot({ path: join(screenshotDir, `${name}.png`) });
        } catch (e) {
          log(`screenshot ${name} failed: ${e}`);
        }
      }
    }, 150);
    timers.push(poll);
    const payload = [
      ['extensionDevelopmentPath', `vscode-remote://127.0.0.1:${port}${root}`],
      ['extensionTestsPath', `vscode-remote://127.0.0.1:${port}${testsEntry}`],
      ['skipWelcome', 'true'],
    ];
    const url = `http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
    await page.goto(url);
    let timer;
    const timedOut = new Promise((r) => {
      timer = setTimeout(() => r('timeout'), timeoutMs);
    });
    timers.push(timer);
    const result = await Promise.race([finished, timedOut]);
    if (result === 'timeout') {
      log(`integration tests did not finish within ${timeoutMs / 1000} s`);
      await page.screenshot({ path: join(outputDir, 'workbench-timeout.png') }).catch(() => {});
      console.log(serverLog.join('').slice(-4000));
      return 1;
    }
    await page.screenshot({ path: join(outputDir, 'workbench.png') }).catch(() => {});
    log(`screenshots in ${outputDir}`);
    return result;
  } finally {
    for (const t of timers) {
      clearInterval(t);
      clearTimeout(t);
    }
    await browser?.close().catch(() => {});
    killServer();
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function main() {
  if (!existsSync(testsEntry)) {
    const b = spawnSync(process.execPath, [join(root, 'esbuild.mjs')], { cwd: root, stdio: 'inherit' });
    if (b.status !== 0) return 1;
  }
  mkdirSync(outputDir, { recursive: true });
  writeFileSync(join(outputDir, '.gitignore'), '*\n');
  const electron = await tryElectron();
  if (electron !== undefined) return electron;
  return runOffline();
}

main().then(
  (code) => {
    log(code === 0 ? 'integration tests passed' : `integration tests FAILED (exit ${code})`);
    process.exit(code);
  },
  (e) => {
    console.error(`[integration] ${e?.stack ?? e}`);
    process.exit(1);
  },
);

#!/usr/bin/env node
// Runs the integration tests inside a real VS Code, in two runs:
//  1. the source tree as a development extension (test/integration, bundled to out/test/integration);
//  2. the packaged .vsix installed like a user would, in an untrusted folder (Restricted Mode)
//     (test/restricted). Skip it with NORMLENS_SKIP_VSIX=1.
// VS Code comes from @vscode/test-electron when a desktop build is given (VSCODE_EXECUTABLE_PATH) or
// can be downloaded; otherwise (CI here) from VS Code's server + web workbench in the npm package
// code-server, opened in Debian's Chromium through playwright-core (../shared/VSCODE-TESTS-OFFLINE.md).
// Env: NORMLENS_TEST_GREP (mocha grep, run 1 only), NORMLENS_ONLY_VSIX=1 (run 2 only), NORMLENS_TEST_TIMEOUT_MS (per run),
//      NORMLENS_ROUTE=offline|electron, NORMLENS_TEST_RAW_CONSOLE=1 (print the whole browser console),
//      NORMLENS_TEST_NET=1 (print the browser's requests with times: where a webview's start goes),
//      NORMLENS_TEST_XL=1 (adds the 2 GiB dump), NORMLENS_TEST_PERF=2[,3…] (opens 256 MiB dumps one
//      after another with those worker counts and prints medians; NORMLENS_TEST_PERF_ROUNDS).
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { provision, vscodeVersion } from '../scripts/provision-vscode.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const testsEntry = join(root, 'out', 'test', 'integration', 'index.js');
const restrictedEntry = join(root, 'out', 'test', 'restricted', 'index.js');
const workspace = join(root, 'test', 'fixtures');
const outputDir = join(root, 'test-output');
const screenshotDir = join(outputDir, 'screenshots');
const timeoutMs = Number(process.env.NORMLENS_TEST_TIMEOUT_MS || 20 * 60 * 1000);

/** Tests counted across the runs, for the closing line. */
const totals = { passed: 0, failed: 0 };
const startedAt = Date.now();

function log(msg) {
  console.log(`[integration] ${msg}`);
}

async function tryElectron() {
  if (process.env.NORMLENS_ROUTE === 'offline') return undefined;
  const { runTests } = await import('@vscode/test-electron');
  try {
    return await runTests({
      extensionDevelopmentPath: root,
      extensionTestsPath: testsEntry,
      launchArgs: [workspace, '--disable-extensions', '--disable-workspace-trust'],
      ...(process.env.VSCODE_EXECUTABLE_PATH ? { vscodeExecutablePath: process.env.VSCODE_EXECUTABLE_PATH } : { version: '1.139.0' }),
    });
  } catch (e) {
    // A desktop VS Code ran and the tests failed: report it, do not retry offline.
    if (e?.name === 'TestRunFailedError' || /Test run failed/i.test(String(e?.message))) {
      log(`desktop VS Code: ${e.message}`);
      return 1;
    }
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
  throw new Error("Chromium not found: install Debian's chromium package (apt-get install chromium) or set CHROMIUM_PATH");
}

/**
 * One offline run: a VS Code server (own process group, fresh data folders), the workbench in
 * headless Chromium with the test payload, the mocha report from the console, screenshots on
 * request. Resolves with the tests' exit code.
 */
async function runOffline(cache, { label, devPath, entry, folder, extensionsDir, trusted }) {
  const { chromium } = await import('playwright-core');
  const tmp = mkdtempSync(join(tmpdir(), 'normlens-it-'));
  const port = await freePort();
  const server = spawn(
    cache.node,
    [
      cache.serverMain,
      '--host', '127.0.0.1', '--port', String(port),
      '--without-connection-token', '--accept-server-license-terms', '--enable-smoke-test-driver', '--disable-telemetry',
      ...(trusted ? ['--disable-workspace-trust'] : []),
      '--server-data-dir', join(tmp, 'server-data'), '--user-data-dir', join(tmp, 'user-data'),
      '--extensions-dir', extensionsDir ?? join(tmp, 'extensions'),
    ],
    { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NORMLENS_SCREENSHOT_DIR: screenshotDir, NORMLENS_INTEGRATION: '1' } },
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
  const onSignal = () => {
    killServer();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let browser;
  const timers = [];
  try {
    await waitForHttp(`http://127.0.0.1:${port}/`, 30000);
    browser = await chromium.launch({
      executablePath: findChromium(),
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    });
    const ctx = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
    if (process.env.NORMLENS_TEST_NET) {
      const t = (r) => r.url().replace(/^http:\/\/[^/]+/, '').slice(0, 140);
      ctx.on('request', (r) => console.log(`[net] ${Date.now()} start ${r.method()} ${t(r)} sw=${!!r.serviceWorker()}`));
      ctx.on('requestfinished', (r) => console.log(`[net] ${Date.now()} done ${t(r)}`));
      ctx.on('requestfailed', (r) => console.log(`[net] ${Date.now()} failed ${t(r)}`));
    }
    const page = await ctx.newPage();
    let finish;
    const finished = new Promise((r) => (finish = r));
    await page.exposeFunction('codeAutomationExit', async (code) => finish(typeof code === 'number' ? code : 1));
    page.on('console', (msg) => {
      if (process.env.NORMLENS_TEST_RAW_CONSOLE) console.log(`[raw ${msg.type()}] ${msg.text()}`);
      // Extension-host lines arrive as '%c INFO color: #33f <text>'; print the test report only.
      const text = msg.text().replace(/^%c\s*[A-Z]+\s+color:\s*#[0-9a-f]+\s?/i, '');
      const m = /^\[mocha\] ?(.*)$/s.exec(text);
      if (m) console.log(m[1]);
      else if (text.startsWith('[normlens-test]')) console.log(text);
      else if (text.startsWith('[normlens-summary] ')) {
        const m = /(\d+) passed, (\d+) failed/.exec(text);
        if (m) {
          totals.passed += Number(m[1]);
          totals.failed += Number(m[2]);
        }
        console.log(text.slice('[normlens-summary] '.length));
      }
    });
    // Requests from tests (they run in the extension host and cannot reach the page):
    // NAME.request -> NAME.png (a screenshot); NAME.action.json -> NAME.done (a UI action).
    const serveRequests = async () => {
      for (const f of readdirSync(screenshotDir)) {
        if (f.endsWith('.request')) {
          const name = f.slice(0, -'.request'.length);
          unlinkSync(join(screenshotDir, f));
          await page.screenshot({ path: join(screenshotDir, `${name}.png`) }).catch((e) => log(`screenshot ${name} failed: ${e}`));
        } else if (f.endsWith('.action.json')) {
          const name = f.slice(0, -'.action.json'.length);
          let action;
          try {
            action = JSON.parse(readFileSync(join(screenshotDir, f), 'utf8'));
          } catch {
            continue; // still being written: the next poll takes it
          }
          unlinkSync(join(screenshotDir, f));
          const outcome = await performUiAction(page, action).then(
            () => 'ok',
            (e) => `error: ${e?.message ?? e}`,
          );
          // Written whole, then renamed: the test polling for the file never reads it half-written.
          writeFileSync(join(screenshotDir, `${name}.done.partial`), outcome);
          renameSync(join(screenshotDir, `${name}.done.partial`), join(screenshotDir, `${name}.done`));
        }
      }
    };
    let busy = false;
    const poll = setInterval(async () => {
      if (busy) return;
      busy = true;
      try {
        await serveRequests();
      } catch (e) {
        log(`test request failed: ${e?.message ?? e}`);
      } finally {
        busy = false;
      }
    }, 100);
    timers.push(poll);
    const payload = [
      ['extensionDevelopmentPath', `vscode-remote://127.0.0.1:${port}${devPath}`],
      ['extensionTestsPath', `vscode-remote://127.0.0.1:${port}${entry}`],
      ['skipWelcome', 'true'],
    ];
    await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(folder)}&payload=${encodeURIComponent(JSON.stringify(payload))}`);
    let timer;
    const timedOut = new Promise((r) => {
      timer = setTimeout(() => r('timeout'), timeoutMs);
    });
    timers.push(timer);
    const result = await Promise.race([finished, timedOut]);
    if (result === 'timeout') {
      log(`${label}: tests did not finish within ${timeoutMs / 1000} s`);
      await page.screenshot({ path: join(outputDir, `${label}-timeout.png`) }).catch(() => {});
      console.log(serverLog.join('').slice(-4000));
      return 1;
    }
    await page.screenshot({ path: join(outputDir, `${label}.png`) }).catch(() => {});
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

/**
 * Performs a UI action a test asked for, the way a user would: a click on an element inside any
 * frame (webviews are nested iframes), key presses, or a command run from the command palette.
 */
async function performUiAction(page, action) {
  if (action.kind === 'click' || action.kind === 'focus') {
    const deadline = Date.now() + 15000;
    while (Date.now() < deadline) {
      for (const frame of page.frames()) {
        const el = await frame.$(action.selector).catch(() => null);
        if (el && (await el.boundingBox().catch(() => null))) {
          if (action.kind === 'click') await el.click();
          else await el.focus();
          return;
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no visible element matches ${action.selector}`);
  }
  if (action.kind === 'press') {
    for (const key of action.keys) await page.keyboard.press(key);
    return;
  }
  if (action.kind === 'palette') {
    await page.keyboard.press('Control+Shift+P');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible', timeout: 10000 });
    await input.fill(`>${action.text}`);
    await page.locator('.quick-input-list .monaco-list-row').first().waitFor({ state: 'visible', timeout: 10000 });
    await page.keyboard.press('Enter');
    return;
  }
  throw new Error(`unknown UI action ${JSON.stringify(action)}`);
}

/** Writes a (512, 4096) float32 .npy whose feature f holds f / 4096 in every token. */
function writeWorkerSizedNpy(path) {
  let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (512, 4096), }";
  header = header.padEnd(128 - 10 - 1, ' ') + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1;
  pre.writeUInt16LE(header.length, 8);
  const row = new Float32Array(4096).map((_, f) => f / 4096);
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, pre);
    writeSync(fd, Buffer.from(header, 'latin1'));
    const block = new Float32Array(4096 * 64);
    for (let t = 0; t < 64; t++) block.set(row, t * 4096);
    for (let k = 0; k < 8; k++) writeSync(fd, new Uint8Array(block.buffer));
  } finally {
    closeSync(fd);
  }
}

/** Run 2: package the extension, install the .vsix offline, open an untrusted folder. */
async function runPackaged(cache) {
  const tmp = mkdtempSync(join(tmpdir(), 'normlens-vsix-'));
  try {
    const vsix = join(tmp, 'normlens.vsix');
    const build = spawnSync(process.execPath, [join(root, 'esbuild.mjs'), '--production'], { cwd: root, stdio: 'inherit' });
    const pack =
      build.status === 0
        ? spawnSync(process.execPath, [join(root, 'node_modules', '@vscode', 'vsce', 'vsce'), 'package', '--no-dependencies', '--no-rewrite-relative-links', '--out', vsix], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] })
        : build;
    // Put the development build back (the production build cleared dist/) for anyone running from the tree.
    spawnSync(process.execPath, [join(root, 'esbuild.mjs')], { cwd: root, stdio: 'ignore' });
    if (pack.status !== 0) {
      log('vsce package failed');
      return 1;
    }
    const extensionsDir = join(tmp, 'extensions');
    const install = spawnSync(cache.node, [cache.serverMain, '--extensions-dir', extensionsDir, '--install-extension', vsix, '--accept-server-license-terms'], { encoding: 'utf8' });
    if (install.status !== 0) {
      log(`installing the .vsix failed: ${install.stdout}${install.stderr}`);
      return 1;
    }
    log(`installed the packaged extension (${(statSync(vsix).size / 1024).toFixed(0)} KiB .vsix) into a fresh extensions folder`);
    // A tiny development extension hosts the test runner; NormLens itself is the installed copy.
    const host = join(tmp, 'test-host');
    mkdirSync(host);
    writeFileSync(join(host, 'package.json'), JSON.stringify({ name: 'normlens-restricted-tests', publisher: 'normlens-tests', version: '0.0.0', engines: { vscode: '^1.138.0' } }));
    const folder = join(tmp, 'untrusted-folder');
    mkdirSync(folder);
    copyFileSync(join(root, 'test', 'fixtures', 'integration', 'hello.npy'), join(folder, 'hello.npy'));
    writeWorkerSizedNpy(join(folder, 'big.npy'));
    return await runOffline(cache, { label: 'restricted-mode', devPath: host, entry: restrictedEntry, folder, extensionsDir, trusted: false });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function main() {
  if (!existsSync(testsEntry) || !existsSync(restrictedEntry)) {
    const b = spawnSync(process.execPath, [join(root, 'esbuild.mjs')], { cwd: root, stdio: 'inherit' });
    if (b.status !== 0) return 1;
  }
  mkdirSync(outputDir, { recursive: true });
  writeFileSync(join(outputDir, '.gitignore'), '*\n');
  rmSync(screenshotDir, { recursive: true, force: true });
  mkdirSync(screenshotDir, { recursive: true });
  // The desktop route runs suite 1; the packaged-extension run needs the offline server's installer.
  const electron = await tryElectron();
  if (electron !== undefined) return electron;
  const cache = provision();
  log(`VS Code ${vscodeVersion(cache)} (code-server cache ${cache.dir})`);
  if (process.env.NORMLENS_ONLY_VSIX) return runPackaged(cache);
  const first = await runOffline(cache, { label: 'workbench', devPath: root, entry: testsEntry, folder: workspace, trusted: true });
  log(`screenshots in ${screenshotDir}`);
  if (first !== 0 || process.env.NORMLENS_SKIP_VSIX || process.env.NORMLENS_TEST_GREP) return first;
  return runPackaged(cache);
}

main().then(
  (code) => {
    log(code === 0 ? 'integration tests passed' : `integration tests FAILED (exit ${code})`);
    // The closing line counts every test of `npm test`: the unit run's counts are in test-output/.
    let unit = { passed: 0, failed: 0 };
    try {
      // Only a unit run just before this one (npm test) counts, not a stale file.
      const file = join(outputDir, 'unit-summary.json');
      if (statSync(file).mtimeMs >= startedAt - 10 * 60 * 1000) unit = JSON.parse(readFileSync(file, 'utf8'));
    } catch {
      /* integration tests run alone */
    }
    if (totals.passed + totals.failed > 0) console.log(`all: ${unit.passed + totals.passed} passed, ${unit.failed + totals.failed} failed`);
    process.exit(code);
  },
  (e) => {
    console.error(`[integration] ${e?.stack ?? e}`);
    process.exit(1);
  },
);

// Mocha entry that VS Code loads as `extensionTestsPath` (both the desktop and the offline route).
import Mocha from 'mocha';
import * as vscode from 'vscode';
import { format } from 'node:util';

/** Runs the integration suites inside the VS Code extension host; rejects when any test fails. */
export async function run(): Promise<void> {
  // Mocha's reporters log printf-style; the offline route only sees the first console argument,
  // so format each line here, and mark it so the harness can tell it from the workbench's noise.
  Mocha.reporters.Base.consoleLog = (...args: unknown[]) => {
    for (const line of format(...args).split('\n')) console.log(`[mocha] ${line}`);
  };
  const mocha = new Mocha({ ui: 'bdd', timeout: 60000, color: false, reporter: 'spec' });
  console.log(`[normlens-test] VS Code ${vscode.version} (${vscode.env.appHost}, ${vscode.env.uiKind === vscode.UIKind.Web ? 'web' : 'desktop'} UI)`);
  const grep = process.env.NORMLENS_TEST_GREP;
  if (grep) mocha.grep(grep);
  // Suites are bundled into this file; expose mocha's globals before their code runs.
  mocha.suite.emit('pre-require', globalThis, 'integration-bundle', mocha);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('./suites');
  Mocha.reporters.Base.useColors = false;
  let passed = 0;
  const failures = await new Promise<number>((resolve) => {
    const runner = mocha.run(resolve);
    runner.on('pass', () => passed++);
  });
  console.log(`[normlens-summary] integration: ${passed} passed, ${failures} failed`);
  console.log(`[normlens-test] ${failures === 0 ? 'all integration tests passed' : `${failures} integration test(s) failed`}`);
  if (failures > 0) throw new Error(`${failures} integration test(s) failed`);
}

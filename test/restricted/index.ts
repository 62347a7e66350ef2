// Mocha entry for the packaged-extension run: NormLens installed from its .vsix, the folder opened
// in Restricted Mode (an untrusted workspace), as a user who installed the .vsix would get it.
import Mocha from 'mocha';
import { format } from 'node:util';
import * as vscode from 'vscode';

/** Runs the restricted-mode suite; rejects when any test fails. */
export async function run(): Promise<void> {
  Mocha.reporters.Base.consoleLog = (...args: unknown[]) => {
    for (const line of format(...args).split('\n')) console.log(`[mocha] ${line}`);
  };
  const mocha = new Mocha({ ui: 'bdd', timeout: 60000, color: false, reporter: 'spec' });
  console.log(`[normlens-test] VS Code ${vscode.version}: the packaged .vsix in an untrusted workspace`);
  mocha.suite.emit('pre-require', globalThis, 'restricted-bundle', mocha);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('./restricted.test');
  Mocha.reporters.Base.useColors = false;
  let passed = 0;
  const failures = await new Promise<number>((resolve) => {
    const runner = mocha.run(resolve);
    runner.on('pass', () => passed++);
  });
  console.log(`[normlens-summary] restricted: ${passed} passed, ${failures} failed`);
  console.log(`[normlens-test] ${failures === 0 ? 'all restricted-mode tests passed' : `${failures} restricted-mode test(s) failed`}`);
  if (failures > 0) throw new Error(`${failures} restricted-mode test(s) failed`);
}

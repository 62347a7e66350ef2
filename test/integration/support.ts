import * as vscode from 'vscode';
import { existsSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMMAND, type InspectorViewId, type RenderSummary } from '../../src/protocol';

/** The extension under test, activated. */
export async function activateNormLens(): Promise<vscode.Extension<{ version: string }>> {
  const ext = vscode.extensions.getExtension<{ version: string }>('normlens.normlens');
  if (!ext) throw new Error('the NormLens extension is not installed in this VS Code');
  await ext.activate();
  return ext;
}

/** A path in the test workspace (test/fixtures). */
export function workspaceUri(...segments: string[]): vscode.Uri {
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (!folder) throw new Error('integration tests need a workspace folder');
  return vscode.Uri.joinPath(folder.uri, ...segments);
}

/** Waits until `probe` returns a value that is not undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 20000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The webviews that report their renders. */
export type RenderingWebview = 'inspector' | 'sidePanel' | 'abPanel';

/** The last render summary of the active inspector (or of the side panel / A/B panel). */
export async function lastRender(which: RenderingWebview = 'inspector', timeoutMs = 30000): Promise<RenderSummary> {
  const s = await vscode.commands.executeCommand<RenderSummary | undefined>(COMMAND.lastRender, which, timeoutMs);
  if (!s) throw new Error(`no ${which} webview reported a render within ${timeoutMs} ms`);
  return s;
}

/**
 * The one render-wait helper: waits until the last render of `which` satisfies `accept` (e.g. the
 * side panel, which may still show what it drew before, has drawn the new dump).
 */
export function renderMatching(which: RenderingWebview, what: string, accept: (s: RenderSummary) => boolean, timeoutMs = 30000): Promise<RenderSummary> {
  return waitFor(
    what,
    async () => {
      const s = await lastRender(which, timeoutMs);
      return accept(s) ? s : undefined;
    },
    timeoutMs,
  );
}

/** Runs `action` and returns the first inspector render that happens after it started. */
export async function renderAfter(action: () => Thenable<unknown> | Promise<unknown>, timeoutMs = 60000): Promise<RenderSummary> {
  const count = await vscode.commands.executeCommand<number>(COMMAND.renderCount);
  await action();
  const s = await vscode.commands.executeCommand<RenderSummary | undefined>(COMMAND.lastRender, 'inspector', timeoutMs, count);
  if (!s) throw new Error(`no inspector rendered within ${timeoutMs} ms`);
  return s;
}

/** Opens `uri` with `viewType` and returns its first render. */
export function openAndRender(uri: vscode.Uri, viewType = 'normlens.inspector'): Promise<RenderSummary> {
  return renderAfter(() => vscode.commands.executeCommand('vscode.openWith', uri, viewType));
}

/** Switches the active inspector to `view` and returns what it rendered. */
export function showView(view: InspectorViewId): Promise<RenderSummary> {
  return renderAfter(() => vscode.commands.executeCommand(COMMAND.showView, view));
}

/** Lets the workbench finish layout and painting (for screenshots). */
export function settle(ms = 700): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Asks the test harness (outside VS Code) for a screenshot of the whole workbench and waits for
 * it. A no-op when the harness cannot take screenshots (desktop route).
 */
export async function screenshot(name: string, settleMs = 700): Promise<void> {
  const dir = process.env.NORMLENS_SCREENSHOT_DIR;
  if (!dir) return;
  await settle(settleMs);
  mkdirSync(dir, { recursive: true });
  const png = join(dir, `${name}.png`);
  writeFileSync(join(dir, `${name}.request`), '');
  await waitFor(`screenshot ${name}`, () => (existsSync(png) ? true : undefined), 20000);
}

/** Closes every editor. */
export async function closeAll(): Promise<void> {
  await vscode.commands.executeCommand('workbench.action.closeAllEditors');
}

/** A UI action the harness performs in the browser, as a user would. */
export type UiAction =
  | { kind: 'click'; selector: string }
  | { kind: 'focus'; selector: string }
  | { kind: 'press'; keys: string[] }
  | { kind: 'palette'; text: string };

let uiActions = 0;

/** True when the harness can drive the page (offline route); the desktop route cannot. */
export function canDriveUi(): boolean {
  return !!process.env.NORMLENS_SCREENSHOT_DIR;
}

/** Asks the harness to perform `action` in the workbench (clicks reach into webview iframes). */
export async function ui(action: UiAction): Promise<void> {
  const dir = process.env.NORMLENS_SCREENSHOT_DIR;
  if (!dir) throw new Error('this VS Code route cannot drive the UI');
  const name = `ui-${process.pid}-${++uiActions}`;
  writeFileSync(join(dir, `${name}.action.json`), JSON.stringify(action));
  const done = join(dir, `${name}.done`);
  const outcome = await waitFor(`UI action ${JSON.stringify(action)}`, () => (existsSync(done) ? readFileSync(done, 'utf8') : undefined), 30000);
  unlinkSync(done);
  if (outcome !== 'ok') throw new Error(`UI action ${JSON.stringify(action)} failed: ${outcome}`);
}

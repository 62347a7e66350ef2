import { strict as assert } from 'node:assert';
import * as vscode from 'vscode';
import { activateNormLens, closeAll, lastRender, screenshot, workspaceUri } from '../support';

describe('NormLens foundation', () => {
  after(closeAll);

  it('activates and contributes its commands', async () => {
    const ext = await activateNormLens();
    assert.equal(ext.isActive, true);
    assert.match(ext.exports.version, /^\d+\.\d+\.\d+$/);
    const commands = await vscode.commands.getCommands(true);
    for (const c of ['normlens.openSample', 'normlens.showLog']) assert.ok(commands.includes(c), `missing command ${c}`);
  });

  it('shows its log channel', async () => {
    await vscode.commands.executeCommand('normlens.showLog');
  });

  it('opens an .npy in the inspector webview, completes the handshake and reports the render', async () => {
    const uri = workspaceUri('hello.npy');
    await vscode.commands.executeCommand('vscode.openWith', uri, 'normlens.inspector');
    const summary = await lastRender();
    assert.equal(summary.view, 'overview');
    assert.equal(summary.error, undefined);
    await screenshot('foundation-inspector');
  });

  it('opens the bundled sample', async () => {
    await vscode.commands.executeCommand('normlens.openSample');
    const summary = await lastRender('next');
    assert.equal(summary.view, 'overview');
    await new Promise((r) => setTimeout(r, 1500));
    await screenshot('sample-overview');
  });
});

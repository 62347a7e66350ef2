import { strict as assert } from 'node:assert';
import * as vscode from 'vscode';
import { activateNormLens, closeAll, openAndRender, screenshot, workspaceUri } from '../support';

describe('NormLens foundation', () => {
  after(closeAll);

  it('activates and contributes its commands', async () => {
    const ext = await activateNormLens();
    assert.equal(ext.isActive, true);
    assert.match(ext.exports.version, /^\d+\.\d+\.\d+$/);
    const commands = await vscode.commands.getCommands(true);
    for (const c of ['analyze', 'openInspector', 'compareNorms', 'compareDumps', 'openSample', 'exportReport', 'exportChart', 'showLog']) {
      assert.ok(commands.includes(`normlens.${c}`), `missing command normlens.${c}`);
    }
  });

  it('declares untrusted and virtual workspace support (a read-only viewer)', async () => {
    const ext = await activateNormLens();
    const caps = ext.packageJSON.capabilities;
    // Limited: a read-only viewer, but an untrusted workspace cannot raise size limits.
    assert.equal(caps.untrustedWorkspaces.supported, 'limited');
    assert.ok(caps.untrustedWorkspaces.restrictedConfigurations.includes('normlens.maxInMemoryMB'));
    assert.equal(caps.virtualWorkspaces, true);
    assert.ok(!ext.packageJSON.activationEvents.includes('*'), 'no * activation');
  });

  it('shows its log channel', async () => {
    await vscode.commands.executeCommand('normlens.showLog');
  });

  it('opens an .npy in the inspector webview, completes the handshake and reports the render', async () => {
    const summary = await openAndRender(workspaceUri('integration', 'hello.npy'));
    assert.equal(summary.view, 'overview');
    assert.equal(summary.error, undefined);
    assert.ok(summary.charts.length >= 1, 'the overview draws the input histogram');
    await vscode.commands.executeCommand('workbench.action.closePanel');
    await screenshot('foundation-inspector');
  });
});

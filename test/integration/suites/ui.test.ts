import { strict as assert } from 'node:assert';
import * as vscode from 'vscode';
import { COMMAND, VIEW } from '../../../src/protocol';
import { canDriveUi, closeAll, renderAfter, renderMatching, ui, workspaceUri } from '../support';

describe('Driving the UI like a user', function () {
  before(async function () {
    if (!canDriveUi()) this.skip();
    await closeAll();
    await renderAfter(() => vscode.commands.executeCommand('normlens.openSample'));
  });
  after(closeAll);

  it('clicking a tab header switches the view', async () => {
    const s = await renderAfter(() => ui({ kind: 'click', selector: 'vscode-tab-header[data-view="batchnorm"]' }));
    assert.equal(s.view, 'batchnorm');
  });

  it('a warning’s link opens the view that explains it', async () => {
    await renderAfter(() => ui({ kind: 'click', selector: 'vscode-tab-header[data-view="overview"]' }));
    const s = await renderAfter(() => ui({ kind: 'click', selector: 'li.warning[data-code="padding-in-batch-stats"] vscode-button' }));
    assert.equal(s.view, 'batchnorm');
  });

  it('unchecking "use mask" re-runs the analysis without the mask', async () => {
    const s = await renderAfter(() => ui({ kind: 'click', selector: 'vscode-checkbox#opt-mask' }));
    assert.ok(!s.warnings.includes('padding-in-batch-stats'), `no padding warning without a mask: ${s.warnings.join(', ')}`);
    const back = await renderAfter(() => ui({ kind: 'click', selector: 'vscode-checkbox#opt-mask' }));
    assert.ok(back.warnings.includes('padding-in-batch-stats'), 'the mask is back');
  });

  it('the heatmap zooms from the keyboard', async () => {
    const first = await renderAfter(() => ui({ kind: 'click', selector: 'vscode-tab-header[data-view="tokens"]' }));
    assert.deepEqual(first.heatmap, { rows: 128, cols: 64 }, 'all 128 tokens × 64 features');
    await ui({ kind: 'focus', selector: 'canvas.heatmap' });
    const zoomed = await renderAfter(() => ui({ kind: 'press', keys: ['+'] }));
    assert.deepEqual(zoomed.heatmap, { rows: 64, cols: 32 }, '+ halves tokens and features');
    assert.ok(zoomed.tables.some((t) => t.id === 'tokens-heatmap' && t.rows === 64), 'small enough for a table of values');
    const reset = await renderAfter(() => ui({ kind: 'press', keys: ['0'] }));
    assert.deepEqual(reset.heatmap, { rows: 128, cols: 64 });
  });

  it('a side panel warning link opens the inspector on the view that explains it (the shared allow-list)', async () => {
    await closeAll();
    const uri = workspaceUri('integration', 'tokens.json');
    await vscode.commands.executeCommand(COMMAND.compareNorms, uri);
    await renderMatching('sidePanel', 'the side panel to show tokens.json', (r) => r.warnings.includes('outlier-feature'));
    const s = await renderAfter(() => ui({ kind: 'click', selector: 'li.warning[data-code="outlier-feature"] button.reveal' }));
    assert.equal(s.view, VIEW.tokens);
    const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
    assert.ok(input instanceof vscode.TabInputCustom);
    assert.equal(input.uri.toString(), uri.toString());
    await vscode.commands.executeCommand('workbench.action.closeSidebar');
  });

  it('runs a NormLens command from the command palette', async () => {
    await closeAll();
    const s = await renderAfter(() => ui({ kind: 'palette', text: 'NormLens: Open Bundled Sample Dump' }));
    assert.equal(s.view !== 'error', true);
    assert.match(vscode.window.tabGroups.activeTabGroup.activeTab?.label ?? '', /transformer-block\.npz/);
  });
});

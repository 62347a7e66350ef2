import { strict as assert } from 'node:assert';
import * as vscode from 'vscode';
import { VIEW } from '../../../src/protocol';
import { closeAll, openAndRender, renderAfter, screenshot, showView, ui, workspaceUri } from '../support';

describe('Inspector: every format opens', () => {
  afterEach(closeAll);

  it('opens .npy by default (vscode.open picks the NormLens inspector)', async () => {
    const s = await renderAfter(() => vscode.commands.executeCommand('vscode.open', workspaceUri('integration', 'hello.npy')));
    assert.equal(s.view, 'overview');
    const tab = vscode.window.tabGroups.activeTabGroup.activeTab;
    assert.ok(tab?.input instanceof vscode.TabInputCustom, 'the active tab is a custom editor');
    assert.equal((tab!.input as vscode.TabInputCustom).viewType, 'normlens.inspector');
  });

  it('opens an .npz (the bundled transformer block) with its input, mask and output', async () => {
    const s = await renderAfter(() => vscode.commands.executeCommand('normlens.openSample'));
    assert.equal(s.view, 'overview');
    assert.ok(s.tables.some((t) => t.id === 'tensors' && t.rows >= 3), 'tensor table lists input, mask and output');
    assert.ok(s.warnings.includes('padding-in-batch-stats'));
  });

  it('opens .safetensors through Open With (bfloat16-free LayerNorm dump)', async () => {
    const s = await openAndRender(workspaceUri('integration', 'layernorm.safetensors'), 'normlens.inspectorOptIn');
    assert.equal(s.view, 'overview');
    assert.equal(s.error, undefined);
  });

  it('opens a JSON dump with tokens through Open With', async () => {
    const s = await openAndRender(workspaceUri('integration', 'tokens.json'), 'normlens.inspectorOptIn');
    assert.equal(s.view, 'overview');
    assert.ok(s.warnings.includes('outlier-feature'), `warnings: ${s.warnings.join(', ')}`);
  });

  it('shows a readable error view for a malformed file, never a blank page', async () => {
    const s = await openAndRender(workspaceUri('integration', 'truncated.npy'));
    assert.equal(s.view, 'error');
    assert.match(s.error ?? '', /truncated/);
    assert.match(s.error ?? '', /re-save|re-copy/i);
    await screenshot('error-view');
  });
});

describe('Inspector: each view renders its charts', () => {
  before(async () => {
    await renderAfter(() => vscode.commands.executeCommand('normlens.openSample'));
  });
  after(closeAll);

  const chart = (s: Awaited<ReturnType<typeof showView>>, id: string) => s.charts.find((c) => c.id === id);

  it('LayerNorm: per-token statistics and before/after histograms', async () => {
    const s = await showView(VIEW.layerNorm);
    assert.equal(s.view, 'layernorm');
    assert.equal(chart(s, 'ln-token-stats')?.series, 2);
    assert.equal(chart(s, 'ln-token-stats')?.points, 32, 'one point per position of a batch element');
    assert.equal(chart(s, 'ln-hist-after')?.points, 64, '64 bins by default');
    assert.ok(s.tables.length >= 4, 'each chart has a data table');
    // Another batch element, by keyboard: its series come from the host on request (not in the page's report).
    await ui({ kind: 'focus', selector: '#ln-batch' });
    const other = await renderAfter(() => ui({ kind: 'press', keys: ['ArrowDown', 'ArrowDown', 'ArrowDown', 'Enter'] }));
    assert.equal(chart(other, 'ln-token-stats')?.title, 'Batch element 2: token mean and std');
    assert.equal(chart(other, 'ln-token-stats')?.points, 32);
    await ui({ kind: 'focus', selector: '#ln-batch' });
    const back = await renderAfter(() => ui({ kind: 'press', keys: ['ArrowDown', 'ArrowUp', 'ArrowUp', 'Enter'] }));
    assert.equal(chart(back, 'ln-token-stats')?.title, 'Batch element 0: token mean and std');
  });

  it('BatchNorm: per-feature stats, sub-batch sensitivity, padding and per-batch quantiles', async () => {
    const s = await showView(VIEW.batchNorm);
    assert.equal(chart(s, 'bn-feature-stats')?.points, 64);
    assert.ok((chart(s, 'bn-subbatch')?.points ?? 0) >= 2, 'sub-batch sizes 1, 2, 4');
    assert.equal(chart(s, 'bn-subbatch')?.series, 3);
    assert.ok(chart(s, 'bn-padding'), 'padding sensitivity chart');
    assert.equal(chart(s, 'bn-per-batch')?.points, 4, 'one point per batch element');
  });

  it('Compare: LayerNorm vs RMSNorm vs BatchNorm on shared bins', async () => {
    const s = await showView(VIEW.compare);
    assert.equal(chart(s, 'cmp-hist')?.series, 3);
    assert.equal(chart(s, 'cmp-token-std')?.series, 3);
    assert.ok(s.tables.some((t) => t.id === 'compare-summary' && t.rows === 3));
  });

  it('Tokens: a tokens × features heatmap from the host', async () => {
    const s = await showView(VIEW.tokens);
    assert.deepEqual(s.heatmap, { rows: 128, cols: 64 }, 'one cell per token and feature');
  });

  it('Replay: recorded vs recomputed with best match', async () => {
    const s = await showView(VIEW.replay);
    assert.ok(s.tables.some((t) => t.id === 'replay' && t.rows === 3), 'a row per candidate norm');
    assert.equal(chart(s, 'replay-hist')?.series, 2, 'recorded vs recomputed distributions');
    assert.equal(chart(s, 'replay-err-hist')?.series, 3, 'an error distribution per candidate');
  });

  it('restores the selected view after the webview is hidden and shown again', async () => {
    await showView(VIEW.batchNorm);
    const sample = vscode.Uri.joinPath(vscode.extensions.getExtension('normlens.normlens')!.extensionUri, 'media', 'samples', 'transformer-block.npz');
    // Another editor in the same group hides the sample's webview (its context is not retained) ...
    await openAndRender(workspaceUri('integration', 'hello.npy'));
    // ... and showing it again reloads the page, which must restore the view it had.
    const s = await openAndRender(sample);
    assert.equal(s.view, 'batchnorm', 'getState/setState kept the view');
  });
});

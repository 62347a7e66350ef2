import { strict as assert } from 'node:assert';
import { copyFileSync, mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { VIEW } from '../../../src/protocol';
import type { AnalysisReport } from '../../../src/core/report/analysisReport';
import { closeAll, openAndRender, renderAfter, showView, workspaceUri } from '../support';

describe('Settings and live updates', () => {
  const config = () => vscode.workspace.getConfiguration('normlens');
  afterEach(async () => {
    await config().update('bins', undefined, vscode.ConfigurationTarget.Global);
    await config().update('thresholds.outlierFeatureFactor', undefined, vscode.ConfigurationTarget.Global);
    await config().update('limits.maxTokenSeries', undefined, vscode.ConfigurationTarget.Global);
  });
  after(closeAll);

  it('changing normlens.bins re-runs the analysis and redraws with the new bins', async () => {
    await openAndRender(workspaceUri('integration', 'layernorm.safetensors'), 'normlens.inspectorOptIn');
    await showView(VIEW.layerNorm);
    const s = await renderAfter(() => config().update('bins', 24, vscode.ConfigurationTarget.Global));
    assert.equal(s.view, 'layernorm');
    assert.equal(s.charts.find((c) => c.id === 'ln-hist-after')?.points, 24);
  });

  it('over normlens.limits.maxTokenSeries the LayerNorm view says the per-token series were reduced (no per-token chart)', async () => {
    // Alone on screen: no other inspector re-renders (a setting reset after the previous test) meanwhile.
    await closeAll();
    await openAndRender(vscode.Uri.joinPath(vscode.extensions.getExtension('normlens.normlens')!.extensionUri, 'media', 'samples', 'transformer-block.npz'));
    await showView(VIEW.layerNorm);
    // The sample has 4 × 32 = 128 tokens: a cap of 64 reduces its per-token arrays.
    const s = await renderAfter(() => config().update('limits.maxTokenSeries', 64, vscode.ConfigurationTarget.Global));
    assert.equal(s.view, 'layernorm');
    assert.equal(s.charts.find((c) => c.id === 'ln-token-stats'), undefined);
    assert.ok(s.charts.find((c) => c.id === 'ln-token-std-all'), 'the all-token series is drawn from its buckets');
    assert.match((s.notes ?? []).join(' '), /Per-token series: 128 tokens.*normlens\.limits\.maxTokenSeries/);
    // Closed before the cap is reset, so that re-run renders nothing into the next test.
    await closeAll();
  });

  it('warning thresholds come from settings', async () => {
    const uri = workspaceUri('integration', 'tokens.json');
    const before = await vscode.commands.executeCommand<AnalysisReport>('normlens.analyze', uri, { progress: false });
    assert.ok(before.warnings.some((w) => w.code === 'outlier-feature'));
    await config().update('thresholds.outlierFeatureFactor', 1000, vscode.ConfigurationTarget.Global);
    const after = await vscode.commands.executeCommand<AnalysisReport>('normlens.analyze', uri, { progress: false });
    assert.ok(!after.warnings.some((w) => w.code === 'outlier-feature'), 'a higher factor silences the warning');
  });

  it('re-analyzes when the file changes on disk', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'normlens-watch-'));
    const file = join(dir, 'live.npy');
    copyFileSync(workspaceUri('integration', 'hello.npy').fsPath, file);
    const first = await openAndRender(vscode.Uri.file(file));
    assert.equal(first.view, 'overview');
    const r1 = await vscode.commands.executeCommand<AnalysisReport>('normlens.analyze', vscode.Uri.file(file), { progress: false });
    // Same header, different values: every element + 100.
    const bytes = readFileSync(file);
    const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset + 128, bytes.byteOffset + bytes.byteLength));
    for (let i = 0; i < data.length; i++) data[i]! += 100;
    const changed = Buffer.concat([bytes.subarray(0, 128), Buffer.from(data.buffer)]);
    await renderAfter(async () => writeFileSync(file, changed), 30000);
    const r2 = await vscode.commands.executeCommand<AnalysisReport>('normlens.analyze', vscode.Uri.file(file), { progress: false });
    assert.equal(r2.global.mean, r1.global.mean + 100);
  });
});

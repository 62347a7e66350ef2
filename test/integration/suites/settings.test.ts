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
  });
  after(closeAll);

  it('changing normlens.bins re-runs the analysis and redraws with the new bins', async () => {
    await openAndRender(workspaceUri('integration', 'layernorm.safetensors'), 'normlens.inspectorOptIn');
    await showView(VIEW.layerNorm);
    const s = await renderAfter(() => config().update('bins', 24, vscode.ConfigurationTarget.Global));
    assert.equal(s.view, 'layernorm');
    assert.equal(s.charts.find((c) => c.id === 'ln-hist-after')?.points, 24);
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

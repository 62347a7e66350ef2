import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { AnalysisReport } from '../../../src/core/report/analysisReport';
import { closeAll, lastRender, renderAfter, renderMatching, waitFor, workspaceUri } from '../support';

const close = (a: number, b: number, rel = 1e-9) => Math.abs(a - b) <= rel * Math.max(1, Math.abs(b));

describe('Commands', () => {
  const out = mkdtempSync(join(tmpdir(), 'normlens-export-'));
  after(closeAll);

  it('normlens.analyze returns the report, with values numpy gives for the fixture', async () => {
    const r = await vscode.commands.executeCommand<AnalysisReport>('normlens.analyze', workspaceUri('integration', 'hello.npy'), { progress: false });
    // np.arange(12, dtype=float32).reshape(3, 4)
    assert.equal(r.schemaVersion, 1);
    assert.deepEqual(r.input.shape, [3, 4]);
    assert.deepEqual([r.layout.tokens, r.layout.features], [3, 4]);
    assert.ok(close(r.global.mean, 5.5));
    assert.ok(close(r.global.std, Math.sqrt(143 / 12)));
    assert.deepEqual(r.layerNorm.perToken.mean, [1.5, 5.5, 9.5]);
    for (const v of r.layerNorm.perToken.var) assert.ok(close(v, 1.25));
    assert.deepEqual(r.batchNorm.perFeature.mean, [4, 5, 6, 7]);
    for (const v of r.batchNorm.perFeature.var) assert.ok(close(v, 32 / 3));
    for (const v of r.batchNorm.perFeature.varUnbiased) assert.ok(close(v, 16));
    assert.ok(r.warnings.some((w) => w.code === 'small-batch'));
  });

  it('normlens.analyze accepts options (feature axis, eps, bins) and a path string', async () => {
    const path = workspaceUri('integration', 'hello.npy').fsPath;
    const r = await vscode.commands.executeCommand<AnalysisReport>('normlens.analyze', path, { featureAxis: 0, eps: 0.5, bins: 16, progress: false });
    assert.deepEqual([r.layout.featureAxis, r.layout.tokens, r.layout.features], [0, 4, 3]);
    assert.equal(r.layerNorm.eps, 0.5);
    assert.equal(r.histograms.input.counts.length, 16);
    assert.deepEqual(r.layerNorm.perToken.mean, [4, 5, 6, 7]);
  });

  it('normlens.analyze replays a recorded LayerNorm output (safetensors with weight and bias)', async () => {
    const r = await vscode.commands.executeCommand<AnalysisReport>('normlens.analyze', workspaceUri('integration', 'layernorm.safetensors'), { progress: false });
    assert.ok(r.comparison);
    assert.equal(r.comparison!.bestMatch, 'layernorm');
    assert.ok(r.comparison!.maxAbsError < 1e-5, `max abs error ${r.comparison!.maxAbsError}`);
    assert.ok(r.layerNorm.affine.weight && r.layerNorm.affine.bias);
    assert.equal(r.warnings.filter((w) => w.severity === 'error').length, 0);
  });

  it('normlens.analyze on the bundled sample finds LayerNorm and the padding', async () => {
    const uri = vscode.Uri.joinPath(vscode.extensions.getExtension('normlens.normlens')!.extensionUri, 'media', 'samples', 'transformer-block.npz');
    const r = await vscode.commands.executeCommand<AnalysisReport>('normlens.analyze', uri, { progress: false });
    assert.equal(r.comparison?.bestMatch, 'layernorm');
    assert.ok(r.layout.paddingTokens > 0);
    assert.ok(r.warnings.some((w) => w.code === 'padding-in-batch-stats'));
  });

  it('normlens.analyze rejects a malformed file with the reader’s message', async () => {
    await assert.rejects(
      Promise.resolve(vscode.commands.executeCommand('normlens.analyze', workspaceUri('integration', 'truncated.npy'), { progress: false })),
      (e: Error) => /truncated/.test(e.message),
    );
  });

  it('normlens.openInspector opens a safetensors dump in the inspector', async () => {
    const s = await renderAfter(() => vscode.commands.executeCommand('normlens.openInspector', workspaceUri('integration', 'layernorm.safetensors')));
    assert.equal(s.view, 'overview');
    const tab = vscode.window.tabGroups.activeTabGroup.activeTab;
    assert.equal((tab?.input as vscode.TabInputCustom).viewType, 'normlens.inspectorOptIn');
  });

  it('normlens.exportReport writes the JSON report', async () => {
    const target = vscode.Uri.file(join(out, 'report.json'));
    const written = await vscode.commands.executeCommand<string>('normlens.exportReport', 'json', workspaceUri('integration', 'layernorm.safetensors'), target);
    assert.equal(written, target.toString());
    const r = JSON.parse(readFileSync(target.fsPath, 'utf8')) as AnalysisReport;
    assert.equal(r.schemaVersion, 1);
    assert.equal(r.comparison?.bestMatch, 'layernorm');
  });

  it('normlens.exportReport writes a Markdown summary', async () => {
    const target = vscode.Uri.file(join(out, 'report.md'));
    await vscode.commands.executeCommand('normlens.exportReport', 'markdown', workspaceUri('integration', 'tokens.json'), target);
    const md = readFileSync(target.fsPath, 'utf8');
    assert.match(md, /^# NormLens report: tokens\.json/m);
    assert.match(md, /`outlier-feature`/);
    assert.match(md, /\| LayerNorm \|/);
  });

  it('normlens.exportChart saves the active view’s chart as PNG', async () => {
    await renderAfter(() => vscode.commands.executeCommand('normlens.openSample'));
    const target = vscode.Uri.file(join(out, 'chart.png'));
    await vscode.commands.executeCommand('normlens.exportChart', target);
    await waitFor('the PNG file', () => (existsSync(target.fsPath) ? true : undefined));
    const bytes = await waitFor('a complete PNG', () => {
      const b = readFileSync(target.fsPath);
      return b.length > 1000 ? b : undefined;
    });
    assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  });

  it('normlens.compareNorms fills the side panel with the dump’s comparison', async () => {
    const report = await vscode.commands.executeCommand<AnalysisReport>('normlens.compareNorms', workspaceUri('integration', 'tokens.json'));
    assert.ok(report);
    const s = await renderMatching('sidePanel', 'the side panel to show tokens.json', (r) => r.view === 'sidePanel' && r.warnings.includes('outlier-feature'));
    assert.ok(s.charts.some((c) => c.id === 'side-hist' && c.series === 2));
  });

  it('normlens.compareDumps shows two dumps side by side', async () => {
    const uri = vscode.Uri.joinPath(vscode.extensions.getExtension('normlens.normlens')!.extensionUri, 'media', 'samples', 'transformer-block.npz');
    await vscode.commands.executeCommand('normlens.compareDumps', uri, workspaceUri('integration', 'layernorm.safetensors'));
    const s = await lastRender('abPanel', 60000);
    assert.equal(s.view, 'abPanel');
    assert.equal(s.charts.length, 6, 'input, LayerNorm and BatchNorm histograms for A and B');
    assert.ok(s.tables.some((t) => t.id === 'ab-stats' && t.rows > 5));
  });

  it('normlens.openSample opens the CNN sample, analyzable channels-first', async () => {
    const uri = vscode.Uri.joinPath(vscode.extensions.getExtension('normlens.normlens')!.extensionUri, 'media', 'samples', 'cnn-batchnorm.npz');
    const r = await vscode.commands.executeCommand<AnalysisReport>('normlens.analyze', uri, { featureAxis: 1, progress: false });
    assert.equal(r.layout.featureAxis, 1);
    assert.equal(r.layout.features, r.input.shape[1]);
    assert.ok(r.runningStats, 'running_mean / running_var are checked');
  });
});

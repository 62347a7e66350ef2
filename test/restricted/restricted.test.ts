import { strict as assert } from 'node:assert';
import * as vscode from 'vscode';
import type { AnalysisReport } from '../../src/core/report/analysisReport';
import type { RenderSummary } from '../../src/protocol';

const file = (name = 'hello.npy') => vscode.Uri.joinPath(vscode.workspace.workspaceFolders![0]!.uri, name);

describe('The packaged extension in Restricted Mode', () => {
  it('runs in an untrusted workspace', () => {
    assert.equal(vscode.workspace.isTrusted, false);
  });

  it('is installed from the .vsix (not a development copy) and enabled', async () => {
    const ext = vscode.extensions.getExtension('normlens.normlens');
    assert.ok(ext, 'NormLens is installed');
    assert.ok(!ext.extensionUri.path.includes('/test/'), `installed copy, not the source tree: ${ext.extensionUri.path}`);
    await ext.activate();
    const commands = await vscode.commands.getCommands(true);
    assert.ok(commands.includes('normlens.analyze'));
  });

  it('analyzes a small dump in process', async () => {
    const r = await vscode.commands.executeCommand<AnalysisReport>('normlens.analyze', file(), { progress: false });
    assert.equal(r.global.mean, 5.5);
    assert.deepEqual(r.layerNorm.perToken.mean, [1.5, 5.5, 9.5]);
  });

  it('analyzes a larger dump on worker threads from the packaged dist/worker.js', async () => {
    // big.npy: (512, 4096) float32, feature f holds f / 4096 in every token.
    const r = await vscode.commands.executeCommand<AnalysisReport>('normlens.analyze', file('big.npy'), { progress: false });
    assert.ok(r.timing.workers > 0, `workers used: ${r.timing.workers}`);
    assert.ok(Math.abs(r.global.mean - 4095 / 2 / 4096) < 1e-12);
    assert.ok(Math.abs(r.batchNorm.perFeature.mean[4095]! - 4095 / 4096) < 1e-12);
  });

  it('opens the inspector and renders', async () => {
    await vscode.commands.executeCommand('vscode.openWith', file(), 'normlens.inspector');
    const s = await vscode.commands.executeCommand<RenderSummary | undefined>('normlens.internal.lastRender', 'inspector', 30000);
    assert.ok(s, 'the inspector rendered');
    assert.equal(s.view, 'overview');
    assert.ok(s.charts.length > 0);
  });
});

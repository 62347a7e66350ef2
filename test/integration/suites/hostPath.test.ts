import { strict as assert } from 'node:assert';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { AnalysisReport } from '../../../src/core/report/analysisReport';
import { COMMAND } from '../../../src/protocol';
import { closeAll, renderAfter, workspaceUri } from '../support';

/** Writes a (1024, 1024) float32 .npy (4 MiB: big enough for worker threads) whose header is ~12 kB. */
function writeBigHeaderNpy(path: string): void {
  const [T, H] = [1024, 1024];
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${T}, ${H}), }`;
  header += ' '.repeat(12000 + 63 - ((10 + header.length + 12000) % 64)) + '\n';
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, Buffer.concat([Buffer.from([0x93]), Buffer.from('NUMPY'), Buffer.from([1, 0, header.length & 0xff, header.length >> 8]), Buffer.from(header, 'latin1')]));
    const values = new Float32Array(T * H);
    for (let i = 0; i < values.length; i++) values[i] = Math.sin(i * 0.013) + (i % H === 7 ? 3 : 0);
    writeSync(fd, new Uint8Array(values.buffer));
  } finally {
    closeSync(fd);
  }
}

describe('One host path: settings, limits and the active tab', () => {
  const config = () => vscode.workspace.getConfiguration('normlens');
  const dir = mkdtempSync(join(tmpdir(), 'normlens-host-'));
  afterEach(async () => {
    await config().update('eps', undefined, vscode.ConfigurationTarget.Global);
    await config().update('limits.maxNpyHeaderBytes', undefined, vscode.ConfigurationTarget.Global);
  });
  after(async () => {
    await closeAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a JSON dump’s own eps is used while normlens.eps is not set; a set eps wins', async () => {
    const uri = workspaceUri('integration', 'tokens.json');
    const own = await vscode.commands.executeCommand<AnalysisReport>(COMMAND.analyze, uri, { progress: false });
    assert.equal(own.layerNorm.eps, 1e-6, 'tokens.json says eps 1e-6');
    await config().update('eps', 1e-3, vscode.ConfigurationTarget.Global);
    const set = await vscode.commands.executeCommand<AnalysisReport>(COMMAND.analyze, uri, { progress: false });
    assert.equal(set.layerNorm.eps, 1e-3);
  });

  it('raised normlens.limits reach the analysis workers, not only the host', async function () {
    this.timeout(120000);
    const file = vscode.Uri.file(join(dir, 'big-header.npy'));
    writeBigHeaderNpy(file.fsPath);
    await assert.rejects(Promise.resolve(vscode.commands.executeCommand(COMMAND.analyze, file, { progress: false })), (e: Error) => /header/i.test(e.message));
    await config().update('limits.maxNpyHeaderBytes', 20000, vscode.ConfigurationTarget.Global);
    const r = await vscode.commands.executeCommand<AnalysisReport>(COMMAND.analyze, file, { progress: false });
    assert.deepEqual(r.input.shape, [1024, 1024]);
    assert.ok(r.timing.workers > 0, `analyzed on worker threads (${r.timing.workers})`);
  });

  it('Open in Inspector on a .safetensors shown in the default (binary) editor opens that file', async () => {
    await closeAll();
    const uri = workspaceUri('integration', 'layernorm.safetensors');
    await vscode.commands.executeCommand('vscode.openWith', uri, 'default');
    assert.equal(vscode.window.activeTextEditor, undefined, 'the binary notice has no text editor');
    const s = await renderAfter(() => vscode.commands.executeCommand(COMMAND.openInspector));
    assert.equal(s.view, 'overview');
    const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
    assert.ok(input instanceof vscode.TabInputCustom, 'the inspector is the active tab');
    assert.equal(input.uri.toString(), uri.toString());
    assert.equal(input.viewType, 'normlens.inspectorOptIn');
  });
});

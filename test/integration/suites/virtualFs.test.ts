import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import * as vscode from 'vscode';
import type { AnalysisReport } from '../../../src/core/report/analysisReport';
import { closeAll, openAndRender, workspaceUri } from '../support';

/** A read-only in-memory file system, standing in for remote and virtual workspaces. */
class MemoryFileSystem implements vscode.FileSystemProvider {
  private readonly emitter = new vscode.EventEmitter<vscode.FileChangeEvent[]>();
  readonly onDidChangeFile = this.emitter.event;
  constructor(private readonly files: Map<string, Uint8Array>) {}
  watch(): vscode.Disposable {
    return new vscode.Disposable(() => undefined);
  }
  stat(uri: vscode.Uri): vscode.FileStat {
    const f = this.files.get(uri.path);
    if (!f) throw vscode.FileSystemError.FileNotFound(uri);
    return { type: vscode.FileType.File, ctime: 0, mtime: 1, size: f.byteLength };
  }
  readFile(uri: vscode.Uri): Uint8Array {
    const f = this.files.get(uri.path);
    if (!f) throw vscode.FileSystemError.FileNotFound(uri);
    return f;
  }
  readDirectory(): [string, vscode.FileType][] {
    return [...this.files.keys()].map((p) => [p.slice(1), vscode.FileType.File]);
  }
  createDirectory(): void {
    throw vscode.FileSystemError.NoPermissions('read-only');
  }
  writeFile(): void {
    throw vscode.FileSystemError.NoPermissions('read-only');
  }
  delete(): void {
    throw vscode.FileSystemError.NoPermissions('read-only');
  }
  rename(): void {
    throw vscode.FileSystemError.NoPermissions('read-only');
  }
}

describe('Virtual file systems (workspace.fs)', () => {
  let registration: vscode.Disposable;
  before(() => {
    const files = new Map<string, Uint8Array>([
      ['/hello.npy', readFileSync(workspaceUri('integration', 'hello.npy').fsPath)],
      ['/layernorm.safetensors', readFileSync(workspaceUri('integration', 'layernorm.safetensors').fsPath)],
      // An npz whose members sit at offsets that are not multiples of 4 (given as a Node Buffer).
      ['/transformer-block.npz', readFileSync(vscode.Uri.joinPath(vscode.extensions.getExtension('normlens.normlens')!.extensionUri, 'media', 'samples', 'transformer-block.npz').fsPath)],
    ]);
    registration = vscode.workspace.registerFileSystemProvider('normlens-mem', new MemoryFileSystem(files), { isReadonly: true });
  });
  after(async () => {
    await closeAll();
    registration.dispose();
  });

  it('analyzes a dump that is not a local file', async () => {
    const r = await vscode.commands.executeCommand<AnalysisReport>('normlens.analyze', vscode.Uri.parse('normlens-mem:/layernorm.safetensors'), { progress: false });
    assert.equal(r.comparison?.bestMatch, 'layernorm');
    assert.equal(r.timing.workers, 0, 'read through workspace.fs into memory, analyzed in process');
  });

  it('analyzes an npz read into memory (unaligned members)', async () => {
    const r = await vscode.commands.executeCommand<AnalysisReport>('normlens.analyze', vscode.Uri.parse('normlens-mem:/transformer-block.npz'), { progress: false });
    assert.equal(r.comparison?.bestMatch, 'layernorm');
    assert.equal(r.timing.workers, 0);
  });

  it('opens it in the inspector', async () => {
    const s = await openAndRender(vscode.Uri.parse('normlens-mem:/hello.npy'));
    assert.equal(s.view, 'overview');
    assert.equal(s.error, undefined);
  });
});

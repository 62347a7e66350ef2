import * as vscode from 'vscode';
import { analyzeDump } from '../core/analysis/analyze';
import type { AnalysisOptions } from '../core/analysis/plan';
import { guessRoles } from '../core/dump/roles';
import { NormLensError, isNormLensError } from '../core/errors';
import { openDump } from '../core/formats/openDump';
import type { OpenDumpOptions } from '../core/formats/options';
import type { Dump } from '../core/formats/types';
import { MemoryByteSource, type ByteSource } from '../core/io/byteSource';
import type { AnalysisReport } from '../core/report/analysisReport';
import { NodeFileByteSource } from '../platform/nodeFileSource';
import type { TensorSummary, ViewOptions } from '../protocol';
import { log } from './log';
import { readSettings } from './settings';
import { analyzeLocalFile } from './workerAnalysis';

/** A finished analysis with what the views need besides the report. */
export interface AnalysisResult {
  report: AnalysisReport;
  tensors: TensorSummary[];
  tokens?: string[];
  /** The analysis options actually used (settings merged with view options). */
  options: AnalysisOptions;
}

/** How a caller follows and stops a run. */
export interface RunControl {
  token?: vscode.CancellationToken;
  onProgress?(fraction: number): void;
}

interface CacheEntry {
  key: string;
  result: Promise<AnalysisResult>;
}

/** Most reports kept in the cache (each is a few MiB at most). */
const CACHE_SIZE = 16;

/**
 * Opens dumps and runs analyses: local files are streamed by worker threads, other URIs
 * (remote/virtual file systems) are read through `workspace.fs` into memory up to a limit.
 * Reports are cached by URI, modification time, size and options.
 */
export class AnalysisService implements vscode.Disposable {
  private readonly cache: CacheEntry[] = [];
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  /** Fires when a file that has a cached report changed on disk. */
  readonly onDidChangeFile = this.changed.event;
  private readonly watchers = new Map<string, vscode.Disposable>();

  constructor(private readonly extensionUri: vscode.Uri) {}

  dispose(): void {
    this.changed.dispose();
    for (const w of this.watchers.values()) w.dispose();
    this.watchers.clear();
  }

  /** Analyses `uri` with the settings and `view` options; cached, cancellable. */
  async analyze(uri: vscode.Uri, view: ViewOptions = {}, control: RunControl = {}): Promise<AnalysisResult> {
    const stat = await statOrThrow(uri);
    const settings = readSettings(view, uri);
    const key = JSON.stringify([uri.toString(), stat.mtime, stat.size, settings.analysis, settings.open, view.useMask === false]);
    const hit = this.cache.find((e) => e.key === key);
    if (hit) {
      log().debug(`report cache hit for ${uri.toString()}`);
      return hit.result;
    }
    const result = this.run(uri, stat, view, control);
    this.cache.unshift({ key, result });
    this.cache.splice(CACHE_SIZE);
    result.catch(() => {
      const i = this.cache.findIndex((e) => e.key === key);
      if (i >= 0) this.cache.splice(i, 1);
    });
    this.watch(uri);
    return result;
  }

  private async run(uri: vscode.Uri, stat: vscode.FileStat, view: ViewOptions, control: RunControl): Promise<AnalysisResult> {
    const settings = readSettings(view, uri);
    const started = Date.now();
    const { dump, close } = await this.open(uri, stat, settings.open, settings.maxInMemoryBytes);
    try {
      const roles = guessRoles(dump.tensors.map((t) => t.info));
      const options: AnalysisOptions = { ...settings.analysis, roles, ...(view.useMask === false ? { ignoreMask: true } : {}) };
      const abort = { aborted: false };
      const sub = control.token?.onCancellationRequested(() => (abort.aborted = true));
      try {
        const hooks = { cancellation: abort, ...(control.onProgress ? { onProgress: control.onProgress } : {}) };
        const report =
          uri.scheme === 'file' && dump.tensors.length > 0
            ? await analyzeLocalFile(uri.fsPath, options, hooks, { extensionUri: this.extensionUri, workers: settings.workers })
            : await analyzeDump(dump, options, hooks, fileName(uri));
        log().info(`analysed ${uri.toString()} in ${Date.now() - started} ms (${report.timing.workers} workers): ${report.warnings.length} warnings`);
        const tensors = dump.tensors.map((t) => ({ name: t.info.name, dtype: t.info.dtype, shape: [...t.info.shape], role: roles.get(t.info.name) ?? 'other' }));
        return { report, tensors, ...(dump.tokens ? { tokens: [...dump.tokens] } : {}), options };
      } finally {
        sub?.dispose();
      }
    } catch (e) {
      if (isNormLensError(e)) throw e;
      log().error(`analysis of ${uri.toString()} failed: ${(e as Error).stack ?? e}`);
      throw new NormLensError('io', `unexpected failure while analysing ${fileName(uri)}: ${(e as Error).message}. See the NormLens log.`);
    } finally {
      await close();
    }
  }

  /** Opens a dump for reading (heatmaps, info); the caller must call `close`. */
  async open(uri: vscode.Uri, stat?: vscode.FileStat, openOptions?: OpenDumpOptions, maxInMemoryBytes?: number): Promise<{ dump: Dump; close: () => Promise<void> }> {
    const settings = readSettings({}, uri);
    const source = await this.source(uri, stat ?? (await statOrThrow(uri)), maxInMemoryBytes ?? settings.maxInMemoryBytes);
    try {
      const dump = await openDump(source, openOptions ?? settings.open);
      return { dump, close: async () => source.close?.() };
    } catch (e) {
      await source.close?.();
      throw e;
    }
  }

  private async source(uri: vscode.Uri, stat: vscode.FileStat, maxInMemoryBytes: number): Promise<ByteSource> {
    if (uri.scheme === 'file') return NodeFileByteSource.open(uri.fsPath);
    if (stat.size > maxInMemoryBytes) {
      throw new NormLensError(
        'limit',
        `${fileName(uri)} is ${(stat.size / 2 ** 20).toFixed(0)} MiB, over the ${(maxInMemoryBytes / 2 ** 20).toFixed(0)} MiB limit for files that are not on the local disk (normlens.maxInMemoryMB). Raise the setting, or open the folder where the file lives (Remote-SSH/WSL run NormLens next to the data).`,
      );
    }
    const bytes = await vscode.workspace.fs.readFile(uri);
    return new MemoryByteSource(bytes, fileName(uri));
  }

  /** Drops cached reports of `uri` and tells listeners that it changed. */
  invalidate(uri: vscode.Uri): void {
    const prefix = JSON.stringify([uri.toString()]).slice(0, -1);
    for (let i = this.cache.length - 1; i >= 0; i--) if (this.cache[i]!.key.startsWith(prefix)) this.cache.splice(i, 1);
    this.changed.fire(uri);
  }

  private watch(uri: vscode.Uri): void {
    const k = uri.toString();
    if (this.watchers.has(k)) return;
    const folder = vscode.Uri.joinPath(uri, '..');
    const watcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(folder, uri.path.split('/').pop()!));
    const fire = () => this.invalidate(uri);
    watcher.onDidChange(fire);
    watcher.onDidCreate(fire);
    watcher.onDidDelete(fire);
    this.watchers.set(k, watcher);
  }
}

/** The last path segment of a URI. */
export function fileName(uri: vscode.Uri): string {
  return uri.path.split('/').pop() || uri.toString();
}

async function statOrThrow(uri: vscode.Uri): Promise<vscode.FileStat> {
  try {
    return await vscode.workspace.fs.stat(uri);
  } catch {
    throw new NormLensError('io', `cannot open ${uri.scheme === 'file' ? uri.fsPath : uri.toString()}: no such file. Check the path.`);
  }
}

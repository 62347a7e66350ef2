import { joinSharedRun, type SharedRun } from './sharedRun';
import * as vscode from 'vscode';
import { stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import type { AnalysisOptions } from '../core/analysis/plan';
import type { PreviewResult } from '../core/analysis/preview';
import { NormLensError, isNormLensError } from '../core/errors';
import { openDump } from '../core/formats/openDump';
import type { Dump } from '../core/formats/types';
import { MemoryByteSource, type ByteSource } from '../core/io/byteSource';
import type { AnalysisReport } from '../core/report/analysisReport';
import { NodeFileByteSource } from '../platform/nodeFileSource';
import type { TensorSummary, ViewOptions } from '../protocol';
import { analyzeFile, type OpenedDump } from '../worker/workerRunner';
import { log } from './log';
import { WorkerLeases } from './workerLeases';
import { readSettings, type NormLensSettings } from './settings';
import { analysisTarget } from './siteTarget';

/** A finished analysis with what the views need besides the report. */
export interface AnalysisResult {
  report: AnalysisReport;
  tensors: TensorSummary[];
  tokens?: string[];
  /** The analysis options actually used (settings merged with view options). */
  options: AnalysisOptions;
  /** The analyzed dump, still open for follow-up reads (heatmaps) while someone holds it. */
  dump: SharedDump;
}

/** A hold on an open dump; `release` when done with it. */
export interface DumpHold {
  readonly dump: Dump;
  release(): void;
}

/** How long an analyzed dump stays open with nobody holding it (callers take their hold meanwhile). */
const KEEP_OPEN_MS = 5000;

/**
 * The dump an analysis opened, shared by whoever reads more from it (the inspector's heatmap), so a
 * dump is opened once per analysis; closed when the last holder lets go.
 */
export class SharedDump {
  private holders = 1;
  private closed = false;

  constructor(private readonly opened: OpenedDump | undefined) {
    if (!opened) this.closed = true;
    // The analysis's own hold, given up once its callers have had the time to take theirs.
    else setTimeout(() => this.release(), KEEP_OPEN_MS);
  }

  /** A new hold on the open dump, or undefined when it has been closed already. */
  acquire(): DumpHold | undefined {
    if (this.closed || !this.opened) return undefined;
    this.holders++;
    let released = false;
    return {
      dump: this.opened.dump,
      release: () => {
        if (released) return;
        released = true;
        this.release();
      },
    };
  }

  private release(): void {
    if (--this.holders > 0 || this.closed) return;
    this.closed = true;
    void this.opened?.close().catch(() => undefined);
  }
}

/** How a caller follows and stops a run. */
export interface RunControl {
  token?: vscode.CancellationToken;
  onProgress?(fraction: number): void;
  /** Steps of the run as they happen (`opened`, `planned`, `passes-done`), for timing logs. */
  onMark?(name: string): void;
  /**
   * Wants a preview of a big dump (an evenly spread token subset, src/core/analysis/preview.ts), computed
   * from the run's own opened dump and plan before the passes start. Never the result of `analyze`.
   */
  onPreview?(preview: PreviewResult): void;
}

/** Dumps at least this large get a preview for callers that want one (smaller ones are done about as soon). */
export const PREVIEW_MIN_BYTES = 16 * 1024 * 1024;

interface CacheEntry extends SharedRun<AnalysisResult> {
  key: string;
}

/** Dumps from this size on (about a million float32 values) are analyzed on worker threads. */
export const WORKER_MIN_BYTES = 4 << 20;

/** Analysis worker threads for the `normlens.workers` setting (0: up to 4, one per core). */
export function workerCount(setting: number): number {
  return setting > 0 ? setting : Math.max(1, Math.min(4, availableParallelism()));
}

/** Most reports kept in the cache (each is a few MiB at most). */
const CACHE_SIZE = 16;

/**
 * Opens dumps and runs analyses: local files are streamed by worker threads, other URIs
 * (remote/virtual file systems) are read through `workspace.fs` into memory up to a limit.
 * Reports are cached by URI, modification time, size and options; callers asking for the same
 * report share one run, which is cancelled only when all of them have cancelled.
 */
export class AnalysisService implements vscode.Disposable {
  private readonly cache: CacheEntry[] = [];
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  /** Fires when a watched file changed on disk (its cached reports are dropped first). */
  readonly onDidChangeFile = this.changed.event;
  private readonly watchers = new Map<string, { watcher: vscode.Disposable; users: number }>();

  constructor(
    private readonly extensionUri: vscode.Uri,
    /** Analysis workers kept running between analyses and sweeps (warm threads for the next dump). */
    private readonly workers: WorkerLeases,
  ) {}

  dispose(): void {
    this.changed.dispose();
    for (const e of this.cache.splice(0)) e.cancel.dispose();
    for (const w of this.watchers.values()) w.watcher.dispose();
    this.watchers.clear();
  }

  /** Analyzes `uri` with the settings and `view` options; cached, shared, cancellable per caller. */
  async analyze(uri: vscode.Uri, view: ViewOptions = {}, control: RunControl = {}): Promise<AnalysisResult> {
    const stat = await statOrThrow(uri);
    // Read once per request: the cache key and the run use the same settings.
    const settings = readSettings(view, uri);
    const key = JSON.stringify([uri.toString(), stat.mtime, stat.size, settings.analysis, settings.open, settings.workers, settings.maxInMemoryBytes, view.site ?? null]);
    let entry = this.cache.find((e) => e.key === key);
    if (entry) log().debug(`report cache hit for ${uri.toString()}`);
    else {
      const cancel = new vscode.CancellationTokenSource();
      const created: CacheEntry = { key, cancel, waiting: 0, settled: false, result: Promise.resolve(undefined as unknown as AnalysisResult) };
      created.result = this.run(uri, stat, settings, view.site, {
        token: cancel.token,
        onProgress: (f) => this.progress.get(created)?.forEach((c) => c.onProgress?.(f)),
        onMark: (name) => this.progress.get(created)?.forEach((c) => c.onMark?.(name)),
        onPreview: (p) => this.progress.get(created)?.forEach((c) => c.onPreview?.(p)),
        wantsPreview: () => [...(this.progress.get(created) ?? [])].some((c) => c.onPreview),
      });
      created.result.then(
        () => (created.settled = true),
        () => {
          created.settled = true;
          this.forget(created);
        },
      );
      this.cache.unshift(created);
      for (const old of this.cache.splice(CACHE_SIZE)) old.cancel.dispose();
      entry = created;
    }
    return this.join(entry, control);
  }

  /** The callers following each unfinished run (progress and timing marks). */
  private readonly progress = new Map<CacheEntry, Set<RunControl>>();

  /** Waits on a shared run as one caller: its own progress and cancellation. */
  private join(entry: CacheEntry, control: RunControl): Promise<AnalysisResult> {
    if (entry.settled) return entry.result;
    const listeners = this.progress.get(entry) ?? new Set();
    this.progress.set(entry, listeners);
    return joinSharedRun(entry, listeners, control, 'analysis', () => this.forget(entry));
  }

  private forget(entry: CacheEntry): void {
    const i = this.cache.indexOf(entry);
    if (i >= 0) this.cache.splice(i, 1);
    this.progress.delete(entry);
  }

  private async run(uri: vscode.Uri, stat: vscode.FileStat, settings: NormLensSettings, siteName: string | undefined, control: RunControl & { wantsPreview?(): boolean }): Promise<AnalysisResult> {
    const started = Date.now();
    const abort = { aborted: false };
    const sub = control.token?.onCancellationRequested(() => (abort.aborted = true));
    let lease: ReturnType<WorkerLeases['acquire']> | undefined;
    try {
      // A site of a whole-model dump (in a folder: of one of its files).
      const target = await analysisTarget(uri, stat, siteName, settings.open);
      const site = target.site !== undefined ? { site: target.site } : {};
      if (target.uri !== uri) stat = await statOrThrow(target.uri);
      // Local files are streamed (and analyzed on worker threads); anything else is read into memory.
      const file = target.uri.scheme === 'file' ? target.uri.fsPath : await this.source(target.uri, stat, settings.maxInMemoryBytes);
      const workers = workerCount(settings.workers);
      // Local dumps of a million values or more run on the extension's long-lived workers.
      lease = typeof file === 'string' && stat.size >= WORKER_MIN_BYTES ? this.workers.acquire(workers, settings.open) : undefined;
      const analysis = await analyzeFile(file, {
        analysis: settings.analysis,
        open: settings.open,
        workers,
        ...(lease ? { pool: lease.pool } : {}),
        workerScript: vscode.Uri.joinPath(this.extensionUri, 'dist', 'worker.js').fsPath,
        cancellation: abort,
        keepOpen: true,
        ...site,
        ...(control.onProgress ? { onProgress: control.onProgress } : {}),
        ...(control.onMark ? { onMark: control.onMark } : {}),
        // A first look before the exact report, from this run's dump and plan (on this thread while
        // the workers start the passes).
        ...(stat.size >= PREVIEW_MIN_BYTES && control.wantsPreview?.()
          ? {
              preview: {
                description: fileName(uri),
                onPreview: (preview: PreviewResult) => {
                  log().info(`preview of ${uri.toString()} after ${Date.now() - started} ms (${preview.label})`);
                  control.onPreview?.(preview);
                },
                onFailure: (e: Error) => log().debug(`no preview of ${uri.toString()}: ${e.message}`),
              },
            }
          : {}),
      });
      const { report, roles } = analysis;
      log().info(`analyzed ${uri.toString()} in ${Date.now() - started} ms (${report.timing.workers} workers): ${report.warnings.length} warnings`);
      const tensors = analysis.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: [...t.shape], role: roles.get(t.name) ?? 'other' }));
      return { report, tensors, ...(analysis.tokens ? { tokens: [...analysis.tokens] } : {}), options: { ...settings.analysis, roles }, dump: new SharedDump(analysis.opened) };
    } catch (e) {
      if (isNormLensError(e)) throw e;
      log().error(`analysis of ${uri.toString()} failed: ${(e as Error).stack ?? e}`);
      throw new NormLensError('io', `unexpected failure while analyzing ${fileName(uri)}: ${(e as Error).message}. See the NormLens log.`);
    } finally {
      lease?.release();
      sub?.dispose();
    }
  }

  /**
   * Starts the analysis workers for a local dump big enough to need them, if they are not running:
   * called when a dump is opened, so their threads start while the editor and its page are set up
   * rather than when the analysis asks for them. They stop after the usual idle time if unused.
   */
  async warm(uri: vscode.Uri): Promise<void> {
    if (uri.scheme !== 'file') return;
    const size = await statUri(uri).then(
      (st) => (st.type & vscode.FileType.File ? st.size : 0),
      () => 0,
    );
    if (size < WORKER_MIN_BYTES) return;
    const settings = readSettings({}, uri);
    this.workers.acquire(workerCount(settings.workers), settings.open).release();
  }

  /** Opens a dump for reading (when no analysis holds it open); the caller must call `close`. */
  async open(uri: vscode.Uri): Promise<{ dump: Dump; close: () => Promise<void> }> {
    const settings = readSettings({}, uri);
    const source = await this.source(uri, await statOrThrow(uri), settings.maxInMemoryBytes);
    try {
      const dump = await openDump(source, settings.open);
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
    const read = await vscode.workspace.fs.readFile(uri);
    // A plain Uint8Array view (no copy): in Node, readFile may hand out a Buffer, whose `slice` does
    // not copy, and the readers copy unaligned ranges with `slice` before viewing them as floats.
    const bytes = new Uint8Array(read.buffer, read.byteOffset, read.byteLength);
    return new MemoryByteSource(bytes, fileName(uri));
  }

  /** Drops cached reports of `uri` and tells listeners that it changed. */
  invalidate(uri: vscode.Uri): void {
    const prefix = JSON.stringify([uri.toString()]).slice(0, -1);
    for (const e of [...this.cache]) if (e.key.startsWith(prefix)) this.forget(e);
    this.changed.fire(uri);
  }

  /** Watches `uri` for changes while the returned disposable lives (shared by all its users). */
  watch(uri: vscode.Uri): vscode.Disposable {
    const k = uri.toString();
    let w = this.watchers.get(k);
    if (!w) {
      const folder = vscode.Uri.joinPath(uri, '..');
      const name = uri.path.split('/').pop()!;
      // Glob metacharacters in the name are matched literally.
      const watcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(folder, name.replace(/[[\]{}*?!]/g, (c) => `[${c}]`)));
      const fire = () => this.invalidate(uri);
      watcher.onDidChange(fire);
      watcher.onDidCreate(fire);
      watcher.onDidDelete(fire);
      w = { watcher, users: 0 };
      this.watchers.set(k, w);
    }
    w.users++;
    const entry = w;
    let disposed = false;
    return new vscode.Disposable(() => {
      if (disposed) return;
      disposed = true;
      if (--entry.users === 0) {
        entry.watcher.dispose();
        this.watchers.delete(k);
      }
    });
  }
}

/** The last path segment of a URI. */
export function fileName(uri: vscode.Uri): string {
  return uri.path.split('/').pop() || uri.toString();
}

/**
 * The stat of `uri`: a local file straight from the disk (workspace.fs goes through the workbench's
 * file service, a round trip that costs tens of milliseconds on the way to the first chart), any
 * other scheme through workspace.fs.
 */
export async function statUri(uri: vscode.Uri): Promise<vscode.FileStat> {
  if (uri.scheme !== 'file') return vscode.workspace.fs.stat(uri);
  const st = await stat(uri.fsPath);
  const type = st.isDirectory() ? vscode.FileType.Directory : st.isFile() ? vscode.FileType.File : vscode.FileType.Unknown;
  return { type, ctime: st.ctimeMs, mtime: st.mtimeMs, size: st.size };
}

async function statOrThrow(uri: vscode.Uri): Promise<vscode.FileStat> {
  try {
    return await statUri(uri);
  } catch {
    throw new NormLensError('io', `cannot open ${uri.scheme === 'file' ? uri.fsPath : uri.toString()}: no such file. Check the path.`);
  }
}

import { joinSharedRun, type SharedRun } from './sharedRun';
import * as vscode from 'vscode';
import { isNormLensError, NormLensError } from '../core/errors';
import type { AnalysisReport } from '../core/report/analysisReport';
import type { SweepReport, SweepSite } from '../core/report/sweepReport';
import type { SiteEntry, ViewOptions } from '../protocol';
import { listSweepSites, sweepPath, type SweepListing } from '../worker/sweepRunner';
import { fileName } from './analysisService';
import { log } from './log';
import type { WorkerLeases } from './workerLeases';
import { workerCount } from './analysisService';
import { readSettings } from './settings';
import { sweepCacheKey } from './sweepOptions';

/** Options of a sweep (the `normlens.sweep` command's second argument); the settings fill the rest. */
export interface SweepCommandOptions {
  layerAxis?: number;
  featureAxis?: number;
  eps?: number;
  groups?: number;
  bins?: number;
}

/** How a caller follows a sweep: progress, rows as they finish, cancellation. */
export interface SweepControl {
  token?: vscode.CancellationToken;
  onProgress?(fraction: number): void;
  onRow?(rows: readonly SweepSite[]): void;
}

interface SweepEntry extends SharedRun<SweepReport> {
  key: string;
  /** Rows finished so far (shared with late joiners of a running sweep). */
  rows: SweepSite[];
  fraction: number;
  listeners: Set<SweepControl>;
}

/** Sweeps kept (each holds one summary row per site). */
const CACHE_SIZE = 8;

/** The sites of a listing as the site picker shows them. */
export function siteEntries(listing: SweepListing): SiteEntry[] {
  return listing.sites.map((s) => ({ name: s.name, shape: [...s.shape], input: s.file !== undefined ? `${s.file}: ${s.slice?.tensor ?? s.tensors.input}` : (s.slice?.tensor ?? s.tensors.input) }));
}

/** Local path of a URI the sweep can read, or an error saying why not. */
function localPath(uri: vscode.Uri): string {
  if (uri.scheme !== 'file') throw new NormLensError('usage', `sweeping ${uri.toString()} needs a file on the local disk (open the folder where it lives: Remote-SSH/WSL run NormLens next to the data).`);
  return uri.fsPath;
}

/**
 * Runs whole-model sweeps (src/worker/sweepRunner.ts) for the Model view and the `normlens.sweep`
 * command. Results are cached by URI, modification times and options; callers asking for the same
 * sweep share one run, which is cancelled only when all of them have cancelled.
 */
export class SweepService implements vscode.Disposable {
  private readonly cache: SweepEntry[] = [];

  constructor(
    private readonly extensionUri: vscode.Uri,
    /** The extension's long-lived analysis workers (shared with analyses). */
    private readonly workers: WorkerLeases,
  ) {}

  dispose(): void {
    for (const e of this.cache.splice(0)) e.cancel.dispose();
  }

  /** The sites of a file or folder from the headers (no data read). */
  async list(uri: vscode.Uri, options: SweepCommandOptions = {}): Promise<SweepListing> {
    const settings = readSettings({}, uri);
    return listSweepSites(localPath(uri), { ...(options.layerAxis !== undefined ? { layerAxis: options.layerAxis } : {}), open: settings.open });
  }

  /** Sweeps `uri` (file or folder); cached and shared. */
  async sweep(uri: vscode.Uri, options: SweepCommandOptions = {}, control: SweepControl = {}): Promise<SweepReport> {
    const path = localPath(uri);
    const view: ViewOptions = { ...(options.eps !== undefined ? { eps: options.eps } : {}), ...(options.featureAxis !== undefined ? { featureAxis: options.featureAxis } : {}), ...(options.bins !== undefined ? { bins: options.bins } : {}) };
    const settings = readSettings(view, uri);
    const key = sweepCacheKey(uri.toString(), await modificationStamp(uri), { ...options, analysis: settings.analysis, workers: settings.workers });
    let entry = this.cache.find((e) => e.key === key);
    if (!entry) {
      const cancel = new vscode.CancellationTokenSource();
      const created: SweepEntry = { key, rows: [], fraction: 0, listeners: new Set(), cancel, waiting: 0, settled: false, result: Promise.resolve(undefined as unknown as SweepReport) };
      const abort = { aborted: false };
      cancel.token.onCancellationRequested(() => (abort.aborted = true));
      const started = Date.now();
      const workers = workerCount(settings.workers);
      // The long-lived workers, once a site is big enough to need them; given back when the sweep ends.
      let lease: ReturnType<WorkerLeases['acquire']> | undefined;
      created.result = sweepPath(
        path,
        {
          analysis: { ...settings.analysis, ...(options.groups !== undefined ? { groups: options.groups } : {}) },
          ...(options.layerAxis !== undefined ? { layerAxis: options.layerAxis } : {}),
          open: settings.open,
          workers,
          sharedPool: () => (lease ??= this.workers.acquire(workers, settings.open)).pool,
          workerScript: vscode.Uri.joinPath(this.extensionUri, 'dist', 'worker.js').fsPath,
        },
        {
          cancellation: abort,
          onProgress: (f) => {
            created.fraction = f;
            for (const l of created.listeners) l.onProgress?.(f);
          },
          onSiteDone: (_i: number, row: SweepSite, _report: AnalysisReport | undefined) => {
            created.rows.push(row);
            for (const l of created.listeners) l.onRow?.(created.rows);
          },
        },
      );
      void created.result.finally(() => lease?.release()).catch(() => undefined);
      created.result.then(
        (r) => {
          created.settled = true;
          log().info(`swept ${uri.toString()} in ${Date.now() - started} ms: ${r.sites.length} sites`);
        },
        (e) => {
          created.settled = true;
          this.forget(created);
          if (!(isNormLensError(e) && e.kind === 'cancelled')) log().warn(`sweep of ${uri.toString()} failed: ${(e as Error).message}`);
        },
      );
      this.cache.unshift(created);
      for (const old of this.cache.splice(CACHE_SIZE)) old.cancel.dispose();
      entry = created;
    }
    return this.join(entry, control);
  }

  private join(entry: SweepEntry, control: SweepControl): Promise<SweepReport> {
    if (!entry.settled && entry.rows.length > 0) control.onRow?.(entry.rows);
    return joinSharedRun(entry, entry.listeners, control, 'sweep', () => this.forget(entry));
  }

  private forget(entry: SweepEntry): void {
    const i = this.cache.indexOf(entry);
    if (i >= 0) this.cache.splice(i, 1);
  }

  /** Drops cached sweeps of `uri` (a file changed). */
  invalidate(uri: vscode.Uri): void {
    const k = uri.toString();
    for (const e of [...this.cache]) if (e.key.includes(JSON.stringify(k))) this.forget(e);
  }
}

/** Modification time of a file, or of a folder and every file in it (a folder's own mtime misses edits). */
async function modificationStamp(uri: vscode.Uri): Promise<string> {
  let stat: vscode.FileStat;
  try {
    stat = await vscode.workspace.fs.stat(uri);
  } catch {
    throw new NormLensError('io', `cannot read ${uri.fsPath}: no such file or folder.`);
  }
  if (!(stat.type & vscode.FileType.Directory)) return `${stat.mtime}:${stat.size}`;
  const entries = await vscode.workspace.fs.readDirectory(uri);
  const parts = await Promise.all(
    entries
      .filter(([, type]) => type & vscode.FileType.File)
      .map(async ([name]) => {
        const s = await vscode.workspace.fs.stat(vscode.Uri.joinPath(uri, name)).then(
          (st) => `${st.mtime}:${st.size}`,
          () => 'gone',
        );
        return `${name}=${s}`;
      }),
  );
  return `${stat.mtime}|${parts.sort().join('|')}`;
}

/** Display name of a sweep's source. */
export function sweepTitle(uri: vscode.Uri): string {
  return fileName(uri);
}

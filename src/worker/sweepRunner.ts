import { readdir, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { executeAnalysis, inProcessExecutor, type AnalysisRunHooks } from '../core/analysis/analyze';
import type { CancellationFlag } from '../core/analysis/tiles';
import { planAnalysis } from '../core/analysis/plan';
import { fileStem, groupFolderSites, isDumpFileName, naturalCompare, siteAnalysis, sitesOfDump, type FolderEntry, type Site } from '../core/dump/sites';
import { isNormLensError, NormLensError } from '../core/errors';
import { openDump } from '../core/formats/openDump';
import type { OpenDumpOptions } from '../core/formats/options';
import type { Dump } from '../core/formats/types';
import type { AnalysisReport } from '../core/report/analysisReport';
import { failedSweepSite, SWEEP_SCHEMA_VERSION, type SweepReport, type SweepSite } from '../core/report/sweepReport';
import { siteAnalysisOptions, siteElements, sweepTensorsOf, SweepProgress, type SweepAnalysisOptions } from '../core/sweep/siteOptions';
import { sweepSiteOf } from '../core/sweep/siteSummary';
import { NodeFileByteSource } from '../platform/nodeFileSource';
import { abortOnFlag, resolveWorkerScript, WorkerPool } from './workerRunner';

export type { SweepAnalysisOptions } from '../core/sweep/siteOptions';

/** How `sweepPath` finds the sites and where it runs them. */
export interface SweepOptions {
  /** eps, feature axis, bins, groups, thresholds, chunk size: the same for every site. */
  readonly analysis?: SweepAnalysisOptions;
  /** `--layer-axis N`: split one tensor along axis N into sites `NAME[0]`, `NAME[1]`, ... */
  readonly layerAxis?: number;
  /** The tensor `--layer-axis` splits (default: the input of the dump's only site). */
  readonly layerTensor?: string;
  /** How to open every dump (bf16-as-uint16, size limits); used by this thread and by every worker. */
  readonly open?: OpenDumpOptions;
  /** Worker threads of the one pool every site shares (default: min(2, available cores)); 0 runs in process. */
  readonly workers?: number;
  /** Path of the built worker (default: `worker.js` next to this bundle). */
  readonly workerScript?: string;
  /** Sites with fewer input elements run in process (default 1,048,576). */
  readonly minElementsForWorkers?: number;
  /**
   * Gives workers to use instead of starting new ones (the extension's long-lived pool, see
   * AnalyzeFileOptions.pool), asked for when the first site needs workers: neither stopped here
   * nor by a cancellation, which cancels this sweep's requests only.
   */
  readonly sharedPool?: () => WorkerPool;
}

/** Progress, cancellation and per-site results of a sweep. */
export interface SweepHooks {
  /** Raising it stops the sweep: `sweepPath` rejects with NormLensError('cancelled'). */
  readonly cancellation?: CancellationFlag;
  /** Site `index` (0-based) of `count` starts. */
  onSite?(index: number, count: number, name: string): void;
  /** Fraction of the whole sweep done, 0..1 (sites weighted by their size). */
  onProgress?(fraction: number): void;
  /**
   * A site's row is ready. `report` is the site's full AnalysisReport (undefined when the site
   * failed); the sweep drops it afterwards, so keep it only if you need it.
   */
  onSiteDone?(index: number, row: SweepSite, report: AnalysisReport | undefined): void;
}

/** The sites of a file or folder, listed from the headers only (no data read). */
export interface SweepListing {
  readonly path: string;
  readonly kind: 'file' | 'folder';
  /** Dump format; `mixed` for a folder holding several formats. */
  readonly format: string;
  /** In natural order; in a folder each has `file`. */
  readonly sites: readonly Site[];
  /** Folder files that could not be opened, by file name, with the reason. */
  readonly unreadable: readonly { readonly fileName: string; readonly error: string }[];
}

function messageOf(e: unknown): string {
  return isNormLensError(e) || e instanceof Error ? e.message.replace(/\s*\n\s*/g, ' ') : String(e);
}

/** Opens one dump file (closing it again when the header cannot be read). */
async function openFile(path: string, open: OpenDumpOptions | undefined): Promise<{ source: NodeFileByteSource; dump: Dump }> {
  const source = await NodeFileByteSource.open(path);
  try {
    return { source, dump: await openDump(source, open) };
  } catch (e) {
    await source.close();
    throw e;
  }
}

/** Dump files of a folder (non-recursive), in natural order of their names. */
async function folderFiles(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true });
  return entries
    .filter((e) => (e.isFile() || e.isSymbolicLink()) && isDumpFileName(e.name))
    .map((e) => e.name)
    .sort(naturalCompare);
}

/**
 * Lists the sites of a dump file or of a folder of dumps (DESIGN.md "Whole-model dumps"), reading
 * headers only. A file that cannot be opened throws (NormLensError), unless it is one of several
 * files of a folder: then it is listed in `unreadable` and its row carries the error.
 */
export async function listSweepSites(path: string, options: Pick<SweepOptions, 'layerAxis' | 'layerTensor' | 'open'> = {}): Promise<SweepListing> {
  let isFolder: boolean;
  try {
    isFolder = (await stat(path)).isDirectory();
  } catch (e) {
    throw new NormLensError('io', `cannot read '${path}': ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or folder' : messageOf(e)}.`);
  }
  const grouping = { ...(options.layerAxis !== undefined ? { layerAxis: options.layerAxis } : {}), ...(options.layerTensor !== undefined ? { layerTensor: options.layerTensor } : {}) };
  if (!isFolder) {
    const { source, dump } = await openFile(path, options.open);
    try {
      return { path, kind: 'file', format: dump.format, sites: sitesOfDump(dump, grouping), unreadable: [] };
    } finally {
      await source.close();
    }
  }
  const names = await folderFiles(path);
  if (names.length === 0) throw new NormLensError('usage', `folder '${path}' holds no dump files (.npy, .npz, .safetensors, .json): nothing to sweep.`);
  const entries: FolderEntry[] = [];
  const unreadable: { fileName: string; error: string }[] = [];
  const formats = new Set<string>();
  for (const fileName of names) {
    try {
      const { source, dump } = await openFile(join(path, fileName), options.open);
      formats.add(dump.format);
      entries.push({ fileName, tensors: dump.tensors.map((h) => h.info), metadata: dump.metadata });
      await source.close();
    } catch (e) {
      if (names.length === 1) throw e;
      unreadable.push({ fileName, error: messageOf(e) });
    }
  }
  const format = formats.size === 1 ? [...formats][0]! : formats.size === 0 ? 'unknown' : 'mixed';
  return { path, kind: 'folder', format, sites: groupFolderSites(entries, grouping), unreadable };
}

/** Row of a folder file that could not be opened: named like a one-site file (its stem). */
function unreadableRow(fileName: string, error: string): SweepSite {
  return { ...failedSweepSite(fileStem(fileName), { input: fileName }, [], 'unknown', error), file: fileName };
}

/**
 * Sweeps a dump file or a folder of dumps: every site (DESIGN.md "Whole-model dumps"), one after
 * another, on ONE worker pool shared by all sites (workers keep each file open across its sites).
 * Only each site's summary row is kept, so memory is bounded by the chunk size, not the file or
 * the number of sites. A site that cannot be analyzed gets a row with `error` and the sweep goes
 * on; a file that cannot be opened fails the sweep (NormLensError), unless it is one of several
 * files of a folder. Cancelling rejects with NormLensError('cancelled').
 *
 * The VS Code side calls it with the local path (`uri.fsPath`) and hooks wired to its progress
 * notification; `analyzeFile(path, { site })` then gives the full report of one site.
 */
export async function sweepPath(path: string, options: SweepOptions = {}, hooks: SweepHooks = {}): Promise<SweepReport> {
  const started = Date.now();
  const cancellation = hooks.cancellation;
  const cancelled = (): void => {
    if (cancellation?.aborted) throw new NormLensError('cancelled', 'the sweep was cancelled.');
  };
  const listing = await listSweepSites(path, options);
  const sites = listing.sites;
  const count = sites.length + listing.unreadable.length;
  const progress = new SweepProgress(sites.map(siteElements));
  const wanted = options.workers ?? Math.min(2, availableParallelism());
  const minElements = options.minElementsForWorkers ?? 1 << 20;
  const script = resolveWorkerScript(options.workerScript);
  const user = options.analysis ?? {};
  const rows: SweepSite[] = [];
  let shared: WorkerPool | null = null;
  let pool: WorkerPool | null = null;
  // A shared pool's requests of this sweep are cancelled by this signal (its workers keep running).
  const abort = abortOnFlag(options.sharedPool ? cancellation : undefined);
  let maxWorkers = 0;
  // The file being swept, open in this thread (planning reads its masks and parameters; small sites run here).
  let current: { file: string; source: NodeFileByteSource; dump: Dump } | null = null;
  const closeCurrent = async (): Promise<void> => {
    if (current) await current.source.close();
    current = null;
  };
  const dtypeOf = (site: Site): string => current?.dump.tensors.find((h) => h.info.name === (site.slice?.tensor ?? site.tensors.input))?.info.dtype ?? 'unknown';
  try {
    for (const [index, site] of sites.entries()) {
      cancelled();
      hooks.onSite?.(index, count, site.name);
      hooks.onProgress?.(progress.at(index, 0));
      const file = listing.kind === 'folder' ? join(path, site.file!) : path;
      const tensors = sweepTensorsOf(site);
      let row: SweepSite;
      let report: AnalysisReport | undefined;
      try {
        if (current === null || current.file !== file) {
          await closeCurrent();
          current = { file, ...(await openFile(file, options.open)) };
        }
        const { source, dump } = current;
        const target = siteAnalysis(dump, site);
        const plan = await planAnalysis(target.dump, siteAnalysisOptions(user, target.options, site.norm));
        const elements = plan.tokens * plan.features;
        const runHooks: AnalysisRunHooks = {
          ...(cancellation ? { cancellation } : {}),
          onProgress: (f) => hooks.onProgress?.(progress.at(index, f)),
        };
        const described = { description: source.description, format: dump.format };
        if ((options.sharedPool || wanted > 0) && elements >= minElements) {
          if (!pool && options.sharedPool) pool = shared = options.sharedPool();
          pool ??= new WorkerPool(wanted, script, options.open, cancellation);
          const width = plan.randomAccess ? Math.min(pool.size, plan.tokens) : 1;
          maxWorkers = Math.max(maxWorkers, width);
          const slice = site.slice ? { slice: { ...site.slice, name: target.options.tensor } } : {};
          report = await executeAnalysis(plan, pool.executorFor({ path: file, ...slice }, width, shared ? abort.signal : undefined), described, runHooks);
        } else {
          const release = { release: (values: { buffer: ArrayBufferLike }) => source.recycle(values.buffer) };
          report = await executeAnalysis(plan, inProcessExecutor(target.dump, { ...runHooks, ...release }), described, runHooks);
        }
        row = sweepSiteOf(site.name, tensors, report);
      } catch (e) {
        // Cancellation and a broken worker pool end the sweep; anything about this site is its row's error.
        if (isNormLensError(e) && e.kind === 'cancelled') throw e;
        cancelled();
        if (pool?.failed) throw pool.failed;
        row = failedSweepSite(site.name, tensors, site.shape, dtypeOf(site), messageOf(e));
        report = undefined;
      }
      if (site.file !== undefined) row.file = site.file;
      if (site.slice) row.slice = { ...site.slice };
      if (site.norm?.normClass !== undefined) row.normClass = site.norm.normClass;
      rows.push(row);
      hooks.onSiteDone?.(index, row, report);
      hooks.onProgress?.(progress.finish(index));
    }
    for (const [k, u] of listing.unreadable.entries()) {
      const row = unreadableRow(u.fileName, u.error);
      rows.push(row);
      hooks.onSiteDone?.(sites.length + k, row, undefined);
    }
  } finally {
    abort.stop();
    await closeCurrent();
    if (pool && pool !== shared) await pool.dispose();
  }
  // Unreadable folder files sit in the natural order of the folder with the other rows.
  if (listing.unreadable.length > 0) rows.sort((a, b) => naturalCompare(a.name, b.name));
  return {
    schemaVersion: SWEEP_SCHEMA_VERSION,
    source: { path, kind: listing.kind, format: listing.format },
    sites: rows,
    timing: { totalMs: Date.now() - started, workers: maxWorkers },
  };
}

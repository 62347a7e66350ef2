import * as vscode from 'vscode';
import { isNormLensError } from '../core/errors';
import type { SweepReport, SweepSite } from '../core/report/sweepReport';
import type { SiteEntry } from '../protocol';
import { fileName, statUri } from './analysisService';
import type { InspectorSession } from './inspectorEditor';
import { log } from './log';
import { chooseSite } from './sweepOptions';
import { siteEntries, type SweepService } from './sweepService';

/** Sweeps of at least this many input bytes (at 4 bytes a value) get a notification with Cancel; smaller ones finish too fast for it and show in the status bar. */
const NOTIFY_BYTES = 16 * 1024 * 1024;

/** Least time between two partial sweep updates sent to a webview. */
const ROW_UPDATE_MS = 150;

/**
 * The whole-model side of one inspector (a dump file, or a folder in the folder Model panel):
 * lists the sites from the headers, picks the site the per-site views show, runs the sweep behind
 * the Model view (progress notification with Cancel) and keeps the webview up to date.
 */
export class ModelSession implements vscode.Disposable {
  private sites: SiteEntry[] = [];
  private kind: 'file' | 'folder' = 'file';
  private sweep: SweepReport | undefined;
  private rows: readonly SweepSite[] = [];
  private fraction = 0;
  private error: string | undefined;
  private running: vscode.CancellationTokenSource | undefined;
  private started = false;
  private disposed = false;

  constructor(
    private readonly session: InspectorSession,
    private readonly sweeps: SweepService,
  ) {}

  /** Whether this document shows the Model view (two or more sites, or a folder). */
  get isModel(): boolean {
    return this.sites.length >= 2 || this.kind === 'folder';
  }

  /** The site names in depth order. */
  get siteNames(): string[] {
    return this.sites.map((s) => s.name);
  }

  private prepared: Promise<void> | undefined;

  /** True once `prepare` is over (the sites are listed, or could not be). */
  listed = false;

  /**
   * Lists the sites from the headers (once) and chooses the first site, before the first analysis
   * starts (the editor awaits it: a whole-model dump analyzes its chosen site, not the whole file).
   */
  prepare(): Promise<void> {
    this.prepared ??= (async () => {
      const uri = this.session.document.uri;
      if (uri.scheme !== 'file') return;
      try {
        // From the disk (a file: URI), not a round trip through the workbench's file service.
        const stat = await statUri(uri);
        const listing = await this.sweeps.list(uri);
        this.kind = stat.type & vscode.FileType.Directory ? 'folder' : 'file';
        this.sites = siteEntries(listing);
      } catch (e) {
        // A dump whose sites cannot be listed still opens as one tensor (the analysis says what is wrong).
        log().debug(`${fileName(uri)}: no site listing (${(e as Error).message})`);
        return;
      }
      const site = chooseSite(this.siteNames, this.session.options.site);
      if (this.isModel && site !== undefined) this.session.options = { ...this.session.options, site };
    })().finally(() => {
      this.listed = true;
    });
    return this.prepared;
  }

  /**
   * Called when the webview is (re)loaded: sends the sites (switching to the site the page's saved
   * state had chosen, after a window reload) and the sweep, starting the sweep once.
   */
  async ready(restoredSite?: string): Promise<void> {
    await this.prepare();
    if (!this.isModel) return;
    if (restoredSite !== undefined && restoredSite !== this.session.options.site && !this.started) this.select(restoredSite);
    await this.postSites();
    if (!this.started) {
      this.started = true;
      void this.run();
    } else await this.postSweep();
  }

  /** Shows `site` in every per-site view (a row or chart point of the Model view, the site picker, a command). */
  select(site: string): boolean {
    if (!this.siteNames.includes(site)) return false;
    if (this.session.options.site === site) return true;
    // Tensor, mask and feature axis were chosen for the previous site; eps and bins carry over.
    const { eps, bins, useMask } = this.session.options;
    this.session.options = { site, ...(eps !== undefined ? { eps } : {}), ...(bins !== undefined ? { bins } : {}), ...(useMask !== undefined ? { useMask } : {}) };
    void this.postSites();
    void this.session.analyze();
    return true;
  }

  /** Lists the sites again and re-runs the sweep (the file changed, settings did, or the user asked). */
  rerun(): void {
    if (!this.started) return;
    this.running?.cancel();
    this.sweep = undefined;
    this.rows = [];
    this.fraction = 0;
    this.error = undefined;
    void this.relist().then(() => {
      void this.postSweep();
      void this.run();
    });
  }

  /** Reads the site list again (sites may have come or gone); keeps the chosen site when it is still there. */
  private async relist(): Promise<void> {
    try {
      this.sites = siteEntries(await this.sweeps.list(this.session.document.uri));
    } catch (e) {
      log().debug(`${fileName(this.session.document.uri)}: no site listing (${(e as Error).message})`);
      return;
    }
    const site = chooseSite(this.siteNames, this.session.options.site);
    if (site !== undefined && site !== this.session.options.site) {
      this.session.options = { ...this.session.options, site };
      void this.session.analyze();
    }
    await this.postSites();
  }

  private postSites(): Thenable<boolean> {
    return this.session.post({ type: 'sites', kind: this.kind, sites: this.sites, site: this.session.options.site ?? this.sites[0]?.name ?? '' });
  }

  private postSweep(): Thenable<boolean> {
    const uri = this.session.document.uri;
    const sweep: SweepReport = this.sweep ?? { schemaVersion: 1, source: { path: uri.fsPath, kind: this.kind, format: '' }, sites: [...this.rows], timing: { totalMs: 0, workers: 0 } };
    return this.session.post({ type: 'sweep', sweep, done: !!this.sweep, fraction: this.sweep ? 1 : this.fraction, ...(this.error ? { error: this.error } : {}) });
  }

  private async run(): Promise<void> {
    const uri = this.session.document.uri;
    const run = new vscode.CancellationTokenSource();
    this.running = run;
    let lastPost = 0;
    const bytes = this.sites.reduce((sum, s) => sum + 4 * s.shape.reduce((a, b) => a * b, 1), 0);
    const location = bytes >= NOTIFY_BYTES ? vscode.ProgressLocation.Notification : vscode.ProgressLocation.Window;
    try {
      const report = await vscode.window.withProgress(
        { location, title: `NormLens: sweeping ${this.sites.length} sites of ${fileName(uri)}`, cancellable: true },
        (progress, token) => {
          token.onCancellationRequested(() => run.cancel());
          let last = 0;
          return this.sweeps.sweep(
            uri,
            {},
            {
              token: run.token,
              onProgress: (f) => {
                this.fraction = f;
                if (f - last >= 0.01) {
                  progress.report({ increment: (f - last) * 100, message: `${Math.round(f * 100)}%` });
                  last = f;
                }
              },
              onRow: (rows) => {
                this.rows = rows;
                const now = Date.now();
                if (now - lastPost >= ROW_UPDATE_MS) {
                  lastPost = now;
                  void this.postSweep();
                }
              },
            },
          );
        },
      );
      if (this.running !== run || this.disposed) return;
      this.sweep = report;
      this.error = undefined;
    } catch (e) {
      if (this.running !== run || this.disposed) return;
      this.error = isNormLensError(e) && e.kind === 'cancelled' ? 'the sweep was cancelled.' : (e as Error).message;
    } finally {
      if (this.running === run) this.running = undefined;
      run.dispose();
    }
    await this.postSweep();
  }

  dispose(): void {
    this.disposed = true;
    this.running?.cancel();
  }
}

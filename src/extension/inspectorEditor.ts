import * as vscode from 'vscode';
import { computeTokenHeatmap } from '../core/heatmap/tokenHeatmap';
import { isNormLensError, type NormLensHint } from '../core/errors';
import type { Dump } from '../core/formats/types';
import type { PreviewResult } from '../core/analysis/preview';
import type { AnalysisReport } from '../core/report/analysisReport';
import { packReport } from '../core/report/packReport';
import { layerNormTokenSeries } from '../core/report/chartSeries';
import { pageReport } from '../core/report/pageReport';
import { COMMAND, type Heatmap, type HostToWebview, type InspectorViewId, type PreviewInfo, type RenderSummary, type TensorSummary, type TimelineMark, type ViewOptions, type WebviewMethods, type WebviewToHost } from '../protocol';
import { RpcServer } from '../rpc';
import { AnalysisService, fileName, statUri, type AnalysisResult, type DumpHold } from './analysisService';
import { Disposable } from './disposable';
import { log } from './log';
import { ModelSession } from './modelSession';
import type { SweepService } from './sweepService';
import { affectsAnalysis } from './settings';
import { runWebviewCommand } from './webviewCommands';
import { renderWebviewHtml, webviewOptions } from './webviewHtml';
import { formatCount } from '../core/count';

/** A dump opened in the inspector: only its URI; the analysis reads the data on demand. */
export class DumpDocument implements vscode.CustomDocument {
  constructor(readonly uri: vscode.Uri) {}
  dispose(): void {}
}

/** Dumps at least this large show a progress notification with Cancel (smaller: the status bar). */
const NOTIFY_BYTES = 16 * 1024 * 1024;
/** Shortest interval between progress updates of a run's page. */
const PROGRESS_INTERVAL_MS = 150;
/** Shortest interval between progress updates of the notification (or status bar). */
const NOTIFY_INTERVAL_MS = 500;

/** What the page says after the user cancelled an analysis. */
const CANCELLED = 'The analysis was cancelled. Run it again, or change an option.';

/** Heatmaps kept per analysis (a revisit of the Tokens view reads nothing). */
const HEATMAP_CACHE_SIZE = 8;
/** Reports sent to a page that its requests may still name: the one it shows, and the newest while it is on its way. */
const PAGE_REPORTS_KEPT = 2;

/** PNG files start with these 8 bytes. */
const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** What the host keeps per open inspector webview. */
export class InspectorSession extends Disposable {
  lastRender: RenderSummary | undefined;
  result: AnalysisResult | undefined;
  error: string | undefined;
  options: ViewOptions = {};
  private readonly renderWaiters: ((s: RenderSummary) => void)[] = [];
  private run: vscode.CancellationTokenSource | undefined;
  private readonly analyzed = new vscode.EventEmitter<AnalysisResult | undefined>();
  /** Fires after each analysis (undefined when it failed). */
  readonly onDidAnalyze = this.analyzed.event;
  private readonly previewed = new vscode.EventEmitter<PreviewInfo>();
  /** Fires when a preview is shown while the exact analysis runs. */
  readonly onDidPreview = this.previewed.event;
  /** The preview shown while the exact analysis runs (never a result: no exports, no warnings). */
  preview: { info: PreviewInfo; message: HostToWebview } | undefined;
  /** True when the last run was cancelled by the user (the page offers "Run again"). */
  cancelled = false;
  /** Heatmaps of the current analysis by request, computed on first visit of the Tokens view. */
  private readonly heatmaps = new Map<string, Promise<Heatmap>>();
  /** Tensors of the last finished analysis (the preview's pickers show them until the new ones come). */
  private get lastTensors(): TensorSummary[] | undefined {
    return this.result?.tensors;
  }
  /** Where the next chart PNG goes (set by the exportChart command), and who waits for it. */
  private chartExport: { target?: vscode.Uri; resolve: (path: string | null) => void; reject: (e: Error) => void } | undefined;
  /** The dump the current analysis opened, held for heatmap requests (released with the next analysis). */
  private heldDump: DumpHold | undefined;
  /** A fallback opening of the dump, when the analysis's was closed before this session took a hold. */
  private reopened: Promise<{ dump: Dump; close: () => Promise<void> }> | undefined;
  /** Answers the webview's requests (heatmaps, chart PNGs). */
  readonly requests: RpcServer<WebviewMethods>;
  /** The host's open → first chart timeline of the current run (epoch ms), logged and added to render summaries. */
  readonly marks: TimelineMark[] = [{ name: 'open', at: Date.now() }];

  constructor(
    readonly document: DumpDocument,
    readonly panel: vscode.WebviewPanel,
    private readonly service: AnalysisService,
  ) {
    super();
    this.register(this.analyzed);
    this.register(this.previewed);
    this.register(service.watch(document.uri));
    this.requests = new RpcServer<WebviewMethods>((m) => void this.post(m), {
      heatmap: (params) => this.heatmap(params),
      tokenSeries: async (params) => {
        const r = this.pageReports.get(params.report);
        const series = r && layerNormTokenSeries(r, params.batchElement);
        if (!series) throw new Error(r ? `no per-token series for batch element ${params.batchElement}` : 'that report was replaced by a newer one');
        return series;
      },
      saveChartPng: (params) => this.saveChartPng(params.name, params.dataUrl),
    });
  }

  /** Records a moment of the timeline and logs it relative to the opening of the editor. */
  mark(name: string): void {
    const at = Date.now();
    this.marks.push({ name, at });
    log().info(`${this.title}: [timing] ${name} +${at - this.marks[0]!.at} ms`);
  }

  /** Takes ownership of a listener for the session's lifetime. */
  track<T extends vscode.Disposable>(d: T): T {
    return this.register(d);
  }

  /** Posts to the webview; a no-op once the panel is gone. */
  post(message: HostToWebview): Thenable<boolean> {
    if (this.isDisposed) return Promise.resolve(false);
    return this.panel.webview.postMessage(message).then(undefined, () => false);
  }

  get title(): string {
    return fileName(this.document.uri);
  }

  /** True while an analysis runs. */
  get busy(): boolean {
    return this.run !== undefined;
  }

  /** The reports the page was sent, by id (the latest few), for its per-token series requests. */
  private readonly pageReports = new Map<number, AnalysisReport>();
  private nextReportId = 1;

  /** Numbers a report sent to the page, remembering it (and forgetting the older ones). */
  private pageReportId(report: AnalysisReport): number {
    const id = this.nextReportId++;
    this.pageReports.set(id, report);
    for (const k of this.pageReports.keys()) if (this.pageReports.size > PAGE_REPORTS_KEPT) this.pageReports.delete(k);
    return id;
  }

  /** The id the current result's report was sent under (sent again, the page knows it shows it already). */
  private reportId: { result: AnalysisResult; id: number } | undefined;

  /** The report message for the current result (long number arrays packed as binary). */
  private reportMessage(result: AnalysisResult): HostToWebview {
    const id = this.reportId?.result === result && this.pageReports.has(this.reportId.id) ? this.reportId.id : this.pageReportId(result.report);
    this.reportId = { result, id };
    const packed = packReport(pageReport(result.report));
    return { type: 'report', report: packed.report, arrays: packed.arrays, id, options: this.options, tensors: result.tensors, ...(result.tokens ? { tokens: result.tokens } : {}) };
  }

  /** True once the page has said `ready` (state messages before that are sent by `refill`). */
  private pageReady = false;

  /**
   * Whether state may be posted before the page's first `ready` (set by the provider: a dump that is
   * not a whole model). VS Code holds such messages until the page has loaded and hands them over
   * with its `load` event, so the preview is drawn without waiting for the ready → state round trip;
   * `refill` sends the state again on `ready` (a message that came too early for the page's listener
   * is not lost), and the page ignores a preview or report it already shows.
   */
  postEarly: (() => boolean) | undefined;

  /** Posts a state message (progress, preview, report, error) once the page listens; `refill` sends the state then. */
  private postState(message: HostToWebview): Thenable<boolean> {
    return this.pageReady || this.postEarly?.() === true ? this.post(message) : Promise.resolve(false);
  }

  /** The exact run's progress last sent (a page that reloads shows it at once). */
  private fraction = 0;

  /** True once the running analysis has its outcome (result or error set), while it still posts it. */
  private settled = false;

  /** Sends the current state to a (re)loaded webview: the report, the error, or a run in progress. */
  refill(): void {
    this.pageReady = true;
    if (this.busy && !this.settled) {
      // The preview first: the progress after it moves its banner.
      if (this.preview) void this.post(this.preview.message);
      void this.post({ type: 'progress', fraction: this.fraction, message: this.preview ? `${this.preview.info.label}: exact analysis` : 'Analyzing' });
    } else if (this.result) void this.post(this.reportMessage(this.result));
    else if (this.cancelled) void this.post({ type: 'cancelled', message: this.error ?? CANCELLED });
    else if (this.error) void this.post({ type: 'error', message: this.error });
    else void this.analyze();
  }

  /** Cancels the running analysis (the page's Cancel button, the notification's Cancel). */
  cancel(): void {
    this.run?.cancel();
  }

  /** The outcome of the analysis running now (the current result when none runs): what exports wait for. */
  whenAnalyzed(): Promise<AnalysisResult | undefined> {
    if (!this.busy) return Promise.resolve(this.result);
    return new Promise((resolve) => {
      const sub = this.analyzed.event((r) => {
        sub.dispose();
        resolve(r);
      });
    });
  }

  /** Runs (or re-runs) the analysis with the current options; a newer run supersedes an older one. */
  async analyze(): Promise<void> {
    this.run?.cancel();
    const run = new vscode.CancellationTokenSource();
    this.run = run;
    this.preview = undefined;
    this.fraction = 0;
    this.settled = false;
    this.cancelled = false;
    this.heatmaps.clear();
    let exact = false;
    const current = () => this.run === run && !this.isDisposed;
    // Listeners hear about the outcome once the run is over (so `busy` is already false).
    let outcome: { result: AnalysisResult | undefined } | undefined;
    let lastAt = 0;
    let notified = 0;
    let notifiedAt = 0;
    // A re-run starts a new timeline (keeps the list short however often options change).
    if (this.result || this.error) this.marks.splice(0, this.marks.length, { name: 'rerun', at: Date.now() });
    this.mark('analysis-start');
    // Big dumps get a notification with Cancel; small ones finish too fast for one to be useful.
    const size = await statUri(this.document.uri).then(
      (st) => st.size,
      () => 0,
    );
    const location = size >= NOTIFY_BYTES ? vscode.ProgressLocation.Notification : vscode.ProgressLocation.Window;
    try {
      const result = await vscode.window.withProgress({ location, title: `NormLens: analyzing ${this.title}`, cancellable: true }, async (progress, token) => {
        token.onCancellationRequested(() => run.cancel());
        return this.service.analyze(this.document.uri, this.options, {
          token: run.token,
          onMark: (name) => current() && this.mark(name),
          // A first look at a big dump, computed by the run before its passes; shown unless the exact came first.
          onPreview: (p) => {
            if (current() && !exact) void this.showPreview(p);
          },
          onProgress: (f) => {
            // A few updates a second: each one crosses to the workbench and the page, on the cores
            // the analysis runs on.
            const now = Date.now();
            if (!current() || (f !== 1 && (f - this.fraction < 0.02 || now - lastAt < PROGRESS_INTERVAL_MS))) return;
            lastAt = now;
            // The workbench's bar eases over 100 ms at each step (repainted meanwhile): fewer steps.
            if (f === 1 || now - notifiedAt >= NOTIFY_INTERVAL_MS) {
              progress.report({ increment: (f - notified) * 100, message: `${Math.round(f * 100)}%` });
              notified = f;
              notifiedAt = now;
            }
            void this.postState({ type: 'progress', fraction: f, message: this.preview ? `${this.preview.info.label}: exact analysis` : 'Analyzing' });
            this.fraction = f;
          },
        });
      });
      exact = true;
      if (!current()) return;
      this.mark(`analyzed (pass 1 ${result.report.timing.pass1Ms} ms, pass 2 ${result.report.timing.pass2Ms} ms, ${result.report.timing.workers} workers)`);
      this.result = result;
      this.preview = undefined;
      this.error = undefined;
      this.settled = true;
      this.releaseDump();
      this.heldDump = result.dump.acquire();
      const message = this.reportMessage(result);
      this.mark('report-packed');
      await this.postState(message);
      this.mark('report-posted');
      outcome = { result };
    } catch (e) {
      exact = true;
      if (!current()) return;
      const cancelled = run.token.isCancellationRequested;
      const message = cancelled ? CANCELLED : isNormLensError(e) ? e.message + hintsAsSettings(e.hints) : `unexpected error: ${(e as Error).message}`;
      log().warn(`${this.title}: ${message}`);
      this.result = undefined;
      this.preview = undefined;
      this.settled = true;
      // The page shows the error now: no report of its is asked for again.
      this.pageReports.clear();
      this.error = message;
      this.cancelled = cancelled;
      await this.postState(cancelled ? { type: 'cancelled', message } : { type: 'error', message });
      outcome = { result: undefined };
    } finally {
      if (this.run === run) this.run = undefined;
      run.dispose();
      if (outcome && !this.isDisposed) this.analyzed.fire(outcome.result);
    }
  }

  /** Shows a run's preview: labelled, without warnings, exports or heatmap in the page; the status bar says "preview". */
  private async showPreview(p: PreviewResult): Promise<void> {
    this.mark(`preview-computed (${p.sampledTokens} of ${p.totalTokens} tokens, pass 1 ${p.report.timing.pass1Ms} ms, pass 2 ${p.report.timing.pass2Ms} ms)`);
    const info: PreviewInfo = { sampledTokens: p.sampledTokens, totalTokens: p.totalTokens, label: p.label, ...(p.batchElements ? { batchElements: [...p.batchElements] } : {}) };
    const packed = packReport(pageReport(p.report));
    const message: HostToWebview = { type: 'preview', report: packed.report, arrays: packed.arrays, id: this.pageReportId(p.report), options: this.options, tensors: this.lastTensors ?? [], preview: info };
    this.preview = { info, message };
    this.previewed.fire(info);
    await this.postState(message);
    this.mark('preview-posted');
  }

  /** Changes view options from the webview and re-runs; `reset` goes back to the settings. */
  setOptions(change: ViewOptions, reset = false): void {
    // A whole-model dump keeps its chosen site through a reset.
    const next: ViewOptions = reset ? (this.options.site !== undefined ? { site: this.options.site } : {}) : { ...this.options, ...change };
    // Another input tensor may have another rank: its feature axis comes from the settings again.
    if (!reset && change.tensor !== undefined && change.featureAxis === undefined) delete next.featureAxis;
    // A tensor picked by hand is analyzed alone, outside the chosen site of a whole-model dump.
    if (!reset && change.tensor !== undefined && change.site === undefined) delete next.site;
    this.options = next;
    void this.analyze();
  }

  /** Asks the webview for its current chart as PNG and saves it (to `target`, else where the user picks). */
  exportChart(target?: vscode.Uri): Promise<string | null> {
    if (!this.result || this.busy) {
      void vscode.window.showInformationMessage(`NormLens: the chart can be saved once the exact analysis of ${this.title} is done${this.preview ? ' (the page shows a preview now)' : ''}.`);
      return Promise.resolve(null);
    }
    this.chartExport?.reject(new Error('superseded by a newer export'));
    return new Promise((resolve, reject) => {
      this.chartExport = { ...(target ? { target } : {}), resolve, reject };
      void this.post({ type: 'exportChart' });
    });
  }

  /** A tokens × features grid of the analyzed input, read from the dump the analysis opened. */
  private heatmap(params: WebviewMethods['heatmap']['params']): Promise<WebviewMethods['heatmap']['result']> {
    const key = JSON.stringify(params);
    let hm = this.heatmaps.get(key);
    if (!hm) {
      hm = this.computeHeatmap(params);
      hm.catch(() => this.heatmaps.delete(key));
      this.heatmaps.set(key, hm);
      // Oldest first in a Map: drop beyond the cache size.
      for (const k of this.heatmaps.keys()) if (this.heatmaps.size > HEATMAP_CACHE_SIZE) this.heatmaps.delete(k);
    }
    return hm;
  }

  /** Reads the analyzed input once for a heatmap request (the Tokens view asks only when shown). */
  private async computeHeatmap(params: WebviewMethods['heatmap']['params']): Promise<WebviewMethods['heatmap']['result']> {
    const r = this.result?.report;
    if (!r) throw new Error('no analysis yet');
    const dump = this.heldDump?.dump ?? (await (this.reopened ??= this.service.open(this.document.uri))).dump;
    const tensor = dump.tensors.find((t) => t.info.name === r.input.name);
    if (!tensor) throw new Error(`tensor ${r.input.name} is gone from the file`);
    if (params.values === 'layernorm' && r.layerNorm.perToken.reduced) {
      throw new Error(`the LayerNorm heatmap needs each token's statistics, and this input's ${formatCount(r.layout.tokens)} tokens are over the per-token cap; raise normlens.limits.maxTokenSeries to ${r.layout.tokens} to see it.`);
    }
    if (params.values === 'batchnorm' && r.batchNorm.perFeature.reduced) {
      throw new Error(`the BatchNorm heatmap needs each feature's statistics, and this input's ${formatCount(r.layout.features)} features are over the per-feature cap; raise normlens.limits.maxFeatureSeries to ${r.layout.features} to see it.`);
    }
    const norm =
      params.values === 'layernorm'
        ? { mean: r.layerNorm.perToken.mean, rstd: r.layerNorm.perToken.rstd }
        : params.values === 'batchnorm'
          ? { mean: r.batchNorm.perFeature.mean, rstd: r.batchNorm.perFeature.var.map((v) => 1 / Math.sqrt(v + r.batchNorm.eps)) }
          : undefined;
    return computeTokenHeatmap(tensor, r.layout.featureAxis, params, norm);
  }

  /** Saves a chart PNG from the webview: to the exportChart command's target, else where the user picks. */
  private async saveChartPng(name: string, dataUrl: string): Promise<string | null> {
    const pending = this.chartExport;
    this.chartExport = undefined;
    try {
      const saved = await savePng(name, dataUrl, this.document.uri, pending?.target);
      pending?.resolve(saved);
      return saved;
    } catch (e) {
      pending?.reject(e as Error);
      void vscode.window.showErrorMessage(`NormLens could not save the chart: ${(e as Error).message}`);
      throw e;
    }
  }

  /** Lets go of the analysis's dump (and of a fallback opening). */
  private releaseDump(): void {
    this.heldDump?.release();
    this.heldDump = undefined;
    const open = this.reopened;
    this.reopened = undefined;
    void open?.then((d) => d.close()).catch(() => undefined);
  }

  /** Reveals the panel on `view`. */
  async showView(view: InspectorViewId): Promise<void> {
    this.panel.reveal();
    await this.post({ type: 'showView', view });
  }

  /** Records what the page drew (with the host's marks merged into its timeline) and returns it. */
  onRendered(summary: RenderSummary): RenderSummary {
    // The page's marks and the host's, in time order: the whole timeline in one place for tests and logs.
    const marks = [...this.marks.map((m) => ({ name: `host:${m.name}`, at: m.at })), ...(summary.marks ?? []).map((m) => ({ name: `webview:${m.name}`, at: m.at }))].sort((a, b) => a.at - b.at);
    summary = { ...summary, marks };
    const t0 = this.marks[0]!.at;
    log().info(`${this.title}: [timing] rendered ${summary.preview ? 'preview' : summary.view}: ${marks.map((m) => `${m.name} +${m.at - t0}`).join(', ')}`);
    this.lastRender = summary;
    for (const w of this.renderWaiters.splice(0)) w(summary);
    return summary;
  }

  /** Resolves with the next render summary. */
  nextRender(): Promise<RenderSummary> {
    return new Promise((resolve) => this.renderWaiters.push(resolve));
  }

  override dispose(): void {
    this.run?.cancel();
    this.chartExport?.reject(new Error('the inspector was closed'));
    this.releaseDump();
    this.requests.abortAll();
    super.dispose();
  }
}

/** Decodes a PNG data URL from a webview canvas, refusing anything that is not a PNG. */
function pngBytes(dataUrl: string): Uint8Array {
  const m = /^data:image\/png;base64,([A-Za-z0-9+/=]+)$/.exec(dataUrl);
  const bytes = m ? Buffer.from(m[1]!, 'base64') : undefined;
  if (!bytes || bytes.length < 8 || PNG_MAGIC.some((b, i) => bytes[i] !== b)) throw new Error('the chart image is not a PNG');
  return bytes;
}

/** Saves a chart PNG to `to` (a host-chosen target) or where the user picks; returns the URI or null. */
export async function savePng(name: string, dataUrl: string, near: vscode.Uri, to?: vscode.Uri): Promise<string | null> {
  const bytes = pngBytes(dataUrl);
  const target = to ?? (await vscode.window.showSaveDialog({ defaultUri: vscode.Uri.joinPath(near, '..', name.replace(/[^\w.-]+/g, '_')), filters: { 'PNG image': ['png'] } }));
  if (!target) return null;
  await vscode.workspace.fs.writeFile(target, bytes);
  log().info(`saved chart ${target.toString()}`);
  return target.toString();
}

/** The custom read-only editor `normlens.inspector` for .npy/.npz (default) and .safetensors/.json. */
export class InspectorEditorProvider implements vscode.CustomReadonlyEditorProvider<DumpDocument> {
  static readonly viewType = 'normlens.inspector';
  /** The same editor, offered through "Open With..." for formats that also have text views. */
  static readonly optInViewType = 'normlens.inspectorOptIn';
  private readonly sessions = new Set<InspectorSession>();
  private focusedSession: InspectorSession | undefined;
  private lastFocused: InspectorSession | undefined;
  private readonly activeChanged = new vscode.EventEmitter<InspectorSession | undefined>();
  /** Fires when the focused inspector changes or finishes an analysis. */
  readonly onDidChangeActive = this.activeChanged.event;

  /** The whole-model side (sites, sweep) of each session. */
  private readonly models = new Map<InspectorSession, ModelSession>();

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly service: AnalysisService,
    private readonly sweeps?: SweepService,
  ) {
    context.subscriptions.push(
      this.activeChanged,
      service.onDidChangeFile((uri) => {
        for (const s of this.sessions) if (s.document.uri.toString() === uri.toString()) this.reanalyze(s, uri);
      }),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (affectsAnalysis(e)) for (const s of this.sessions) this.reanalyze(s);
      }),
      // What the page's Cancel and "Run again" buttons do, for tests and keybindings.
      vscode.commands.registerCommand(COMMAND.analysisControl, (action?: unknown) => {
        const s = this.active;
        if (!s) return false;
        if (action === 'cancel') s.cancel();
        else if (action === 'runAgain') void s.analyze();
        else return false;
        return true;
      }),
    );
  }

  /** Re-runs a session's analysis, and its sweep when it has one. */
  private reanalyze(s: InspectorSession, changed?: vscode.Uri): void {
    if (changed) this.sweeps?.invalidate(changed);
    this.models.get(s)?.rerun();
    void s.analyze();
  }

  /** The whole-model side of `session` (sites and sweep), if it has one. */
  modelOf(session: InspectorSession): ModelSession | undefined {
    return this.models.get(session);
  }

  /** The inspector that has focus now, if any (what commands act on). */
  get focused(): InspectorSession | undefined {
    return this.focusedSession;
  }

  /** The focused inspector, else the last focused one still open (for tests and status). */
  get active(): InspectorSession | undefined {
    return this.focusedSession ?? (this.lastFocused && this.sessions.has(this.lastFocused) ? this.lastFocused : [...this.sessions].pop());
  }

  openCustomDocument(uri: vscode.Uri): DumpDocument {
    // The workers a big dump's analysis needs start now, while the editor and its page are set up.
    void this.service.warm(uri).catch((e: Error) => log().debug(`warming the workers: ${e.message}`));
    return new DumpDocument(uri);
  }

  resolveCustomEditor(document: DumpDocument, panel: vscode.WebviewPanel): void {
    this.attach(document, panel);
  }

  /** Shows `document` in `panel` (a custom editor, or the folder Model panel) with the inspector UI. */
  attach(document: DumpDocument, panel: vscode.WebviewPanel): InspectorSession {
    const session = new InspectorSession(document, panel, this.service);
    const model = this.sweeps ? new ModelSession(session, this.sweeps) : undefined;
    if (model) {
      this.models.set(session, model);
      session.track(model);
    }
    this.sessions.add(session);
    this.setFocused(session);
    panel.webview.options = webviewOptions(this.context.extensionUri);
    panel.webview.html = renderWebviewHtml(panel.webview, this.context.extensionUri, 'inspector', session.title);
    // A single tensor's dump gets its first look as soon as the page has loaded: `init` and the state
    // go out now (VS Code hands them over on the page's load), and again on `ready`. A whole-model
    // dump waits for `ready` (its page restores the chosen site and opens on the Model view).
    const key = document.uri.toString();
    const init = (view: InspectorViewId | undefined) => session.post({ type: 'init', kind: 'inspector', title: session.title, uri: key, options: session.options, ...(view ? { view } : {}) });
    session.postEarly = () => model === undefined || (model.listed && !model.isModel);
    void init(this.pendingViews.get(key));
    // The analysis starts now, while the page loads (hundreds of ms); the page gets its state on `ready`.
    // A whole-model dump first lists its sites (headers only) to analyze the chosen site.
    if (model) void model.prepare().finally(() => void session.analyze());
    else void session.analyze();
    session.track(
      panel.webview.onDidReceiveMessage((m: WebviewToHost) => {
        switch (m.type) {
          case 'ready': {
            session.mark('webview-ready');
            const view = this.pendingViews.get(key);
            this.pendingViews.delete(key);
            void init(view);
            // Sites first (a whole-model dump analyzes its chosen site), then the report.
            if (model) void model.ready(m.site).finally(() => session.refill());
            else session.refill();
            break;
          }
          case 'selectSite':
            model?.select(m.site);
            break;
          case 'resweep':
            model?.rerun();
            break;
          case 'rendered':
            log().debug(`${session.title}: rendered ${m.summary.view} (${m.summary.charts.length} charts, ${m.summary.tables.length} tables)`);
            this.noteRender(session.onRendered(m.summary));
            break;
          case 'setOptions':
            session.setOptions(m.options);
            break;
          case 'resetOptions':
            session.setOptions({}, true);
            break;
          case 'runAgain':
            void session.analyze();
            break;
          case 'cancelAnalysis':
            session.cancel();
            break;
          case 'command':
            runWebviewCommand(m, { from: session.title, uri: document.uri, reveal: (_uri, view) => session.showView(view) });
            break;
          case 'request':
          case 'cancelRequest':
            session.requests.handle(m);
            break;
        }
      }),
    );
    session.track(session.onDidAnalyze(() => this.activeChanged.fire(this.focusedSession)));
    session.track(session.onDidPreview(() => this.activeChanged.fire(this.focusedSession)));
    session.track(
      panel.onDidChangeViewState(() => {
        if (panel.active) this.setFocused(session);
        else if (this.focusedSession === session) this.setFocused(undefined);
      }),
    );
    panel.onDidDispose(() => {
      this.sessions.delete(session);
      this.models.delete(session);
      if (this.focusedSession === session) this.setFocused(undefined);
      session.dispose();
    });
    return session;
  }

  private setFocused(s: InspectorSession | undefined): void {
    this.focusedSession = s;
    if (s) this.lastFocused = s;
    this.activeChanged.fire(s);
  }

  /** Views to open on, by document URI, for inspectors not yet loaded. */
  private readonly pendingViews = new Map<string, InspectorViewId>();

  /** Shows `uri` in the inspector on `view`: the open one, else a new one that starts on that view. */
  async reveal(uri: vscode.Uri, view: InspectorViewId): Promise<void> {
    const session = this.sessionFor(uri);
    if (session) return session.showView(view);
    this.pendingViews.set(uri.toString(), view);
    const viewType = /\.(npy|npz)$/i.test(uri.path) ? InspectorEditorProvider.viewType : InspectorEditorProvider.optInViewType;
    await vscode.commands.executeCommand('vscode.openWith', uri, viewType);
  }

  /** The session showing `uri`: the focused one if it does, else any. */
  sessionFor(uri: vscode.Uri): InspectorSession | undefined {
    const k = uri.toString();
    if (this.focusedSession?.document.uri.toString() === k) return this.focusedSession;
    return [...this.sessions].find((s) => s.document.uri.toString() === k);
  }

  /** Whether any inspector is open. */
  get isEmpty(): boolean {
    return this.sessions.size === 0;
  }

  /** Renders reported by any inspector so far (tests wait for the count to grow). */
  renderCount = 0;
  private lastAnyRender: RenderSummary | undefined;
  private readonly anyRenderWaiters: { after: number; resolve: (s: RenderSummary) => void }[] = [];

  /** Records a render of any session. */
  private noteRender(summary: RenderSummary): void {
    this.renderCount++;
    this.lastAnyRender = summary;
    const ready = this.anyRenderWaiters.filter((w) => this.renderCount > w.after);
    for (const w of ready) {
      this.anyRenderWaiters.splice(this.anyRenderWaiters.indexOf(w), 1);
      w.resolve(summary);
    }
  }

  /**
   * With `after`: the first render by any inspector once more than `after` renders happened.
   * Without: the active inspector's last render, waiting for one if none came yet.
   */
  async lastRender(timeoutMs = 20000, after?: number): Promise<RenderSummary | undefined> {
    const timeout = new Promise<undefined>((r) => setTimeout(() => r(undefined), timeoutMs));
    if (after !== undefined) {
      if (this.renderCount > after) return this.lastAnyRender;
      return Promise.race([new Promise<RenderSummary>((resolve) => this.anyRenderWaiters.push({ after, resolve })), timeout]);
    }
    const s = this.active;
    if (!s) return undefined;
    if (s.lastRender) return s.lastRender;
    return Promise.race([s.nextRender(), timeout]);
  }
}

/** A core error's limit hints in VS Code's terms: the setting and a value that would do (never CLI flags). */
function hintsAsSettings(hints: readonly NormLensHint[] | undefined): string {
  const settings = (hints ?? []).flatMap((h) => (h.kind === 'limit' ? [`${h.setting} to ${h.value}`] : h.kind === 'bf16FromUint16' ? ['normlens.bf16FromUint16 to true'] : []));
  const input = (hints ?? []).flatMap((h) => (h.kind === 'tensor' && h.role === 'input' ? [`pick '${h.name}' as the Input tensor`] : []));
  return (settings.length > 0 ? ` Settings: set ${settings.join(', or ')}.` : '') + (input.length > 0 ? ` Or ${input.join(', or ')}.` : '');
}

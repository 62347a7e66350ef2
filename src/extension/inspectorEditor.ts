import * as vscode from 'vscode';
import { computeTokenHeatmap } from '../core/heatmap/tokenHeatmap';
import { isNormLensError } from '../core/errors';
import type { HostToWebview, RenderSummary, ViewOptions, WebviewRequest, WebviewToHost } from '../protocol';
import { AnalysisService, fileName, type AnalysisResult } from './analysisService';
import { Disposable } from './disposable';
import { log } from './log';
import { affectsAnalysis } from './settings';
import { renderWebviewHtml, webviewOptions } from './webviewHtml';

/** A dump opened in the inspector: only its URI; the analysis reads the data on demand. */
export class DumpDocument implements vscode.CustomDocument {
  constructor(readonly uri: vscode.Uri) {}
  dispose(): void {}
}

/** Dumps at least this large show a progress notification with Cancel (smaller: the status bar). */
const NOTIFY_BYTES = 16 * 1024 * 1024;

/** What the host keeps per open inspector webview. */
export class InspectorSession extends Disposable {
  lastRender: RenderSummary | undefined;
  result: AnalysisResult | undefined;
  error: string | undefined;
  options: ViewOptions = {};
  private readonly renderWaiters: ((s: RenderSummary) => void)[] = [];
  private run: vscode.CancellationTokenSource | undefined;
  private readonly analysed = new vscode.EventEmitter<AnalysisResult | undefined>();
  /** Fires after each analysis (undefined when it failed). */
  readonly onDidAnalyse = this.analysed.event;

  constructor(
    readonly document: DumpDocument,
    readonly panel: vscode.WebviewPanel,
    private readonly service: AnalysisService,
  ) {
    super();
    this.register(this.analysed);
  }

  /** Takes ownership of a listener for the session's lifetime. */
  track<T extends vscode.Disposable>(d: T): T {
    return this.register(d);
  }

  post(message: HostToWebview): Thenable<boolean> {
    return this.panel.webview.postMessage(message);
  }

  get title(): string {
    return fileName(this.document.uri);
  }

  /** Runs (or re-runs) the analysis with the current options, with a cancellable progress notification. */
  async analyse(): Promise<void> {
    this.run?.cancel();
    const run = new vscode.CancellationTokenSource();
    this.run = run;
    let last = 0;
    // Big dumps get a notification with Cancel; small ones finish too fast for one to be useful.
    const size = await vscode.workspace.fs.stat(this.document.uri).then(
      (st) => st.size,
      () => 0,
    );
    const location = size >= NOTIFY_BYTES ? vscode.ProgressLocation.Notification : vscode.ProgressLocation.Window;
    try {
      const result = await vscode.window.withProgress(
        { location, title: `NormLens: analysing ${this.title}`, cancellable: true },
        async (progress, token) => {
          token.onCancellationRequested(() => run.cancel());
          return this.service.analyze(this.document.uri, this.options, {
            token: run.token,
            onProgress: (f) => {
              if (f - last >= 0.02 || f === 1) {
                progress.report({ increment: (f - last) * 100, message: `${Math.round(f * 100)}%` });
                void this.post({ type: 'progress', fraction: f, message: 'Analysing' });
                last = f;
              }
            },
          });
        },
      );
      if (run.token.isCancellationRequested) return;
      this.result = result;
      this.error = undefined;
      await this.post({ type: 'report', report: result.report, options: this.options, tensors: result.tensors, ...(result.tokens ? { tokens: result.tokens } : {}) });
      this.analysed.fire(result);
    } catch (e) {
      if (run.token.isCancellationRequested) {
        await this.post({ type: 'error', message: 'The analysis was cancelled. Change an option or reopen the file to run it again.' });
        return;
      }
      const message = isNormLensError(e) ? e.message : `unexpected error: ${(e as Error).message}`;
      log().warn(`${this.title}: ${message}`);
      this.result = undefined;
      this.error = message;
      await this.post({ type: 'error', message });
      this.analysed.fire(undefined);
    } finally {
      if (this.run === run) this.run = undefined;
      run.dispose();
    }
  }

  /** Answers a webview request. */
  async answer(id: number, req: WebviewRequest): Promise<void> {
    try {
      const value = await this.handle(req);
      await this.post({ type: 'reply', id, ok: true, value });
    } catch (e) {
      await this.post({ type: 'reply', id, ok: false, error: (e as Error).message });
    }
  }

  private async handle(req: WebviewRequest): Promise<unknown> {
    switch (req.kind) {
      case 'heatmap': {
        const r = this.result?.report;
        if (!r) throw new Error('no analysis yet');
        const { dump, close } = await this.service.open(this.document.uri);
        try {
          const tensor = dump.tensors.find((t) => t.info.name === r.input.name);
          if (!tensor) throw new Error(`tensor ${r.input.name} is gone from the file`);
          const norm =
            req.params.values === 'layernorm'
              ? { mean: r.layerNorm.perToken.mean, rstd: r.layerNorm.perToken.rstd }
              : req.params.values === 'batchnorm'
                ? { mean: r.batchNorm.perFeature.mean, rstd: r.batchNorm.perFeature.var.map((v) => 1 / Math.sqrt(v + r.batchNorm.eps)) }
                : undefined;
          return await computeTokenHeatmap(tensor, r.layout.featureAxis, req.params, norm);
        } finally {
          await close();
        }
      }
      case 'saveChartPng':
        return savePng(req.name, req.dataUrl, this.document.uri, req.target);
    }
  }

  onRendered(summary: RenderSummary): void {
    this.lastRender = summary;
    for (const w of this.renderWaiters.splice(0)) w(summary);
  }

  /** Resolves with the next render summary. */
  nextRender(): Promise<RenderSummary> {
    return new Promise((resolve) => this.renderWaiters.push(resolve));
  }

  override dispose(): void {
    this.run?.cancel();
    super.dispose();
  }
}

/** Asks where to save a PNG (data URL from a webview canvas) and writes it; returns the path or null. */
export async function savePng(name: string, dataUrl: string, near: vscode.Uri, to?: string): Promise<string | null> {
  const m = /^data:image\/png;base64,([A-Za-z0-9+/=]+)$/.exec(dataUrl);
  if (!m) throw new Error('the chart image is not a PNG');
  const target = to ? vscode.Uri.parse(to) : await vscode.window.showSaveDialog({ defaultUri: vscode.Uri.joinPath(near, '..', name.replace(/[^\w.-]+/g, '_')), filters: { 'PNG image': ['png'] } });
  if (!target) return null;
  await vscode.workspace.fs.writeFile(target, Buffer.from(m[1]!, 'base64'));
  log().info(`saved chart ${target.toString()}`);
  return target.toString();
}

/** The custom read-only editor `normlens.inspector` for .npy/.npz (default) and .safetensors/.json. */
export class InspectorEditorProvider implements vscode.CustomReadonlyEditorProvider<DumpDocument> {
  static readonly viewType = 'normlens.inspector';
  /** The same editor, offered through "Open With..." for formats that also have text views. */
  static readonly optInViewType = 'normlens.inspectorOptIn';
  private readonly sessions = new Set<InspectorSession>();
  private activeSession: InspectorSession | undefined;
  private readonly activeChanged = new vscode.EventEmitter<InspectorSession | undefined>();
  /** Fires when the active inspector changes or finishes an analysis. */
  readonly onDidChangeActive = this.activeChanged.event;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly service: AnalysisService,
  ) {
    context.subscriptions.push(
      this.activeChanged,
      service.onDidChangeFile((uri) => {
        for (const s of this.sessions) if (s.document.uri.toString() === uri.toString()) void s.analyse();
      }),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (affectsAnalysis(e)) for (const s of this.sessions) void s.analyse();
      }),
    );
  }

  /** The focused inspector, else the most recently opened one. */
  get active(): InspectorSession | undefined {
    return this.activeSession ?? [...this.sessions].pop();
  }

  /** All open inspectors. */
  all(): InspectorSession[] {
    return [...this.sessions];
  }

  openCustomDocument(uri: vscode.Uri): DumpDocument {
    return new DumpDocument(uri);
  }

  resolveCustomEditor(document: DumpDocument, panel: vscode.WebviewPanel): void {
    const session = new InspectorSession(document, panel, this.service);
    this.sessions.add(session);
    this.setActive(session);
    panel.webview.options = webviewOptions(this.context.extensionUri);
    panel.webview.html = renderWebviewHtml(panel.webview, this.context.extensionUri, 'inspector', session.title);
    session.track(
      panel.webview.onDidReceiveMessage((m: WebviewToHost) => {
        switch (m.type) {
          case 'ready':
            void session.post({ type: 'init', kind: 'inspector', title: session.title, uri: document.uri.toString(), options: session.options });
            if (session.result) void session.post({ type: 'report', report: session.result.report, options: session.options, tensors: session.result.tensors, ...(session.result.tokens ? { tokens: session.result.tokens } : {}) });
            else if (session.error) void session.post({ type: 'error', message: session.error });
            else void session.analyse();
            break;
          case 'rendered':
            log().debug(`${session.title}: rendered ${m.summary.view} (${m.summary.charts.length} charts, ${m.summary.tables.length} tables)`);
            session.onRendered(m.summary);
            this.noteRender(m.summary);
            break;
          case 'setOptions':
            session.options = { ...session.options, ...m.options };
            void session.analyse();
            break;
          case 'command':
            if (typeof m.command === 'string' && m.command.startsWith('normlens.')) void vscode.commands.executeCommand(m.command, ...(m.args ?? []));
            break;
          case 'request':
            void session.answer(m.id, m.request);
            break;
        }
      }),
    );
    session.track(session.onDidAnalyse(() => this.activeChanged.fire(this.active)));
    session.track(
      panel.onDidChangeViewState(() => {
        if (panel.active) this.setActive(session);
      }),
    );
    panel.onDidDispose(() => {
      this.sessions.delete(session);
      if (this.activeSession === session) this.setActive(undefined);
      session.dispose();
    });
  }

  private setActive(s: InspectorSession | undefined): void {
    this.activeSession = s;
    this.activeChanged.fire(this.active);
  }

  /** The session showing `uri`, if any. */
  sessionFor(uri: vscode.Uri): InspectorSession | undefined {
    return [...this.sessions].find((s) => s.document.uri.toString() === uri.toString());
  }

  /** Renders reported by any inspector so far (tests wait for the count to grow). */
  renderCount = 0;
  private lastAnyRender: RenderSummary | undefined;
  private readonly anyRenderWaiters: { after: number; resolve: (s: RenderSummary) => void }[] = [];

  /** Records a render of any session. */
  noteRender(summary: RenderSummary): void {
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

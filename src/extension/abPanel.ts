import * as vscode from 'vscode';
import type { HostToWebview, RenderSummary, WebviewToHost } from '../protocol';
import { AnalysisService, fileName } from './analysisService';
import { log } from './log';
import { runWebviewCommand } from './webviewCommands';
import { renderWebviewHtml, webviewOptions } from './webviewHtml';

/** State an A/B panel keeps for restore after a reload: only the two URIs. */
interface AbPanelState {
  a: string;
  b: string;
}

/** The A/B panel: two dumps' statistics and distributions side by side. */
export class AbPanel {
  static readonly viewType = 'normlens.abPanel';
  private static readonly panels = new Set<AbPanel>();
  lastRender: RenderSummary | undefined;
  private readonly waiters: ((s: RenderSummary) => void)[] = [];
  /** Cancels the two analyses when the panel closes. */
  private readonly cancel = new vscode.CancellationTokenSource();
  private disposed = false;

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    private readonly a: vscode.Uri,
    private readonly b: vscode.Uri,
    private readonly service: AnalysisService,
    extensionUri: vscode.Uri,
  ) {
    AbPanel.panels.add(this);
    panel.webview.options = webviewOptions(extensionUri);
    panel.webview.html = renderWebviewHtml(panel.webview, extensionUri, 'abPanel', panel.title);
    const listener = panel.webview.onDidReceiveMessage((m: WebviewToHost) => {
      if (m.type === 'ready') void this.load();
      else if (m.type === 'rendered') {
        this.lastRender = m.summary;
        for (const w of this.waiters.splice(0)) w(m.summary);
      } else if (m.type === 'command') runWebviewCommand(m, { from: 'A/B panel' });
    });
    panel.onDidDispose(() => {
      this.disposed = true;
      AbPanel.panels.delete(this);
      this.cancel.cancel();
      this.cancel.dispose();
      listener.dispose();
    });
  }

  /** Opens an A/B panel for `a` and `b`. */
  static open(a: vscode.Uri, b: vscode.Uri, service: AnalysisService, extensionUri: vscode.Uri): AbPanel {
    const panel = vscode.window.createWebviewPanel(AbPanel.viewType, `A/B: ${fileName(a)} ↔ ${fileName(b)}`, vscode.ViewColumn.Active, webviewOptions(extensionUri));
    return new AbPanel(panel, a, b, service, extensionUri);
  }

  /** Restores panels after a window reload from their saved URIs. */
  static serializer(service: AnalysisService, extensionUri: vscode.Uri): vscode.WebviewPanelSerializer<AbPanelState> {
    return {
      async deserializeWebviewPanel(panel, state) {
        if (!state?.a || !state?.b) {
          panel.dispose();
          return;
        }
        new AbPanel(panel, vscode.Uri.parse(state.a), vscode.Uri.parse(state.b), service, extensionUri);
      },
    };
  }

  /** The most recently opened A/B panel. */
  static latest(): AbPanel | undefined {
    return [...AbPanel.panels].pop();
  }

  /** The last render summary, waiting for one if needed. */
  async rendered(timeoutMs = 30000): Promise<RenderSummary | undefined> {
    if (this.lastRender) return this.lastRender;
    return Promise.race([new Promise<RenderSummary>((r) => this.waiters.push(r)), new Promise<undefined>((r) => setTimeout(() => r(undefined), timeoutMs))]);
  }

  private async load(): Promise<void> {
    await this.post({ type: 'init', kind: 'abPanel', title: this.panel.title, options: {} });
    try {
      const [ra, rb] = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'NormLens: analyzing both dumps', cancellable: true }, (_p, token) => {
        token.onCancellationRequested(() => this.cancel.cancel());
        const run = { token: this.cancel.token };
        return Promise.all([this.service.analyze(this.a, {}, run), this.service.analyze(this.b, {}, run)]);
      });
      await this.post({
        type: 'abReports',
        a: { title: fileName(this.a), uri: this.a.toString(), report: ra.report },
        b: { title: fileName(this.b), uri: this.b.toString(), report: rb.report },
      });
    } catch (e) {
      log().warn(`A/B panel failed: ${(e as Error).message}`);
      await this.post({ type: 'error', message: (e as Error).message });
    }
  }

  private post(m: HostToWebview): Thenable<boolean> {
    if (this.disposed) return Promise.resolve(false);
    return this.panel.webview.postMessage(m).then(undefined, () => false);
  }
}

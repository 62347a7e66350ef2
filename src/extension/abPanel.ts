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
  /** Sites of whole-model dumps, when a side shows one. */
  siteA?: string;
  siteB?: string;
}

/** One side of the panel: a dump, and the site of it to compare (whole-model dumps). */
export interface AbTarget {
  uri: vscode.Uri;
  site?: string;
}

/** A side's title: the file name, and the site when there is one. */
function sideTitle(t: AbTarget): string {
  return t.site !== undefined ? `${fileName(t.uri)} · ${t.site}` : fileName(t.uri);
}

/** A URI or a target, as a target. */
function target(t: vscode.Uri | AbTarget): AbTarget {
  return t instanceof vscode.Uri ? { uri: t } : t;
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
    private readonly a: AbTarget,
    private readonly b: AbTarget,
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

  /** Opens an A/B panel for `a` and `b` (two dumps, or two sites of one whole-model dump). */
  static open(first: vscode.Uri | AbTarget, second: vscode.Uri | AbTarget, service: AnalysisService, extensionUri: vscode.Uri): AbPanel {
    const a = target(first);
    const b = target(second);
    const title = a.uri.toString() === b.uri.toString() && a.site !== undefined && b.site !== undefined ? `A/B: ${a.site} ↔ ${b.site}` : `A/B: ${sideTitle(a)} ↔ ${sideTitle(b)}`;
    const panel = vscode.window.createWebviewPanel(AbPanel.viewType, title, vscode.ViewColumn.Active, webviewOptions(extensionUri));
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
        const side = (uri: string, site: string | undefined): AbTarget => ({ uri: vscode.Uri.parse(uri), ...(typeof site === 'string' ? { site } : {}) });
        new AbPanel(panel, side(state.a, state.siteA), side(state.b, state.siteB), service, extensionUri);
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
        const options = (t: AbTarget) => (t.site !== undefined ? { site: t.site } : {});
        return Promise.all([this.service.analyze(this.a.uri, options(this.a), run), this.service.analyze(this.b.uri, options(this.b), run)]);
      });
      await this.post({
        type: 'abReports',
        a: { title: sideTitle(this.a), uri: this.a.uri.toString(), ...(this.a.site !== undefined ? { site: this.a.site } : {}), report: ra.report },
        b: { title: sideTitle(this.b), uri: this.b.uri.toString(), ...(this.b.site !== undefined ? { site: this.b.site } : {}), report: rb.report },
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

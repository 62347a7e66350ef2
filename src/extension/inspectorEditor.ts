import * as vscode from 'vscode';
import type { HostToWebview, RenderSummary, ViewOptions, WebviewToHost } from '../protocol';
import { Disposable } from './disposable';
import { log } from './log';
import { renderWebviewHtml, webviewOptions } from './webviewHtml';

/** A dump opened in the inspector: only its URI; the data is read by the analysis on demand. */
export class DumpDocument implements vscode.CustomDocument {
  constructor(readonly uri: vscode.Uri) {}
  dispose(): void {}
}

/** Everything the host keeps per open inspector webview. */
class InspectorSession extends Disposable {
  lastRender: RenderSummary | undefined;
  private readonly renderWaiters: ((s: RenderSummary) => void)[] = [];
  options: ViewOptions = {};

  constructor(
    readonly document: DumpDocument,
    readonly panel: vscode.WebviewPanel,
  ) {
    super();
  }

  /** Takes ownership of a listener for the session's lifetime. */
  track<T extends vscode.Disposable>(d: T): T {
    return this.register(d);
  }

  post(message: HostToWebview): Thenable<boolean> {
    return this.panel.webview.postMessage(message);
  }

  onRendered(summary: RenderSummary): void {
    this.lastRender = summary;
    for (const w of this.renderWaiters.splice(0)) w(summary);
  }

  /** Resolves with the next render summary. */
  nextRender(): Promise<RenderSummary> {
    return new Promise((resolve) => this.renderWaiters.push(resolve));
  }
}

/** The custom read-only editor `normlens.inspector` for .npy/.npz (default) and .safetensors/.json. */
export class InspectorEditorProvider implements vscode.CustomReadonlyEditorProvider<DumpDocument> {
  static readonly viewType = 'normlens.inspector';
  /** The same editor, offered through "Open With..." for formats that also have text views. */
  static readonly optInViewType = 'normlens.inspectorOptIn';
  private readonly sessions = new Set<InspectorSession>();
  private active: InspectorSession | undefined;

  constructor(private readonly context: vscode.ExtensionContext) {}

  openCustomDocument(uri: vscode.Uri): DumpDocument {
    return new DumpDocument(uri);
  }

  resolveCustomEditor(document: DumpDocument, panel: vscode.WebviewPanel): void {
    const session = new InspectorSession(document, panel);
    this.sessions.add(session);
    this.active = session;
    const title = document.uri.path.split('/').pop() ?? document.uri.toString();
    panel.webview.options = webviewOptions(this.context.extensionUri);
    panel.webview.html = renderWebviewHtml(panel.webview, this.context.extensionUri, 'inspector', title);
    session.track(
      panel.webview.onDidReceiveMessage((m: WebviewToHost) => {
        switch (m.type) {
          case 'ready':
            void session.post({ type: 'init', kind: 'inspector', title, uri: document.uri.toString(), options: session.options });
            break;
          case 'rendered':
            log().debug(`inspector ${title} rendered ${m.summary.view}: ${m.summary.charts.length} charts`);
            session.onRendered(m.summary);
            break;
          case 'setOptions':
            session.options = { ...session.options, ...m.options };
            break;
          case 'command':
            void vscode.commands.executeCommand(m.command, ...(m.args ?? []));
            break;
        }
      }),
    );
    session.track(
      panel.onDidChangeViewState(() => {
        if (panel.active) this.active = session;
      }),
    );
    panel.onDidDispose(() => {
      this.sessions.delete(session);
      if (this.active === session) this.active = undefined;
      session.dispose();
    });
  }

  /** The render summary of the active (or only) inspector, waiting for the first render if needed. */
  async lastRender(timeoutMs = 20000): Promise<RenderSummary | undefined> {
    const s = this.active ?? [...this.sessions].pop();
    if (!s) return undefined;
    if (s.lastRender) return s.lastRender;
    return Promise.race([s.nextRender(), new Promise<undefined>((r) => setTimeout(() => r(undefined), timeoutMs))]);
  }
}

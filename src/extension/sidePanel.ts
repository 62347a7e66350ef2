import * as vscode from 'vscode';
import type { AnalysisReport } from '../core/report/analysisReport';
import { packReport } from '../core/report/packReport';
import { pageReport } from '../core/report/pageReport';
import type { HostToWebview, InspectorViewId, RenderSummary, WebviewToHost } from '../protocol';
import { log } from './log';
import { runWebviewCommand } from './webviewCommands';
import { renderWebviewHtml, webviewOptions } from './webviewHtml';

/** What the side panel shows: a report and where it came from. */
export interface SidePanelContent {
  uri: vscode.Uri;
  title: string;
  report: AnalysisReport;
}

/**
 * The side panel: the "LayerNorm vs BatchNorm" webview view in the NormLens activity-bar container,
 * with the active dump's key numbers, its warnings (click to reveal in the inspector) and the two
 * norms' outputs side by side.
 * It is refilled whenever it becomes visible (no retained context).
 */
export class SidePanelProvider implements vscode.WebviewViewProvider {
  static readonly viewId = 'normlens.sidePanel';
  private view: vscode.WebviewView | undefined;
  private content: SidePanelContent | undefined;
  private ready = false;
  lastRender: RenderSummary | undefined;
  private renderWaiters: ((s: RenderSummary) => void)[] = [];

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly reveal: (uri: vscode.Uri, view: InspectorViewId) => Promise<void>,
  ) {}

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    this.ready = false;
    view.webview.options = webviewOptions(this.extensionUri);
    view.webview.html = renderWebviewHtml(view.webview, this.extensionUri, 'sidePanel', 'NormLens');
    view.webview.onDidReceiveMessage((m: WebviewToHost) => {
      switch (m.type) {
        case 'ready':
          this.ready = true;
          this.push();
          break;
        case 'rendered':
          this.lastRender = m.summary;
          for (const w of this.renderWaiters.splice(0)) w(m.summary);
          log().debug(`side panel rendered ${m.summary.view}`);
          break;
        case 'command':
          // The same allow-list as the inspector's; a warning link reveals this panel's dump.
          runWebviewCommand(m, { from: 'side panel', uri: this.content?.uri, reveal: this.reveal });
          break;
        default:
          break;
      }
    });
    view.onDidChangeVisibility(() => {
      if (!view.visible) this.ready = false;
    });
    view.onDidDispose(() => {
      this.view = undefined;
      this.ready = false;
    });
  }

  /** Shows `content` (or the empty state when undefined). */
  show(content: SidePanelContent | undefined): void {
    this.content = content;
    this.push();
  }

  /** The content shown now. */
  get current(): SidePanelContent | undefined {
    return this.content;
  }

  /** Resolves with the next render of the panel (or undefined after `timeoutMs`). */
  nextRender(timeoutMs = 20000): Promise<RenderSummary | undefined> {
    return Promise.race([new Promise<RenderSummary>((r) => this.renderWaiters.push(r)), new Promise<undefined>((r) => setTimeout(() => r(undefined), timeoutMs))]);
  }

  private push(): void {
    if (!this.view || !this.ready) return;
    if (this.content) {
      void this.post({ type: 'init', kind: 'sidePanel', title: this.content.title, options: {} });
      // The page draws key numbers, histograms and warnings: no per-token arrays, long arrays as binary.
      const packed = packReport(pageReport(this.content.report));
      void this.post({ type: 'report', report: packed.report, arrays: packed.arrays, options: {}, tensors: [] });
    }
    else void this.post({ type: 'error', message: 'Open a .npy, .npz, .safetensors or JSON dump in the NormLens inspector to compare LayerNorm and BatchNorm on it here.' });
  }

  private post(m: HostToWebview): Thenable<boolean> {
    return this.view!.webview.postMessage(m);
  }
}

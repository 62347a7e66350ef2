import * as vscode from 'vscode';
import type { AnalysisReport } from '../core/report/analysisReport';
import type { PreviewInfo } from '../protocol';

/** The status-bar item for the active dump: shape, dtype and warnings; click opens the side panel. */
export class DumpStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('normlens.status', vscode.StatusBarAlignment.Right, 100);

  constructor() {
    this.item.name = 'NormLens';
    this.item.command = 'normlens.compareNorms';
  }

  /**
   * Shows the report's summary, or hides the item when there is none; while a preview shows, says so.
   * While an analysis runs the icon stands still (a spinning one is repainted every frame for the whole
   * run, on the cores the analysis needs).
   */
  update(report: AnalysisReport | undefined, busy = false, preview?: PreviewInfo): void {
    if (busy && preview) {
      // Never the preview's numbers here: they are not the dump's.
      this.item.text = '$(watch) NormLens preview';
      this.item.tooltip = `NormLens shows a preview (${preview.label.replace(/^Preview from /, 'from ')}); the exact analysis is running.`;
      this.item.backgroundColor = undefined;
      this.item.show();
      return;
    }
    if (!report) {
      if (busy) {
        this.item.text = '$(watch) NormLens';
        this.item.tooltip = 'NormLens is analyzing the dump';
        this.item.show();
      } else this.item.hide();
      return;
    }
    const errors = report.warnings.filter((w) => w.severity === 'error').length;
    const warnings = report.warnings.length;
    const icon = errors ? '$(error)' : warnings ? '$(warning)' : '$(pass)';
    this.item.text = `$(graph) ${report.input.dtype} (${report.input.shape.join(', ')}) ${icon} ${warnings}`;
    const md = new vscode.MarkdownString(undefined, true);
    md.appendMarkdown('**NormLens** — ');
    md.appendText(`${report.input.name} ${report.input.dtype} (${report.input.shape.join(', ')})`);
    md.appendMarkdown('\n\n');
    md.appendMarkdown(`${report.layout.tokens} tokens × ${report.layout.features} features, ${warnings} warning${warnings === 1 ? '' : 's'}\n\n`);
    for (const w of report.warnings.slice(0, 6)) md.appendMarkdown(`- \`${w.code}\` (${w.severity})\n`);
    md.appendMarkdown('\nClick to compare LayerNorm and BatchNorm in the side panel.');
    this.item.tooltip = md;
    this.item.backgroundColor = errors ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
    this.item.show();
  }

  dispose(): void {
    this.item.dispose();
  }
}

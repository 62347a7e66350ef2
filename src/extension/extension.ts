import * as vscode from 'vscode';
import { AnalysisService } from './analysisService';
import { registerCommands } from './commands';
import { AbPanel } from './abPanel';
import { InspectorEditorProvider } from './inspectorEditor';
import { createLog, log } from './log';
import { ModelPanel } from './modelPanel';
import { SidePanelProvider } from './sidePanel';
import { SweepService } from './sweepService';
import { DumpStatusBar } from './statusBar';
import { WorkerLeases } from './workerLeases';

/** What `activate` returns to other extensions (and tests). */
export interface NormLensApi {
  version: string;
}

/** Activates NormLens: the inspector editor, side panel, commands, status bar and log. */
export function activate(context: vscode.ExtensionContext): NormLensApi {
  context.subscriptions.push(createLog());
  log().info(`NormLens ${context.extension.packageJSON.version} activated in VS Code ${vscode.version}`);
  // One set of long-lived analysis workers for analyses and sweeps (stopped when idle).
  const workers = new WorkerLeases(vscode.Uri.joinPath(context.extensionUri, 'dist', 'worker.js').fsPath);
  context.subscriptions.push(workers);
  const service = new AnalysisService(context.extensionUri, workers);
  const sweeps = new SweepService(context.extensionUri, workers);
  const inspector = new InspectorEditorProvider(context, service, sweeps);
  const statusBar = new DumpStatusBar();
  const sidePanel = new SidePanelProvider(context.extensionUri, (uri, view) => inspector.reveal(uri, view));
  context.subscriptions.push(
    service,
    sweeps,
    statusBar,
    // One provider under two view types: default for .npy/.npz, "Open With..." for .safetensors/.json.
    ...[InspectorEditorProvider.viewType, InspectorEditorProvider.optInViewType].map((viewType) =>
      vscode.window.registerCustomEditorProvider(viewType, inspector, { supportsMultipleEditorsPerDocument: true, webviewOptions: { enableFindWidget: true } }),
    ),
    vscode.window.registerWebviewViewProvider(SidePanelProvider.viewId, sidePanel),
    vscode.window.registerWebviewPanelSerializer(AbPanel.viewType, AbPanel.serializer(service, context.extensionUri)),
    vscode.window.registerWebviewPanelSerializer(ModelPanel.viewType, ModelPanel.serializer(inspector)),
    inspector.onDidChangeActive((session) => {
      statusBar.update(session?.result?.report, session?.busy ?? false, session?.preview?.info);
      // A whole-model dump: the side panel follows the chosen site.
      const site = session?.options.site;
      if (session?.result) sidePanel.show({ uri: session.document.uri, title: site !== undefined ? `${session.title} · ${site}` : session.title, report: session.result.report });
      else if (session?.error || inspector.isEmpty) sidePanel.show(undefined);
    }),
    ...registerCommands({ context, service, inspector, sidePanel, sweeps }),
  );
  return { version: String(context.extension.packageJSON.version) };
}

/** Nothing to tear down beyond the subscriptions. */
export function deactivate(): void {}

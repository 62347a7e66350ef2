import * as vscode from 'vscode';
import { AnalysisService } from './analysisService';
import { registerCommands } from './commands';
import { ComparePanel } from './comparePanel';
import { InspectorEditorProvider } from './inspectorEditor';
import { createLog, log } from './log';
import { ComparisonViewProvider } from './sidePanel';
import { DumpStatusBar } from './statusBar';

/** What `activate` returns to other extensions (and tests). */
export interface NormLensApi {
  version: string;
}

/** Activates NormLens: the inspector editor, side panel, commands, status bar and log. */
export function activate(context: vscode.ExtensionContext): NormLensApi {
  context.subscriptions.push(createLog());
  log().info(`NormLens ${context.extension.packageJSON.version} activated in VS Code ${vscode.version}`);
  const service = new AnalysisService(context.extensionUri);
  const inspector = new InspectorEditorProvider(context, service);
  const statusBar = new DumpStatusBar();
  const sidePanel = new ComparisonViewProvider(context.extensionUri, async (uri, view) => {
    const session = inspector.sessionFor(uri);
    if (session) {
      session.panel.reveal();
      await session.post({ type: 'showView', view });
    } else {
      await vscode.commands.executeCommand('normlens.openInspector', uri);
    }
  });
  context.subscriptions.push(
    service,
    statusBar,
    // One provider under two view types: default for .npy/.npz, "Open With..." for .safetensors/.json.
    ...[InspectorEditorProvider.viewType, InspectorEditorProvider.optInViewType].map((viewType) =>
      vscode.window.registerCustomEditorProvider(viewType, inspector, { supportsMultipleEditorsPerDocument: true, webviewOptions: { enableFindWidget: true } }),
    ),
    vscode.window.registerWebviewViewProvider(ComparisonViewProvider.viewId, sidePanel),
    vscode.window.registerWebviewPanelSerializer(ComparePanel.viewType, ComparePanel.serializer(service, context.extensionUri)),
    inspector.onDidChangeActive((session) => {
      statusBar.update(session?.result?.report, session?.busy ?? false);
      if (session?.result) sidePanel.show({ uri: session.document.uri, title: session.title, report: session.result.report });
      else if (session?.error || inspector.isEmpty) sidePanel.show(undefined);
    }),
    ...registerCommands({ context, service, inspector, sidePanel }),
  );
  return { version: String(context.extension.packageJSON.version) };
}

/** Nothing to tear down beyond the subscriptions. */
export function deactivate(): void {}

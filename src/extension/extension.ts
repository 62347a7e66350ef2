import * as vscode from 'vscode';
import { InspectorEditorProvider } from './inspectorEditor';
import { createLog, log } from './log';

/** Activates NormLens: registers the inspector editor, commands and the log channel. */
export function activate(context: vscode.ExtensionContext): { version: string } {
  context.subscriptions.push(createLog());
  log().info(`NormLens activated in VS Code ${vscode.version}`);
  const inspector = new InspectorEditorProvider(context);
  context.subscriptions.push(
    // One provider under two view types: default for .npy/.npz, "Open With..." for .safetensors/.json.
    ...[InspectorEditorProvider.viewType, InspectorEditorProvider.optInViewType].map((viewType) =>
      vscode.window.registerCustomEditorProvider(viewType, inspector, { supportsMultipleEditorsPerDocument: true }),
    ),
    vscode.commands.registerCommand('normlens.showLog', () => log().show()),
    vscode.commands.registerCommand('normlens.openSample', async () => {
      const uri = vscode.Uri.joinPath(context.extensionUri, 'media', 'samples', 'transformer-block.npz');
      await vscode.commands.executeCommand('vscode.openWith', uri, InspectorEditorProvider.viewType);
      return uri;
    }),
    vscode.commands.registerCommand('normlens.internal.lastRender', (timeoutMs?: number) => inspector.lastRender(timeoutMs)),
  );
  return { version: String(context.extension.packageJSON.version) };
}

/** Nothing to tear down beyond the subscriptions. */
export function deactivate(): void {}

import * as vscode from 'vscode';
import { fileName } from './analysisService';
import { DumpDocument, type InspectorEditorProvider, type InspectorSession } from './inspectorEditor';
import { webviewOptions } from './webviewHtml';

/** What a folder Model panel keeps for restore after a reload (saved by the inspector webview). */
interface ModelPanelState {
  uri?: string;
}

/**
 * The Model view of a folder of dumps ("NormLens: Sweep Folder" in the explorer). A folder cannot
 * have a custom editor, so it opens in a webview panel running the same inspector UI: the Model
 * view first, then every per-site view of the chosen site, with the side panel and the export
 * commands following it like any inspector.
 */
export const ModelPanel = {
  viewType: 'normlens.modelPanel',

  /** Opens (or reveals) the Model panel of `folder`. */
  open(folder: vscode.Uri, inspector: InspectorEditorProvider, extensionUri: vscode.Uri): InspectorSession {
    const open = inspector.sessionFor(folder);
    if (open) {
      open.panel.reveal();
      return open;
    }
    const panel = vscode.window.createWebviewPanel(ModelPanel.viewType, `Model: ${fileName(folder)}`, vscode.ViewColumn.Active, { ...webviewOptions(extensionUri), enableFindWidget: true });
    panel.iconPath = new vscode.ThemeIcon('layers');
    return inspector.attach(new DumpDocument(folder), panel);
  },

  /** Restores folder Model panels after a window reload from the folder URI their webview saved. */
  serializer(inspector: InspectorEditorProvider): vscode.WebviewPanelSerializer<ModelPanelState> {
    return {
      async deserializeWebviewPanel(panel, state) {
        if (!state?.uri) {
          panel.dispose();
          return;
        }
        inspector.attach(new DumpDocument(vscode.Uri.parse(state.uri)), panel);
      },
    };
  },
};

import * as vscode from 'vscode';
import { COMMAND, isInspectorViewId, type InspectorViewId, type WebviewCommandId } from '../protocol';
import { log } from './log';

/** Commands a NormLens webview may ask the host to run (no arguments from the page are trusted). */
const WEBVIEW_COMMANDS: ReadonlySet<string> = new Set<WebviewCommandId>([COMMAND.showLog, COMMAND.openSample, COMMAND.exportReport, COMMAND.showView, COMMAND.compareSites]);

/** What a webview's commands act on. */
export interface WebviewCommandTarget {
  /** Who asked (for the log). */
  readonly from: string;
  /** The dump the webview shows, if any. */
  readonly uri?: vscode.Uri | undefined;
  /** Shows `uri` in the inspector on `view`. */
  reveal?(uri: vscode.Uri, view: InspectorViewId): Promise<void>;
}

/**
 * Runs a command a webview asked for, if it is on the allow-list, with arguments chosen here: the
 * page only picks between the documented options (report format, view id). Used by the inspector,
 * the side panel and the A/B panel alike.
 */
export function runWebviewCommand(message: { command: unknown; args?: unknown }, target: WebviewCommandTarget): void {
  const { command } = message;
  const args = Array.isArray(message.args) ? (message.args as unknown[]) : [];
  if (typeof command !== 'string' || !WEBVIEW_COMMANDS.has(command)) {
    log().warn(`${target.from}: ignored command ${String(command)} from the webview`);
    return;
  }
  switch (command) {
    case COMMAND.exportReport:
      // Exports act on this webview's document and always ask where to save.
      if (target.uri) void vscode.commands.executeCommand(command, args[0] === 'markdown' ? 'markdown' : 'json', target.uri);
      break;
    case COMMAND.showView:
      if (target.uri && target.reveal && isInspectorViewId(args[0])) void target.reveal(target.uri, args[0]);
      break;
    case COMMAND.compareSites:
      // Two sites of this webview's dump; the command checks that the dump has them.
      if (target.uri && typeof args[0] === 'string' && typeof args[1] === 'string') void vscode.commands.executeCommand(command, target.uri, args[0], args[1]);
      break;
    default:
      void vscode.commands.executeCommand(command);
  }
}

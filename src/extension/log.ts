import * as vscode from 'vscode';

/** The NormLens output channel ("NormLens" in the Output view), created once on activation. */
let channel: vscode.LogOutputChannel | undefined;

/** Creates the log channel; returns it for disposal. */
export function createLog(): vscode.LogOutputChannel {
  channel = vscode.window.createOutputChannel('NormLens', { log: true });
  return channel;
}

/** The log channel (created on activation). */
export function log(): vscode.LogOutputChannel {
  if (!channel) throw new Error('NormLens log used before activation');
  return channel;
}

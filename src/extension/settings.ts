import * as vscode from 'vscode';
import type { ViewOptions } from '../protocol';
import { resolveSettings, type NormLensSettings } from './settingsModel';

export type { NormLensSettings };

/** Reads `normlens.*` for `scope` once, merged with the per-document view options (which win). */
export function readSettings(view: ViewOptions = {}, scope?: vscode.Uri): NormLensSettings {
  return resolveSettings(vscode.workspace.getConfiguration('normlens', scope), view);
}

/** Whether a configuration change affects analyses. */
export function affectsAnalysis(e: vscode.ConfigurationChangeEvent): boolean {
  return e.affectsConfiguration('normlens');
}

import * as vscode from 'vscode';
import type { AnalysisOptions } from '../core/analysis/plan';
import type { ThresholdOverrides } from '../core/analysis/thresholds';
import type { OpenDumpOptions } from '../core/formats/options';
import type { ViewOptions } from '../protocol';

/** Threshold names mirrored by `normlens.thresholds.*` settings. */
const THRESHOLD_KEYS = [
  'nonFiniteCount',
  'replayRelativeTolerance',
  'matchShapeResidual',
  'paddingMeanShift',
  'paddingVarChange',
  'smallBatchMinCount',
  'batchDependentShift',
  'runningMeanShift',
  'runningVarRatio',
  'degenerateVarOverEps',
  'outlierFeatureFactor',
] as const;

/** Everything the settings decide for one analysis. */
export interface NormLensSettings {
  analysis: AnalysisOptions;
  open: OpenDumpOptions;
  workers: number;
  maxInMemoryBytes: number;
}

/** Reads `normlens.*` for `scope`, merged with the per-document view options (which win). */
export function readSettings(view: ViewOptions = {}, scope?: vscode.Uri): NormLensSettings {
  const c = vscode.workspace.getConfiguration('normlens', scope);
  const thresholds: Record<string, unknown> = {};
  for (const k of THRESHOLD_KEYS) {
    const inspected = c.inspect(`thresholds.${k}`);
    const v = inspected?.workspaceFolderValue ?? inspected?.workspaceValue ?? inspected?.globalValue;
    if (v !== undefined) thresholds[k] = v;
  }
  const analysis: AnalysisOptions = {
    eps: view.eps ?? c.get<number>('eps', 1e-5),
    featureAxis: view.featureAxis ?? c.get<number>('featureAxis', -1),
    bins: view.bins ?? c.get<number>('bins', 64),
    thresholds: thresholds as ThresholdOverrides,
    ...(view.tensor ? { tensor: view.tensor } : {}),
    ...(view.mask ? { mask: view.mask } : {}),
  };
  return {
    analysis,
    open: {
      limits: {
        maxJsonBytes: Math.round(c.get<number>('limits.maxJsonMB', 256) * 1024 * 1024),
        maxNpyHeaderBytes: c.get<number>('limits.maxNpyHeaderBytes', 10000),
      },
    },
    workers: c.get<number>('workers', 0),
    maxInMemoryBytes: Math.round(c.get<number>('maxInMemoryMB', 1024) * 1024 * 1024),
  };
}

/** Whether a configuration change affects analyses. */
export function affectsAnalysis(e: vscode.ConfigurationChangeEvent): boolean {
  return e.affectsConfiguration('normlens');
}

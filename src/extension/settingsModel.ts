import type { AnalysisOptions } from '../core/analysis/plan';
import type { ThresholdOverrides } from '../core/analysis/thresholds';
import type { OpenDumpOptions } from '../core/formats/options';
import type { ViewOptions } from '../protocol';

/** Threshold names mirrored by `normlens.thresholds.*` settings. */
export const THRESHOLD_KEYS = [
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

/** What `WorkspaceConfiguration.inspect` tells about one setting (the fields used here). */
export interface InspectedSetting<T> {
  defaultValue?: T;
  globalValue?: T;
  workspaceValue?: T;
  workspaceFolderValue?: T;
}

/** The part of a `WorkspaceConfiguration` for `normlens` the settings are read through. */
export interface SettingsReader {
  inspect<T>(key: string): InspectedSetting<T> | undefined;
}

/** Everything the settings decide for one analysis. */
export interface NormLensSettings {
  analysis: AnalysisOptions;
  open: OpenDumpOptions;
  workers: number;
  maxInMemoryBytes: number;
}

/** The value the user set (folder, then workspace, then user settings), or undefined when none did. */
export function userValue<T>(config: SettingsReader, key: string): T | undefined {
  const i = config.inspect<T>(key);
  return i?.workspaceFolderValue ?? i?.workspaceValue ?? i?.globalValue;
}

/** The value the user set, else the setting's default, else `fallback`. */
function valueOrDefault<T>(config: SettingsReader, key: string, fallback: T): T {
  return userValue<T>(config, key) ?? config.inspect<T>(key)?.defaultValue ?? fallback;
}

/**
 * `normlens.*` merged with the per-document view options (which win). `eps` and `featureAxis` apply
 * only when the user set them: otherwise the analysis takes a dump's own eps (JSON `eps`) and picks
 * the feature axis itself.
 */
export function resolveSettings(config: SettingsReader, view: ViewOptions = {}): NormLensSettings {
  const thresholds: Record<string, unknown> = {};
  for (const k of THRESHOLD_KEYS) {
    const v = userValue(config, `thresholds.${k}`);
    if (v !== undefined) thresholds[k] = v;
  }
  const eps = view.eps ?? userValue<number>(config, 'eps');
  const featureAxis = view.featureAxis ?? userValue<number>(config, 'featureAxis');
  const analysis: AnalysisOptions = {
    ...(eps !== undefined ? { eps } : {}),
    ...(featureAxis !== undefined ? { featureAxis } : {}),
    bins: view.bins ?? valueOrDefault(config, 'bins', 64),
    maxTokenSeries: valueOrDefault(config, 'limits.maxTokenSeries', 1048576),
    maxFeatureSeries: valueOrDefault(config, 'limits.maxFeatureSeries', 1048576),
    maxMemoryMB: valueOrDefault(config, 'limits.maxMemoryMB', 1024),
    thresholds: thresholds as ThresholdOverrides,
    ...(view.tensor ? { tensor: view.tensor } : {}),
    ...(view.mask ? { mask: view.mask } : {}),
    ...(view.useMask === false ? { ignoreMask: true } : {}),
  };
  return {
    analysis,
    open: {
      ...(valueOrDefault(config, 'bf16FromUint16', false) ? { bf16FromUint16: true } : {}),
      limits: {
        maxJsonBytes: Math.round(valueOrDefault(config, 'limits.maxJsonMB', 256) * 1024 * 1024),
        maxNpyHeaderBytes: valueOrDefault(config, 'limits.maxNpyHeaderBytes', 10000),
      },
    },
    workers: valueOrDefault(config, 'workers', 0),
    maxInMemoryBytes: Math.round(valueOrDefault(config, 'maxInMemoryMB', 1024) * 1024 * 1024),
  };
}

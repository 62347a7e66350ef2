import type { FeatureAxisRule } from '../analysis/featureAxis';
import type { AnalysisWarning, NormKind } from './analysisReport';

/** Version of the SweepReport layout; bumped on any incompatible change. */
export const SWEEP_SCHEMA_VERSION = 1;

/** Tensor names of one site, by role (DESIGN.md "Whole-model dumps"). */
export interface SiteTensors {
  input: string;
  output?: string;
  weight?: string;
  bias?: string;
  runningMean?: string;
  runningVar?: string;
  mask?: string;
}

/** Key numbers of one site's input (finite values, float64) and of its norm replay. */
export interface SiteSummary {
  mean: number;
  std: number;
  min: number;
  max: number;
  maxAbs: number;
  nan: number;
  inf: number;
  /** Per-token RMS over the site's valid tokens. */
  tokenRms: { mean: number; min: number; max: number };
  /** Features carrying massive activations (the `outlier-feature` rule). */
  outlierFeatures: number[];
  bestMatch?: NormKind | 'none';
  /** 'running' when bestMatch is eval-mode BatchNorm (running stats; absent otherwise). */
  batchNormStatistics?: 'running';
  maxAbsError?: number;
  fittedEps?: number;
  groups?: number;
  /** RMS shift of BatchNorm outputs at half the batch (normalized units): batch dependence. */
  bnSubBatchShift?: number;
}

export type { FeatureAxisRule } from '../analysis/featureAxis';

/** One normalization site of a whole-model dump and what the analysis found there. */
export interface SweepSite {
  name: string;
  tensors: SiteTensors;
  /** Shape and dtype of the site's input (of the slice for --layer-axis). */
  shape: number[];
  dtype: string;
  /** File of the site inside a folder (folders only). */
  file?: string;
  /** A `--layer-axis` site: index `index` of tensor `tensor` along `axis`. */
  slice?: { tensor: string; axis: number; index: number };
  /** Module class the capture helper recorded (`LayerNorm`, `BatchNorm2d`, ...), when known. */
  normClass?: string;
  /** Of the site's input (a slice for --layer-axis); featureAxisRule says how the axis was chosen. */
  layout: { featureAxis: number; tokens: number; features: number; featureAxisRule?: FeatureAxisRule };
  summary: SiteSummary;
  warnings: Pick<AnalysisWarning, 'code' | 'severity' | 'message'>[];
  /** Set when this site could not be analyzed (the others still are); summary is then all NaN. */
  error?: string;
}

/** What `normlens sweep --json` prints and the `normlens.sweep` command returns. */
export interface SweepReport {
  schemaVersion: typeof SWEEP_SCHEMA_VERSION;
  /** format: the dump format, `mixed` for a folder of several formats. */
  source: { path: string; kind: 'file' | 'folder'; format: string };
  sites: SweepSite[];
  /** Wall time of the whole sweep and the worker threads it used (0: in process). */
  timing: { totalMs: number; workers: number };
}

/** A row for a site that could not be analyzed: every number NaN, the reason in `error`. */
export function failedSweepSite(name: string, tensors: SiteTensors, shape: readonly number[], dtype: string, error: string): SweepSite {
  return {
    name,
    tensors,
    shape: [...shape],
    dtype,
    layout: { featureAxis: NaN, tokens: NaN, features: NaN },
    summary: { mean: NaN, std: NaN, min: NaN, max: NaN, maxAbs: NaN, nan: NaN, inf: NaN, tokenRms: { mean: NaN, min: NaN, max: NaN }, outlierFeatures: [] },
    warnings: [],
    error,
  };
}

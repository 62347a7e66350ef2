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
  maxAbsError?: number;
  fittedEps?: number;
  groups?: number;
  /** RMS shift of BatchNorm outputs at half the batch (normalized units): batch dependence. */
  bnSubBatchShift?: number;
}

/** One normalization site of a whole-model dump and what the analysis found there. */
export interface SweepSite {
  name: string;
  tensors: SiteTensors;
  /** Of the site's input (a slice for --layer-axis). */
  layout: { featureAxis: number; tokens: number; features: number };
  summary: SiteSummary;
  warnings: Pick<AnalysisWarning, 'code' | 'severity' | 'message'>[];
  /** Set when this site could not be analyzed (the others still are); summary is then all NaN. */
  error?: string;
}

/** What `normlens sweep --json` prints and the `normlens.sweep` command returns. */
export interface SweepReport {
  schemaVersion: typeof SWEEP_SCHEMA_VERSION;
  source: { path: string; kind: 'file' | 'folder'; format: string };
  sites: SweepSite[];
}

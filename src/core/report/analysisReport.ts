import type { DType } from '../formats/types';

import type { FeatureAxisRule } from '../analysis/featureAxis';

/** Version of the AnalysisReport layout; bumped on any incompatible change. */
export const REPORT_SCHEMA_VERSION = 1;

/** A JSON value (what `details` of a warning may hold). */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Stable warning identifiers (DESIGN.md); messages are for people, codes are for tools. */
export type WarningCode =
  | 'non-finite'
  | 'recorded-output-mismatch'
  | 'padding-in-batch-stats'
  | 'small-batch'
  | 'batch-dependent-output'
  | 'running-stats-mismatch'
  | 'degenerate-token'
  | 'outlier-feature'
  | 'shape-mismatch';

/** How bad a warning is: `error` means a result is wrong or unusable, `info` is context. */
export type WarningSeverity = 'error' | 'warning' | 'info';

/** One finding of the checks: a code, what it means and what to do, and the numbers behind it. */
export interface AnalysisWarning {
  code: WarningCode;
  severity: WarningSeverity;
  message: string;
  details: { [key: string]: JsonValue };
}

/** The three norms every input has (per token: LayerNorm, RMSNorm; per feature: BatchNorm). */
export type TokenFeatureNormKind = 'layernorm' | 'rmsnorm' | 'batchnorm';
/** The norms of (N, C, ...) inputs, per sample and channel group (absent on other layouts). */
export type SampleChannelNormKind = 'groupnorm' | 'instancenorm';
/** Normalizations a recorded output can be explained by (described in src/core/analysis/norms.ts). */
export type NormKind = TokenFeatureNormKind | SampleChannelNormKind;
/** One entry per norm: always for LayerNorm/RMSNorm/BatchNorm, for GroupNorm/InstanceNorm when they apply. */
export type PerNorm<T> = Record<TokenFeatureNormKind, T> & Partial<Record<SampleChannelNormKind, T>>;
/**
 * The replay's eval-mode BatchNorm candidate: BatchNorm with the dump's running_mean/running_var
 * (y = (x − running_mean_c)/√(running_var_c + eps)·w_c + b_c). Not a NormKind (it is BatchNorm): it
 * never appears as `bestMatch`; when it explains the output, `bestMatch` is 'batchnorm' and
 * `batchNormStatistics` is 'running'. Replayed on (N, C, ...) inputs with the channels on axis 1
 * when the dump has running stats and a recorded output.
 */
export const BATCHNORM_RUNNING = 'batchnorm-running';
export type BatchNormRunningKind = typeof BATCHNORM_RUNNING;
/** A replay candidate's key: a norm, or the eval-mode BatchNorm variant. */
export type ReplayCandidateKind = NormKind | BatchNormRunningKind;
/** Per replay candidate: PerNorm plus the eval-mode BatchNorm when it was replayed. */
export type PerCandidate<T> = PerNorm<T> & Partial<Record<BatchNormRunningKind, T>>;

/** A histogram: `edges.length === counts.length + 1`, uniform bins, last bin closed (numpy semantics). */
export interface Histogram {
  edges: number[];
  counts: number[];
  /** Sum of counts (the finite values the histogram covers). */
  total: number;
}

/**
 * A long series reduced for charts: point k summarizes items [k·bucketSize, (k+1)·bucketSize).
 * With `bucketSize === 1` the series is the full data (min = max = mean).
 */
export interface DownsampledSeries {
  /** Items in the full series. */
  length: number;
  bucketSize: number;
  mean: number[];
  min: number[];
  max: number[];
}

/** A tensor of the dump that took part in the analysis (or was offered and refused). */
export interface TensorReference {
  name: string;
  dtype: DType;
  shape: number[];
  /** False when the tensor was ignored (see the `shape-mismatch` warning). */
  used: boolean;
}

/** Mean and standard deviation of a per-token quantity over valid tokens. */
export interface SeriesSummary {
  mean: number;
  std: number;
  min: number;
  max: number;
  /** First token holding the minimum / maximum (reduced per-token series only). */
  minToken?: number;
  maxToken?: number;
}

/** One token of a per-token series and its value (the top-k extremes of a reduced series). */
export interface TokenExtreme {
  token: number;
  value: number;
}

/**
 * Says that per-token (or per-feature) arrays were not kept in full: `from` entries reduced to
 * `to` (0: the arrays are empty), and how (the summaries, series and extremes that replace them).
 */
export interface ReducedSeries {
  from: number;
  to: number;
  how: string;
}

/** Per-token mean and std of a normalization's output (before affine: no; after weight/bias: yes). */
export interface TokenOutputMoments {
  /** Mean of the token's output values, one per token. */
  outputMean: number[];
  /** Standard deviation (biased) of the token's output values, one per token. */
  outputStd: number[];
}

/** Errors of one candidate normalization replayed against the recorded output. */
export interface ReplayCandidate {
  /** Largest |recorded − replayed| over elements where both are finite, with the eps used. */
  maxAbsError: number;
  /** Root mean square of the error. */
  rmsError: number;
  /** rmsError divided by the RMS of the recorded output. */
  relativeRmsError: number;
  /**
   * Fraction of the recorded output's energy not explained by the best per-token (per-feature
   * for BatchNorm) scale: 0 when the output is exactly this normalization for some eps.
   */
  shapeResidual: number;
  /** eps solved from the data (median of per-token / per-feature estimates); null when undetermined. */
  fittedEps: number | null;
  /** maxAbsError is within the dtype-aware tolerance. */
  withinTolerance: boolean;
}

/** Norm replay against a recorded output tensor (the report field `comparison`). */
export interface Replay {
  tensor: string;
  dtype: DType;
  /** maxAbsError of the best match (the smallest over candidates when none matches). */
  maxAbsError: number;
  bestMatch: NormKind | 'none';
  /** eps that best explains the output under `bestMatch`. */
  fittedEps?: number;
  /** G of the GroupNorm candidate (present when GroupNorm was replayed). */
  groups?: number;
  /** The absolute tolerance used: relative tolerance of the dtype × max(1, max |recorded|). */
  tolerance: number;
  /** Recorded values that were NaN or ±Inf (left out of the errors). */
  nonFinite: number;
  /** Per candidate; `batchnorm-running` (eval-mode BatchNorm, running stats) when it was replayed. */
  candidates: PerCandidate<ReplayCandidate>;
  /**
   * Which statistics the BatchNorm of `bestMatch: 'batchnorm'` uses: 'all-tokens' (training mode:
   * this batch's statistics over all tokens, padding included, what PyTorch computes) or 'running'
   * (eval mode: the dump's running_mean/running_var; candidate `batchnorm-running`). 'all-tokens'
   * whenever the best match is not the eval-mode candidate.
   */
  batchNormStatistics: 'all-tokens' | 'running';
  /**
   * The recorded output's finite values over valid tokens, on the edges of `histograms.layerNorm`
   * (shared by the norm-output histograms), so it overlays the recomputed ones. The edges are not
   * extended: a value below the first edge counts in the first bin, one above the last edge in the
   * last bin; `recordedHistogramClamped` says how many did.
   */
  recordedHistogram: Histogram;
  /** Recorded values counted in an end bin of `recordedHistogram` although outside its edges. */
  recordedHistogramClamped: number;
  /**
   * The same recorded values on the edges of `groupNorm.histogram` / `instanceNorm.histogram` (present
   * when those norms were replayed), so the recorded output overlays them too; end bins clamp.
   */
  recordedSampleChannelHistogram?: Histogram;
  /**
   * |recorded − replayed| per compared element (recorded and input finite, every token) for each
   * candidate, on fixed log-spaced edges 10^-12 … 10^4 with 4 bins per decade. Bin k holds errors in
   * [edges[k], edges[k+1]); errors below 10^-12 (exact zeros included) count in the first bin, errors
   * of 10^4 or more in the last. Counts sum to the compared elements.
   */
  errorHistograms: PerCandidate<Histogram>;
}

/** Statistics of one per-sample norm, index n·K + k (K = groups or channels), padding included (PyTorch has no mask). */
export interface SampleStatistics {
  mean: number[];
  /** Biased variance (÷n), what the norm divides by. */
  var: number[];
  /** Finite values each statistic is over. */
  count: number[];
}

/** Where GroupNorm's G came from: `--groups`, the fit to the recorded output, or the default 32. */
export type GroupsSource = 'option' | 'fitted' | 'default';

/** GroupNorm of an (N, C, ...) input: per-(sample, group) statistics and the output histogram. */
export interface GroupNormReport {
  groups: number;
  groupsSource: GroupsSource;
  channelsPerGroup: number;
  samples: number;
  channels: number;
  eps: number;
  affine: { weight: boolean; bias: boolean };
  /** Index n·groups + g. */
  perGroup: SampleStatistics;
  /** Output values over valid tokens, on edges shared with `instanceNorm.histogram`. */
  histogram: Histogram;
  /** The G fit to the recorded output: RMS error of each divisor tried (present when fitted). */
  fit?: { groups: number; rmsError: number }[];
}

/** InstanceNorm of an (N, C, ...) input: per-(sample, channel) statistics and the output histogram. */
export interface InstanceNormReport {
  samples: number;
  channels: number;
  eps: number;
  affine: { weight: boolean; bias: boolean };
  /** Index n·channels + c. */
  perChannel: SampleStatistics;
  histogram: Histogram;
}

/** Eval-mode BatchNorm with the dump's running statistics: the output histogram. */
export interface BatchNormRunningReport {
  eps: number;
  /** Output values over valid tokens, on the edges of `instanceNorm.histogram`. */
  histogram: Histogram;
}

/** BatchNorm statistics per feature over a set of tokens. */
export interface BatchNormFeatureStats {
  mean: number[];
  /** Biased variance (÷n): what BatchNorm normalizes with. */
  var: number[];
  /** Unbiased variance (÷(n−1)): what `running_var` is updated with. */
  varUnbiased: number[];
  /** Tokens counted (the valid tokens; per-feature counts are in `counts` when values were non-finite). */
  count: number;
  /** Finite values per feature. */
  counts: number[];
  min: number[];
  max: number[];
  /**
   * Set when the input has more features than `options.maxFeatureSeries`: the arrays above are
   * empty; `series` (chart buckets of mean and std) and `summary`/`top` replace them.
   */
  reduced?: ReducedSeries;
  summary?: { mean: SeriesSummary; std: SeriesSummary; maxAbs: SeriesSummary; rms: SeriesSummary };
  top?: { std: TokenExtreme[]; maxAbs: TokenExtreme[]; rms: TokenExtreme[] };
}

/** BatchNorm statistics on consecutive sub-batches and how far outputs move from the full batch. */
export interface SubBatchResult {
  /** Batch elements per sub-batch. */
  size: number;
  /** Number of full sub-batches of that size. */
  groups: number;
  /** Fewest valid tokens any (sub-batch, feature) statistic was computed from. */
  minCount: number;
  /** RMS over tokens and features of BN_sub(x) − BN_full(x), in normalized units (no affine). */
  rmsShift: number;
  /** Largest |BN_sub(x) − BN_full(x)| over tokens and features, normalized units. */
  maxShift: number;
  /** Largest |mean_sub − mean_full| / std_full over sub-batches and features. */
  maxMeanDeviation: number;
  /** Median over sub-batches and features of var_sub / var_full. */
  medianVarRatio: number;
}

/** Quantiles of one batch element's values (valid tokens) before and after each norm. */
export interface BatchElementQuantiles {
  /** First and last batch element (inclusive) the entry covers (more than one when grouped). */
  first: number;
  last: number;
  validTokens: number;
  input: number[];
  layerNorm: number[];
  rmsNorm: number[];
  batchNorm: number[];
}

/** Distribution over valid tokens of a per-token mean and std. */
export interface TokenDistribution {
  mean: Histogram;
  std: Histogram;
}

/** Wall-clock time of the analysis. */
export interface AnalysisTiming {
  totalMs: number;
  pass1Ms: number;
  pass2Ms: number;
  /** Worker threads used (0 = in process). */
  workers: number;
  chunkBytes: number;
}

/** Everything `normlens analyze` computes for one dump; plain JSON data (NaN appears as null in JSON). */
export interface AnalysisReport {
  schemaVersion: typeof REPORT_SCHEMA_VERSION;
  source: { description: string; format: string };
  input: { name: string; dtype: DType; shape: number[] };
  tensors: {
    mask: TensorReference | null;
    output: TensorReference | null;
    weight: TensorReference | null;
    bias: TensorReference | null;
    runningMean: TensorReference | null;
    runningVar: TensorReference | null;
  };
  options: {
    eps: number;
    bins: number;
    featureAxis: number;
    maxSeriesPoints: number;
    /** Most tokens whose per-token arrays are reported in full (see layerNorm.perToken.reduced). */
    maxTokenSeries?: number;
    /** Most features whose per-feature arrays are reported in full (see batchNorm.perFeature.reduced). */
    maxFeatureSeries?: number;
    quantileProbabilities: number[];
    thresholds: { [key: string]: JsonValue };
  };
  layout: {
    featureAxis: number;
    tokens: number;
    features: number;
    /** Axis whose entries are the batch elements (first non-feature axis), null for a 1-D input. */
    batchAxis: number | null;
    batchSize: number;
    tokensPerBatchElement: number;
    validTokens: number;
    paddingTokens: number;
    /** How the feature axis was chosen: given by the user, by the parameters' length, by replaying the output, or the last axis. */
    featureAxisRule: FeatureAxisRule;
  };
  global: { count: number; finite: number; nan: number; posInf: number; negInf: number; min: number; max: number; mean: number; std: number };
  layerNorm: {
    eps: number;
    affine: { weight: boolean; bias: boolean };
    /** Full arrays up to `options.maxTokenSeries` tokens; beyond it empty, with `reduced` and `top`. */
    perToken: { mean: number[]; var: number[]; rstd: number[]; reduced?: ReducedSeries; top?: { std: TokenExtreme[]; outputStd: TokenExtreme[] } } & TokenOutputMoments;
    /** Over valid tokens. */
    summary: { mean: SeriesSummary; std: SeriesSummary };
    series: { mean: DownsampledSeries; std: DownsampledSeries; outputStd: DownsampledSeries };
  };
  rmsNorm: {
    eps: number;
    perToken: { rms: number[]; reduced?: ReducedSeries; top?: { rms: TokenExtreme[]; outputStd: TokenExtreme[] } } & TokenOutputMoments;
    summary: { rms: SeriesSummary };
    series: { rms: DownsampledSeries; outputStd: DownsampledSeries };
  };
  batchNorm: {
    eps: number;
    /** Over valid (unmasked) tokens. */
    perFeature: BatchNormFeatureStats;
    /** Over all tokens, padding included (what PyTorch's BatchNorm computes); null without a mask. */
    unmasked: BatchNormFeatureStats | null;
    perToken: TokenOutputMoments & { reduced?: ReducedSeries; top?: { outputStd: TokenExtreme[] } };
    series: { mean: DownsampledSeries; std: DownsampledSeries; outputStd: DownsampledSeries };
  };
  /** Value histograms over valid tokens; the three norm outputs share edges. */
  histograms: { input: Histogram; layerNorm: Histogram; rmsNorm: Histogram; batchNorm: Histogram };
  /** Per-token mean/std distributions over valid tokens, before and after each norm. */
  tokenDistributions: { input: TokenDistribution; layerNorm: TokenDistribution; rmsNorm: TokenDistribution; batchNorm: TokenDistribution };
  perBatch: {
    /** Batch elements per entry (grouped when the batch is very large). */
    elementsPerEntry: number;
    probabilities: number[];
    entries: BatchElementQuantiles[];
  };
  batchDependence: {
    /** LayerNorm and RMSNorm outputs do not depend on other tokens: their shift is 0 at every size. */
    layerNormShift: 0;
    subBatches: SubBatchResult[];
  };
  padding: {
    paddingTokens: number;
    /** |mean_masked − mean_all| / std_masked per feature. */
    meanShift: number[];
    /** var_all / var_masked per feature. */
    varRatio: number[];
    maxMeanShift: number;
    worstFeatures: number[];
  } | null;
  runningStats: {
    /** |running_mean − batch mean| / batch std per feature (batch statistics over all tokens). */
    meanShift: number[];
    /** running_var / unbiased batch variance per feature. */
    varRatio: number[];
    /** Features analyzed in blocks (more than maxFeatureSeries): the arrays are empty; the worst features by mean shift and the largest shift. */
    worstFeatures?: number[];
    maxMeanShift?: number;
    reduced?: ReducedSeries;
  } | null;
  /** The norm replay (named `comparison` in the JSON contract). */
  comparison: Replay | null;
  /** GroupNorm per (sample, group); null when it does not apply (`normAvailability.groupnorm` says why). */
  groupNorm: GroupNormReport | null;
  /** InstanceNorm per (sample, channel); null when it does not apply (`normAvailability.instancenorm` says why). */
  instanceNorm: InstanceNormReport | null;
  /**
   * Eval-mode BatchNorm (running_mean/running_var) of an (N, C, ...) input: what the model in eval
   * mode does to this data. Present only when it was replayed (running stats and a recorded output).
   */
  batchNormRunning?: BatchNormRunningReport;
  /** Why GroupNorm / InstanceNorm are absent (null when present). */
  normAvailability: Record<SampleChannelNormKind, string | null>;
  warnings: AnalysisWarning[];
  timing: AnalysisTiming;
}

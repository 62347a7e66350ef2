/**
 * Thresholds of the checks that raise warnings. Every field is documented because the VS Code
 * settings (`normlens.thresholds.*`) mirror this object one to one.
 */
export interface AnalysisThresholds {
  /** `non-finite`: NaN/±Inf count in the input (or recorded output) above which the warning fires. */
  readonly nonFiniteCount: number;
  /**
   * `recorded-output-mismatch`: relative tolerance of the replay per output dtype; the absolute
   * tolerance is this × max(1, max |recorded value|). Low precision outputs get looser bounds.
   */
  readonly replayRelativeTolerance: { readonly float64: number; readonly float32: number; readonly float16: number; readonly bfloat16: number; readonly float8: number };
  /**
   * `recorded-output-mismatch`: largest shape residual (fraction of the recorded output's energy not
   * explained by a normalization with some eps) for which a candidate still counts as a match.
   */
  readonly matchShapeResidual: number;
  /** `padding-in-batch-stats`: largest |mean_masked − mean_all| / std_masked over features tolerated. */
  readonly paddingMeanShift: number;
  /** `padding-in-batch-stats`: largest relative change of a feature's variance from padding tolerated (0.25 = ±25 %). */
  readonly paddingVarChange: number;
  /** `small-batch`: fewest valid tokens per feature for which BatchNorm statistics are considered stable. */
  readonly smallBatchMinCount: number;
  /** `batch-dependent-output`: RMS output shift (normalized units) at half the batch above which a BatchNorm output counts as batch dependent. */
  readonly batchDependentShift: number;
  /** `running-stats-mismatch`: largest |running_mean − batch mean| / batch std tolerated per feature. */
  readonly runningMeanShift: number;
  /** `running-stats-mismatch`: running_var / batch var must lie within [1/x, x]. */
  readonly runningVarRatio: number;
  /** `degenerate-token`: a valid token is degenerate when its variance is below this × eps (LayerNorm output is eps-dominated). */
  readonly degenerateVarOverEps: number;
  /** `outlier-feature`: a feature is an outlier when its max |value| exceeds this × the median per-feature RMS. */
  readonly outlierFeatureFactor: number;
}

/** The thresholds used when the caller gives none. */
export const DEFAULT_THRESHOLDS: AnalysisThresholds = {
  nonFiniteCount: 0,
  replayRelativeTolerance: { float64: 1e-4, float32: 1e-4, float16: 4e-3, bfloat16: 3e-2, float8: 0.25 },
  matchShapeResidual: 1e-3,
  paddingMeanShift: 0.1,
  paddingVarChange: 0.25,
  smallBatchMinCount: 32,
  batchDependentShift: 0.05,
  runningMeanShift: 0.5,
  runningVarRatio: 2,
  degenerateVarOverEps: 1,
  outlierFeatureFactor: 20,
};

/** Caller overrides of individual thresholds. */
export type ThresholdOverrides = { readonly [K in keyof AnalysisThresholds]?: AnalysisThresholds[K] };

/** Fills in DEFAULT_THRESHOLDS for the fields `overrides` leaves out. */
export function resolveThresholds(overrides: ThresholdOverrides | undefined): AnalysisThresholds {
  return {
    ...DEFAULT_THRESHOLDS,
    ...(overrides ?? {}),
    replayRelativeTolerance: { ...DEFAULT_THRESHOLDS.replayRelativeTolerance, ...(overrides?.replayRelativeTolerance ?? {}) },
  };
}

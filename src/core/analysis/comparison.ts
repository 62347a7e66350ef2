import type { DType } from '../formats/types';
import type { Comparison, Histogram, NormKind, ReplayCandidate } from '../report/analysisReport';
import { median } from './histogram';
import type { Pass1Partial } from './pass1';
import {
  REPLAY_COMPARED,
  REPLAY_MAX_ABS_OUTPUT,
  REPLAY_MAX_BN,
  REPLAY_MAX_LN,
  REPLAY_MAX_RMS,
  REPLAY_NON_FINITE_OUTPUT,
  REPLAY_RECORDED_CLAMPED,
  REPLAY_SQ_BN,
  REPLAY_SQ_LN,
  REPLAY_SQ_RMS,
  REPLAY_SUM_SQ_OUTPUT,
  ERROR_BINS,
  ERROR_EDGES,
  type ReplaySums,
} from './pass2';
import type { AnalysisPlan } from './plan';
import type { Pass1Statistics } from './statistics';
import type { AnalysisThresholds } from './thresholds';

/** Relative replay tolerance for a recorded output of `dtype` (float16/bfloat16/float8 are looser). */
export function replayRelativeTolerance(thresholds: AnalysisThresholds, dtype: DType): number {
  const t = thresholds.replayRelativeTolerance;
  if (dtype === 'float16') return t.float16;
  if (dtype === 'bfloat16') return t.bfloat16;
  if (dtype.startsWith('float8')) return t.float8;
  if (dtype === 'float64') return t.float64;
  return t.float32;
}

/**
 * Residual and eps fit of "y′ = (x − c)/s" over groups (tokens or features): per group the least
 * squares scale s = A/B (A = Σ(x−c)·y′, B = Σy′²) gives eps = s² − var; the residual is
 * Σ(B − A²/Σ(x−c)²) / ΣB, the share of the recorded energy no scale explains.
 */
function fitGroups(a: Float64Array, b: Float64Array, sumSqCentered: (i: number) => number, variance: (i: number) => number): { residual: number; eps: number | null } {
  let unexplained = 0;
  let energy = 0;
  const estimates: number[] = [];
  for (let i = 0; i < a.length; i++) {
    const A = a[i]!;
    const B = b[i]!;
    const S = sumSqCentered(i);
    if (!(B > 0)) continue;
    energy += B;
    if (S > 0) unexplained += Math.max(0, B - (A * A) / S);
    else unexplained += B;
    if (A > 0) {
      const s = A / B;
      estimates.push(s * s - variance(i));
    }
  }
  const eps = estimates.length > 0 ? median(estimates) : NaN;
  return { residual: energy > 0 ? unexplained / energy : 1, eps: Number.isFinite(eps) ? Math.max(0, eps) : null };
}

function histogramFrom(counts: Float64Array, edges: readonly number[]): Histogram {
  const c = Array.from(counts);
  return { edges: [...edges], counts: c, total: c.reduce((a, b) => a + b, 0) };
}

/**
 * Builds the `comparison` section from the replay sums: per-candidate errors, fitted eps, best match,
 * the recorded-output histogram on `outputEdges` and the per-candidate error histograms.
 */
export function buildComparison(plan: AnalysisPlan, stats: Pass1Statistics, p1: Pass1Partial, r: ReplaySums, outputName: string, outputDtype: DType, outputEdges: readonly number[]): Comparison {
  const e = r.errors;
  const n = e[REPLAY_COMPARED]!;
  const errorEdges = Array.from(ERROR_EDGES);
  const outputRms = n > 0 ? Math.sqrt(e[REPLAY_SUM_SQ_OUTPUT]! / n) : 0;
  const tolerance = replayRelativeTolerance(plan.thresholds, outputDtype) * Math.max(1, e[REPLAY_MAX_ABS_OUTPUT]!);
  const ln = stats.layerNorm;
  const all = stats.batchNorm.all;
  const fits: Record<NormKind, { residual: number; eps: number | null }> = {
    layernorm: fitGroups(r.layerNormA, r.layerNormB, (t) => p1.tokenM2[t]!, (t) => ln.var[t]!),
    rmsnorm: fitGroups(r.rmsNormA, r.rmsNormB, (t) => p1.tokenSumSq[t]!, (t) => stats.rmsNorm.meanSquare[t]!),
    batchnorm: fitGroups(r.batchNormA, r.batchNormB, (f) => all.m2[f]!, (f) => (all.count[f]! > 0 ? all.m2[f]! / all.count[f]! : NaN)),
  };
  const candidate = (kind: NormKind, maxSlot: number, sqSlot: number): ReplayCandidate => {
    const rms = n > 0 ? Math.sqrt(e[sqSlot]! / n) : NaN;
    const maxAbsError = e[maxSlot]!;
    return {
      maxAbsError,
      rmsError: rms,
      relativeRmsError: outputRms > 0 ? rms / outputRms : rms === 0 ? 0 : Infinity,
      shapeResidual: fits[kind].residual,
      fittedEps: fits[kind].eps,
      withinTolerance: maxAbsError <= tolerance,
    };
  };
  const candidates: Record<NormKind, ReplayCandidate> = {
    layernorm: candidate('layernorm', REPLAY_MAX_LN, REPLAY_SQ_LN),
    rmsnorm: candidate('rmsnorm', REPLAY_MAX_RMS, REPLAY_SQ_RMS),
    batchnorm: candidate('batchnorm', REPLAY_MAX_BN, REPLAY_SQ_BN),
  };
  const kinds: NormKind[] = ['layernorm', 'rmsnorm', 'batchnorm'];
  const within = kinds.filter((k) => candidates[k].withinTolerance).sort((a, b) => candidates[a].maxAbsError - candidates[b].maxAbsError);
  const shaped = kinds.filter((k) => candidates[k].shapeResidual <= plan.thresholds.matchShapeResidual).sort((a, b) => candidates[a].shapeResidual - candidates[b].shapeResidual);
  const best: NormKind | 'none' = within.length > 0 ? within[0]! : shaped.length > 0 ? shaped[0]! : 'none';
  const smallest = Math.min(...kinds.map((k) => candidates[k].maxAbsError));
  const comparison: Comparison = {
    tensor: outputName,
    dtype: outputDtype,
    maxAbsError: best === 'none' ? smallest : candidates[best].maxAbsError,
    bestMatch: best,
    tolerance,
    nonFinite: e[REPLAY_NON_FINITE_OUTPUT]!,
    candidates,
    batchNormStatistics: 'all-tokens',
    recordedHistogram: histogramFrom(r.recordedHistogram, outputEdges),
    recordedHistogramClamped: e[REPLAY_RECORDED_CLAMPED]!,
    errorHistograms: {
      layernorm: histogramFrom(r.errorHistograms.subarray(0, ERROR_BINS), errorEdges),
      rmsnorm: histogramFrom(r.errorHistograms.subarray(ERROR_BINS, 2 * ERROR_BINS), errorEdges),
      batchnorm: histogramFrom(r.errorHistograms.subarray(2 * ERROR_BINS), errorEdges),
    },
  };
  if (best !== 'none' && candidates[best].fittedEps !== null) comparison.fittedEps = candidates[best].fittedEps!;
  return comparison;
}

import type { DType } from '../formats/types';
import type { Histogram, NormKind, PerCandidate, Replay, ReplayCandidate, ReplayCandidateKind } from '../report/analysisReport';
import { median } from './histogram';
import { BATCHNORM_RUNNING_SLOT, NORMS, normIndex } from './norms';
import type { Pass1Partial } from './pass1';
import {
  ERROR_BINS,
  ERROR_EDGES,
  REPLAY_COMPARED,
  REPLAY_MAX_ABS_OUTPUT,
  REPLAY_NON_FINITE_OUTPUT,
  REPLAY_RECORDED_CLAMPED,
  REPLAY_SUM_SQ_OUTPUT,
  replayMaxSlot,
  replaySqSlot,
  type ReplaySums,
} from './pass2Partial';
import { featureRunningReplay } from './pass2Context';
import type { SampleChannelSetup } from './sampleChannelNorms';
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
function fitGroups(a: Float64Array, b: Float64Array, sumSqCentered: (i: number) => number, variance: (i: number) => number): Fit {
  const acc = new FitAccumulator(a.length);
  acc.add(a, b, sumSqCentered, variance);
  return acc.fit();
}

/**
 * fitGroups over groups given block after block (the reduced per-token path): the residual sums
 * run over every group; the eps estimates (whose median is the fitted eps) are kept for the first
 * `maxEstimates` groups only, so the fitted eps is exact up to that many tokens.
 */
export class FitAccumulator {
  private unexplained = 0;
  private energy = 0;
  private readonly estimates: number[] = [];
  constructor(private readonly maxEstimates: number) {}

  /** Adds groups 0 … a.length − 1 of a block (the callbacks take the index within the block). */
  add(a: ArrayLike<number>, b: ArrayLike<number>, sumSqCentered: (i: number) => number, variance: (i: number) => number): void {
    for (let i = 0; i < a.length; i++) {
      const A = a[i]!;
      const B = b[i]!;
      const S = sumSqCentered(i);
      if (!(B > 0)) continue;
      this.energy += B;
      if (S > 0) this.unexplained += Math.max(0, B - (A * A) / S);
      else this.unexplained += B;
      if (A > 0 && this.estimates.length < this.maxEstimates) {
        const s = A / B;
        this.estimates.push(s * s - variance(i));
      }
    }
  }

  /** Residual share and fitted eps (null when no group allows a fit). */
  fit(): Fit {
    const eps = this.estimates.length > 0 ? median(this.estimates) : NaN;
    return { residual: this.energy > 0 ? this.unexplained / this.energy : 1, eps: Number.isFinite(eps) ? Math.max(0, eps) : null };
  }
}

function histogramFrom(counts: Float64Array, edges: readonly number[]): Histogram {
  const c = Array.from(counts);
  return { edges: [...edges], counts: c, total: c.reduce((a, b) => a + b, 0) };
}

/** One replayed norm's least-squares fit: residual share and fitted eps. */
export type Fit = { residual: number; eps: number | null };

/** Fits of the per-(sample, channel) norms: the A/B sums of each channel summed over its group. */
function sampleChannelFits(plan: AnalysisPlan, r: ReplaySums, setup: SampleChannelSetup): Partial<Record<ReplayCandidateKind, Fit>> {
  const C = plan.features;
  const N = plan.units;
  const out: Partial<Record<ReplayCandidateKind, Fit>> = {};
  const rv = setup.batchNormRunning?.runningVar ?? null;
  setup.context.norms.forEach((norm, j) => {
    const moments = setup.moments[j]!;
    const G = norm.groups;
    const per = C / G;
    const a = new Float64Array(N * G);
    const b = new Float64Array(N * G);
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        const at = (j * N + n) * C + c;
        const i = n * G + Math.floor(c / per);
        a[i] += r.sampleChannelA[at]!;
        b[i] += r.sampleChannelB[at]!;
      }
    }
    // Eval-mode BatchNorm divides by √(running_var + eps): per (sample, channel) s² − running_var.
    const variance = norm.kind === 'batchnorm-running' && rv !== null ? (i: number): number => rv[i % C]! : (i: number): number => (moments.count[i]! > 0 ? moments.m2[i]! / moments.count[i]! : NaN);
    out[norm.kind] = fitGroups(a, b, (i) => moments.m2[i]!, variance);
  });
  return out;
}

/**
 * Builds the replay (the report's `comparison` section) from the replay sums: per-candidate errors,
 * fitted eps, best match, the recorded-output histogram on `outputEdges` and the per-candidate error
 * histograms. Candidates are the norms of NORMS that were replayed (GroupNorm and InstanceNorm only
 * on (N, C, ...) inputs), tried in table order, then eval-mode BatchNorm (`batchnorm-running`, with
 * running stats on (N, C, ...) inputs): when it is the best candidate, bestMatch is 'batchnorm' and
 * batchNormStatistics 'running'.
 */
export function buildReplay(
  plan: AnalysisPlan,
  stats: Pass1Statistics,
  p1: Pass1Partial,
  r: ReplaySums,
  outputName: string,
  outputDtype: DType,
  outputEdges: readonly number[],
  setup: SampleChannelSetup | null,
  tokenFits: { layernorm?: Fit; rmsnorm?: Fit; batchnorm?: Fit } | null = null,
): Replay {
  const e = r.errors;
  const n = e[REPLAY_COMPARED]!;
  const errorEdges = Array.from(ERROR_EDGES);
  const outputRms = n > 0 ? Math.sqrt(e[REPLAY_SUM_SQ_OUTPUT]! / n) : 0;
  const tolerance = replayRelativeTolerance(plan.thresholds, outputDtype) * Math.max(1, e[REPLAY_MAX_ABS_OUTPUT]!);
  const ln = stats.layerNorm;
  const all = stats.batchNorm.all;
  const fits: Partial<Record<ReplayCandidateKind, Fit>> = {
    layernorm: tokenFits?.layernorm ?? fitGroups(r.layerNormA, r.layerNormB, (t) => p1.tokenM2[t]!, (t) => ln.var[t]!),
    rmsnorm: tokenFits?.rmsnorm ?? fitGroups(r.rmsNormA, r.rmsNormB, (t) => p1.tokenSumSq[t]!, (t) => stats.rmsNorm.meanSquare[t]!),
    batchnorm: tokenFits?.batchnorm ?? fitGroups(r.batchNormA, r.batchNormB, (f) => all.m2[f]!, (f) => (all.count[f]! > 0 ? all.m2[f]! / all.count[f]! : NaN)),
    ...(setup ? sampleChannelFits(plan, r, setup) : {}),
  };
  // Eval-mode BatchNorm on a feature-last layout: per feature, Σ(x − rm)² = m2 + n·(mean − rm)², s² = running_var + eps.
  const rm = plan.runningMean;
  const rv = plan.runningVar;
  if (featureRunningReplay(plan) && rm !== null && rv !== null) {
    fits['batchnorm-running'] = fitGroups(
      r.batchNormRunningA,
      r.batchNormRunningB,
      (f) => {
        const n = all.count[f]!;
        const d = n > 0 ? all.mean[f]! - rm[f]! : 0;
        return n > 0 ? all.m2[f]! + n * d * d : 0;
      },
      (f) => rv[f]!,
    );
  }
  // The five norms in table order, then eval-mode BatchNorm (running stats) when it was replayed.
  const kinds: ReplayCandidateKind[] = [...NORMS.map((d) => d.kind), 'batchnorm-running' as const].filter((k) => fits[k] !== undefined);
  const candidates = {} as PerCandidate<ReplayCandidate>;
  const errorHistograms = {} as PerCandidate<Histogram>;
  for (const kind of kinds) {
    const j = kind === 'batchnorm-running' ? BATCHNORM_RUNNING_SLOT : normIndex(kind);
    const rms = n > 0 ? Math.sqrt(e[replaySqSlot(j)]! / n) : NaN;
    const maxAbsError = e[replayMaxSlot(j)]!;
    candidates[kind] = {
      maxAbsError,
      rmsError: rms,
      relativeRmsError: outputRms > 0 ? rms / outputRms : rms === 0 ? 0 : Infinity,
      shapeResidual: fits[kind]!.residual,
      fittedEps: fits[kind]!.eps,
      withinTolerance: maxAbsError <= tolerance,
    };
    errorHistograms[kind] = histogramFrom(r.errorHistograms.subarray(j * ERROR_BINS, (j + 1) * ERROR_BINS), errorEdges);
  }
  const candidate = (k: ReplayCandidateKind): ReplayCandidate => candidates[k]!;
  const within = kinds.filter((k) => candidate(k).withinTolerance).sort((a, b) => candidate(a).maxAbsError - candidate(b).maxAbsError);
  const shaped = kinds.filter((k) => candidate(k).shapeResidual <= plan.thresholds.matchShapeResidual).sort((a, b) => candidate(a).shapeResidual - candidate(b).shapeResidual);
  const bestCandidate: ReplayCandidateKind | 'none' = within.length > 0 ? within[0]! : shaped.length > 0 ? shaped[0]! : 'none';
  // Eval-mode BatchNorm is BatchNorm: bestMatch 'batchnorm' with batchNormStatistics 'running'.
  const best: NormKind | 'none' = bestCandidate === 'batchnorm-running' ? 'batchnorm' : bestCandidate;
  let smallest = Infinity;
  for (const k of kinds) smallest = Math.min(smallest, candidate(k).maxAbsError);
  const replay: Replay = {
    tensor: outputName,
    dtype: outputDtype,
    maxAbsError: bestCandidate === 'none' ? smallest : candidate(bestCandidate).maxAbsError,
    bestMatch: best,
    tolerance,
    nonFinite: e[REPLAY_NON_FINITE_OUTPUT]!,
    candidates,
    batchNormStatistics: bestCandidate === 'batchnorm-running' ? 'running' : 'all-tokens',
    recordedHistogram: histogramFrom(r.recordedHistogram, outputEdges),
    recordedHistogramClamped: e[REPLAY_RECORDED_CLAMPED]!,
    errorHistograms,
  };
  if (bestCandidate !== 'none' && candidate(bestCandidate).fittedEps !== null) replay.fittedEps = candidate(bestCandidate).fittedEps!;
  if (setup?.groupNorm) replay.groups = setup.groupNorm.groups;
  if (setup && r.recordedSampleChannelHistogram.length > 0) replay.recordedSampleChannelHistogram = histogramFrom(r.recordedSampleChannelHistogram, Array.from(setup.context.edges));
  return replay;
}

import type { BatchNormRunningKind, SampleChannelNormKind } from '../report/analysisReport';
import { uniformEdges } from './histogram';
import { reductionSpace } from './kernels/wasmKernelLoader';
import { WASM_MERGE_MIN } from './moments';
import type { Pass1Partial } from './pass1';
import type { AnalysisPlan } from './plan';
import { inverseRoot, type Pass1Statistics } from './statistics';
import type { TokenRange } from './tiles';

/**
 * A norm recomputed per (sample, channel) — GroupNorm, InstanceNorm, eval-mode BatchNorm (running stats, the same scale/offset for every sample): y = x·scale[n·C + c] +
 * offset[n·C + c]; `centre` is the mean the statistics were taken around (for the replay's eps fit).
 */
export interface SampleChannelNormContext {
  readonly kind: SampleChannelNormKind | BatchNormRunningKind;
  /** Index in NORMS, BATCHNORM_RUNNING_SLOT for eval-mode BatchNorm (replay error slots 2·slot, 2·slot + 1). */
  readonly slot: number;
  /** Statistic groups per sample (C for InstanceNorm). */
  readonly groups: number;
  readonly scale: Float64Array;
  readonly offset: Float64Array;
  readonly centre: Float64Array;
}

/** The per-(sample, channel) norms of pass 2 and the edges their output histograms share. */
export interface SampleChannelContext {
  readonly norms: readonly SampleChannelNormContext[];
  readonly edges: Float64Array;
}

/**
 * The bounded GroupNorm G fit (a pass 2 over the first positions of sample 0 only): candidate k
 * recomputes y = x·scale[k·C + c] + offset[k·C + c] and sums its squared error to the recorded output.
 */
export interface GroupFitContext {
  readonly candidates: readonly number[];
  readonly scale: Float64Array;
  readonly offset: Float64Array;
}

/** The pass-2 inputs that do not depend on the token range. */
export interface SharedPass2Context {
  readonly weight: Float64Array;
  readonly bias: Float64Array;
  /** 1/weight (0 where weight is 0): undoes the affine for the eps fit. */
  readonly invWeight: Float64Array;
  /** BatchNorm with the valid-token statistics (the histograms). */
  readonly bnScale: Float64Array;
  readonly bnOffset: Float64Array;
  /** BatchNorm with all-token statistics (what PyTorch computes; the replay). */
  readonly bnScaleAll: Float64Array;
  readonly bnOffsetAll: Float64Array;
  readonly bnMeanAll: Float64Array;
  readonly inputEdges: Float64Array;
  readonly outputEdges: Float64Array;
  /** Shifts of the per-token output moment sums (keeps Σ(y−K)² well conditioned). */
  readonly layerNormShift: number;
  readonly batchNormShift: number;
  readonly weightMean: number;
  /** GroupNorm / InstanceNorm of an (N, C, ...) input; null when they do not apply. */
  readonly sampleChannel: SampleChannelContext | null;
  /**
   * Eval-mode BatchNorm (running_mean/running_var) for the feature-last replay: y = x·scale_f +
   * offset_f, `mean` the running mean (eps fit). Null unless featureRunningReplay(plan).
   */
  readonly bnRunning: { readonly scale: Float64Array; readonly offset: Float64Array; readonly mean: Float64Array } | null;
}

/**
 * Whether the feature-last kernel replays eval-mode BatchNorm: running stats and a recorded output
 * on a feature-last layout (one position per token: (N, C), (B, T, H)). Channels-first inputs get it
 * as a per-(sample, channel) norm (sampleChannelNorms.ts).
 */
export function featureRunningReplay(plan: AnalysisPlan): boolean {
  // Not in the feature-block path (its per-feature replay sums are not kept across blocks).
  const blocked = plan.featureBlock !== undefined || plan.features > plan.maxFeatureSeries;
  return plan.runningMean !== null && plan.runningVar !== null && plan.outputName !== null && plan.inner === 1 && !blocked;
}

/** Range of the LayerNorm (z) and RMSNorm (u) normalized values before affine, over valid tokens. */
export interface NormalizedBounds {
  zLo: number;
  zHi: number;
  uLo: number;
  uHi: number;
}

/** An empty range (widened by `widenNormalizedBounds`). */
export function emptyNormalizedBounds(): NormalizedBounds {
  return { zLo: Infinity, zHi: -Infinity, uLo: Infinity, uHi: -Infinity };
}

/**
 * Widens `b` by the tokens of `p` (indices relative to p.tokenStart; `s` the per-token statistics
 * of the same tokens): (min − mean)·rstd … (max − mean)·rstd and min·rrms … max·rrms. The block
 * loops call it per block; the one call of an analysis (normalizedBounds) runs it in WebAssembly.
 */
export function widenNormalizedBounds(b: NormalizedBounds, plan: AnalysisPlan, s: Pick<Pass1Statistics, 'layerNorm' | 'rmsNorm'>, p: Pass1Partial): void {
  const mask = plan.mask;
  const t0 = p.tokenStart;
  const n = p.tokenCount.length;
  const { tokenMin, tokenMax, tokenCount } = p;
  const lnMean = s.layerNorm.mean;
  const lnRstd = s.layerNorm.rstd;
  const rrms = s.rmsNorm.rrms;
  // Locals, written back once (a number stored in an object's field in a loop is boxed each time).
  let { zLo, zHi, uLo, uHi } = b;
  for (let k = 0; k < n; k++) {
    if ((mask && mask[t0 + k] === 0) || tokenCount[k] === 0) continue;
    const m = lnMean[k]!;
    const r = lnRstd[k]!;
    const rr = rrms[k]!;
    const lo = tokenMin[k]!;
    const hi = tokenMax[k]!;
    const a = (lo - m) * r;
    const c = (hi - m) * r;
    if (a < zLo) zLo = a;
    if (c > zHi) zHi = c;
    if (lo * rr < uLo) uLo = lo * rr;
    if (hi * rr > uHi) uHi = hi * rr;
  }
  b.zLo = zLo;
  b.zHi = zHi;
  b.uLo = uLo;
  b.uHi = uHi;
}

/** widenNormalizedBounds in WebAssembly (kernels.ts's normalizedBounds: the same bits); false when it cannot run. */
function widenNormalizedBoundsWasm(b: NormalizedBounds, plan: AnalysisPlan, s: Pick<Pass1Statistics, 'layerNorm' | 'rmsNorm'>, p: Pass1Partial): boolean {
  const mask = plan.mask;
  const t0 = p.tokenStart;
  const n = p.tokenCount.length;
  if (n < WASM_MERGE_MIN) return false;
  const arrays = [p.tokenMin, p.tokenMax, p.tokenCount, s.layerNorm.mean, s.layerNorm.rstd, s.rmsNorm.rrms];
  const space = reductionSpace([6 * n * 8, mask ? n : 0, 32]);
  if (space === null) return false;
  const {
    k,
    at: [tok, m, out],
  } = space;
  for (let j = 0; j < 6; j++) k.f64.set(arrays[j]!.subarray(0, n), tok! / 8 + j * n);
  if (mask) new Uint8Array(k.f64.buffer, m!, n).set(mask.subarray(t0, t0 + n));
  const o = out! / 8;
  k.f64[o] = b.zLo;
  k.f64[o + 1] = b.zHi;
  k.f64[o + 2] = b.uLo;
  k.f64[o + 3] = b.uHi;
  k.exports.normalizedBounds(tok!, n, mask ? m! : 0, out!);
  b.zLo = k.f64[o]!;
  b.zHi = k.f64[o + 1]!;
  b.uLo = k.f64[o + 2]!;
  b.uHi = k.f64[o + 3]!;
  return true;
}

function normalizedBounds(plan: AnalysisPlan, s: Pass1Statistics, p: Pass1Partial): NormalizedBounds {
  const b = emptyNormalizedBounds();
  // Once per analysis: in WebAssembly.
  if (!widenNormalizedBoundsWasm(b, plan, s, p)) widenNormalizedBounds(b, plan, s, p);
  return b;
}

/**
 * Bin edges and normalization constants for pass 2. Input edges span the valid values; the three
 * norm outputs share edges spanning all their valid outputs (exact for BatchNorm, a bound for
 * LayerNorm/RMSNorm with affine), so every value lands in a bin.
 */
export function buildSharedPass2Context(
  plan: AnalysisPlan,
  s: Pass1Statistics,
  p: Pass1Partial,
  sampleChannel: SampleChannelContext | null = null,
  bounds: NormalizedBounds | null = null,
  /** Edges and shifts decided elsewhere (feature blocks: over all features); the ranges are then not computed. */
  fixed: Pick<SharedPass2Context, 'inputEdges' | 'outputEdges' | 'layerNormShift' | 'batchNormShift' | 'weightMean'> | null = null,
): SharedPass2Context {
  const F = plan.features;
  const eps = plan.eps;
  const weight = plan.weight ? Float64Array.from(plan.weight) : new Float64Array(F).fill(1);
  const bias = plan.bias ? Float64Array.from(plan.bias) : new Float64Array(F);
  const invWeight = new Float64Array(F);
  let weightSum = 0;
  let biasSum = 0;
  for (let f = 0; f < F; f++) {
    invWeight[f] = weight[f] !== 0 ? 1 / weight[f]! : 0;
    weightSum += weight[f]!;
    biasSum += bias[f]!;
  }
  const bnScale = new Float64Array(F);
  const bnOffset = new Float64Array(F);
  const bnScaleAll = new Float64Array(F);
  const bnOffsetAll = new Float64Array(F);
  const bnMeanAll = new Float64Array(F);
  const { valid, all } = s.batchNorm;
  for (let f = 0; f < F; f++) {
    const n = valid.count[f]!;
    const r = n > 0 ? inverseRoot(valid.m2[f]! / n + eps) : 0;
    bnScale[f] = r * weight[f]!;
    bnOffset[f] = n > 0 ? bias[f]! - valid.mean[f]! * r * weight[f]! : bias[f]!;
    const na = all.count[f]!;
    const ra = na > 0 ? inverseRoot(all.m2[f]! / na + eps) : 0;
    bnMeanAll[f] = na > 0 ? all.mean[f]! : 0;
    bnScaleAll[f] = ra * weight[f]!;
    bnOffsetAll[f] = bias[f]! - bnMeanAll[f]! * ra * weight[f]!;
  }
  let bnRunning: SharedPass2Context['bnRunning'] = null;
  if (featureRunningReplay(plan) && plan.runningMean !== null && plan.runningVar !== null) {
    const scale = new Float64Array(F);
    const offset = new Float64Array(F);
    const mean = Float64Array.from(plan.runningMean);
    for (let f = 0; f < F; f++) {
      scale[f] = inverseRoot(plan.runningVar[f]! + eps) * weight[f]!;
      offset[f] = bias[f]! - mean[f]! * scale[f]!;
    }
    bnRunning = { scale, offset, mean };
  }
  if (fixed) return { weight, bias, invWeight, bnScale, bnOffset, bnScaleAll, bnOffsetAll, bnMeanAll, bnRunning, ...fixed, sampleChannel };
  // Range of the valid inputs and of the normalized values (before affine) over valid tokens.
  const { zLo, zHi, uLo, uHi } = bounds ?? normalizedBounds(plan, s, p);
  // One loop over the features, no call per value: this runs once per analysis, between the passes
  // (code the interpreter runs). The candidates of a feature are the ends of its LayerNorm, RMSNorm
  // and BatchNorm output ranges; non-finite candidates are skipped.
  const z = zLo <= zHi;
  const u = uLo <= uHi;
  let inLo = Infinity;
  let inHi = -Infinity;
  let outLo = Infinity;
  let outHi = -Infinity;
  for (let f = 0; f < F; f++) {
    const lo = valid.min[f]!;
    const hi = valid.max[f]!;
    if (lo < inLo) inLo = lo;
    if (hi > inHi) inHi = hi;
    const w = weight[f]!;
    const b = bias[f]!;
    // Each candidate: skipped when not finite (v − v is NaN), else widens [outLo, outHi].
    let v = z ? zLo * w + b : NaN;
    if (v - v === 0 && v < outLo) outLo = v;
    if (v - v === 0 && v > outHi) outHi = v;
    v = z ? zHi * w + b : NaN;
    if (v - v === 0 && v < outLo) outLo = v;
    if (v - v === 0 && v > outHi) outHi = v;
    v = u ? uLo * w : NaN;
    if (v - v === 0 && v < outLo) outLo = v;
    if (v - v === 0 && v > outHi) outHi = v;
    v = u ? uHi * w : NaN;
    if (v - v === 0 && v < outLo) outLo = v;
    if (v - v === 0 && v > outHi) outHi = v;
    if (valid.count[f]! > 0) {
      v = lo * bnScale[f]! + bnOffset[f]!;
      if (v - v === 0 && v < outLo) outLo = v;
      if (v - v === 0 && v > outHi) outHi = v;
      v = hi * bnScale[f]! + bnOffset[f]!;
      if (v - v === 0 && v < outLo) outLo = v;
      if (v - v === 0 && v > outHi) outHi = v;
    }
  }
  // Rounding of the bounds: widen by a few ulps so a value computed in the kernel never falls outside.
  const pad = (Math.max(Math.abs(outLo), Math.abs(outHi)) || 1) * 1e-12;
  return {
    weight,
    bias,
    invWeight,
    bnScale,
    bnOffset,
    bnScaleAll,
    bnOffsetAll,
    bnMeanAll,
    inputEdges: uniformEdges(inLo, inHi, plan.bins),
    outputEdges: uniformEdges(outLo - pad, outHi + pad, plan.bins),
    layerNormShift: biasSum / F,
    batchNormShift: biasSum / F,
    weightMean: weightSum / F,
    sampleChannel,
    bnRunning,
  };
}

/**
 * What pass 2 needs from pass 1, for one token range (structured-clone-able). Normalized values:
 * LayerNorm y = (x − mean_t)·rstd_t·w + b, RMSNorm y = x·rrms_t·w, BatchNorm y = x·bnScale + bnOffset.
 */
export interface Pass2Context extends SharedPass2Context {
  readonly tokenStart: number;
  readonly tokenEnd: number;
  readonly tokenMean: Float64Array;
  readonly tokenRstd: Float64Array;
  readonly tokenRrms: Float64Array;
  /** Per-token variance of the input (pass 1): the plain kernels' LayerNorm/RMSNorm output sums follow from it. */
  readonly tokenVar: Float64Array;
  /** Per token of the range: 1 when all its values are finite (pass-1 count = features), else 0. */
  readonly tokenAllFinite: Uint8Array;
  /** True when there is no weight and no bias (weight 1, bias 0): the kernel skips the affine. */
  readonly plain: boolean;
  /** When set, pass 2 only runs the GroupNorm G fit (see GroupFitContext). */
  readonly groupFit: GroupFitContext | null;
}

/**
 * The pass-2 context for one token range (per-token arrays sliced to the range; `base` is the token
 * their index 0 stands for, 0 for whole-input arrays, a block's start in the reduced path). `tokenCount` are
 * the merged pass-1 finite counts per token (all tokens) and `plain` says the plan has neither
 * weight nor bias; together they let the kernel take its fast path.
 */
export function pass2ContextFor(
  shared: SharedPass2Context,
  s: Pick<Pass1Statistics, 'layerNorm' | 'rmsNorm'>,
  range: TokenRange,
  tokenCount: Float64Array,
  features: number,
  plain: boolean,
  base = 0,
): Pass2Context {
  const tokenAllFinite = new Uint8Array(range.end - range.start);
  for (let t = range.start; t < range.end; t++) tokenAllFinite[t - range.start] = tokenCount[t - base] === features ? 1 : 0;
  return {
    ...shared,
    tokenAllFinite,
    plain,
    groupFit: null,
    tokenStart: range.start,
    tokenEnd: range.end,
    tokenMean: s.layerNorm.mean.slice(range.start - base, range.end - base),
    tokenRstd: s.layerNorm.rstd.slice(range.start - base, range.end - base),
    tokenRrms: s.rmsNorm.rrms.slice(range.start - base, range.end - base),
    tokenVar: s.layerNorm.var.slice(range.start - base, range.end - base),
  };
}

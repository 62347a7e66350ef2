import { mergeMoments, mergeMomentsTree, type Moments } from './moments';
import type { Pass1Partial } from './pass1';
import type { Pass2Context } from './pass2';
import type { AnalysisPlan } from './plan';
import { uniformEdges } from './histogram';
import type { TokenRange } from './tiles';

/** Per-feature moments over a set of tokens (merged over batch units). */
export interface FeatureMoments {
  readonly count: Float64Array;
  readonly mean: Float64Array;
  /** Sum of squared deviations; biased variance = m2 / count. */
  readonly m2: Float64Array;
  readonly min: Float64Array;
  readonly max: Float64Array;
}

/** Per-token LayerNorm statistics (biased variance, 1/√(var+eps)). */
export interface LayerNormStats {
  readonly mean: Float64Array;
  readonly var: Float64Array;
  readonly rstd: Float64Array;
}

/** Per-token RMSNorm statistics: rms = √mean(x²), rrms = 1/√(mean(x²)+eps). */
export interface RmsNormStats {
  readonly meanSquare: Float64Array;
  readonly rms: Float64Array;
  readonly rrms: Float64Array;
}

/** Per-feature BatchNorm statistics: over valid tokens, and over all tokens (equal without a mask). */
export interface BatchNormStats {
  readonly valid: FeatureMoments;
  readonly all: FeatureMoments;
}

/** Global summary of the input (all values; non-finite counted, not in the moments). */
export interface GlobalStats {
  count: number;
  finite: number;
  nan: number;
  posInf: number;
  negInf: number;
  min: number;
  max: number;
  mean: number;
  std: number;
}

/** What pass 1 tells once merged over every token. */
export interface Pass1Statistics {
  readonly layerNorm: LayerNormStats;
  readonly rmsNorm: RmsNormStats;
  readonly batchNorm: BatchNormStats;
  readonly global: GlobalStats;
}

/** Inverse square root with the convention that a zero denominator (eps = 0, constant data) gives 0. */
function inverseRoot(v: number): number {
  return v > 0 ? 1 / Math.sqrt(v) : 0;
}

function mergeOverUnits(plan: AnalysisPlan, n: Float64Array, mean: Float64Array, m2: Float64Array, min: Float64Array | null, max: Float64Array | null): FeatureMoments {
  const F = plan.features;
  const out: FeatureMoments = {
    count: new Float64Array(F),
    mean: new Float64Array(F),
    m2: new Float64Array(F),
    min: new Float64Array(F).fill(Infinity),
    max: new Float64Array(F).fill(-Infinity),
  };
  const indices = new Array<number>(plan.units);
  for (let f = 0; f < F; f++) {
    for (let u = 0; u < plan.units; u++) indices[u] = u * F + f;
    const m = mergeMomentsTree(n, mean, m2, indices);
    out.count[f] = m.n;
    out.mean[f] = m.n > 0 ? m.mean : NaN;
    out.m2[f] = m.m2;
    if (min && max) {
      for (const i of indices) {
        if (min[i]! < out.min[f]!) out.min[f] = min[i]!;
        if (max[i]! > out.max[f]!) out.max[f] = max[i]!;
      }
    }
  }
  return out;
}

/** Derives the per-token, per-feature and global statistics from the merged pass-1 partial. */
export function computePass1Statistics(plan: AnalysisPlan, p: Pass1Partial): Pass1Statistics {
  const T = plan.tokens;
  const F = plan.features;
  const eps = plan.eps;
  const lnVar = new Float64Array(T);
  const lnRstd = new Float64Array(T);
  const meanSquare = new Float64Array(T);
  const rms = new Float64Array(T);
  const rrms = new Float64Array(T);
  const lnMean = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    const n = p.tokenCount[t]!;
    if (n === 0) {
      lnMean[t] = NaN;
      lnVar[t] = NaN;
      lnRstd[t] = NaN;
      meanSquare[t] = NaN;
      rms[t] = NaN;
      rrms[t] = NaN;
      continue;
    }
    lnMean[t] = p.tokenMean[t]!;
    const v = p.tokenM2[t]! / n;
    lnVar[t] = v;
    lnRstd[t] = inverseRoot(v + eps);
    const ms = p.tokenSumSq[t]! / n;
    meanSquare[t] = ms;
    rms[t] = Math.sqrt(ms);
    rrms[t] = inverseRoot(ms + eps);
  }
  const valid = mergeOverUnits(plan, p.validCount, p.validMean, p.validM2, p.validMin, p.validMax);
  let all = valid;
  if (plan.mask) {
    const pad = mergeOverUnits(plan, p.paddingCount, p.paddingMean, p.paddingM2, null, null);
    all = { count: new Float64Array(F), mean: new Float64Array(F), m2: new Float64Array(F), min: valid.min, max: valid.max };
    for (let f = 0; f < F; f++) {
      const a: Moments = { n: valid.count[f]!, mean: valid.count[f]! > 0 ? valid.mean[f]! : 0, m2: valid.m2[f]! };
      const b: Moments = { n: pad.count[f]!, mean: pad.count[f]! > 0 ? pad.mean[f]! : 0, m2: pad.m2[f]! };
      const m = mergeMoments(a, b);
      all.count[f] = m.n;
      all.mean[f] = m.n > 0 ? m.mean : NaN;
      all.m2[f] = m.m2;
    }
  }
  const tokenIndices: number[] = [];
  let min = Infinity;
  let max = -Infinity;
  for (let t = 0; t < T; t++) {
    if (p.tokenCount[t]! === 0) continue;
    tokenIndices.push(t);
    if (p.tokenMin[t]! < min) min = p.tokenMin[t]!;
    if (p.tokenMax[t]! > max) max = p.tokenMax[t]!;
  }
  const g = mergeMomentsTree(p.tokenCount, p.tokenMean, p.tokenM2, tokenIndices);
  const global: GlobalStats = {
    count: T * F,
    finite: g.n,
    nan: p.nan,
    posInf: p.posInf,
    negInf: p.negInf,
    min: g.n > 0 ? min : NaN,
    max: g.n > 0 ? max : NaN,
    mean: g.n > 0 ? g.mean : NaN,
    std: g.n > 0 ? Math.sqrt(g.m2 / g.n) : NaN,
  };
  return { layerNorm: { mean: lnMean, var: lnVar, rstd: lnRstd }, rmsNorm: { meanSquare, rms, rrms }, batchNorm: { valid, all }, global };
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
}

/**
 * Bin edges and normalization constants for pass 2. Input edges span the valid values; the three
 * norm outputs share edges spanning all their valid outputs (exact for BatchNorm, a bound for
 * LayerNorm/RMSNorm with affine), so every value lands in a bin.
 */
export function buildSharedPass2Context(plan: AnalysisPlan, s: Pass1Statistics, p: Pass1Partial): SharedPass2Context {
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
  // Range of the valid inputs and of the normalized values (before affine) over valid tokens.
  let inLo = Infinity;
  let inHi = -Infinity;
  for (let f = 0; f < F; f++) {
    if (valid.min[f]! < inLo) inLo = valid.min[f]!;
    if (valid.max[f]! > inHi) inHi = valid.max[f]!;
  }
  let zLo = Infinity;
  let zHi = -Infinity;
  let uLo = Infinity;
  let uHi = -Infinity;
  const mask = plan.mask;
  for (let t = 0; t < plan.tokens; t++) {
    if ((mask && mask[t] === 0) || p.tokenCount[t] === 0) continue;
    const m = s.layerNorm.mean[t]!;
    const r = s.layerNorm.rstd[t]!;
    const rr = s.rmsNorm.rrms[t]!;
    const a = (p.tokenMin[t]! - m) * r;
    const b = (p.tokenMax[t]! - m) * r;
    if (a < zLo) zLo = a;
    if (b > zHi) zHi = b;
    if (p.tokenMin[t]! * rr < uLo) uLo = p.tokenMin[t]! * rr;
    if (p.tokenMax[t]! * rr > uHi) uHi = p.tokenMax[t]! * rr;
  }
  let outLo = Infinity;
  let outHi = -Infinity;
  const widen = (v: number): void => {
    if (v - v !== 0) return;
    if (v < outLo) outLo = v;
    if (v > outHi) outHi = v;
  };
  for (let f = 0; f < F; f++) {
    const w = weight[f]!;
    const b = bias[f]!;
    if (zLo <= zHi) {
      widen(zLo * w + b);
      widen(zHi * w + b);
    }
    if (uLo <= uHi) {
      widen(uLo * w);
      widen(uHi * w);
    }
    if (valid.count[f]! > 0) {
      widen(valid.min[f]! * bnScale[f]! + bnOffset[f]!);
      widen(valid.max[f]! * bnScale[f]! + bnOffset[f]!);
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
  };
}

/**
 * The pass-2 context for one token range (per-token arrays sliced to the range). `tokenCount` are
 * the merged pass-1 finite counts per token (all tokens) and `plain` says the plan has neither
 * weight nor bias; together they let the kernel take its fast path.
 */
export function pass2ContextFor(shared: SharedPass2Context, s: Pass1Statistics, range: TokenRange, tokenCount: Float64Array, features: number, plain: boolean): Pass2Context {
  const tokenAllFinite = new Uint8Array(range.end - range.start);
  for (let t = range.start; t < range.end; t++) tokenAllFinite[t - range.start] = tokenCount[t] === features ? 1 : 0;
  return {
    ...shared,
    tokenAllFinite,
    plain,
    tokenStart: range.start,
    tokenEnd: range.end,
    tokenMean: s.layerNorm.mean.slice(range.start, range.end),
    tokenRstd: s.layerNorm.rstd.slice(range.start, range.end),
    tokenRrms: s.rmsNorm.rrms.slice(range.start, range.end),
  };
}

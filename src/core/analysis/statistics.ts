import { mergeMoments, mergeMomentsTree, momentsTreeStack, type Moments } from './moments';
import type { Pass1Partial } from './pass1';
import type { AnalysisPlan } from './plan';

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
export function inverseRoot(v: number): number {
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
  const stack = momentsTreeStack(plan.units);
  for (let f = 0; f < F; f++) {
    for (let u = 0; u < plan.units; u++) indices[u] = u * F + f;
    const m = mergeMomentsTree(n, mean, m2, indices, stack);
    out.count[f] = m.n;
    out.mean[f] = m.n > 0 ? m.mean : NaN;
    out.m2[f] = m.m2;
    if (min && max) {
      let lo = Infinity;
      let hi = -Infinity;
      for (let u = 0; u < indices.length; u++) {
        const i = indices[u]!;
        if (min[i]! < lo) lo = min[i]!;
        if (max[i]! > hi) hi = max[i]!;
      }
      out.min[f] = lo;
      out.max[f] = hi;
    }
  }
  return out;
}

/**
 * Per-token LayerNorm/RMSNorm statistics of the tokens a pass-1 partial covers (index relative to
 * its tokenStart): the whole input in the default path, one token block in the reduced path.
 */
export function tokenStatistics(p: Pass1Partial, eps: number): { layerNorm: LayerNormStats; rmsNorm: RmsNormStats } {
  const T = p.tokenCount.length;
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
  return { layerNorm: { mean: lnMean, var: lnVar, rstd: lnRstd }, rmsNorm: { meanSquare, rms, rrms } };
}

/** Per-feature BatchNorm statistics (valid tokens, and all tokens) from the merged pass-1 cells. */
export function batchNormStatistics(plan: AnalysisPlan, p: Pass1Partial): BatchNormStats {
  const F = plan.features;
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
  return { valid, all };
}

/** Derives the per-token, per-feature and global statistics from the merged pass-1 partial. */
export function computePass1Statistics(plan: AnalysisPlan, p: Pass1Partial): Pass1Statistics {
  const T = plan.tokens;
  const F = plan.features;
  const { layerNorm, rmsNorm } = tokenStatistics(p, plan.eps);
  const batchNorm = batchNormStatistics(plan, p);
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
  return { layerNorm, rmsNorm, batchNorm, global };
}


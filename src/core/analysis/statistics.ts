import { reductionSpace } from './kernels/wasmKernelLoader';
import { mergeMoments, mergeMomentsTree, momentsTreeStack, WASM_MERGE_MIN, type Moments } from './moments';
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

function mergeOverUnits(plan: AnalysisPlan, n: Float64Array, mean: Float64Array, m2: Float64Array, min: Float64Array | null, max: Float64Array | null, staged: boolean): FeatureMoments {
  const F = plan.features;
  const out: FeatureMoments = {
    count: new Float64Array(F),
    mean: new Float64Array(F),
    m2: new Float64Array(F),
    min: new Float64Array(F).fill(Infinity),
    max: new Float64Array(F).fill(-Infinity),
  };
  if (staged && mergeOverUnitsWasm(plan, n, mean, m2, min, max, out)) return out;
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
 * mergeOverUnits in WebAssembly (kernels.ts's unitTrees: the same trees, the same bits) into `out`;
 * false when unavailable or for fewer than WASM_MERGE_MIN cells.
 */
function mergeOverUnitsWasm(plan: AnalysisPlan, n: Float64Array, mean: Float64Array, m2: Float64Array, min: Float64Array | null, max: Float64Array | null, out: FeatureMoments): boolean {
  const F = plan.features;
  const U = plan.units;
  const cells = U * F;
  const mm = min !== null && max !== null;
  const space = cells >= WASM_MERGE_MIN ? reductionSpace([cells * 8, cells * 8, cells * 8, mm ? cells * 8 : 0, mm ? cells * 8 : 0, 5 * F * 8, momentsTreeStack(U).length * 8]) : null;
  if (space === null) return false;
  const {
    k,
    at: [cn, cmean, cm2, cmin, cmax, o, stack],
  } = space;
  const f64 = k.f64;
  f64.set(n.subarray(0, cells), cn! / 8);
  f64.set(mean.subarray(0, cells), cmean! / 8);
  f64.set(m2.subarray(0, cells), cm2! / 8);
  if (mm) {
    f64.set(min.subarray(0, cells), cmin! / 8);
    f64.set(max.subarray(0, cells), cmax! / 8);
  }
  const plane = F * 8;
  k.exports.unitTrees(cn!, cmean!, cm2!, mm ? cmin! : 0, mm ? cmax! : 0, U, F, o!, o! + plane, o! + 2 * plane, o! + 3 * plane, o! + 4 * plane, stack!);
  const at = (j: number): Float64Array => f64.subarray(o! / 8 + j * F, o! / 8 + (j + 1) * F);
  out.count.set(at(0));
  out.mean.set(at(1));
  out.m2.set(at(2));
  if (mm) {
    out.min.set(at(3));
    out.max.set(at(4));
  }
  return true;
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

/**
 * Per-feature BatchNorm statistics (valid tokens, and all tokens) from the merged pass-1 cells.
 * `staged`: in WebAssembly (see mergeMomentArrays; false in a loop over blocks).
 */
export function batchNormStatistics(plan: AnalysisPlan, p: Pass1Partial, staged = true): BatchNormStats {
  const F = plan.features;
  const valid = mergeOverUnits(plan, p.validCount, p.validMean, p.validM2, p.validMin, p.validMax, staged);
  let all = valid;
  if (plan.mask) {
    const pad = mergeOverUnits(plan, p.paddingCount, p.paddingMean, p.paddingM2, null, null, staged);
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

/** The per-token and global statistics of computePass1Statistics in WebAssembly (kernels.ts's tokenStats and indexTree), or null. */
function tokenAndGlobalWasm(plan: AnalysisPlan, p: Pass1Partial): Omit<Pass1Statistics, 'batchNorm'> | null {
  const T = plan.tokens;
  if (T < WASM_MERGE_MIN) return null;
  const space = reductionSpace([6 * T * 8, 6 * T * 8, T * 4, 16, momentsTreeStack(T).length * 8]);
  if (space === null) return null;
  const {
    k,
    at: [input, out, indices, minMax, stack],
  } = space;
  const f64 = k.f64;
  const arrays = [p.tokenCount, p.tokenMean, p.tokenM2, p.tokenSumSq, p.tokenMin, p.tokenMax];
  for (let j = 0; j < 6; j++) f64.set(arrays[j]!, input! / 8 + j * T);
  const plane = T * 8;
  const valued = k.exports.tokenStats(input!, input! + plane, input! + 2 * plane, input! + 3 * plane, input! + 4 * plane, input! + 5 * plane, T, plan.eps, out!, indices!, minMax!);
  k.exports.indexTree(input!, input! + plane, input! + 2 * plane, indices!, valued, stack!);
  const s = stack! / 8;
  const g = { n: f64[s]!, mean: f64[s + 1]!, m2: f64[s + 2]! };
  const copy = (j: number): Float64Array => f64.slice(out! / 8 + j * T, out! / 8 + (j + 1) * T);
  return {
    layerNorm: { mean: copy(0), var: copy(1), rstd: copy(2) },
    rmsNorm: { meanSquare: copy(3), rms: copy(4), rrms: copy(5) },
    global: {
      count: T * plan.features,
      finite: g.n,
      nan: p.nan,
      posInf: p.posInf,
      negInf: p.negInf,
      min: g.n > 0 ? f64[minMax! / 8]! : NaN,
      max: g.n > 0 ? f64[minMax! / 8 + 1]! : NaN,
      mean: g.n > 0 ? g.mean : NaN,
      std: g.n > 0 ? Math.sqrt(g.m2 / g.n) : NaN,
    },
  };
}

/** Derives the per-token, per-feature and global statistics from the merged pass-1 partial. */
export function computePass1Statistics(plan: AnalysisPlan, p: Pass1Partial): Pass1Statistics {
  const T = plan.tokens;
  const F = plan.features;
  const batchNorm = batchNormStatistics(plan, p);
  const wasm = T === p.tokenCount.length ? tokenAndGlobalWasm(plan, p) : null;
  if (wasm) return { ...wasm, batchNorm };
  const { layerNorm, rmsNorm } = tokenStatistics(p, plan.eps);
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


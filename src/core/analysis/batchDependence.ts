import type { SubBatchResult } from '../report/analysisReport';
import { median } from './histogram';
import { reductionSpace } from './kernels/wasmKernelLoader';
import type { Pass1Partial } from './pass1';
import type { AnalysisPlan } from './plan';
import type { FeatureMoments } from './statistics';

/**
 * BatchNorm on consecutive sub-batches of 1, 2, 4, … batch units (and the whole batch), from the
 * per-(unit, feature) moments of pass 1, without another pass: for one feature and one sub-batch
 * the shift y_sub − y_full = d1·x + d0 is affine in x, so over the sub-batch's tokens its mean
 * square is d1²·var_sub + (d1·mean_sub + d0)² and its largest |value| sits at min_sub or max_sub.
 * Shifts are in normalized units (before weight/bias).
 * `staged`: in WebAssembly (see mergeMomentArrays; false in a loop over blocks).
 */
export function computeSubBatches(plan: AnalysisPlan, p: Pass1Partial, full: FeatureMoments, staged = true): SubBatchResult[] {
  if (!plan.subBatches) return [];
  const F = plan.features;
  const U = plan.units;
  const eps = plan.eps;
  const fullRstd = new Float64Array(F);
  const fullStd = new Float64Array(F);
  for (let f = 0; f < F; f++) {
    const v = full.count[f]! > 0 ? full.m2[f]! / full.count[f]! : NaN;
    fullStd[f] = Math.sqrt(v);
    fullRstd[f] = v + eps > 0 ? 1 / Math.sqrt(v + eps) : 0;
  }
  const sizes: number[] = [];
  for (let g = 1; g < U; g *= 2) sizes.push(g);
  sizes.push(U);
  const results: SubBatchResult[] = [];
  const wasm = staged ? subBatchesWasm(plan, p, full.mean, fullRstd, fullStd, sizes) : null;
  if (wasm) return wasm;
  const ratios = new Float64Array(U * F);
  const acc = new Float64Array(ACC_SLOTS);
  const input: SubBatchInput = { p, F, eps, fullMean: full.mean, fullRstd, fullStd, ratios, acc };
  for (const g of sizes) {
    const groups = Math.floor(U / g);
    acc.fill(0);
    acc[ACC_MIN_COUNT] = Infinity;
    for (let k = 0; k < groups; k++) accumulateGroup(input, k * g, (k + 1) * g);
    const minCount = acc[ACC_MIN_COUNT]!;
    const counted = acc[ACC_COUNTED]!;
    const ratioCount = acc[ACC_RATIOS]!;
    results.push({
      size: Math.min(plan.batchSize, g * plan.batchElementsPerUnit),
      groups,
      minCount: Number.isFinite(minCount) ? minCount : 0,
      rmsShift: counted > 0 ? Math.sqrt(acc[ACC_WEIGHTED_SQ]! / counted) : 0,
      maxShift: acc[ACC_MAX_SHIFT]!,
      maxMeanDeviation: acc[ACC_MAX_MEAN_DEVIATION]!,
      medianVarRatio: ratioCount > 0 ? median(ratios.subarray(0, ratioCount)) : NaN,
    });
  }
  return results;
}

/**
 * computeSubBatches in WebAssembly (kernels.ts's subBatchSize: the same sums in the same order, so
 * the same bits), or null when it is unavailable or the cells are too many to copy (reductionSpace).
 */
function subBatchesWasm(plan: AnalysisPlan, p: Pass1Partial, fullMean: Float64Array, fullRstd: Float64Array, fullStd: Float64Array, sizes: readonly number[]): SubBatchResult[] | null {
  const F = plan.features;
  const U = plan.units;
  const cells = U * F;
  const space = reductionSpace([5 * cells * 8, 3 * F * 8, cells * 8, 6 * 8, 5 * F * 8]);
  if (space === null) return null;
  const {
    k,
    at: [moments, full, ratios, acc, group],
  } = space;
  const f64 = k.f64;
  const at = moments! / 8;
  f64.set(p.validCount, at);
  f64.set(p.validMean, at + cells);
  f64.set(p.validM2, at + 2 * cells);
  f64.set(p.validMin, at + 3 * cells);
  f64.set(p.validMax, at + 4 * cells);
  f64.set(fullMean, full! / 8);
  f64.set(fullRstd, full! / 8 + F);
  f64.set(fullStd, full! / 8 + 2 * F);
  const a = acc! / 8;
  const results: SubBatchResult[] = [];
  for (const g of sizes) {
    f64.fill(0, a, a + ACC_SLOTS);
    f64[a + ACC_MIN_COUNT] = Infinity;
    k.exports.subBatchSize(moments!, U, F, g, plan.eps, full!, ratios!, acc!, group!);
    const minCount = f64[a + ACC_MIN_COUNT]!;
    const counted = f64[a + ACC_COUNTED]!;
    const ratioCount = f64[a + ACC_RATIOS]!;
    results.push({
      size: Math.min(plan.batchSize, g * plan.batchElementsPerUnit),
      groups: Math.floor(U / g),
      minCount: Number.isFinite(minCount) ? minCount : 0,
      rmsShift: counted > 0 ? Math.sqrt(f64[a + ACC_WEIGHTED_SQ]! / counted) : 0,
      maxShift: f64[a + ACC_MAX_SHIFT]!,
      maxMeanDeviation: f64[a + ACC_MAX_MEAN_DEVIATION]!,
      // In place: the ratios are rewritten for the next size.
      medianVarRatio: ratioCount > 0 ? k.exports.seriesMedian(ratios!, ratioCount, ratios!) : NaN,
    });
  }
  return results;
}

// Running sums of one sub-batch size, in a Float64Array (no boxed numbers in the hot loop).
const ACC_WEIGHTED_SQ = 0;
const ACC_COUNTED = 1;
const ACC_MAX_SHIFT = 2;
const ACC_MAX_MEAN_DEVIATION = 3;
const ACC_MIN_COUNT = 4;
const ACC_RATIOS = 5;
const ACC_SLOTS = 6;

interface SubBatchInput {
  readonly p: Pass1Partial;
  readonly F: number;
  readonly eps: number;
  readonly fullMean: Float64Array;
  readonly fullRstd: Float64Array;
  readonly fullStd: Float64Array;
  readonly ratios: Float64Array;
  readonly acc: Float64Array;
}

/**
 * Adds the sub-batch of units [u0, u1) to the running sums. A function of its own, called once per
 * sub-batch: it is optimized as a whole after a few calls instead of by on-stack replacement of a
 * loop that runs once per process (which left most of it in the interpreter, boxing every number).
 */
function accumulateGroup(input: SubBatchInput, u0: number, u1: number): void {
  const { p, F, eps, fullMean, fullRstd, fullStd, ratios, acc } = input;
  const { validCount, validMean, validM2, validMin, validMax } = p;
  let weightedSq = acc[ACC_WEIGHTED_SQ]!;
  let counted = acc[ACC_COUNTED]!;
  let maxShift = acc[ACC_MAX_SHIFT]!;
  let maxMeanDeviation = acc[ACC_MAX_MEAN_DEVIATION]!;
  let minCount = acc[ACC_MIN_COUNT]!;
  let ratioCount = acc[ACC_RATIOS]!;
  for (let f = 0; f < F; f++) {
    let n = 0;
    let mean = 0;
    let m2 = 0;
    let lo = Infinity;
    let hi = -Infinity;
    for (let u = u0; u < u1; u++) {
      const c = u * F + f;
      const nb = validCount[c]!;
      if (nb === 0) continue;
      const delta = validMean[c]! - mean;
      const nn = n + nb;
      mean += (delta * nb) / nn;
      m2 += validM2[c]! + ((delta * delta * n) / nn) * nb;
      n = nn;
      if (validMin[c]! < lo) lo = validMin[c]!;
      if (validMax[c]! > hi) hi = validMax[c]!;
    }
    if (n === 0) continue;
    if (n < minCount) minCount = n;
    const v = m2 / n;
    const rs = v + eps > 0 ? 1 / Math.sqrt(v + eps) : 0;
    const r = fullRstd[f]!;
    const d1 = rs - r;
    const d0 = fullMean[f]! * r - mean * rs;
    const shiftMean = d1 * mean + d0;
    weightedSq += n * (d1 * d1 * v + shiftMean * shiftMean);
    counted += n;
    const s = Math.max(Math.abs(d1 * lo + d0), Math.abs(d1 * hi + d0));
    if (s > maxShift) maxShift = s;
    const sd = fullStd[f]!;
    if (sd > 0) {
      const dev = Math.abs(mean - fullMean[f]!) / sd;
      if (dev > maxMeanDeviation) maxMeanDeviation = dev;
      ratios[ratioCount++] = v / (sd * sd);
    }
  }
  acc[ACC_WEIGHTED_SQ] = weightedSq;
  acc[ACC_COUNTED] = counted;
  acc[ACC_MAX_SHIFT] = maxShift;
  acc[ACC_MAX_MEAN_DEVIATION] = maxMeanDeviation;
  acc[ACC_MIN_COUNT] = minCount;
  acc[ACC_RATIOS] = ratioCount;
}

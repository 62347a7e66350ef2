import type { SubBatchResult } from '../report/analysisReport';
import { median } from './histogram';
import type { Pass1Partial } from './pass1';
import type { AnalysisPlan } from './plan';
import type { FeatureMoments } from './statistics';

/**
 * BatchNorm on consecutive sub-batches of 1, 2, 4, … batch units (and the whole batch), from the
 * per-(unit, feature) moments of pass 1, without another pass: for one feature and one sub-batch
 * the shift y_sub − y_full = d1·x + d0 is affine in x, so over the sub-batch's tokens its mean
 * square is d1²·var_sub + (d1·mean_sub + d0)² and its largest |value| sits at min_sub or max_sub.
 * Shifts are in normalized units (before weight/bias).
 */
export function computeSubBatches(plan: AnalysisPlan, p: Pass1Partial, full: FeatureMoments): SubBatchResult[] {
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
  const { validCount, validMean, validM2, validMin, validMax } = p;
  const fullMean = full.mean;
  const ratios = new Float64Array(U * F);
  for (const g of sizes) {
    const groups = Math.floor(U / g);
    let weightedSq = 0;
    let counted = 0;
    let maxShift = 0;
    let maxMeanDeviation = 0;
    let minCount = Infinity;
    let ratioCount = 0;
    for (let k = 0; k < groups; k++) {
      for (let f = 0; f < F; f++) {
        let n = 0;
        let mean = 0;
        let m2 = 0;
        let lo = Infinity;
        let hi = -Infinity;
        for (let u = k * g; u < (k + 1) * g; u++) {
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
    }
    results.push({
      size: Math.min(plan.batchSize, g * plan.batchElementsPerUnit),
      groups,
      minCount: Number.isFinite(minCount) ? minCount : 0,
      rmsShift: counted > 0 ? Math.sqrt(weightedSq / counted) : 0,
      maxShift,
      maxMeanDeviation,
      medianVarRatio: ratioCount > 0 ? median(ratios.subarray(0, ratioCount)) : NaN,
    });
  }
  return results;
}

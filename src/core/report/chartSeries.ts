import type { AnalysisReport, DownsampledSeries } from './analysisReport';

/**
 * A full series as a DownsampledSeries (bucket 1), or reduced to at most `maxPoints` buckets with
 * their mean and min/max envelopes (non-finite values are left out of a bucket; an empty bucket is NaN).
 */
export function toSeries(values: ArrayLike<number>, maxPoints = 2048): DownsampledSeries {
  const n = values.length;
  const bucket = Math.max(1, Math.ceil(n / maxPoints));
  const mean: number[] = [];
  const min: number[] = [];
  const max: number[] = [];
  for (let s = 0; s < n; s += bucket) {
    let sum = 0;
    let c = 0;
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = s; i < Math.min(n, s + bucket); i++) {
      const v = values[i]!;
      if (v === null || !Number.isFinite(v)) continue;
      sum += v;
      c++;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    mean.push(c ? sum / c : NaN);
    min.push(c ? lo : NaN);
    max.push(c ? hi : NaN);
  }
  return { length: n, bucketSize: bucket, mean, min, max };
}

/** The per-token LayerNorm mean and std of one batch element (or of every token), as chart series. */
export interface TokenSeries {
  mean: DownsampledSeries;
  std: DownsampledSeries;
}

/**
 * The LayerNorm token mean and std along the positions of batch element `b` (null: every token,
 * batch-major), from a report with full per-token arrays; null when they were reduced (over the
 * per-token cap) or `b` is not a batch element.
 */
export function layerNormTokenSeries(report: AnalysisReport, b: number | null, maxPoints = 2048): TokenSeries | null {
  const ln = report.layerNorm.perToken;
  if (ln.reduced || ln.mean.length !== report.layout.tokens) return null;
  const per = report.layout.tokensPerBatchElement;
  if (b !== null && (!Number.isInteger(b) || b < 0 || b >= report.layout.batchSize)) return null;
  const from = b === null ? 0 : b * per;
  const to = b === null ? ln.mean.length : Math.min(ln.mean.length, from + per);
  const std = new Float64Array(to - from);
  for (let i = from; i < to; i++) std[i - from] = Math.sqrt(ln.var[i]!);
  return { mean: toSeries(ln.mean.slice(from, to), maxPoints), std: toSeries(std, maxPoints) };
}

import type { DownsampledSeries, Histogram, SeriesSummary, TokenExtreme } from '../report/analysisReport';
import { binGuessTolerance, binNear, uniformEdges } from './histogram';
import { mergeMoments, type Moments } from './moments';

/**
 * One per-token series reduced on the fly, block after block in token order, when the input has
 * more tokens than `maxTokenSeries` (the per-token arrays are then never held for all tokens):
 * - the summary over included finite values: exact min/max with their first token, mean and std by a
 *   two-pass kernel per block and Chan merges across blocks (equal to `summarize` up to rounding);
 * - the chart series: min/mean/max buckets of exactly the tokens `downsampleSeries` would group
 *   (same bucket size, same sequential sums, so the same numbers);
 * - the `topK` largest included values with their tokens (a binary min-heap).
 */
export class TokenSeriesReducer {
  readonly bucketSize: number;
  private readonly sum: Float64Array;
  private readonly count: Float64Array;
  private readonly lo: Float64Array;
  private readonly hi: Float64Array;
  private moments: Moments = { n: 0, mean: 0, m2: 0 };
  private min = Infinity;
  private max = -Infinity;
  private minToken = -1;
  private maxToken = -1;
  private readonly heapValue: Float64Array;
  private readonly heapToken: Float64Array;
  private heapSize = 0;

  constructor(
    readonly length: number,
    maxPoints: number,
    readonly topK: number,
  ) {
    this.bucketSize = Math.max(1, Math.ceil(length / maxPoints));
    const points = Math.ceil(length / this.bucketSize);
    this.sum = new Float64Array(points);
    this.count = new Float64Array(points);
    this.lo = new Float64Array(points).fill(Infinity);
    this.hi = new Float64Array(points).fill(-Infinity);
    this.heapValue = new Float64Array(topK);
    this.heapToken = new Float64Array(topK);
  }

  /**
   * Adds the values of tokens start … start + values.length − 1; the summary and top-k take the
   * finite values of real tokens (mask null, or mask[t] = 1), the chart buckets every non-NaN value.
   */
  add(values: ArrayLike<number>, start: number, mask: Uint8Array | null): void {
    const n = values.length;
    const B = this.bucketSize;
    // Buckets: the tokens of bucket k are [k·B, (k+1)·B); walk the block bucket by bucket.
    for (let i = 0; i < n; ) {
      const k = Math.floor((start + i) / B);
      const end = Math.min(n, (k + 1) * B - start);
      let s = this.sum[k]!;
      let c = this.count[k]!;
      let lo = this.lo[k]!;
      let hi = this.hi[k]!;
      for (; i < end; i++) {
        const v = values[i]!;
        if (v !== v) continue;
        s += v;
        c++;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      this.sum[k] = s;
      this.count[k] = c;
      this.lo[k] = lo;
      this.hi[k] = hi;
    }
    let s = 0;
    let c = 0;
    const full = this.topK > 0 && this.heapSize === this.topK;
    let floor = this.topK === 0 ? Infinity : full ? this.heapValue[0]! : -Infinity;
    for (let i = 0; i < n; i++) {
      const v = values[i]!;
      if (v - v !== 0 || (mask !== null && mask[start + i] !== 1)) continue;
      s += v;
      c++;
      if (v < this.min) {
        this.min = v;
        this.minToken = start + i;
      }
      if (v > this.max) {
        this.max = v;
        this.maxToken = start + i;
      }
      if (v > floor || this.heapSize < this.topK) {
        this.offer(v, start + i);
        if (this.heapSize === this.topK && this.topK > 0) floor = this.heapValue[0]!;
      }
    }
    if (c === 0) return;
    const mean = s / c;
    let m2 = 0;
    for (let i = 0; i < n; i++) {
      const v = values[i]!;
      if (v - v !== 0 || (mask !== null && mask[start + i] !== 1)) continue;
      m2 += (v - mean) * (v - mean);
    }
    this.moments = mergeMoments(this.moments, { n: c, mean, m2 });
  }

  private offer(v: number, t: number): void {
    const hv = this.heapValue;
    const ht = this.heapToken;
    if (this.heapSize < this.topK) {
      let i = this.heapSize++;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (hv[parent]! <= v) break;
        hv[i] = hv[parent]!;
        ht[i] = ht[parent]!;
        i = parent;
      }
      hv[i] = v;
      ht[i] = t;
      return;
    }
    if (this.topK === 0 || v <= hv[0]!) return;
    // Replace the smallest kept value and sift down.
    const size = this.heapSize;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= size) break;
      const r = l + 1;
      const child = r < size && hv[r]! < hv[l]! ? r : l;
      if (hv[child]! >= v) break;
      hv[i] = hv[child]!;
      ht[i] = ht[child]!;
      i = child;
    }
    hv[i] = v;
    ht[i] = t;
  }

  /** Range of the included finite values so far (null when there are none). */
  range(): { min: number; max: number } | null {
    return this.moments.n > 0 ? { min: this.min, max: this.max } : null;
  }

  /** The summary over included tokens, with the tokens of the minimum and maximum. */
  summary(): SeriesSummary {
    const m = this.moments;
    if (m.n === 0) return { mean: NaN, std: NaN, min: NaN, max: NaN };
    return { mean: m.mean, std: Math.sqrt(m.m2 / m.n), min: this.min, max: this.max, minToken: this.minToken, maxToken: this.maxToken };
  }

  /** The chart series (what downsampleSeries gives for the full array). */
  series(): DownsampledSeries {
    const points = this.sum.length;
    const mean = new Array<number>(points);
    const min = new Array<number>(points);
    const max = new Array<number>(points);
    for (let k = 0; k < points; k++) {
      const c = this.count[k]!;
      mean[k] = c > 0 ? this.sum[k]! / c : NaN;
      min[k] = c > 0 ? this.lo[k]! : NaN;
      max[k] = c > 0 ? this.hi[k]! : NaN;
    }
    return { length: this.length, bucketSize: this.bucketSize, mean, min, max };
  }

  /** The largest included values, largest first (ties: lower token first). */
  top(): TokenExtreme[] {
    const out: TokenExtreme[] = [];
    for (let i = 0; i < this.heapSize; i++) out.push({ token: this.heapToken[i]!, value: this.heapValue[i]! });
    return out.sort((a, b) => b.value - a.value || a.token - b.token);
  }
}

/**
 * A histogram over fixed edges filled block after block (the reduced path's per-token
 * distributions): same bins as `histogramOf` when the edges come from the same range.
 */
export class FixedEdgesHistogram {
  readonly edges: Float64Array;
  readonly counts: Float64Array;
  private readonly inv: number;
  private readonly tol: number;
  total = 0;

  constructor(lo: number, hi: number, readonly bins: number) {
    this.edges = uniformEdges(lo, hi, bins);
    this.counts = new Float64Array(bins);
    this.inv = bins / (this.edges[bins]! - this.edges[0]!);
    this.tol = binGuessTolerance(this.edges, bins);
  }

  /** Counts the finite values of real tokens start … (mask null, or mask[t] = 1). */
  add(values: ArrayLike<number>, start: number, mask: Uint8Array | null): void {
    const edges = this.edges;
    const bins = this.bins;
    const lo = edges[0]!;
    const last = edges[bins]!;
    const inv = this.inv;
    const counts = this.counts;
    const tol = this.tol;
    const top = 1 - tol;
    const lastBin = bins - 1;
    let total = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (v - v !== 0 || (mask !== null && mask[start + i] !== 1)) continue;
      // Values outside fixed bounds cannot occur for exact bounds; clamp rounding strays to the end bins.
      const x = v < lo ? lo : v > last ? last : v;
      counts[binNear(x, lo, inv, tol, top, edges, lastBin)]!++;
      total++;
    }
    this.total += total;
  }

  /** The report's histogram. */
  histogram(): Histogram {
    return { edges: Array.from(this.edges), counts: Array.from(this.counts), total: this.total };
  }
}

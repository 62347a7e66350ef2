import type { DownsampledSeries, Histogram, SeriesSummary, TokenExtreme } from '../report/analysisReport';
import { binIndex, uniformEdges } from './histogram';
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

  /** Adds the values of tokens start … start + values.length − 1; `include(t)` (absolute token) selects the summary's tokens. */
  add(values: ArrayLike<number>, start: number, include: (t: number) => boolean): void {
    const n = values.length;
    const B = this.bucketSize;
    let s = 0;
    let c = 0;
    for (let i = 0; i < n; i++) {
      const v = values[i]!;
      const t = start + i;
      if (v === v) {
        const k = Math.floor(t / B);
        this.sum[k] += v;
        this.count[k]!++;
        if (v < this.lo[k]!) this.lo[k] = v;
        if (v > this.hi[k]!) this.hi[k] = v;
      }
      if (v - v !== 0 || !include(t)) continue;
      s += v;
      c++;
      if (v < this.min) {
        this.min = v;
        this.minToken = t;
      }
      if (v > this.max) {
        this.max = v;
        this.maxToken = t;
      }
      this.offer(v, t);
    }
    if (c === 0) return;
    const mean = s / c;
    let m2 = 0;
    for (let i = 0; i < n; i++) {
      const v = values[i]!;
      if (v - v !== 0 || !include(start + i)) continue;
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
  total = 0;

  constructor(lo: number, hi: number, readonly bins: number) {
    this.edges = uniformEdges(lo, hi, bins);
    this.counts = new Float64Array(bins);
    this.inv = bins / (this.edges[bins]! - this.edges[0]!);
  }

  /** Counts the finite values of tokens start … where `include(t)` holds. */
  add(values: ArrayLike<number>, start: number, include: (t: number) => boolean): void {
    const lo = this.edges[0]!;
    const last = this.edges[this.bins]!;
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (v - v !== 0 || !include(start + i)) continue;
      // Values outside fixed bounds cannot occur for exact bounds; clamp rounding strays to the end bins.
      const x = v < lo ? lo : v > last ? last : v;
      this.counts[binIndex(x, lo, this.inv, this.edges, this.bins)]!++;
      this.total++;
    }
  }

  /** The report's histogram. */
  histogram(): Histogram {
    return { edges: Array.from(this.edges), counts: Array.from(this.counts), total: this.total };
  }
}

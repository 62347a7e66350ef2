import type { DownsampledSeries, Histogram, SeriesSummary } from '../report/analysisReport';
import { toNumbers } from '../arrays';
import { reductionSpace, type WasmKernels } from './kernels/wasmKernelLoader';

/**
 * Which values of a series count (1) and which do not (0), one byte per value; null: all of them.
 * Per-token series use it for padding tokens and tokens without finite values.
 */
export type Inclusion = Uint8Array | null;

/**
 * The report reductions below run in WebAssembly when it is available (kernels/assembly/kernels.ts:
 * the same operations in the same order, so the same bits): they run once per analysis, on the
 * thread that builds the report, where the JavaScript would still be in the interpreter. This copies
 * `values` (and `valid`) into the reductions' memory with `extra` more bytes after them, and returns
 * the kernels and the byte offsets, or null (then the JavaScript below runs).
 */
function stage(values: ArrayLike<number>, valid: Inclusion, extra: number): { k: WasmKernels; v: number; m: number; x: number } | null {
  const n = values.length;
  const space = reductionSpace([n * 8, valid ? n : 0, extra]);
  if (space === null) return null;
  const {
    k,
    at: [v, m, x],
  } = space;
  k.f64.set(values, v! / 8);
  if (valid) new Uint8Array(k.f64.buffer, m!, n).set(valid);
  return { k, v: v!, m: valid ? m! : 0, x: x! };
}

/**
 * `bins + 1` uniform edges over [lo, hi] computed like numpy's `linspace` (edge i = i·step + lo,
 * last edge = hi). A degenerate range widens to [lo − 0.5, hi + 0.5] as `numpy.histogram` does.
 */
export function uniformEdges(lo: number, hi: number, bins: number): Float64Array {
  let a = lo;
  let b = hi;
  if (!Number.isFinite(a) || !Number.isFinite(b)) {
    a = 0;
    b = 0;
  }
  if (a === b) {
    a -= 0.5;
    b += 0.5;
  }
  const edges = new Float64Array(bins + 1);
  const step = (b - a) / bins;
  for (let i = 0; i < bins; i++) edges[i] = i * step + a;
  edges[bins] = b;
  return edges;
}

/** Bin of `x` for uniform `edges` (numpy's rule: floor, then corrected against the edges; last bin closed). */
export function binIndex(x: number, lo: number, inv: number, edges: Float64Array, bins: number): number {
  let k = ((x - lo) * inv) | 0;
  if (k < 0) k = 0;
  else if (k >= bins) k = bins - 1;
  if (k > 0 && x < edges[k]!) k--;
  else if (k < bins - 1 && x >= edges[k + 1]!) k++;
  return k;
}

/**
 * A bound (in bins, with a wide margin) on how far the rounded position u = (x − lo)·inv of a value x
 * inside uniform `edges` can be from its exact position relative to the rounded edges
 * (edge i = i·step + lo): rounding of x − lo and of the product (≤ 2M·inv·2⁻⁵³ + bins·2⁻⁵³, M the
 * largest |edge|), of inv, and of the edges themselves (≤ (M + bins·step)·inv·2⁻⁵³). When the
 * fractional part of u is farther than this from 0 and 1, floor(u) is the bin numpy's edge
 * comparison gives, so the comparison can be skipped; otherwise (and for any u outside [0, bins))
 * the kernel compares against the edges. Values ≥ 0.5 force the comparison every time.
 */
export function binGuessTolerance(edges: Float64Array, bins: number): number {
  const lo = edges[0]!;
  const hi = edges[bins]!;
  const m = Math.max(Math.abs(lo), Math.abs(hi));
  const inv = bins / (hi - lo);
  const bound = (4 * m * inv + 4 * bins + 4) * Number.EPSILON;
  const tol = 64 * bound;
  return tol < 0.5 && Number.isFinite(tol) ? tol : 0.5;
}

/**
 * Bin of `x` by the fast rule of the pass-2 kernels: u = (x − lo)·inv, k = floor(u) clamped, and the
 * edge comparison (numpy's rule) only when u is within `tol` of a bin boundary (see
 * binGuessTolerance; `top` = 1 − tol). Same bin as binIndex; small enough for V8 to inline.
 */
export function binNear(x: number, lo: number, inv: number, tol: number, top: number, edges: Float64Array, last: number): number {
  const u = (x - lo) * inv;
  let k = u | 0;
  if (k < 0) k = 0;
  else if (k > last) k = last;
  const fr = u - k;
  if (fr < tol || fr > top) {
    if (k > 0 && x < edges[k]!) k--;
    else if (k < last && x >= edges[k + 1]!) k++;
  }
  return k;
}

/** Histogram of the finite `values` (where `valid` has a 1) over edges from their own range. */
export function histogramOf(values: ArrayLike<number>, bins: number, valid: Inclusion): Histogram {
  const w = stage(values, valid, (bins + 1) * 8 + bins * 4 + 16);
  if (w) {
    const { k, v, m, x } = w;
    const n = values.length;
    k.exports.seriesRange(v, n, m, x);
    const edges = uniformEdges(k.f64[x / 8]!, k.f64[x / 8 + 1]!, bins);
    k.f64.set(edges, x / 8);
    const counts = x + (bins + 1) * 8;
    const total = k.exports.seriesHistogram(v, n, m, x, bins, counts);
    return { edges: toNumbers(edges), counts: toNumbers(k.i32.subarray(counts / 4, counts / 4 + bins)), total };
  }
  const include = (i: number): boolean => valid === null || valid[i] === 1;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v - v !== 0 || !include(i)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const edges = uniformEdges(lo, hi, bins);
  const counts = new Array<number>(bins).fill(0);
  const inv = bins / (edges[bins]! - edges[0]!);
  let total = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v - v !== 0 || !include(i)) continue;
    counts[binIndex(v, edges[0]!, inv, edges, bins)]!++;
    total++;
  }
  return { edges: toNumbers(edges), counts, total };
}

/** Quantiles of a histogram by linear interpolation inside the bin (exact to one bin width); NaN when empty. */
export function histogramQuantiles(counts: ArrayLike<number>, edges: ArrayLike<number>, probabilities: readonly number[]): number[] {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i]!;
  return probabilities.map((p) => {
    if (total === 0) return NaN;
    const target = p * total;
    let cum = 0;
    for (let k = 0; k < counts.length; k++) {
      const c = counts[k]!;
      if (c > 0 && cum + c >= target) {
        const frac = Math.min(1, Math.max(0, (target - cum) / c));
        return edges[k]! + frac * (edges[k + 1]! - edges[k]!);
      }
      cum += c;
    }
    return edges[counts.length]!;
  });
}

/** Reduces a series to at most `maxPoints` buckets with mean/min/max envelopes (NaN entries skipped). */
export function downsampleSeries(values: ArrayLike<number>, maxPoints: number): DownsampledSeries {
  const n = values.length;
  const bucketSize = Math.max(1, Math.ceil(n / maxPoints));
  const points = Math.ceil(n / bucketSize);
  const w = stage(values, null, points * 24);
  if (w) {
    const { k, v, x } = w;
    k.exports.seriesDownsample(v, n, bucketSize, points, x, x + points * 8, x + points * 16);
    const at = (j: number): number[] => toNumbers(k.f64.subarray(x / 8 + j * points, x / 8 + (j + 1) * points));
    return { length: n, bucketSize, mean: at(0), min: at(1), max: at(2) };
  }
  const mean: number[] = new Array<number>(points);
  const min: number[] = new Array<number>(points);
  const max: number[] = new Array<number>(points);
  for (let k = 0; k < points; k++) {
    let s = 0;
    let c = 0;
    let lo = Infinity;
    let hi = -Infinity;
    const end = Math.min(n, (k + 1) * bucketSize);
    for (let i = k * bucketSize; i < end; i++) {
      const v = values[i]!;
      if (v !== v) continue;
      s += v;
      c++;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    mean[k] = c > 0 ? s / c : NaN;
    min[k] = c > 0 ? lo : NaN;
    max[k] = c > 0 ? hi : NaN;
  }
  return { length: n, bucketSize, mean, min, max };
}

/** Mean, biased std, min and max of the finite `values` where `valid` has a 1 (two-pass). */
export function summarize(values: ArrayLike<number>, valid: Inclusion): SeriesSummary {
  const w = stage(values, valid, 40);
  if (w) {
    const { k, v, m, x } = w;
    k.exports.seriesSummary(v, values.length, m, x);
    const o = x / 8;
    if (k.f64[o] === 0) return { mean: NaN, std: NaN, min: NaN, max: NaN };
    return { mean: k.f64[o + 1]!, std: k.f64[o + 2]!, min: k.f64[o + 3]!, max: k.f64[o + 4]! };
  }
  const include = (i: number): boolean => valid === null || valid[i] === 1;
  let n = 0;
  let s = 0;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v - v !== 0 || !include(i)) continue;
    n++;
    s += v;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (n === 0) return { mean: NaN, std: NaN, min: NaN, max: NaN };
  const mean = s / n;
  let m2 = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v - v !== 0 || !include(i)) continue;
    m2 += (v - mean) * (v - mean);
  }
  return { mean, std: Math.sqrt(m2 / n), min: lo, max: hi };
}

/** Median of the finite values (NaN when there are none). */
export function median(values: Iterable<number>): number {
  const all = ArrayBuffer.isView(values) || Array.isArray(values) ? (values as ArrayLike<number>) : Array.from(values);
  const w = stage(all, null, 0);
  // In place in the staged copy.
  if (w) return w.k.exports.seriesMedian(w.v, all.length, w.v);
  let n = 0;
  const a = new Float64Array(all.length);
  for (let i = 0; i < all.length; i++) {
    const v = all[i]!;
    if (v - v === 0) a[n++] = v;
  }
  if (n === 0) return NaN;
  const mid = n >> 1;
  const upper = selectKth(a, n, mid);
  if (n % 2 === 1) return upper;
  // After selection every entry left of `mid` is ≤ a[mid]: the lower middle is their maximum.
  let lower = -Infinity;
  for (let i = 0; i < mid; i++) if (a[i]! > lower) lower = a[i]!;
  return (lower + upper) / 2;
}

/** Hoare quickselect on a[0..n): puts the k-th smallest at a[k] (smaller left, larger right) and returns it. */
function selectKth(a: Float64Array, n: number, k: number): number {
  let lo = 0;
  let hi = n - 1;
  while (hi > lo) {
    // Median of three as pivot value.
    const m = (lo + hi) >>> 1;
    const x = a[lo]!;
    const y = a[m]!;
    const z = a[hi]!;
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : x < z ? x : y < z ? z : y;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else break;
  }
  return a[k]!;
}

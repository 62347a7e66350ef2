/**
 * Exact (Chan–Golub–LeVeque) merge of two moment accumulators stored at index `i` of `aN/aMean/aM2`
 * and given as (bN, bMean, bM2). Order does not matter in real arithmetic; float64 throughout.
 */
export function mergeMomentsAt(aN: Float64Array, aMean: Float64Array, aM2: Float64Array, i: number, bN: number, bMean: number, bM2: number): void {
  if (bN === 0) return;
  const n1 = aN[i]!;
  if (n1 === 0) {
    aN[i] = bN;
    aMean[i] = bMean;
    aM2[i] = bM2;
    return;
  }
  const n = n1 + bN;
  const delta = bMean - aMean[i]!;
  aN[i] = n;
  aMean[i] = aMean[i]! + (delta * bN) / n;
  aM2[i] = aM2[i]! + bM2 + ((delta * delta * n1) / n) * bN;
}

/** Count, mean and sum of squared deviations of a set of values. */
export interface Moments {
  n: number;
  mean: number;
  m2: number;
}

/** Chan merge of two scalar moment triples (returns a new object). */
export function mergeMoments(a: Moments, b: Moments): Moments {
  if (b.n === 0) return { ...a };
  if (a.n === 0) return { ...b };
  const n = a.n + b.n;
  const delta = b.mean - a.mean;
  return { n, mean: a.mean + (delta * b.n) / n, m2: a.m2 + b.m2 + ((delta * delta * a.n) / n) * b.n };
}

/**
 * Merges many moment triples (index-aligned arrays, entries `from..to` step `stride`) as a balanced
 * tree, so rounding error grows like log(count) rather than count.
 */
export function mergeMomentsTree(n: ArrayLike<number>, mean: ArrayLike<number>, m2: ArrayLike<number>, indices: readonly number[]): Moments {
  const go = (lo: number, hi: number): Moments => {
    if (hi - lo === 1) {
      const i = indices[lo]!;
      return { n: n[i]!, mean: n[i]! > 0 ? mean[i]! : 0, m2: n[i]! > 0 ? m2[i]! : 0 };
    }
    if (hi === lo) return { n: 0, mean: 0, m2: 0 };
    const mid = (lo + hi) >>> 1;
    return mergeMoments(go(lo, mid), go(mid, hi));
  };
  return go(0, indices.length);
}

/** Merges index-aligned moment arrays of `b` into `a` element by element (Chan). */
export function mergeMomentArrays(aN: Float64Array, aMean: Float64Array, aM2: Float64Array, bN: Float64Array, bMean: Float64Array, bM2: Float64Array): void {
  for (let i = 0; i < aN.length; i++) mergeMomentsAt(aN, aMean, aM2, i, bN[i]!, bMean[i]!, bM2[i]!);
}

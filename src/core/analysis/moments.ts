import { reductionSpace, type WasmKernels } from './kernels/wasmKernelLoader';

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
export function mergeMomentsTree(n: ArrayLike<number>, mean: ArrayLike<number>, m2: ArrayLike<number>, indices: readonly number[], stack: Float64Array = momentsTreeStack(indices.length)): Moments {
  mergeRange(n, mean, m2, indices, 0, indices.length, stack, 0);
  return { n: stack[0]!, mean: stack[1]!, m2: stack[2]! };
}

/**
 * Scratch of mergeMomentsTree for up to `count` entries: the recursion of a balanced split
 * (lo..mid, mid..hi) keeps each level's result in a slot of a small Float64Array (no object per
 * node). A caller merging many trees of one size passes the same scratch to each.
 */
export function momentsTreeStack(count: number): Float64Array {
  let depth = 1;
  for (let k = count; k > 1; k = (k + 1) >>> 1) depth++;
  return new Float64Array(3 * (depth + 1));
}

/** Moments of indices[lo..hi) into stack[3·level..3·level+3) (see mergeMomentsTree). */
function mergeRange(n: ArrayLike<number>, mean: ArrayLike<number>, m2: ArrayLike<number>, indices: readonly number[], lo: number, hi: number, stack: Float64Array, level: number): void {
  const o = 3 * level;
  if (hi - lo === 1) {
    const i = indices[lo]!;
    const c = n[i]!;
    stack[o] = c;
    stack[o + 1] = c > 0 ? mean[i]! : 0;
    stack[o + 2] = c > 0 ? m2[i]! : 0;
    return;
  }
  if (hi === lo) {
    stack[o] = 0;
    stack[o + 1] = 0;
    stack[o + 2] = 0;
    return;
  }
  const mid = (lo + hi) >>> 1;
  mergeRange(n, mean, m2, indices, lo, mid, stack, level + 1);
  const an = stack[o + 3]!;
  const am = stack[o + 4]!;
  const a2 = stack[o + 5]!;
  mergeRange(n, mean, m2, indices, mid, hi, stack, level + 1);
  const bn = stack[o + 3]!;
  const bm = stack[o + 4]!;
  const b2 = stack[o + 5]!;
  // mergeMoments, in place.
  if (bn === 0) {
    stack[o] = an;
    stack[o + 1] = am;
    stack[o + 2] = a2;
  } else if (an === 0) {
    stack[o] = bn;
    stack[o + 1] = bm;
    stack[o + 2] = b2;
  } else {
    const nn = an + bn;
    const delta = bm - am;
    stack[o] = nn;
    stack[o + 1] = am + (delta * bn) / nn;
    stack[o + 2] = a2 + b2 + ((delta * delta * an) / nn) * bn;
  }
}

/**
 * Arrays at least this long are merged in WebAssembly (the same bits): the merge between the passes
 * runs once per analysis, where JavaScript would still be in the interpreter. Code that runs once per
 * block of a long loop (the reduced-token and feature-block paths) asks for JavaScript instead
 * (`staged` false): optimized after the first blocks, it needs no copies.
 */
export const WASM_MERGE_MIN = 1024;

/** Elements per block of the element-wise merges in WebAssembly (six arrays of it staged: 3 MiB). */
const MERGE_BLOCK = 1 << 16;

/**
 * Runs an element-wise kernel over `arrays` (all of at least `n` elements) block by block in the
 * reductions' memory, copying the first `written` arrays back; false when WebAssembly is unavailable.
 */
function elementwiseWasm(arrays: readonly Float64Array[], n: number, written: number, kernel: (k: WasmKernels, at: readonly number[], count: number) => void): boolean {
  const block = Math.min(n, MERGE_BLOCK);
  const space = reductionSpace(arrays.map(() => block * 8));
  if (space === null) return false;
  const { k, at } = space;
  for (let i = 0; i < n; i += block) {
    const count = Math.min(block, n - i);
    for (let j = 0; j < arrays.length; j++) k.f64.set(arrays[j]!.subarray(i, i + count), at[j]! / 8);
    kernel(k, at, count);
    for (let j = 0; j < written; j++) arrays[j]!.set(k.f64.subarray(at[j]! / 8, at[j]! / 8 + count), i);
  }
  return true;
}

/**
 * Merges index-aligned moment arrays of `b` into `a` element by element (Chan). `staged`: in
 * WebAssembly (copies in and out) from WASM_MERGE_MIN elements; callers in a loop over blocks pass
 * false (their JavaScript is optimized after the first blocks, the copies would only add).
 */
export function mergeMomentArrays(aN: Float64Array, aMean: Float64Array, aM2: Float64Array, bN: Float64Array, bMean: Float64Array, bM2: Float64Array, staged = true): void {
  const n = aN.length;
  if (staged && n >= WASM_MERGE_MIN && elementwiseWasm([aN, aMean, aM2, bN, bMean, bM2], n, 3, (k, at, count) => k.exports.momentsMerge(at[0]!, at[1]!, at[2]!, at[3]!, at[4]!, at[5]!, count))) return;
  for (let i = 0; i < n; i++) mergeMomentsAt(aN, aMean, aM2, i, bN[i]!, bMean[i]!, bM2[i]!);
}

/** a = min(a, b) and max(a, b) element by element (per-cell min and max of two partials); `staged` as mergeMomentArrays. */
export function mergeMinMax(aMin: Float64Array, aMax: Float64Array, bMin: Float64Array, bMax: Float64Array, staged = true): void {
  const n = aMin.length;
  if (staged && n >= WASM_MERGE_MIN && elementwiseWasm([aMin, aMax, bMin, bMax], n, 2, (k, at, count) => k.exports.minMaxMerge(at[0]!, at[1]!, at[2]!, at[3]!, count))) return;
  for (let c = 0; c < n; c++) {
    if (bMin[c]! < aMin[c]!) aMin[c] = bMin[c]!;
    if (bMax[c]! > aMax[c]!) aMax[c] = bMax[c]!;
  }
}

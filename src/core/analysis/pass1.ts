import type { DecodedValues } from '../formats/types';
import { withInputReads } from './kernelReads';
import { layout, wasmKernels, type WasmKernels } from './kernels/wasmKernelLoader';
import { mergeMinMax, mergeMomentArrays, mergeMomentsAt } from './moments';
import type { AnalysisPlan, AnalysisTensors } from './plan';
import { forEachTile, forEachTokenRun, planTiles, type PassHooks, type Tile, type TokenRange } from './tiles';

/**
 * Pass 1 result for a token range: per-token LayerNorm/RMSNorm moments, per-(batch unit, feature)
 * BatchNorm moments of valid and of padding tokens, and non-finite counts. Typed arrays only, so it
 * crosses worker boundaries by structured clone; partials merge exactly with `mergePass1`.
 */
export interface Pass1Partial {
  readonly tokenStart: number;
  readonly tokenEnd: number;
  /** Per token of the range: finite values, mean, sum of squared deviations, sum of squares, min, max. */
  readonly tokenCount: Float64Array;
  readonly tokenMean: Float64Array;
  readonly tokenM2: Float64Array;
  readonly tokenSumSq: Float64Array;
  readonly tokenMin: Float64Array;
  readonly tokenMax: Float64Array;
  /** Per (unit, feature), index unit·features + f, over valid tokens. */
  readonly validCount: Float64Array;
  readonly validMean: Float64Array;
  readonly validM2: Float64Array;
  readonly validMin: Float64Array;
  readonly validMax: Float64Array;
  /** Same over padding tokens (empty arrays when there is no mask). */
  readonly paddingCount: Float64Array;
  readonly paddingMean: Float64Array;
  readonly paddingM2: Float64Array;
  nan: number;
  posInf: number;
  negInf: number;
}

/** An empty pass-1 partial for `range`. */
export function createPass1Partial(plan: AnalysisPlan, range: TokenRange): Pass1Partial {
  const n = range.end - range.start;
  const cells = plan.units * plan.features;
  const padCells = plan.mask ? cells : 0;
  return {
    tokenStart: range.start,
    tokenEnd: range.end,
    tokenCount: new Float64Array(n),
    tokenMean: new Float64Array(n),
    tokenM2: new Float64Array(n),
    tokenSumSq: new Float64Array(n),
    tokenMin: new Float64Array(n).fill(Infinity),
    tokenMax: new Float64Array(n).fill(-Infinity),
    validCount: new Float64Array(cells),
    validMean: new Float64Array(cells),
    validM2: new Float64Array(cells),
    validMin: new Float64Array(cells).fill(Infinity),
    validMax: new Float64Array(cells).fill(-Infinity),
    paddingCount: new Float64Array(padCells),
    paddingMean: new Float64Array(padCells),
    paddingM2: new Float64Array(padCells),
    nan: 0,
    posInf: 0,
    negInf: 0,
  };
}

/** Column scratch reused across the tiles of one pass (avoids per-chunk allocation). */
class Pass1Scratch {
  readonly colSum: Float64Array;
  readonly colMin: Float64Array;
  readonly colMax: Float64Array;
  readonly colBad: Float64Array;
  readonly colMean: Float64Array;
  readonly colM2: Float64Array;
  tokSum = new Float64Array(0);
  tokSq = new Float64Array(0);
  tokMin = new Float64Array(0);
  tokMax = new Float64Array(0);
  tokBad = new Float64Array(0);
  tokMean = new Float64Array(0);
  tokM2 = new Float64Array(0);
  constructor(features: number) {
    this.colSum = new Float64Array(features);
    this.colMin = new Float64Array(features);
    this.colMax = new Float64Array(features);
    this.colBad = new Float64Array(features);
    this.colMean = new Float64Array(features);
    this.colM2 = new Float64Array(features);
  }
  ensureTokens(n: number): void {
    if (this.tokSum.length >= n) return;
    this.tokSum = new Float64Array(n);
    this.tokSq = new Float64Array(n);
    this.tokMin = new Float64Array(n);
    this.tokMax = new Float64Array(n);
    this.tokBad = new Float64Array(n);
    this.tokMean = new Float64Array(n);
    this.tokM2 = new Float64Array(n);
  }
}

function countNonFinite(p: Pass1Partial, x: number): void {
  if (x !== x) p.nan++;
  else if (x > 0) p.posInf++;
  else p.negInf++;
}

/**
 * Feature-last kernel over a run of tokens [t0, t1) that share batch unit and validity, starting at
 * element `base` of `v`. Two passes over the run: sums/min/max, then squared deviations from the
 * token and column means; the run's column moments are Chan-merged into the unit accumulators.
 */
function pass1FeatureLastRunChecked(p: Pass1Partial, plan: AnalysisPlan, s: Pass1Scratch, v: DecodedValues, base: number, t0: number, t1: number, unit: number, valid: boolean): void {
  const F = plan.features;
  const { colSum, colMin, colMax, colBad, colMean, colM2 } = s;
  colSum.fill(0);
  colMin.fill(Infinity);
  colMax.fill(-Infinity);
  colBad.fill(0);
  colM2.fill(0);
  const ts = p.tokenStart;
  let anyBad = false;
  for (let t = t0, q = base; t < t1; t++, q += F) {
    let sum = 0;
    let sq = 0;
    let mn = Infinity;
    let mx = -Infinity;
    let bad = 0;
    for (let f = 0; f < F; f++) {
      const x = v[q + f]!;
      if (x - x !== 0) {
        countNonFinite(p, x);
        colBad[f]!++;
        bad++;
        continue;
      }
      sum += x;
      sq += x * x;
      colSum[f] += x;
      if (x < colMin[f]!) colMin[f] = x;
      if (x > colMax[f]!) colMax[f] = x;
      if (x < mn) mn = x;
      if (x > mx) mx = x;
    }
    const n = F - bad;
    if (bad > 0) anyBad = true;
    const k = t - ts;
    p.tokenCount[k] = n;
    p.tokenMean[k] = n > 0 ? sum / n : NaN;
    p.tokenSumSq[k] = sq;
    p.tokenMin[k] = mn;
    p.tokenMax[k] = mx;
  }
  const runLength = t1 - t0;
  for (let f = 0; f < F; f++) {
    const n = runLength - colBad[f]!;
    colMean[f] = n > 0 ? colSum[f]! / n : 0;
  }
  for (let t = t0, q = base; t < t1; t++, q += F) {
    const m = p.tokenMean[t - ts]!;
    let m2 = 0;
    if (anyBad) {
      for (let f = 0; f < F; f++) {
        const x = v[q + f]!;
        if (x - x !== 0) continue;
        const d = x - m;
        m2 += d * d;
        const e = x - colMean[f]!;
        colM2[f] += e * e;
      }
    } else {
      for (let f = 0; f < F; f++) {
        const x = v[q + f]!;
        const d = x - m;
        m2 += d * d;
        const e = x - colMean[f]!;
        colM2[f] += e * e;
      }
    }
    p.tokenM2[t - ts] = m2;
  }
  mergeRunColumns(p, s, F, runLength, unit, valid);
}

/** Chan-merges the run's column moments (scratch) into the unit's valid or padding accumulators. */
function mergeRunColumns(p: Pass1Partial, s: Pass1Scratch, F: number, runLength: number, unit: number, valid: boolean): void {
  const { colMin, colMax, colBad, colMean, colM2 } = s;
  const cell0 = unit * F;
  if (valid) {
    const { validCount, validMean, validM2, validMin, validMax } = p;
    for (let f = 0; f < F; f++) {
      const n = runLength - colBad[f]!;
      if (n === 0) continue;
      const c = cell0 + f;
      mergeMomentsAt(validCount, validMean, validM2, c, n, colMean[f]!, colM2[f]!);
      if (colMin[f]! < validMin[c]!) validMin[c] = colMin[f]!;
      if (colMax[f]! > validMax[c]!) validMax[c] = colMax[f]!;
    }
  } else {
    for (let f = 0; f < F; f++) {
      const n = runLength - colBad[f]!;
      if (n > 0) mergeMomentsAt(p.paddingCount, p.paddingMean, p.paddingM2, cell0 + f, n, colMean[f]!, colM2[f]!);
    }
  }
}

/**
 * Feature-last kernel (see pass1FeatureLastRunChecked) without per-element finiteness tests, for the
 * common all-finite run: two partial sums per token (shorter dependency chains), column min/max in
 * the second sweep. A token whose sums come out non-finite (a NaN/±Inf value, or overflow) sends the
 * whole run to the checked kernel, which starts over from fresh column scratch; results agree to
 * rounding (the partial sums change the summation order only).
 */
function pass1FeatureLastRun(p: Pass1Partial, plan: AnalysisPlan, s: Pass1Scratch, v: DecodedValues, base: number, t0: number, t1: number, unit: number, valid: boolean): void {
  const F = plan.features;
  const { colSum, colMin, colMax, colBad, colMean, colM2 } = s;
  colSum.fill(0);
  const ts = p.tokenStart;
  const { tokenCount, tokenMean, tokenSumSq, tokenMin, tokenMax, tokenM2 } = p;
  const Fe = F & ~1;
  for (let t = t0, q = base; t < t1; t++, q += F) {
    let s0 = 0;
    let s1 = 0;
    let q0 = 0;
    let q1 = 0;
    let mn = Infinity;
    let mx = -Infinity;
    let f = 0;
    for (; f < Fe; f += 2) {
      const x = v[q + f]!;
      const y = v[q + f + 1]!;
      s0 += x;
      s1 += y;
      q0 += x * x;
      q1 += y * y;
      colSum[f] += x;
      colSum[f + 1] += y;
      if (x < mn) mn = x;
      if (x > mx) mx = x;
      if (y < mn) mn = y;
      if (y > mx) mx = y;
    }
    if (f < F) {
      const x = v[q + f]!;
      s0 += x;
      q0 += x * x;
      colSum[f] += x;
      if (x < mn) mn = x;
      if (x > mx) mx = x;
    }
    const sum = s0 + s1;
    const sq = q0 + q1;
    if (sum - sum !== 0 || sq - sq !== 0) {
      pass1FeatureLastRunChecked(p, plan, s, v, base, t0, t1, unit, valid);
      return;
    }
    const k = t - ts;
    tokenCount[k] = F;
    tokenMean[k] = sum / F;
    tokenSumSq[k] = sq;
    tokenMin[k] = mn;
    tokenMax[k] = mx;
  }
  const runLength = t1 - t0;
  colBad.fill(0);
  colMin.fill(Infinity);
  colMax.fill(-Infinity);
  colM2.fill(0);
  for (let f = 0; f < F; f++) colMean[f] = colSum[f]! / runLength;
  for (let t = t0, q = base; t < t1; t++, q += F) {
    const m = tokenMean[t - ts]!;
    let m0 = 0;
    let m1 = 0;
    let f = 0;
    for (; f < Fe; f += 2) {
      const x = v[q + f]!;
      const y = v[q + f + 1]!;
      const d = x - m;
      const d1 = y - m;
      m0 += d * d;
      m1 += d1 * d1;
      const e = x - colMean[f]!;
      const e1 = y - colMean[f + 1]!;
      colM2[f] += e * e;
      colM2[f + 1] += e1 * e1;
      if (x < colMin[f]!) colMin[f] = x;
      if (x > colMax[f]!) colMax[f] = x;
      if (y < colMin[f + 1]!) colMin[f + 1] = y;
      if (y > colMax[f + 1]!) colMax[f + 1] = y;
    }
    if (f < F) {
      const x = v[q + f]!;
      const d = x - m;
      m0 += d * d;
      const e = x - colMean[f]!;
      colM2[f] += e * e;
      if (x < colMin[f]!) colMin[f] = x;
      if (x > colMax[f]!) colMax[f] = x;
    }
    tokenM2[t - ts] = m0 + m1;
  }
  mergeRunColumns(p, s, F, runLength, unit, valid);
}

/**
 * Feature-last pass 1 of one tile on the WebAssembly kernel (float32 input): the all-finite kernel
 * above, bit for bit, each run's two sweeps going through blocks of about 256 KiB of tokens copied
 * into the kernel's memory (so the kernel reads from cache and its memory stays small); a run with
 * non-finite values goes through the checked JavaScript kernel. False when the memory cannot grow.
 */
function pass1FeatureLastTileWasm(k: WasmKernels, p: Pass1Partial, plan: AnalysisPlan, s: Pass1Scratch, v: Float32Array, tileStart: number, tokens: number): boolean {
  const F = plan.features;
  const block = Math.max(1, Math.min(tokens, Math.floor(65536 / F)));
  const { offsets, total } = pass1WasmLayout(F, block);
  const [tok, col, colSum, colMinMax, copy] = offsets as [number, number, number, number, number];
  if (!k.reserve(total)) return false;
  const { f32, f64 } = k;
  // Values read into the kernels' memory (kernelReads) are used in place; others are copied in by blocks.
  const direct = v.buffer === k.exports.memory.buffer;
  const blockAt = (u: number, n: number): number => {
    if (direct) return v.byteOffset + (u - tileStart) * F * 4;
    f32.set(v.subarray((u - tileStart) * F, (u - tileStart + n) * F), copy / 4);
    return copy;
  };
  const e = k.exports;
  const ts = p.tokenStart;
  const t0 = tok / 8;
  const c0 = col / 8;
  forEachTokenRun(plan, tileStart, tileStart + tokens, (a, b, unit, valid) => {
    e.pass1Begin(F, colSum);
    for (let u = a; u < b; u += block) {
      const n = Math.min(block, b - u);
      if (e.pass1Sweep1(blockAt(u, n), n, F, tok, colSum) !== 0) {
        pass1FeatureLastRunChecked(p, plan, s, v, (a - tileStart) * F, a, b, unit, valid);
        return;
      }
      const at = u - ts;
      p.tokenMean.set(f64.subarray(t0, t0 + n), at);
      p.tokenSumSq.set(f64.subarray(t0 + n, t0 + 2 * n), at);
      p.tokenMin.set(f64.subarray(t0 + 2 * n, t0 + 3 * n), at);
      p.tokenMax.set(f64.subarray(t0 + 3 * n, t0 + 4 * n), at);
    }
    p.tokenCount.fill(F, a - ts, b - ts);
    e.pass1Middle(F, b - a, colSum, col, colMinMax);
    for (let u = a; u < b; u += block) {
      const n = Math.min(block, b - u);
      const x = blockAt(u, n);
      f64.set(p.tokenMean.subarray(u - ts, u - ts + n), t0);
      e.pass1Sweep2(x, n, F, tok, col, colMinMax);
      p.tokenM2.set(f64.subarray(t0 + n, t0 + 2 * n), u - ts);
    }
    e.pass1End(F, col, colMinMax);
    s.colMean.set(f64.subarray(c0, c0 + F));
    s.colM2.set(f64.subarray(c0 + F, c0 + 2 * F));
    s.colMin.set(f64.subarray(c0 + 2 * F, c0 + 3 * F));
    s.colMax.set(f64.subarray(c0 + 3 * F, c0 + 4 * F));
    s.colBad.fill(0);
    mergeRunColumns(p, s, F, b - a, unit, valid);
  });
  return true;
}

/**
 * Channels-first kernel over a tile of `rows` features × tokens o·inner + [i0, i1). Per (feature,
 * run) two-pass column moments; per-token moments of this tile, Chan-merged into the token arrays.
 */
function pass1ChannelsTile(p: Pass1Partial, plan: AnalysisPlan, s: Pass1Scratch, v: DecodedValues, base: number, o: number, f0: number, rows: number, i0: number, i1: number): void {
  const F = plan.features;
  const L = i1 - i0;
  const t0 = o * plan.inner + i0;
  s.ensureTokens(L);
  const { tokSum, tokSq, tokMin, tokMax, tokBad, tokMean, tokM2 } = s;
  tokSum.fill(0, 0, L);
  tokSq.fill(0, 0, L);
  tokMin.fill(Infinity, 0, L);
  tokMax.fill(-Infinity, 0, L);
  tokBad.fill(0, 0, L);
  tokM2.fill(0, 0, L);
  const runs: number[] = [];
  forEachTokenRun(plan, t0, t0 + L, (a, b, unit, valid) => runs.push(a - t0, b - t0, unit, valid ? 1 : 0));
  for (let r = 0; r < rows; r++) {
    const f = f0 + r;
    const rowBase = base + r * L;
    for (let k = 0; k < runs.length; k += 4) {
      const a = runs[k]!;
      const b = runs[k + 1]!;
      let sum = 0;
      let mn = Infinity;
      let mx = -Infinity;
      let bad = 0;
      for (let i = a; i < b; i++) {
        const x = v[rowBase + i]!;
        if (x - x !== 0) {
          countNonFinite(p, x);
          tokBad[i]!++;
          bad++;
          continue;
        }
        sum += x;
        tokSum[i] += x;
        tokSq[i] += x * x;
        if (x < mn) mn = x;
        if (x > mx) mx = x;
        if (x < tokMin[i]!) tokMin[i] = x;
        if (x > tokMax[i]!) tokMax[i] = x;
      }
      const n = b - a - bad;
      if (n === 0) continue;
      const mean = sum / n;
      let m2 = 0;
      for (let i = a; i < b; i++) {
        const x = v[rowBase + i]!;
        if (x - x !== 0) continue;
        const e = x - mean;
        m2 += e * e;
      }
      const c = runs[k + 2]! * F + f;
      if (runs[k + 3] === 1) {
        mergeMomentsAt(p.validCount, p.validMean, p.validM2, c, n, mean, m2);
        if (mn < p.validMin[c]!) p.validMin[c] = mn;
        if (mx > p.validMax[c]!) p.validMax[c] = mx;
      } else {
        mergeMomentsAt(p.paddingCount, p.paddingMean, p.paddingM2, c, n, mean, m2);
      }
    }
  }
  for (let i = 0; i < L; i++) {
    const n = rows - tokBad[i]!;
    tokMean[i] = n > 0 ? tokSum[i]! / n : 0;
  }
  for (let r = 0; r < rows; r++) {
    const rowBase = base + r * L;
    for (let i = 0; i < L; i++) {
      const x = v[rowBase + i]!;
      if (x - x !== 0) continue;
      const d = x - tokMean[i]!;
      tokM2[i] += d * d;
    }
  }
  const ts = p.tokenStart;
  for (let i = 0; i < L; i++) {
    const k = t0 + i - ts;
    mergeMomentsAt(p.tokenCount, p.tokenMean, p.tokenM2, k, rows - tokBad[i]!, tokMean[i]!, tokM2[i]!);
    p.tokenSumSq[k] += tokSq[i]!;
    if (tokMin[i]! < p.tokenMin[k]!) p.tokenMin[k] = tokMin[i]!;
    if (tokMax[i]! > p.tokenMax[k]!) p.tokenMax[k] = tokMax[i]!;
  }
}

/** Kernel memory of pass1FeatureLastTileWasm with `block` tokens at a time: per-token sums, column arrays, the block copy. */
function pass1WasmLayout(F: number, block: number): { offsets: number[]; total: number } {
  return layout([4 * block * 8, 4 * F * 8, F * 8, 2 * F * 4, block * F * 4]);
}

/** Runs pass 1 over `range` of the plan's input; memory is bounded by two chunks. */
export async function runPass1(tensors: AnalysisTensors, plan: AnalysisPlan, range: TokenRange, hooks: PassHooks = {}): Promise<Pass1Partial> {
  const p = createPass1Partial(plan, range);
  const scratch = new Pass1Scratch(plan.features);
  const tiles = planTiles(plan, range);
  const F = plan.features;
  await withInputReads(tensors.input, plan, tiles, pass1WasmLayout(F, Math.max(1, Math.floor(65536 / F))).total, (read) => pass1Tiles(p, plan, scratch, tiles, read, hooks));
  return p;
}

async function pass1Tiles(p: Pass1Partial, plan: AnalysisPlan, scratch: Pass1Scratch, tiles: readonly Tile[], read: (tile: Tile) => Promise<DecodedValues>, hooks: PassHooks): Promise<void> {
  const F = plan.features;
  const I = plan.inner;
  await forEachTile(tiles, read, null, hooks, (tile, values) => {
    const wasm = I === 1 && values instanceof Float32Array ? wasmKernels() : null;
    if (wasm !== null && pass1FeatureLastTileWasm(wasm, p, plan, scratch, values as Float32Array, tile.tokenStart, tile.tokens)) {
      // Done on the WebAssembly kernel.
    } else if (I === 1) {
      forEachTokenRun(plan, tile.tokenStart, tile.tokenStart + tile.tokens, (a, b, unit, valid) => {
        pass1FeatureLastRun(p, plan, scratch, values, (a - tile.tokenStart) * F, a, b, unit, valid);
      });
    } else {
      for (let k = 0; k < tile.blocks; k++) {
        pass1ChannelsTile(p, plan, scratch, values, k * F * I, tile.o + k, tile.f0, tile.rows, tile.i0, tile.i1);
      }
    }
  });
}

/**
 * Merges pass-1 partials of disjoint token ranges (any order) into one covering `range` (default:
 * all tokens); their per-token entries are copied to their place in it.
 */
export function mergePass1(plan: AnalysisPlan, parts: readonly Pass1Partial[], range: TokenRange = { start: 0, end: plan.tokens }): Pass1Partial {
  const all = createPass1Partial(plan, range);
  for (const p of parts) mergePass1Into(all, p);
  return all;
}

/**
 * mergePass1 that takes over the per-(unit, feature) cell arrays of parts[0] instead of copying them
 * (the same numbers: merging into empty cells copies the first partial's exactly), so the merge holds
 * one set of cells less. parts[0]'s cells are changed: the caller drops the partials afterwards.
 * `staged`: see mergeMomentArrays (false in a loop over blocks).
 */
export function mergePass1Adopting(plan: AnalysisPlan, parts: readonly Pass1Partial[], range: TokenRange = { start: 0, end: plan.tokens }, staged = true): Pass1Partial {
  const first = parts[0];
  if (first === undefined) return mergePass1(plan, parts, range);
  const n = range.end - range.start;
  const all: Pass1Partial = {
    tokenStart: range.start,
    tokenEnd: range.end,
    tokenCount: new Float64Array(n),
    tokenMean: new Float64Array(n),
    tokenM2: new Float64Array(n),
    tokenSumSq: new Float64Array(n),
    tokenMin: new Float64Array(n).fill(Infinity),
    tokenMax: new Float64Array(n).fill(-Infinity),
    validCount: first.validCount,
    validMean: first.validMean,
    validM2: first.validM2,
    validMin: first.validMin,
    validMax: first.validMax,
    paddingCount: first.paddingCount,
    paddingMean: first.paddingMean,
    paddingM2: first.paddingM2,
    nan: first.nan,
    posInf: first.posInf,
    negInf: first.negInf,
  };
  if (n > 0) {
    const at = first.tokenStart - all.tokenStart;
    all.tokenCount.set(first.tokenCount, at);
    all.tokenMean.set(first.tokenMean, at);
    all.tokenM2.set(first.tokenM2, at);
    all.tokenSumSq.set(first.tokenSumSq, at);
    all.tokenMin.set(first.tokenMin, at);
    all.tokenMax.set(first.tokenMax, at);
  }
  for (let k = 1; k < parts.length; k++) mergePass1Into(all, parts[k]!, staged);
  return all;
}

/**
 * Merges `p` into `all`: per-token entries are copied when `all` has room for them (an `all` over
 * an empty token range only collects the per-(unit, feature) cells and non-finite counts).
 * `staged`: see mergeMomentArrays (false in a loop over blocks).
 */
export function mergePass1Into(all: Pass1Partial, p: Pass1Partial, staged = true): void {
  if (all.tokenCount.length > 0) {
    const at = p.tokenStart - all.tokenStart;
    all.tokenCount.set(p.tokenCount, at);
    all.tokenMean.set(p.tokenMean, at);
    all.tokenM2.set(p.tokenM2, at);
    all.tokenSumSq.set(p.tokenSumSq, at);
    all.tokenMin.set(p.tokenMin, at);
    all.tokenMax.set(p.tokenMax, at);
  }
  mergeMomentArrays(all.validCount, all.validMean, all.validM2, p.validCount, p.validMean, p.validM2, staged);
  mergeMinMax(all.validMin, all.validMax, p.validMin, p.validMax, staged);
  mergeMomentArrays(all.paddingCount, all.paddingMean, all.paddingM2, p.paddingCount, p.paddingMean, p.paddingM2, staged);
  all.nan += p.nan;
  all.posInf += p.posInf;
  all.negInf += p.negInf;
}

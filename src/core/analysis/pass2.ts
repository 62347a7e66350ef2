import type { DecodedValues } from '../formats/types';
import { layout, wasmKernels, type WasmKernels } from './kernels/wasmKernels';
import { forEachTile, forEachTokenRun, type PassHooks } from './pass1';
import type { AnalysisPlan, AnalysisTensors } from './plan';
import type { SharedPass2Context } from './statistics';
import { planTiles, type TokenRange } from './tiles';

/** Histogram kinds, in the order they are stored in `Pass2Partial.histograms`. */
export const HISTOGRAM_KINDS = ['input', 'layerNorm', 'rmsNorm', 'batchNorm'] as const;

/**
 * What pass 2 needs from pass 1, for one token range (structured-clone-able). Normalized values:
 * LayerNorm y = (x − mean_t)·rstd_t·w + b, RMSNorm y = x·rrms_t·w, BatchNorm y = x·bnScale + bnOffset.
 */
export interface Pass2Context extends SharedPass2Context {
  readonly tokenStart: number;
  readonly tokenEnd: number;
  readonly tokenMean: Float64Array;
  readonly tokenRstd: Float64Array;
  readonly tokenRrms: Float64Array;
  /** Per token of the range: 1 when all its values are finite (pass-1 count = features), else 0. */
  readonly tokenAllFinite: Uint8Array;
  /** True when there is no weight and no bias (weight 1, bias 0): the kernel skips the affine. */
  readonly plain: boolean;
}

/**
 * Pass 2 result for a token range: value histograms per batch unit (slot `units` collects padding
 * and is dropped), per-token shifted output sums, and the replay sums. Merges by addition/copy.
 */
export interface Pass2Partial {
  readonly tokenStart: number;
  readonly tokenEnd: number;
  /** Index ((slot·4 + kind)·bins + bin), slots 0..units (the last one is padding). */
  readonly histograms: Float64Array;
  /** Per token of the range: Σ(y−K) and Σ(y−K)² of each norm's output. */
  readonly layerNormSum: Float64Array;
  readonly layerNormSq: Float64Array;
  readonly rmsNormSum: Float64Array;
  readonly rmsNormSq: Float64Array;
  readonly batchNormSum: Float64Array;
  readonly batchNormSq: Float64Array;
  readonly replay: ReplaySums | null;
}

/** Replay sums against the recorded output; `errors` holds the REPLAY_* scalars. */
export interface ReplaySums {
  /** Per token: Σ(x−mean)·y′ and Σy′² (y′ = recorded output with the affine undone), for LayerNorm. */
  readonly layerNormA: Float64Array;
  readonly layerNormB: Float64Array;
  /** Per token: Σx·y′ and Σy′² for RMSNorm. */
  readonly rmsNormA: Float64Array;
  readonly rmsNormB: Float64Array;
  /** Per feature: Σ(x−mean_f)·y′ and Σy′² for BatchNorm (all-token statistics). */
  readonly batchNormA: Float64Array;
  readonly batchNormB: Float64Array;
  readonly errors: Float64Array;
  /** Recorded finite values of valid tokens on the norm-output edges (plan.bins bins; outside values clamped to the end bins). */
  readonly recordedHistogram: Float64Array;
  /** |recorded − replayed| per compared element on ERROR_EDGES: LayerNorm, RMSNorm, BatchNorm, ERROR_BINS each. */
  readonly errorHistograms: Float64Array;
}

/** Decades and resolution of the replay error histograms: 10^-12 … 10^4, 4 bins per decade. */
export const ERROR_MIN_EXPONENT = -12;
export const ERROR_MAX_EXPONENT = 4;
export const ERROR_BINS_PER_DECADE = 4;
export const ERROR_BINS = (ERROR_MAX_EXPONENT - ERROR_MIN_EXPONENT) * ERROR_BINS_PER_DECADE;
/**
 * Fixed log-spaced edges of the error histograms (edge i = 10^(−12 + i/4)). Bin k holds errors in
 * [edge k, edge k+1); the first bin also holds every error below 10^-12 (exact zeros included), the
 * last bin also holds errors of 10^4 and more.
 */
export const ERROR_EDGES: Float64Array = (() => {
  const edges = new Float64Array(ERROR_BINS + 1);
  for (let i = 0; i <= ERROR_BINS; i++) edges[i] = 10 ** (ERROR_MIN_EXPONENT + i / ERROR_BINS_PER_DECADE);
  return edges;
})();
const ERROR_FIRST_UPPER = ERROR_EDGES[1]!;

/** Error-histogram bin of an absolute error `e` ≥ 0 (see ERROR_EDGES). */
export function errorBin(e: number): number {
  if (!(e >= ERROR_FIRST_UPPER)) return 0;
  const last = ERROR_BINS - 1;
  let k = Math.floor((Math.log10(e) - ERROR_MIN_EXPONENT) * ERROR_BINS_PER_DECADE);
  if (!(k <= last)) k = last;
  else if (k < 0) k = 0;
  if (k > 0 && e < ERROR_EDGES[k]!) k--;
  else if (k < last && e >= ERROR_EDGES[k + 1]!) k++;
  return k;
}

/** Indices into ReplaySums.errors. */
export const REPLAY_MAX_LN = 0;
export const REPLAY_SQ_LN = 1;
export const REPLAY_MAX_RMS = 2;
export const REPLAY_SQ_RMS = 3;
export const REPLAY_MAX_BN = 4;
export const REPLAY_SQ_BN = 5;
export const REPLAY_COMPARED = 6;
export const REPLAY_SUM_SQ_OUTPUT = 7;
export const REPLAY_MAX_ABS_OUTPUT = 8;
export const REPLAY_NON_FINITE_OUTPUT = 9;
/** Recorded values of valid tokens outside the norm-output edges (counted in the end bins). */
export const REPLAY_RECORDED_CLAMPED = 10;
const REPLAY_SLOTS = 11;

/** An empty pass-2 partial for `range`. */
export function createPass2Partial(plan: AnalysisPlan, range: TokenRange, withReplay: boolean): Pass2Partial {
  const n = range.end - range.start;
  return {
    tokenStart: range.start,
    tokenEnd: range.end,
    histograms: new Float64Array((plan.units + 1) * 4 * plan.bins),
    layerNormSum: new Float64Array(n),
    layerNormSq: new Float64Array(n),
    rmsNormSum: new Float64Array(n),
    rmsNormSq: new Float64Array(n),
    batchNormSum: new Float64Array(n),
    batchNormSq: new Float64Array(n),
    replay: withReplay
      ? {
          layerNormA: new Float64Array(n),
          layerNormB: new Float64Array(n),
          rmsNormA: new Float64Array(n),
          rmsNormB: new Float64Array(n),
          batchNormA: new Float64Array(plan.features),
          batchNormB: new Float64Array(plan.features),
          errors: new Float64Array(REPLAY_SLOTS),
          recordedHistogram: new Float64Array(plan.bins),
          errorHistograms: new Float64Array(3 * ERROR_BINS),
        }
      : null,
  };
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
 * Feature-last pass-2 kernel over the tokens [t0, t1) of a run (same unit and validity): normalized
 * values, histograms, per-token output sums and (with `out`) the replay sums. One pass, no allocation.
 */
function pass2FeatureLastRun(p: Pass2Partial, plan: AnalysisPlan, c: Pass2Context, v: DecodedValues, out: DecodedValues | null, base: number, t0: number, t1: number, slot: number): void {
  const F = plan.features;
  const bins = plan.bins;
  const h = p.histograms;
  const hIn = slot * 4 * bins;
  const hLn = hIn + bins;
  const hRms = hLn + bins;
  const hBn = hRms + bins;
  const inE = c.inputEdges;
  const outE = c.outputEdges;
  const inLo = inE[0]!;
  const inInv = bins / (inE[bins]! - inLo);
  const outLo = outE[0]!;
  const outInv = bins / (outE[bins]! - outLo);
  const inTol = binGuessTolerance(inE, bins);
  const inTop = 1 - inTol;
  const outTol = binGuessTolerance(outE, bins);
  const outTop = 1 - outTol;
  const last = bins - 1;
  const { weight: w, bias: b, bnScale, bnOffset } = c;
  const plain = c.plain;
  const allFinite = c.tokenAllFinite;
  const kLn = c.layerNormShift;
  const kBn = c.batchNormShift;
  const ts = p.tokenStart;
  const cs = c.tokenStart;
  const r = p.replay;
  for (let t = t0, q = base; t < t1; t++, q += F) {
    const m = c.tokenMean[t - cs]!;
    const rs = c.tokenRstd[t - cs]!;
    const rr = c.tokenRrms[t - cs]!;
    const kRms = m * rr * c.weightMean;
    let s1 = 0;
    let q1 = 0;
    let s2 = 0;
    let q2 = 0;
    let s3 = 0;
    let q3 = 0;
    if (plain && allFinite[t - cs] === 1) {
      // All values finite and no affine (weight 1, bias 0 give the same results bit for bit):
      // the same loop without the finiteness test and the weight/bias loads.
      for (let f = 0; f < F; f++) {
        const x = v[q + f]!;
        const yl = (x - m) * rs;
        const yr = x * rr;
        const yb = x * bnScale[f]! + bnOffset[f]!;
        let u = (x - inLo) * inInv;
        let k = u | 0;
        if (k < 0) k = 0;
        else if (k > last) k = last;
        let fr = u - k;
        if (fr < inTol || fr > inTop) {
          if (k > 0 && x < inE[k]!) k--;
          else if (k < last && x >= inE[k + 1]!) k++;
        }
        h[hIn + k]++;
        u = (yl - outLo) * outInv;
        k = u | 0;
        if (k < 0) k = 0;
        else if (k > last) k = last;
        fr = u - k;
        if (fr < outTol || fr > outTop) {
          if (k > 0 && yl < outE[k]!) k--;
          else if (k < last && yl >= outE[k + 1]!) k++;
        }
        h[hLn + k]++;
        u = (yr - outLo) * outInv;
        k = u | 0;
        if (k < 0) k = 0;
        else if (k > last) k = last;
        fr = u - k;
        if (fr < outTol || fr > outTop) {
          if (k > 0 && yr < outE[k]!) k--;
          else if (k < last && yr >= outE[k + 1]!) k++;
        }
        h[hRms + k]++;
        u = (yb - outLo) * outInv;
        k = u | 0;
        if (k < 0) k = 0;
        else if (k > last) k = last;
        fr = u - k;
        if (fr < outTol || fr > outTop) {
          if (k > 0 && yb < outE[k]!) k--;
          else if (k < last && yb >= outE[k + 1]!) k++;
        }
        h[hBn + k]++;
        const dl = yl - kLn;
        s1 += dl;
        q1 += dl * dl;
        const dr = yr - kRms;
        s2 += dr;
        q2 += dr * dr;
        const db = yb - kBn;
        s3 += db;
        q3 += db * db;
      }
    } else {
      for (let f = 0; f < F; f++) {
        const x = v[q + f]!;
        if (x - x !== 0) continue;
        const yl = (x - m) * rs * w[f]! + b[f]!;
        const yr = x * rr * w[f]!;
        const yb = x * bnScale[f]! + bnOffset[f]!;
        // Bin = floor of the position u, checked against the edges (numpy's rule) only when u is
        // within rounding distance of a bin boundary or outside the range (see binGuessTolerance).
        let u = (x - inLo) * inInv;
        let k = u | 0;
        if (k < 0) k = 0;
        else if (k > last) k = last;
        let fr = u - k;
        if (fr < inTol || fr > inTop) {
          if (k > 0 && x < inE[k]!) k--;
          else if (k < last && x >= inE[k + 1]!) k++;
        }
        h[hIn + k]++;
        u = (yl - outLo) * outInv;
        k = u | 0;
        if (k < 0) k = 0;
        else if (k > last) k = last;
        fr = u - k;
        if (fr < outTol || fr > outTop) {
          if (k > 0 && yl < outE[k]!) k--;
          else if (k < last && yl >= outE[k + 1]!) k++;
        }
        h[hLn + k]++;
        u = (yr - outLo) * outInv;
        k = u | 0;
        if (k < 0) k = 0;
        else if (k > last) k = last;
        fr = u - k;
        if (fr < outTol || fr > outTop) {
          if (k > 0 && yr < outE[k]!) k--;
          else if (k < last && yr >= outE[k + 1]!) k++;
        }
        h[hRms + k]++;
        u = (yb - outLo) * outInv;
        k = u | 0;
        if (k < 0) k = 0;
        else if (k > last) k = last;
        fr = u - k;
        if (fr < outTol || fr > outTop) {
          if (k > 0 && yb < outE[k]!) k--;
          else if (k < last && yb >= outE[k + 1]!) k++;
        }
        h[hBn + k]++;
        const dl = yl - kLn;
        s1 += dl;
        q1 += dl * dl;
        const dr = yr - kRms;
        s2 += dr;
        q2 += dr * dr;
        const db = yb - kBn;
        s3 += db;
        q3 += db * db;
      }
    }
    const k = t - ts;
    p.layerNormSum[k] = s1;
    p.layerNormSq[k] = q1;
    p.rmsNormSum[k] = s2;
    p.rmsNormSq[k] = q2;
    p.batchNormSum[k] = s3;
    p.batchNormSq[k] = q3;
    if (out !== null && r !== null) replayToken(r, c, v, out, q, F, m, rs, rr, k, slot < plan.units, bins);
  }
}

/** Replay of one feature-last token against the recorded output `out` (elements q..q+F). */
function replayToken(r: ReplaySums, c: Pass2Context, v: DecodedValues, out: DecodedValues, q: number, F: number, m: number, rs: number, rr: number, k: number, valid: boolean, bins: number): void {
  const { weight: w, bias: b, invWeight: iw, bnScaleAll, bnOffsetAll, bnMeanAll } = c;
  const { batchNormA, batchNormB, recordedHistogram, errorHistograms } = r;
  const outE = c.outputEdges;
  const outLo = outE[0]!;
  const outHi = outE[bins]!;
  const outInv = bins / (outHi - outLo);
  const eRms = ERROR_BINS;
  const eBn = 2 * ERROR_BINS;
  let clamped = 0;
  const e = r.errors;
  let maxL = e[REPLAY_MAX_LN]!;
  let maxR = e[REPLAY_MAX_RMS]!;
  let maxB = e[REPLAY_MAX_BN]!;
  let maxO = e[REPLAY_MAX_ABS_OUTPUT]!;
  let sqL = 0;
  let sqR = 0;
  let sqB = 0;
  let sqO = 0;
  let compared = 0;
  let badOut = 0;
  let aL = 0;
  let bL = 0;
  let aR = 0;
  let bR = 0;
  for (let f = 0; f < F; f++) {
    const x = v[q + f]!;
    const o = out[q + f]!;
    if (o - o !== 0) {
      badOut++;
      continue;
    }
    if (valid) {
      recordedHistogram[binIndex(o, outLo, outInv, outE, bins)]++;
      if (o < outLo || o > outHi) clamped++;
    }
    if (x - x !== 0) continue;
    compared++;
    const wf = w[f]!;
    const el = Math.abs(o - ((x - m) * rs * wf + b[f]!));
    const er = Math.abs(o - x * rr * wf);
    const eb = Math.abs(o - (x * bnScaleAll[f]! + bnOffsetAll[f]!));
    errorHistograms[errorBin(el)]++;
    errorHistograms[eRms + errorBin(er)]++;
    errorHistograms[eBn + errorBin(eb)]++;
    if (el > maxL) maxL = el;
    if (er > maxR) maxR = er;
    if (eb > maxB) maxB = eb;
    sqL += el * el;
    sqR += er * er;
    sqB += eb * eb;
    const ao = Math.abs(o);
    if (ao > maxO) maxO = ao;
    sqO += o * o;
    const yp = (o - b[f]!) * iw[f]!;
    const ypr = o * iw[f]!;
    aL += (x - m) * yp;
    bL += yp * yp;
    aR += x * ypr;
    bR += ypr * ypr;
    batchNormA[f] += (x - bnMeanAll[f]!) * yp;
    batchNormB[f] += yp * yp;
  }
  e[REPLAY_MAX_LN] = maxL;
  e[REPLAY_MAX_RMS] = maxR;
  e[REPLAY_MAX_BN] = maxB;
  e[REPLAY_MAX_ABS_OUTPUT] = maxO;
  e[REPLAY_SQ_LN] += sqL;
  e[REPLAY_SQ_RMS] += sqR;
  e[REPLAY_SQ_BN] += sqB;
  e[REPLAY_SUM_SQ_OUTPUT] += sqO;
  e[REPLAY_COMPARED] += compared;
  e[REPLAY_NON_FINITE_OUTPUT] += badOut;
  e[REPLAY_RECORDED_CLAMPED] += clamped;
  r.layerNormA[k] = aL;
  r.layerNormB[k] = bL;
  r.rmsNormA[k] = aR;
  r.rmsNormB[k] = bR;
}

/**
 * Feature-last pass 2 of one tile on the WebAssembly kernel (float32 input, no affine): blocks of
 * all-finite tokens are copied into the kernel's memory and go through `pass2Plain`; other tokens
 * (and the replay) through the JavaScript code. Same results bit for bit.
 */
function pass2FeatureLastTileWasm(k: WasmKernels, p: Pass2Partial, plan: AnalysisPlan, c: Pass2Context, v: Float32Array, out: DecodedValues | null, tileStart: number, tokens: number): boolean {
  const F = plan.features;
  const bins = plan.bins;
  // Tokens copied into the kernel's memory at a time: about 256 KiB, so the kernel reads from cache.
  const block = Math.max(1, Math.min(tokens, Math.floor(65536 / F)));
  const { offsets, total } = layout([(bins + 1) * 8, (bins + 1) * 8, F * 8, F * 8, 8 * bins * 4, 3 * block * 8, 6 * block * 8, block * F * 4]);
  const [inE, outE, scale, off, hist, tok, sums, x] = offsets as [number, number, number, number, number, number, number, number];
  if (!k.reserve(total)) return false;
  const { f32, f64, i32 } = k;
  f64.set(c.inputEdges, inE / 8);
  f64.set(c.outputEdges, outE / 8);
  f64.set(c.bnScale, scale / 8);
  f64.set(c.bnOffset, off / 8);
  i32.fill(0, hist / 4, hist / 4 + 8 * bins);
  const inTol = binGuessTolerance(c.inputEdges, bins);
  const outTol = binGuessTolerance(c.outputEdges, bins);
  const allFinite = c.tokenAllFinite;
  const cs = c.tokenStart;
  const ts = p.tokenStart;
  const h = p.histograms;
  const r = p.replay;
  forEachTokenRun(plan, tileStart, tileStart + tokens, (a, b, unit, valid) => {
    const slot = valid ? unit : plan.units;
    let t = a;
    while (t < b) {
      if (allFinite[t - cs] !== 1) {
        pass2FeatureLastRun(p, plan, c, v, out, (t - tileStart) * F, t, t + 1, slot);
        t++;
        continue;
      }
      let e = t + 1;
      while (e < b && e - t < block && allFinite[e - cs] === 1) e++;
      const n = e - t;
      f32.set(v.subarray((t - tileStart) * F, (e - tileStart) * F), x / 4);
      f64.set(c.tokenMean.subarray(t - cs, e - cs), tok / 8);
      f64.set(c.tokenRstd.subarray(t - cs, e - cs), tok / 8 + n);
      f64.set(c.tokenRrms.subarray(t - cs, e - cs), tok / 8 + 2 * n);
      k.exports.pass2Plain(x, n, F, tok, scale, off, hist, sums, inE, outE, bins, inTol, outTol, c.layerNormShift, c.batchNormShift, c.weightMean);
      const s0 = sums / 8;
      const at = t - ts;
      p.layerNormSum.set(f64.subarray(s0, s0 + n), at);
      p.layerNormSq.set(f64.subarray(s0 + n, s0 + 2 * n), at);
      p.rmsNormSum.set(f64.subarray(s0 + 2 * n, s0 + 3 * n), at);
      p.rmsNormSq.set(f64.subarray(s0 + 3 * n, s0 + 4 * n), at);
      p.batchNormSum.set(f64.subarray(s0 + 4 * n, s0 + 5 * n), at);
      p.batchNormSq.set(f64.subarray(s0 + 5 * n, s0 + 6 * n), at);
      const h0 = slot * 4 * bins;
      const c0 = hist / 4;
      const c1 = c0 + 4 * bins;
      for (let i = 0; i < 4 * bins; i++) {
        h[h0 + i] += i32[c0 + i]! + i32[c1 + i]!;
        i32[c0 + i] = 0;
        i32[c1 + i] = 0;
      }
      if (out !== null && r !== null) {
        for (let u = t; u < e; u++) replayToken(r, c, v, out, (u - tileStart) * F, F, c.tokenMean[u - cs]!, c.tokenRstd[u - cs]!, c.tokenRrms[u - cs]!, u - ts, valid, bins);
      }
      t = e;
    }
  });
  return true;
}

/**
 * Channels-first pass-2 kernel over a tile of `rows` features × tokens o·inner + [i0, i1).
 * Per-token sums are added into the range arrays (a token's features span several tiles).
 */
function pass2ChannelsTile(p: Pass2Partial, plan: AnalysisPlan, c: Pass2Context, v: DecodedValues, out: DecodedValues | null, base: number, o: number, f0: number, rows: number, i0: number, i1: number): void {
  const bins = plan.bins;
  const L = i1 - i0;
  const t0 = o * plan.inner + i0;
  const h = p.histograms;
  const inE = c.inputEdges;
  const outE = c.outputEdges;
  const inLo = inE[0]!;
  const inInv = bins / (inE[bins]! - inLo);
  const outLo = outE[0]!;
  const outInv = bins / (outE[bins]! - outLo);
  const ts = p.tokenStart;
  const cs = c.tokenStart;
  const r = p.replay;
  const e = r?.errors;
  const runs: number[] = [];
  forEachTokenRun(plan, t0, t0 + L, (a, b, unit, valid) => runs.push(a - t0, b - t0, valid ? unit : plan.units));
  const outHi = outE[bins]!;
  for (let row = 0; row < rows; row++) {
    const f = f0 + row;
    const wf = c.weight[f]!;
    const bf = c.bias[f]!;
    const bs = c.bnScale[f]!;
    const bo = c.bnOffset[f]!;
    const rowBase = base + row * L;
    for (let j = 0; j < runs.length; j += 3) {
      const hIn = runs[j + 2]! * 4 * bins;
      const validRun = runs[j + 2]! < plan.units;
      for (let i = runs[j]!; i < runs[j + 1]!; i++) {
        const x = v[rowBase + i]!;
        if (x - x !== 0) continue;
        const t = t0 + i;
        const m = c.tokenMean[t - cs]!;
        const rs = c.tokenRstd[t - cs]!;
        const rr = c.tokenRrms[t - cs]!;
        const yl = (x - m) * rs * wf + bf;
        const yr = x * rr * wf;
        const yb = x * bs + bo;
        h[hIn + binIndex(x, inLo, inInv, inE, bins)]++;
        h[hIn + bins + binIndex(yl, outLo, outInv, outE, bins)]++;
        h[hIn + 2 * bins + binIndex(yr, outLo, outInv, outE, bins)]++;
        h[hIn + 3 * bins + binIndex(yb, outLo, outInv, outE, bins)]++;
        const k = t - ts;
        const dl = yl - c.layerNormShift;
        p.layerNormSum[k] += dl;
        p.layerNormSq[k] += dl * dl;
        const dr = yr - m * rr * c.weightMean;
        p.rmsNormSum[k] += dr;
        p.rmsNormSq[k] += dr * dr;
        const db = yb - c.batchNormShift;
        p.batchNormSum[k] += db;
        p.batchNormSq[k] += db * db;
        if (out !== null && r !== null && e !== undefined) {
          const ov = out[rowBase + i]!;
          if (ov - ov !== 0) {
            e[REPLAY_NON_FINITE_OUTPUT]++;
            continue;
          }
          if (validRun) {
            r.recordedHistogram[binIndex(ov, outLo, outInv, outE, bins)]++;
            if (ov < outLo || ov > outHi) e[REPLAY_RECORDED_CLAMPED]++;
          }
          const el = Math.abs(ov - yl);
          const er = Math.abs(ov - yr);
          const eb = Math.abs(ov - (x * c.bnScaleAll[f]! + c.bnOffsetAll[f]!));
          r.errorHistograms[errorBin(el)]++;
          r.errorHistograms[ERROR_BINS + errorBin(er)]++;
          r.errorHistograms[2 * ERROR_BINS + errorBin(eb)]++;
          if (el > e[REPLAY_MAX_LN]!) e[REPLAY_MAX_LN] = el;
          if (er > e[REPLAY_MAX_RMS]!) e[REPLAY_MAX_RMS] = er;
          if (eb > e[REPLAY_MAX_BN]!) e[REPLAY_MAX_BN] = eb;
          e[REPLAY_SQ_LN] += el * el;
          e[REPLAY_SQ_RMS] += er * er;
          e[REPLAY_SQ_BN] += eb * eb;
          if (Math.abs(ov) > e[REPLAY_MAX_ABS_OUTPUT]!) e[REPLAY_MAX_ABS_OUTPUT] = Math.abs(ov);
          e[REPLAY_SUM_SQ_OUTPUT] += ov * ov;
          e[REPLAY_COMPARED]++;
          const yp = (ov - bf) * c.invWeight[f]!;
          const ypr = ov * c.invWeight[f]!;
          r.layerNormA[k] += (x - m) * yp;
          r.layerNormB[k] += yp * yp;
          r.rmsNormA[k] += x * ypr;
          r.rmsNormB[k] += ypr * ypr;
          r.batchNormA[f] += (x - c.bnMeanAll[f]!) * yp;
          r.batchNormB[f] += yp * yp;
        }
      }
    }
  }
  // Recorded values where the input is non-finite were skipped above: count the non-finite ones, and
  // put the finite ones of valid tokens in the recorded histogram (as the feature-last kernel does).
  if (out !== null && e !== undefined && r !== null) {
    for (let row = 0; row < rows; row++) {
      const rowBase = base + row * L;
      for (let j = 0; j < runs.length; j += 3) {
        const validRun = runs[j + 2]! < plan.units;
        for (let i = runs[j]!; i < runs[j + 1]!; i++) {
          const x = v[rowBase + i]!;
          if (x - x === 0) continue;
          const ov = out[rowBase + i]!;
          if (ov - ov !== 0) e[REPLAY_NON_FINITE_OUTPUT]++;
          else if (validRun) {
            r.recordedHistogram[binIndex(ov, outLo, outInv, outE, bins)]++;
            if (ov < outLo || ov > outHi) e[REPLAY_RECORDED_CLAMPED]++;
          }
        }
      }
    }
  }
}

/** Runs pass 2 over `range` with the context derived from pass 1; memory bounded by two chunks. */
export async function runPass2(tensors: AnalysisTensors, plan: AnalysisPlan, context: Pass2Context, range: TokenRange, hooks: PassHooks = {}): Promise<Pass2Partial> {
  const output = tensors.output;
  const p = createPass2Partial(plan, range, output !== null);
  const tiles = planTiles(plan, range);
  const F = plan.features;
  const I = plan.inner;
  await forEachTile(
    tiles,
    (tile) => tensors.input.read(tile.offset, tile.count),
    output ? (tile) => output.read(tile.offset, tile.count) : null,
    hooks,
    (tile, values, out) => {
      const wasm = I === 1 && context.plain && values instanceof Float32Array ? wasmKernels() : null;
      if (wasm !== null && pass2FeatureLastTileWasm(wasm, p, plan, context, values as Float32Array, out, tile.tokenStart, tile.tokens)) {
        // Done on the WebAssembly kernel.
      } else if (I === 1) {
        forEachTokenRun(plan, tile.tokenStart, tile.tokenStart + tile.tokens, (a, b, unit, valid) => {
          pass2FeatureLastRun(p, plan, context, values, out, (a - tile.tokenStart) * F, a, b, valid ? unit : plan.units);
        });
      } else {
        for (let k = 0; k < tile.blocks; k++) {
          pass2ChannelsTile(p, plan, context, values, out, k * F * I, tile.o + k, tile.f0, tile.rows, tile.i0, tile.i1);
        }
      }
    },
  );
  return p;
}

/** Merges pass-2 partials of disjoint token ranges into one covering all tokens. */
export function mergePass2(plan: AnalysisPlan, parts: readonly Pass2Partial[]): Pass2Partial {
  const withReplay = parts.some((p) => p.replay !== null);
  const all = createPass2Partial(plan, { start: 0, end: plan.tokens }, withReplay);
  for (const p of parts) {
    const at = p.tokenStart;
    for (let i = 0; i < all.histograms.length; i++) all.histograms[i] += p.histograms[i]!;
    all.layerNormSum.set(p.layerNormSum, at);
    all.layerNormSq.set(p.layerNormSq, at);
    all.rmsNormSum.set(p.rmsNormSum, at);
    all.rmsNormSq.set(p.rmsNormSq, at);
    all.batchNormSum.set(p.batchNormSum, at);
    all.batchNormSq.set(p.batchNormSq, at);
    const r = p.replay;
    const a = all.replay;
    if (r && a) {
      a.layerNormA.set(r.layerNormA, at);
      a.layerNormB.set(r.layerNormB, at);
      a.rmsNormA.set(r.rmsNormA, at);
      a.rmsNormB.set(r.rmsNormB, at);
      for (let f = 0; f < plan.features; f++) {
        a.batchNormA[f] += r.batchNormA[f]!;
        a.batchNormB[f] += r.batchNormB[f]!;
      }
      const e = a.errors;
      for (const i of [REPLAY_MAX_LN, REPLAY_MAX_RMS, REPLAY_MAX_BN, REPLAY_MAX_ABS_OUTPUT]) e[i] = Math.max(e[i]!, r.errors[i]!);
      for (const i of [REPLAY_SQ_LN, REPLAY_SQ_RMS, REPLAY_SQ_BN, REPLAY_COMPARED, REPLAY_SUM_SQ_OUTPUT, REPLAY_NON_FINITE_OUTPUT, REPLAY_RECORDED_CLAMPED]) e[i] += r.errors[i]!;
      for (let i = 0; i < a.recordedHistogram.length; i++) a.recordedHistogram[i] += r.recordedHistogram[i]!;
      for (let i = 0; i < a.errorHistograms.length; i++) a.errorHistograms[i] += r.errorHistograms[i]!;
    }
  }
  return all;
}

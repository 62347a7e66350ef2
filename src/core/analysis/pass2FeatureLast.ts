import type { DecodedValues } from '../formats/types';
import { binGuessTolerance, binIndex, binNear } from './histogram';
import { layout, type WasmKernels } from './kernels/wasmKernelLoader';
import { BATCHNORM_RUNNING_SLOT } from './norms';
import type { Pass2Context } from './pass2Context';
import {
  ERROR_BINS,
  errorBin,
  REPLAY_COMPARED,
  REPLAY_MAX_ABS_OUTPUT,
  REPLAY_MAX_BN,
  REPLAY_MAX_LN,
  REPLAY_MAX_RMS,
  REPLAY_NON_FINITE_OUTPUT,
  REPLAY_RECORDED_CLAMPED,
  REPLAY_SQ_BN,
  REPLAY_SQ_LN,
  REPLAY_SQ_RMS,
  REPLAY_SUM_SQ_OUTPUT,
  replayMaxSlot,
  type Pass2Partial,
  type ReplaySums,
} from './pass2Partial';
import type { AnalysisPlan } from './plan';
import { forEachTokenRun } from './tiles';

// Pass 2 of the feature-last layout (inner = 1: a token's features are contiguous): the JavaScript
// kernel of a run of tokens, the replay of one token, and the WebAssembly tile (float32, no affine).

/**
 * Feature-last pass-2 kernel over the tokens [t0, t1) of a run (same unit and validity): normalized
 * values, histograms, per-token output sums and (with `out`) the replay sums. One pass, no allocation.
 */
export function pass2FeatureLastRun(p: Pass2Partial, plan: AnalysisPlan, c: Pass2Context, v: DecodedValues, out: DecodedValues | null, base: number, t0: number, t1: number, slot: number): void {
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
      // All values finite and no affine (weight 1, bias 0 give the same results): the LayerNorm and
      // RMSNorm output sums follow from the token's variance (plainNormSums); the BatchNorm sums
      // in the WebAssembly kernel's order: even and odd features of the first F & ~3 apart, then
      // both, then the rest.
      const Fl = F & ~3;
      let s0 = 0;
      let s1 = 0;
      let q0 = 0;
      let q1 = 0;
      for (let f = 0; f < Fl; f += 2) {
        const x0 = v[q + f]!;
        const x1 = v[q + f + 1]!;
        const yb0 = x0 * bnScale[f]! + bnOffset[f]!;
        const yb1 = x1 * bnScale[f + 1]! + bnOffset[f + 1]!;
        h[hIn + binNear(x0, inLo, inInv, inTol, inTop, inE, last)]++;
        h[hLn + binNear((x0 - m) * rs, outLo, outInv, outTol, outTop, outE, last)]++;
        h[hRms + binNear(x0 * rr, outLo, outInv, outTol, outTop, outE, last)]++;
        h[hBn + binNear(yb0, outLo, outInv, outTol, outTop, outE, last)]++;
        h[hIn + binNear(x1, inLo, inInv, inTol, inTop, inE, last)]++;
        h[hLn + binNear((x1 - m) * rs, outLo, outInv, outTol, outTop, outE, last)]++;
        h[hRms + binNear(x1 * rr, outLo, outInv, outTol, outTop, outE, last)]++;
        h[hBn + binNear(yb1, outLo, outInv, outTol, outTop, outE, last)]++;
        const d0 = yb0 - kBn;
        const d1 = yb1 - kBn;
        s0 += d0;
        q0 += d0 * d0;
        s1 += d1;
        q1 += d1 * d1;
      }
      s3 = s0 + s1;
      q3 = q0 + q1;
      for (let f = Fl; f < F; f++) {
        const x = v[q + f]!;
        const yb = x * bnScale[f]! + bnOffset[f]!;
        h[hIn + binNear(x, inLo, inInv, inTol, inTop, inE, last)]++;
        h[hLn + binNear((x - m) * rs, outLo, outInv, outTol, outTop, outE, last)]++;
        h[hRms + binNear(x * rr, outLo, outInv, outTol, outTop, outE, last)]++;
        h[hBn + binNear(yb, outLo, outInv, outTol, outTop, outE, last)]++;
        const d = yb - kBn;
        s3 += d;
        q3 += d * d;
      }
      plainNormSums(p, t - ts, F * c.tokenVar[t - cs]!, rs, rr);
      p.batchNormSum[t - ts] = s3;
      p.batchNormSq[t - ts] = q3;
      if (out !== null && r !== null) replayToken(r, c, v, out, q, F, m, rs, rr, t - ts, slot < plan.units, bins);
      continue;
    } else {
      for (let f = 0; f < F; f++) {
        const x = v[q + f]!;
        if (x - x !== 0) continue;
        const yl = (x - m) * rs * w[f]! + b[f]!;
        const yr = x * rr * w[f]!;
        const yb = x * bnScale[f]! + bnOffset[f]!;
        h[hIn + binNear(x, inLo, inInv, inTol, inTop, inE, last)]++;
        h[hLn + binNear(yl, outLo, outInv, outTol, outTop, outE, last)]++;
        h[hRms + binNear(yr, outLo, outInv, outTol, outTop, outE, last)]++;
        h[hBn + binNear(yb, outLo, outInv, outTol, outTop, outE, last)]++;
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

/**
 * Per-token LayerNorm and RMSNorm output sums of an all-finite token without affine, from its
 * pass-1 moments instead of summing F outputs: y = (x − mean)·rstd and y = x·rrms, shifted by
 * their means (0 and mean·rrms), give Σ(y−K) = 0 and Σ(y−K)² = M2·rstd², M2·rrms² (M2 = F·var).
 */
function plainNormSums(p: Pass2Partial, k: number, m2: number, rs: number, rr: number): void {
  p.layerNormSum[k] = 0;
  p.layerNormSq[k] = m2 * rs * rs;
  p.rmsNormSum[k] = 0;
  p.rmsNormSq[k] = m2 * rr * rr;
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
  if (c.bnRunning !== null) replayRunningToken(r, c, c.bnRunning, v, out, q, F);
}

/** Eval-mode BatchNorm (running stats) of one feature-last token against the recorded output. */
function replayRunningToken(r: ReplaySums, c: Pass2Context, run: NonNullable<Pass2Context['bnRunning']>, v: DecodedValues, out: DecodedValues, q: number, F: number): void {
  const { bias: b, invWeight: iw } = c;
  const { scale, offset, mean } = run;
  const { batchNormRunningA, batchNormRunningB, errorHistograms } = r;
  const e = r.errors;
  const maxSlot = replayMaxSlot(BATCHNORM_RUNNING_SLOT);
  const eh = BATCHNORM_RUNNING_SLOT * ERROR_BINS;
  let mx = e[maxSlot]!;
  let sq = 0;
  for (let f = 0; f < F; f++) {
    const x = v[q + f]!;
    const o = out[q + f]!;
    if (o - o !== 0 || x - x !== 0) continue;
    const err = Math.abs(o - (x * scale[f]! + offset[f]!));
    errorHistograms[eh + errorBin(err)]++;
    if (err > mx) mx = err;
    sq += err * err;
    const yp = (o - b[f]!) * iw[f]!;
    batchNormRunningA[f] += (x - mean[f]!) * yp;
    batchNormRunningB[f] += yp * yp;
  }
  e[maxSlot] = mx;
  e[maxSlot + 1] += sq;
}

/**
 * Feature-last pass 2 of one tile on the WebAssembly kernel (float32 input, no affine): blocks of
 * all-finite tokens are copied into the kernel's memory and go through `pass2Plain`; other tokens
 * (and the replay) through the JavaScript code. Same results bit for bit.
 */
export function pass2FeatureLastTileWasm(k: WasmKernels, p: Pass2Partial, plan: AnalysisPlan, c: Pass2Context, v: Float32Array, out: DecodedValues | null, tileStart: number, tokens: number): boolean {
  const F = plan.features;
  const bins = plan.bins;
  // Tokens copied into the kernel's memory at a time: about 256 KiB, so the kernel reads from cache.
  const block = Math.max(1, Math.min(tokens, Math.floor(65536 / F)));
  const { offsets, total } = pass2WasmLayout(F, bins, block);
  const [inE, outE, scale, off, hist, joint, consts, tok, sums, copy] = offsets as [number, number, number, number, number, number, number, number, number, number];
  if (!k.reserve(total)) return false;
  const { f32, f64, i32 } = k;
  // Values read into the kernels' memory (kernelReads) are used in place; others are copied in by blocks.
  const direct = v.buffer === k.exports.memory.buffer;
  f64.set(c.inputEdges, inE / 8);
  f64.set(c.outputEdges, outE / 8);
  f64.set(c.bnScale, scale / 8);
  f64.set(c.bnOffset, off / 8);
  i32.fill(0, hist / 4, hist / 4 + 4 * bins);
  i32.fill(0, joint / 4, joint / 4 + 2 * JOINT_CELLS);
  const inTol = binGuessTolerance(c.inputEdges, bins);
  const outTol = binGuessTolerance(c.outputEdges, bins);
  // Largest |x| (the input edges span the valid values): bounds the float32 guesses' rounding.
  const X = Math.max(Math.abs(c.inputEdges[0]!), Math.abs(c.inputEdges[bins]!));
  const guess = k.exports.pass2PlainSetup(F, scale, off, inE, outE, bins, inTol, outTol, X, consts);
  const allFinite = c.tokenAllFinite;
  const cs = c.tokenStart;
  const ts = p.tokenStart;
  const h = p.histograms;
  const r = p.replay;
  // The kernel's counts (histograms and joint tables) go to the slot's histograms at the end of
  // each run, and before 2^30 values so no int32 count overflows.
  let pending = 0;
  const flush = (slot: number): void => {
    const h0 = slot * 4 * bins;
    const c0 = hist / 4;
    for (let i = 0; i < 4 * bins; i++) {
      h[h0 + i] += i32[c0 + i]!;
      i32[c0 + i] = 0;
    }
    if (bins <= JOINT_BINS) {
      // Joint tables (k1·64 + k2): input × BatchNorm, LayerNorm × RMSNorm.
      for (const [j0, a, b] of [[joint / 4, h0, h0 + 3 * bins], [joint / 4 + JOINT_CELLS, h0 + bins, h0 + 2 * bins]] as const) {
        for (let k1 = 0; k1 < bins; k1++) {
          const row = j0 + k1 * JOINT_BINS;
          let sum = 0;
          for (let k2 = 0; k2 < bins; k2++) {
            const n = i32[row + k2]!;
            if (n === 0) continue;
            sum += n;
            h[b + k2] += n;
            i32[row + k2] = 0;
          }
          h[a + k1] += sum;
        }
      }
    }
    pending = 0;
  };
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
      if (pending + n * F > 1 << 30) flush(slot);
      let x = copy;
      if (direct) x = v.byteOffset + (t - tileStart) * F * 4;
      else f32.set(v.subarray((t - tileStart) * F, (e - tileStart) * F), copy / 4);
      f64.set(c.tokenMean.subarray(t - cs, e - cs), tok / 8);
      f64.set(c.tokenRstd.subarray(t - cs, e - cs), tok / 8 + n);
      f64.set(c.tokenRrms.subarray(t - cs, e - cs), tok / 8 + 2 * n);
      k.exports.pass2Plain(x, n, F, tok, scale, off, hist, joint, sums, inE, outE, bins, inTol, outTol, c.batchNormShift, X, consts, guess);
      pending += n * F;
      const s0 = sums / 8;
      const at = t - ts;
      p.batchNormSum.set(f64.subarray(s0, s0 + n), at);
      p.batchNormSq.set(f64.subarray(s0 + n, s0 + 2 * n), at);
      for (let u = t; u < e; u++) plainNormSums(p, u - ts, F * c.tokenVar[u - cs]!, c.tokenRstd[u - cs]!, c.tokenRrms[u - cs]!);
      if (out !== null && r !== null) {
        for (let u = t; u < e; u++) replayToken(r, c, v, out, (u - tileStart) * F, F, c.tokenMean[u - cs]!, c.tokenRstd[u - cs]!, c.tokenRrms[u - cs]!, u - ts, valid, bins);
      }
      t = e;
    }
    if (pending > 0) flush(slot);
  });
  return true;
}

/**
 * Kernel memory of pass2FeatureLastTileWasm with `block` tokens at a time: edges, BatchNorm scale and
 * offset, histograms, joint tables, guess constants, per-token inputs and sums, the block copy.
 */
function pass2WasmLayout(F: number, bins: number, block: number): { offsets: number[]; total: number } {
  return layout([(bins + 1) * 8, (bins + 1) * 8, F * 8, F * 8, 4 * bins * 4, 2 * JOINT_CELLS * 4, (3 * F + 3) * 4, 3 * block * 8, 2 * block * 8, block * F * 4]);
}

/** The most kernel memory pass2FeatureLastTileWasm takes for the plan (kernelReads puts its slots after it). */
export function pass2WasmScratch(plan: AnalysisPlan): number {
  return pass2WasmLayout(plan.features, plan.bins, Math.max(1, Math.floor(65536 / plan.features))).total;
}

/** The WebAssembly kernel's joint tables: 64 × 64 cells (bins ≤ 64). */
const JOINT_BINS = 64;
const JOINT_CELLS = JOINT_BINS * JOINT_BINS;

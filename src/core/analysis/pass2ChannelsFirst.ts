import type { DecodedValues } from '../formats/types';
import { binGuessTolerance, binIndex, binNear } from './histogram';
import type { Pass2Context, SampleChannelContext } from './pass2Context';
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
  type Pass2Partial,
} from './pass2Partial';
import type { AnalysisPlan } from './plan';
import { forEachTokenRun } from './tiles';

// Pass 2 of the channels-first layout (inner > 1: tiles of feature rows, each row one channel over a
// run of positions): LayerNorm / RMSNorm / BatchNorm and their replay per element, then the
// per-(sample, channel) norms row by row; and the bounded GroupNorm G fit.

/**
 * Channels-first pass-2 kernel over a tile of `rows` features × tokens o·inner + [i0, i1).
 * Per-token sums are added into the range arrays (a token's features span several tiles).
 */
export function pass2ChannelsTile(p: Pass2Partial, plan: AnalysisPlan, c: Pass2Context, v: DecodedValues, out: DecodedValues | null, base: number, o: number, f0: number, rows: number, i0: number, i1: number): void {
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
  const last = bins - 1;
  const inTol = binGuessTolerance(inE, bins);
  const inTop = 1 - inTol;
  const outTol = binGuessTolerance(outE, bins);
  const outTop = 1 - outTol;
  const sc = c.sampleChannel;
  const scTol = sc !== null ? binGuessTolerance(sc.edges, bins) : 0.5;
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
        h[hIn + binNear(x, inLo, inInv, inTol, inTop, inE, last)]++;
        h[hIn + bins + binNear(yl, outLo, outInv, outTol, outTop, outE, last)]++;
        h[hIn + 2 * bins + binNear(yr, outLo, outInv, outTol, outTop, outE, last)]++;
        h[hIn + 3 * bins + binNear(yb, outLo, outInv, outTol, outTop, outE, last)]++;
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
    if (sc !== null) sampleChannelRow(p, plan, c, sc, scTol, v, out, rowBase, o, f, runs);
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


/**
 * The per-(sample, channel) norms (GroupNorm, InstanceNorm) on one row of a channels-first tile:
 * sample o, channel f, so scale and offset are constants of the row. A second sweep over the row
 * (still in cache) per norm bins the outputs of valid tokens on the shared sample-channel edges and,
 * with a recorded output, adds the replay errors and the eps-fit sums.
 */
function sampleChannelRow(p: Pass2Partial, plan: AnalysisPlan, c: Pass2Context, sc: SampleChannelContext, tol: number, v: DecodedValues, out: DecodedValues | null, rowBase: number, o: number, f: number, runs: readonly number[]): void {
  const bins = plan.bins;
  const last = bins - 1;
  const top = 1 - tol;
  const F = plan.features;
  const N = plan.units;
  const E = sc.edges;
  const lo = E[0]!;
  const inv = bins / (E[bins]! - lo);
  const cell = o * F + f;
  const r = out !== null ? p.replay : null;
  const bf = c.bias[f]!;
  const iwf = c.invWeight[f]!;
  const hist = p.sampleChannelHistograms;
  if (out !== null && r !== null) {
    // The recorded output of valid tokens on the same edges, to overlay GroupNorm / InstanceNorm.
    const rh = r.recordedSampleChannelHistogram;
    for (let k = 0; k < runs.length; k += 3) {
      if (runs[k + 2]! >= plan.units) continue;
      for (let i = runs[k]!; i < runs[k + 1]!; i++) {
        const ov = out[rowBase + i]!;
        if (ov - ov === 0) rh[binNear(ov, lo, inv, tol, top, E, last)]++;
      }
    }
  }
  for (let j = 0; j < sc.norms.length; j++) {
    const norm = sc.norms[j]!;
    const s = norm.scale[cell]!;
    const of = norm.offset[cell]!;
    const centre = norm.centre[cell]!;
    const h0 = j * bins;
    if (out === null || r === null) {
      for (let k = 0; k < runs.length; k += 3) {
        if (runs[k + 2]! >= plan.units) continue;
        for (let i = runs[k]!; i < runs[k + 1]!; i++) {
          const x = v[rowBase + i]!;
          if (x - x !== 0) continue;
          hist[h0 + binNear(x * s + of, lo, inv, tol, top, E, last)]++;
        }
      }
      continue;
    }
    const e = r.errors;
    const maxSlot = 2 * norm.slot;
    const eh = norm.slot * ERROR_BINS;
    const errorHistograms = r.errorHistograms;
    let mx = e[maxSlot]!;
    let sq = 0;
    let a = 0;
    let b = 0;
    for (let k = 0; k < runs.length; k += 3) {
      const validRun = runs[k + 2]! < plan.units;
      for (let i = runs[k]!; i < runs[k + 1]!; i++) {
        const x = v[rowBase + i]!;
        if (x - x !== 0) continue;
        const y = x * s + of;
        if (validRun) hist[h0 + binNear(y, lo, inv, tol, top, E, last)]++;
        const ov = out[rowBase + i]!;
        if (ov - ov !== 0) continue;
        const err = Math.abs(ov - y);
        errorHistograms[eh + errorBin(err)]++;
        if (err > mx) mx = err;
        sq += err * err;
        const yp = (ov - bf) * iwf;
        a += (x - centre) * yp;
        b += yp * yp;
      }
    }
    e[maxSlot] = mx;
    e[maxSlot + 1] += sq;
    const at = (j * N + o) * F + f;
    r.sampleChannelA[at] += a;
    r.sampleChannelB[at] += b;
  }
}

/**
 * The bounded GroupNorm G fit on a channels-first tile of sample 0: for each candidate G, the squared
 * error of y = x·scale + offset (exact pass-1 statistics of that G) against the recorded output.
 */
export function groupFitTile(p: Pass2Partial, plan: AnalysisPlan, c: Pass2Context, v: DecodedValues, out: DecodedValues, base: number, o: number, f0: number, rows: number, i0: number, i1: number): void {
  const fit = c.groupFit;
  const sums = p.groupFit;
  if (fit === null || sums === null || o !== 0) return;
  const F = plan.features;
  const L = i1 - i0;
  const K = fit.candidates.length;
  for (let row = 0; row < rows; row++) {
    const f = f0 + row;
    const rowBase = base + row * L;
    let n = 0;
    for (let i = 0; i < L; i++) {
      const x = v[rowBase + i]!;
      const ov = out[rowBase + i]!;
      if (x - x === 0 && ov - ov === 0) n++;
    }
    sums[K] += n;
    for (let k = 0; k < K; k++) {
      const s = fit.scale[k * F + f]!;
      const of = fit.offset[k * F + f]!;
      let sq = 0;
      for (let i = 0; i < L; i++) {
        const x = v[rowBase + i]!;
        const ov = out[rowBase + i]!;
        if (x - x !== 0 || ov - ov !== 0) continue;
        const d = ov - (x * s + of);
        sq += d * d;
      }
      sums[k] += sq;
    }
  }
}

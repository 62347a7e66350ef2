import type { AnalysisReport, BatchNormFeatureStats, ReducedSeries, SubBatchResult } from '../report/analysisReport';
import type { AnalysisRunHooks, PassExecutor } from './analyze';
import { computeSubBatches } from './batchDependence';
import { buildPass1Sections, buildReport, type SampleChannelReportInput } from './buildReport';
import { createTokenMoments, FeatureBlockReducer, featureBlockPlan, featureBlocks, mergeTokenMoments, REDUCED_FEATURE_TOP_K, type FeatureBlock } from './featureBlocks';
import { uniformEdges } from './histogram';
import { mergePass1Adopting, type Pass1Partial } from './pass1';
import { createPass2Partial, mergePass2, mergePass2Into, type Pass2Partial } from './pass2';
import { buildSharedPass2Context, emptyNormalizedBounds, pass2ContextFor, widenNormalizedBounds, type SharedPass2Context } from './pass2Context';
import type { AnalysisPlan } from './plan';
import { FitAccumulator } from './replay';
import { batchNormStatistics, computePass1Statistics, inverseRoot, type BatchNormStats, type Pass1Statistics } from './statistics';
import { splitTokens, throwIfCancelled } from './tiles';
import type { FeatureFindings } from './warnings';
import { formatCount } from '../count';

// The feature-block path: inputs with more features than plan.maxFeatureSeries (tokens within
// maxTokenSeries, input read in any order). Per-feature arrays are never held for all features:
//  1. pass 1 runs block by block (plans of the virtual sub-tensor x[..., f0:f1, ...], read through
//     resolvePlanTensors, so worker threads run them unchanged): per-token moments Chan-merged across
//     blocks (exact), per-feature statistics folded into reduced series (FeatureBlockReducer), the
//     input range and BatchNorm output range, and the per-feature checks (padding, running stats,
//     small batch, sub-batches, outlier features) summarized block by block;
//  2. the histogram edges follow from (1) exactly as in the unblocked path (the LayerNorm/RMSNorm
//     bounds from each token's min/max and final mean/rstd, the BatchNorm range per block);
//  3. pass 2 runs block by block: the block's pass 1 again (one extra read) for its per-feature
//     BatchNorm scales, then pass 2 on the block with the final per-token statistics; histograms,
//     per-token output sums and replay sums add up across blocks.
// Exact: global statistics, per-token statistics, every histogram (same edges), per-token output
// moments, replay errors and LayerNorm/RMSNorm fits, the BatchNorm fit's residual, the reduced
// per-feature series (same buckets as downsampleSeries), the checks (the outlier median exactly,
// via a bin count in pass 1 and a selection in pass 2). Reduced or absent: the per-feature arrays (empty,
// `reduced` says so), the BatchNorm fitted eps (median over the first maxFeatureSeries features),
// the sub-batch medianVarRatio (NaN), GroupNorm / InstanceNorm (absent, with the reason).

/** Per-(unit, feature) cells of one block's pass-1 partial (16 MiB of moments per partial). */
const FEATURE_BLOCK_CELLS = 1 << 16;
/** Features listed in the padding summary (as the unblocked `worstFeatures`). */
const WORST_FEATURES = 16;
/** Features listed in the running-stats and outlier warnings. */
const FEATURE_LIST_LIMIT = 256;

/** True when the analysis takes the feature-block path (see above). */
export function usesFeatureBlocks(plan: AnalysisPlan): boolean {
  return plan.featureBlock === undefined && plan.features > plan.maxFeatureSeries && plan.tokens <= plan.maxTokenSeries && plan.randomAccess;
}

/** Features per block: at most maxFeatureSeries, and at most FEATURE_BLOCK_CELLS cells per partial. */
export function featureBlockFeatures(plan: AnalysisPlan): number {
  return Math.max(1, Math.min(plan.maxFeatureSeries, Math.floor(FEATURE_BLOCK_CELLS / Math.max(1, plan.units))));
}

const fmtCount = formatCount;

function reducedHow(plan: AnalysisPlan, points: number, bucketSize: number): string {
  return `${fmtCount(plan.features)} features are more than the per-feature cap of ${fmtCount(plan.maxFeatureSeries)} (maxFeatureSeries): the per-feature arrays are left out; series show ${fmtCount(points)} min/mean/max buckets of ${fmtCount(bucketSize)} features; summaries are exact (with the features of min and max), top lists the ${REDUCED_FEATURE_TOP_K} largest features by std, max |x| and RMS; padding and running-stats checks are exact (worst features listed); sub-batch shifts are exact except medianVarRatio (not computed: NaN); the BatchNorm fitted eps is the median over the first ${fmtCount(plan.maxFeatureSeries)} features; GroupNorm/InstanceNorm are not computed.`;
}

/** The k largest (value, feature) pairs, ties to the lower feature (as a stable sort by value). */
class WorstK {
  readonly items: { f: number; v: number }[] = [];
  constructor(private readonly k: number) {}
  add(f: number, v: number): void {
    const it = this.items;
    if (it.length === this.k && !(v > it[it.length - 1]!.v)) return;
    let i = it.length;
    while (i > 0 && v > it[i - 1]!.v) i--;
    it.splice(i, 0, { f, v });
    if (it.length > this.k) it.pop();
  }
}

// The exact median feature RMS in two looks: pass 1 counts the RMS values in 2^20 bins keyed by the top
// 20 bits of their float64 representation (monotone for values ≥ 0: sign, exponent, 8 mantissa bits,
// so a bin spans a relative width of 1/256), which finds the bin of the median rank; pass 2 keeps the
// exact values of that bin and selects in them.
const RMS_KEY_BITS = 20;
const MEDIAN_BIN_VALUES = 1 << 22;
const keyScratch = new Float64Array(1);
const keyWords = new Uint32Array(keyScratch.buffer);
/** Which word of a float64 holds its sign and exponent (1 on little-endian machines). */
const HIGH = (() => {
  keyScratch[0] = 2;
  return keyWords[1] === 0x40000000 ? 1 : 0;
})();
function rmsKey(r: number): number {
  keyScratch[0] = r;
  return keyWords[HIGH]! >>> (32 - RMS_KEY_BITS);
}
/** The smallest value of the bin `key`. */
function keyLowerBound(key: number): number {
  keyWords[HIGH] = key << (32 - RMS_KEY_BITS);
  keyWords[1 - HIGH] = 0;
  return keyScratch[0]!;
}

/** Runs pass 1 of one block on the executor and merges its ranges. */
async function blockPass1(plan: AnalysisPlan, block: FeatureBlock, executor: PassExecutor, onElements: (n: number) => void): Promise<{ sub: AnalysisPlan; p: Pass1Partial; bs: BatchNormStats }> {
  const sub = featureBlockPlan(plan, block);
  const ranges = splitTokens(sub, executor.parallelism);
  // Once per block: JavaScript (optimized after the first blocks) rather than staged copies.
  const p = mergePass1Adopting(sub, await executor.runPass1(sub, ranges, onElements), undefined, false);
  return { sub, p, bs: batchNormStatistics(sub, p, false) };
}

/** executeAnalysis for inputs with more features than plan.maxFeatureSeries (see the comment above). */
export async function executeFeatureBlocks(plan: AnalysisPlan, executor: PassExecutor, source: { description: string; format: string }, hooks: AnalysisRunHooks = {}): Promise<AnalysisReport> {
  const started = Date.now();
  const T = plan.tokens;
  const F = plan.features;
  const eps = plan.eps;
  const th = plan.thresholds;
  const mask = plan.mask;
  const total = T * F * (plan.outputName !== null ? 4 : 3);
  let done = 0;
  const onElements = (n: number): void => {
    done += n;
    hooks.onProgress?.(Math.min(1, done / total));
  };
  const blocks = featureBlocks(plan, featureBlockFeatures(plan));

  // Pass 1, block by block.
  const tm = createTokenMoments(T);
  const reducer = new FeatureBlockReducer(F, plan.maxSeriesPoints);
  // BatchNorm over all tokens (padding included), as `unmasked` reports it with a mask.
  const reducerAll = mask ? new FeatureBlockReducer(F, plan.maxSeriesPoints) : null;
  let inLo = Infinity;
  let inHi = -Infinity;
  let bnLo = Infinity;
  let bnHi = -Infinity;
  let minCount = Infinity;
  let maxMeanShift = 0;
  let maxVarChange = 0;
  const worstPadding = new WorstK(WORST_FEATURES);
  const running = { features: [] as number[], count: 0, maxMeanShift: -Infinity };
  const runningWorst = new WorstK(WORST_FEATURES);
  // Sub-batch shifts: per size, weighted squares and counts (rmsShift), maxima, fewest values.
  let subSizes: SubBatchResult[] | null = null;
  let subSq: number[] = [];
  let subCounted: number[] = [];
  // Per-feature RMS counted by bins (the exact median is selected in pass 2).
  const rmsBins = new Uint32Array(1 << RMS_KEY_BITS);
  let rmsCount = 0;
  for (const block of blocks) {
    const { sub, p, bs } = await blockPass1(plan, block, executor, onElements);
    throwIfCancelled(hooks.cancellation);
    mergeTokenMoments(tm, p);
    reducer.addMoments(block, bs.valid);
    reducerAll?.addMoments(block, bs.all);
    const B = block.f1 - block.f0;
    const v = bs.valid;
    for (let j = 0; j < B; j++) {
      const f = block.f0 + j;
      const n = v.count[j]!;
      if (n < minCount) minCount = n;
      if (v.min[j]! < inLo) inLo = v.min[j]!;
      if (v.max[j]! > inHi) inHi = v.max[j]!;
      if (n > 0) {
        // BatchNorm's output range, with the scale and offset of buildSharedPass2Context.
        const w = plan.weight ? plan.weight[f]! : 1;
        const r = inverseRoot(v.m2[j]! / n + eps);
        const scale = r * w;
        const offset = (plan.bias ? plan.bias[f]! : 0) - v.mean[j]! * r * w;
        const y0 = v.min[j]! * scale + offset;
        const y1 = v.max[j]! * scale + offset;
        if (y0 - y0 === 0) {
          if (y0 < bnLo) bnLo = y0;
          if (y0 > bnHi) bnHi = y0;
        }
        if (y1 - y1 === 0) {
          if (y1 < bnLo) bnLo = y1;
          if (y1 > bnHi) bnHi = y1;
        }
        rmsBins[rmsKey(Math.sqrt(v.m2[j]! / n + v.mean[j]! * v.mean[j]!))]!++;
        rmsCount++;
      }
      const varV = n > 0 ? v.m2[j]! / n : NaN;
      if (mask) {
        const a = bs.all;
        const na = a.count[j]!;
        const meanV = n > 0 ? v.mean[j]! : NaN;
        const meanA = na > 0 ? a.mean[j]! : NaN;
        const varA = na > 0 ? a.m2[j]! / na : NaN;
        const sd = Math.sqrt(varV + eps);
        const shift = sd > 0 ? Math.abs(meanV - meanA) / sd : NaN;
        const ratio = varV > 0 ? varA / varV : NaN;
        if (shift > maxMeanShift) maxMeanShift = shift;
        if (Number.isFinite(ratio)) maxVarChange = Math.max(maxVarChange, Math.abs(ratio - 1));
        worstPadding.add(f, Number.isFinite(shift) ? shift : -1);
      }
      if (plan.runningMean && plan.runningVar) {
        const a = bs.all;
        const na = a.count[j]!;
        const meanA = na > 0 ? a.mean[j]! : NaN;
        const varA = na > 0 ? a.m2[j]! / na : NaN;
        const varU = na > 1 ? a.m2[j]! / (na - 1) : NaN;
        const sd = Math.sqrt(varA + eps);
        const shift = Math.abs(plan.runningMean[f]! - meanA) / sd;
        const ratio = varU > 0 ? plan.runningVar[f]! / varU : NaN;
        if (shift > th.runningMeanShift || !(ratio <= th.runningVarRatio && ratio >= 1 / th.runningVarRatio)) {
          running.count++;
          if (running.features.length < FEATURE_LIST_LIMIT) running.features.push(f);
        }
        if (Number.isFinite(shift) && shift > running.maxMeanShift) running.maxMeanShift = shift;
        runningWorst.add(f, Number.isFinite(shift) ? shift : -1);
      }
    }
    // Sub-batches of this block: exact per block; rmsShift merges through its weighted squares.
    const subs = computeSubBatches(sub, p, v, false);
    const U = plan.units;
    if (subSizes === null) {
      subSizes = subs.map((s) => ({ ...s, minCount: Infinity, rmsShift: 0, maxShift: 0, maxMeanDeviation: 0, medianVarRatio: NaN }));
      subSq = subs.map(() => 0);
      subCounted = subs.map(() => 0);
    }
    subs.forEach((s, k) => {
      const g = k === subs.length - 1 ? U : 2 ** k;
      const units = Math.floor(U / g) * g;
      let counted = 0;
      for (let c = 0; c < units * B; c++) counted += p.validCount[c]!;
      const acc = subSizes![k]!;
      subSq[k] = subSq[k]! + s.rmsShift * s.rmsShift * counted;
      subCounted[k] = subCounted[k]! + counted;
      if (s.minCount > 0 && s.minCount < acc.minCount) acc.minCount = s.minCount;
      if (s.maxShift > acc.maxShift) acc.maxShift = s.maxShift;
      if (s.maxMeanDeviation > acc.maxMeanDeviation) acc.maxMeanDeviation = s.maxMeanDeviation;
    });
  }
  const subBatches: SubBatchResult[] = (subSizes ?? []).map((s, k) => ({
    ...s,
    minCount: Number.isFinite(s.minCount) ? s.minCount : 0,
    rmsShift: subCounted[k]! > 0 ? Math.sqrt(subSq[k]! / subCounted[k]!) : 0,
  }));

  // The whole-input pass-1 view: per-token moments, no per-feature cells.
  const empty = new Float64Array(0);
  const p1: Pass1Partial = {
    tokenStart: 0,
    tokenEnd: T,
    tokenCount: tm.tokenCount,
    tokenMean: tm.tokenMean,
    tokenM2: tm.tokenM2,
    tokenSumSq: tm.tokenSumSq,
    tokenMin: tm.tokenMin,
    tokenMax: tm.tokenMax,
    validCount: empty,
    validMean: empty,
    validM2: empty,
    validMin: empty,
    validMax: empty,
    paddingCount: empty,
    paddingMean: empty,
    paddingM2: empty,
    nan: tm.nan,
    posInf: tm.posInf,
    negInf: tm.negInf,
  };
  const noFeatures: AnalysisPlan = { ...plan, features: 0, weight: null, bias: null, runningMean: null, runningVar: null };
  const s0 = computePass1Statistics(noFeatures, p1);
  const stats: Pass1Statistics = { ...s0, global: { ...s0.global, count: T * F } };

  // The edges, as buildSharedPass2Context computes them over all features.
  const bounds = emptyNormalizedBounds();
  widenNormalizedBounds(bounds, plan, stats, p1);
  let outLo = bnLo;
  let outHi = bnHi;
  const widen = (y: number): void => {
    if (y - y !== 0) return;
    if (y < outLo) outLo = y;
    if (y > outHi) outHi = y;
  };
  let weightSum = 0;
  let biasSum = 0;
  for (let f = 0; f < F; f++) {
    const w = plan.weight ? plan.weight[f]! : 1;
    const b = plan.bias ? plan.bias[f]! : 0;
    weightSum += w;
    biasSum += b;
    if (bounds.zLo <= bounds.zHi) {
      widen(bounds.zLo * w + b);
      widen(bounds.zHi * w + b);
    }
    if (bounds.uLo <= bounds.uHi) {
      widen(bounds.uLo * w);
      widen(bounds.uHi * w);
    }
  }
  const pad = (Math.max(Math.abs(outLo), Math.abs(outHi)) || 1) * 1e-12;
  const inputEdges = uniformEdges(inLo, inHi, plan.bins);
  const outputEdges = uniformEdges(outLo - pad, outHi + pad, plan.bins);
  const edges = { inputEdges, outputEdges, layerNormShift: biasSum / F, batchNormShift: biasSum / F, weightMean: weightSum / F };

  // The bins of the median ranks and the values below them.
  const medianRanks = rmsCount > 0 ? (rmsCount % 2 === 1 ? [(rmsCount - 1) / 2] : [rmsCount / 2 - 1, rmsCount / 2]) : [];
  const medianBins: number[] = [];
  const below: number[] = [];
  {
    let seen = 0;
    let i = 0;
    for (let key = 0; key < rmsBins.length && i < medianRanks.length; key++) {
      const c = rmsBins[key]!;
      while (i < medianRanks.length && medianRanks[i]! < seen + c) {
        medianBins.push(key);
        below.push(seen);
        i++;
      }
      seen += c;
    }
  }
  const ties: number[][] = medianBins.map(() => []);
  let medianOverflow = false;
  // Outlier candidates (max |x| per feature) kept until the median is known: it is at least the lower
  // end of its bin, so only features above factor × that are kept.
  const lower = medianBins.length > 0 ? keyLowerBound(medianBins[0]!) : Infinity;
  const outlierCandidates: { f: number; v: number }[] = [];
  let outlierCandidatesDropped = false;

  // Pass 2, block by block.
  const plain = plan.weight === null && plan.bias === null;
  const withReplay = plan.outputName !== null;
  const acc = createPass2Partial(noFeatures, { start: 0, end: 0 }, withReplay);
  const sums = { ln: new Float64Array(T), lnSq: new Float64Array(T), rms: new Float64Array(T), rmsSq: new Float64Array(T), bn: new Float64Array(T), bnSq: new Float64Array(T) };
  const rep = withReplay ? { lnA: new Float64Array(T), lnB: new Float64Array(T), rmsA: new Float64Array(T), rmsB: new Float64Array(T) } : null;
  const bnFit = new FitAccumulator(plan.maxFeatureSeries);
  const add = (a: Float64Array, b: Float64Array): void => {
    for (let i = 0; i < b.length; i++) a[i] += b[i]!;
  };
  const onElements2 = withReplay ? (n: number): void => onElements(2 * n) : onElements;
  const pass1Done = Date.now();
  for (const block of blocks) {
    const { sub, p, bs } = await blockPass1(plan, block, executor, onElements);
    throwIfCancelled(hooks.cancellation);
    const B = block.f1 - block.f0;
    const v = bs.valid;
    for (let j = 0; j < B; j++) {
      const n = v.count[j]!;
      if (n === 0) continue;
      const r = Math.sqrt(v.m2[j]! / n + v.mean[j]! * v.mean[j]!);
      const key = rmsKey(r);
      for (let i = 0; i < medianBins.length; i++) {
        if (key !== medianBins[i]) continue;
        if (ties[i]!.length < MEDIAN_BIN_VALUES) ties[i]!.push(r);
        else medianOverflow = true;
      }
      const m = Math.max(Math.abs(v.min[j]!), Math.abs(v.max[j]!));
      if (m > th.outlierFeatureFactor * lower) {
        if (outlierCandidates.length < 1 << 20) outlierCandidates.push({ f: block.f0 + j, v: m });
        else outlierCandidatesDropped = true;
      }
    }
    const shared: SharedPass2Context = buildSharedPass2Context(sub, { batchNorm: bs } as Pass1Statistics, p, null, null, edges);
    const subOut = featureBlockPlan(plan, block, true);
    const ranges = splitTokens(subOut, executor.parallelism);
    const contexts = ranges.map((r) => pass2ContextFor(shared, stats, r, p.tokenCount, B, plain));
    const parts2 = await executor.runPass2(subOut, ranges, contexts, onElements2);
    throwIfCancelled(hooks.cancellation);
    const b2: Pass2Partial = mergePass2(subOut, parts2);
    mergePass2Into(acc, b2);
    add(sums.ln, b2.layerNormSum);
    add(sums.lnSq, b2.layerNormSq);
    add(sums.rms, b2.rmsNormSum);
    add(sums.rmsSq, b2.rmsNormSq);
    add(sums.bn, b2.batchNormSum);
    add(sums.bnSq, b2.batchNormSq);
    if (rep && b2.replay) {
      add(rep.lnA, b2.replay.layerNormA);
      add(rep.lnB, b2.replay.layerNormB);
      add(rep.rmsA, b2.replay.rmsNormA);
      add(rep.rmsB, b2.replay.rmsNormB);
      const a = bs.all;
      bnFit.add(b2.replay.batchNormA, b2.replay.batchNormB, (j) => a.m2[j]!, (j) => (a.count[j]! > 0 ? a.m2[j]! / a.count[j]! : NaN));
    }
  }
  const pass2Done = Date.now();

  // The exact median, then the flagged outlier features.
  const exactRank = (i: number): number => {
    const k = medianRanks[i]! - below[i]!;
    const t = ties[i]!.sort((a, b) => a - b);
    return t[Math.min(t.length - 1, Math.max(0, k))]!;
  };
  const median = medianRanks.length === 0 || medianOverflow ? NaN : medianRanks.length === 1 ? exactRank(0) : (exactRank(0) + exactRank(1)) / 2;
  let outlier: FeatureFindings['outlier'] = null;
  if (median > 0) {
    const flagged = outlierCandidates.filter((x) => x.v > th.outlierFeatureFactor * median);
    let top = -Infinity;
    for (const x of flagged) if (x.v > top) top = x.v;
    outlier = { features: flagged.slice(0, FEATURE_LIST_LIMIT).map((x) => x.f), maxAbs: flagged.slice(0, FEATURE_LIST_LIMIT).map((x) => x.v), count: flagged.length, top, median };
  }
  const findings: FeatureFindings = {
    minCount,
    paddingMaxVarChange: maxVarChange,
    running: plan.runningMean && plan.runningVar ? { ...running, maxMeanShift: Number.isFinite(running.maxMeanShift) ? running.maxMeanShift : 0 } : null,
    outlier,
  };

  // Report sections.
  const meanSeries = reducer.mean.series();
  const reduced: ReducedSeries = {
    from: F,
    to: 0,
    how: reducedHow(plan, meanSeries.mean.length, meanSeries.bucketSize) + (outlierCandidatesDropped ? ' More than 1,048,576 outlier candidates: the outlier-feature list was cut.' : '') + (medianOverflow ? ' The median feature RMS could not be selected exactly (more than 4,194,304 features in its bin): the outlier-feature check was not run.' : ''),
  };
  const perFeature = (count: number, r: FeatureBlockReducer): BatchNormFeatureStats => ({
    mean: [],
    var: [],
    varUnbiased: [],
    count,
    counts: [],
    min: [],
    max: [],
    reduced,
    summary: { mean: r.mean.summary(), std: r.std.summary(), maxAbs: r.maxAbs.summary(), rms: r.rms.summary() },
    top: { std: r.std.top(), maxAbs: r.maxAbs.top(), rms: r.rms.top() },
  });
  const base = buildPass1Sections(noFeatures, p1, stats);
  const padding: AnalysisReport['padding'] = mask ? { paddingTokens: T - plan.validTokens, meanShift: [], varRatio: [], maxMeanShift, worstFeatures: worstPadding.items.map((x) => x.f) } : null;
  const runningStats: AnalysisReport['runningStats'] = plan.runningMean && plan.runningVar ? { meanShift: [], varRatio: [], worstFeatures: runningWorst.items.map((x) => x.f), maxMeanShift: findings.running!.maxMeanShift, reduced } : null;
  const pre = {
    ...base,
    batchValid: perFeature(plan.validTokens, reducer),
    batchAll: reducerAll ? perFeature(T, reducerAll) : null,
    bnStd: [],
    padding,
    runningStats,
    subBatches,
    batchNormSeries: { mean: meanSeries, std: reducer.std.series() },
  };
  const shared: SharedPass2Context = {
    weight: empty,
    bias: empty,
    invWeight: empty,
    bnScale: empty,
    bnOffset: empty,
    bnScaleAll: empty,
    bnOffsetAll: empty,
    bnMeanAll: empty,
    bnRunning: null,
    ...edges,
    sampleChannel: null,
  };
  const p2: Pass2Partial = {
    ...acc,
    tokenStart: 0,
    tokenEnd: T,
    layerNormSum: sums.ln,
    layerNormSq: sums.lnSq,
    rmsNormSum: sums.rms,
    rmsNormSq: sums.rmsSq,
    batchNormSum: sums.bn,
    batchNormSq: sums.bnSq,
    replay: acc.replay && rep ? { ...acc.replay, layerNormA: rep.lnA, layerNormB: rep.lnB, rmsNormA: rep.rmsA, rmsNormB: rep.rmsB } : null,
  };
  const why = `not computed: the ${fmtCount(F)} features are analyzed in blocks (more than maxFeatureSeries = ${fmtCount(plan.maxFeatureSeries)}).`;
  const sampleChannel: SampleChannelReportInput = { setup: null, groups: null, reasons: { groupnorm: `GroupNorm ${why}`, instancenorm: `InstanceNorm ${why}` } };
  const report = buildReport(
    plan,
    source,
    p1,
    stats,
    shared,
    p2,
    { totalMs: 0, pass1Ms: pass1Done - started, pass2Ms: pass2Done - pass1Done, workers: executor.workers, chunkBytes: plan.chunkBytes },
    pre,
    sampleChannel,
    null,
    { findings, batchNormFit: withReplay ? bnFit.fit() : null },
  );
  report.timing.totalMs = Date.now() - started;
  hooks.onProgress?.(1);
  return report;
}

import type { AnalysisReport } from '../report/analysisReport';
import type { AnalysisRunHooks, PassExecutor } from './analyze';
import { buildReport, outputMomentsInto, type ReducedTokenSections, type SampleChannelReportInput } from './buildReport';
import { mergeMoments, mergeMomentsTree, type Moments } from './moments';
import { createPass1Partial, mergePass1, mergePass1Into, type Pass1Partial } from './pass1';
import { createPass2Partial, mergePass2Into } from './pass2';
import { buildSharedPass2Context, emptyNormalizedBounds, pass2ContextFor, widenNormalizedBounds, type Pass2Context } from './pass2Context';
import { REDUCED_TOKEN_BLOCK, type AnalysisPlan } from './plan';
import { FitAccumulator } from './replay';
import { buildSampleChannelSetup, chooseGroups, groupCandidates, groupFitContext, groupFitRange, sampleChannelMoments, sampleChannelUnavailable } from './sampleChannelNorms';
import { batchNormStatistics, tokenStatistics, type GlobalStats, type Pass1Statistics } from './statistics';
import { FixedEdgesHistogram, TokenSeriesReducer } from './tokenReduction';
import { throwIfCancelled, type TokenRange } from './tiles';
import { TOKEN_LIST_LIMIT } from './warnings';
import { formatCount } from '../count';

// The reduced per-token path (inputs with more tokens than plan.maxTokenSeries). Per-token arrays
// are never held for all tokens: the tokens are processed in blocks of REDUCED_TOKEN_BLOCK, and
//  1. pass 1 runs block by block: the per-(unit, feature) cells are Chan-merged over blocks (exact,
//     as in the default path); each block's per-token statistics feed the reducers (summaries with
//     the tokens of min/max, chart buckets, top-k, checks) and the bounds of the normalized values,
//     then are dropped;
//  2. pass 2 runs block by block too: it needs each token's mean and 1/std, so the block's pass 1
//     runs again first (one more read of the input, the price of bounded memory for any layout,
//     feature-last or channels-first alike), then pass 2; histograms and replay sums add up over
//     blocks, the per-token output moments feed their reducers and the per-token distributions.
// Exact: every histogram of values, BatchNorm/GroupNorm/InstanceNorm statistics, global moments
// (Chan merges), min/max and their tokens, bucket series, top-k, checks' counts. Reduced: the
// per-token arrays themselves (empty, `reduced` says so), the fitted LayerNorm/RMSNorm eps (median
// over the first maxTokenSeries tokens), and the per-token *output* distributions, binned on edges
// from the norm-output range (exact counts, wider edges than the default path's own range).

/** Splits a token range into `parts` ranges (aligned to whole rows of channels-first inputs when possible). */
function splitRange(plan: AnalysisPlan, range: TokenRange, parts: number): TokenRange[] {
  const len = range.end - range.start;
  const n = Math.max(1, Math.min(parts, len));
  const align = plan.inner > 1 && len / plan.inner >= n && range.start % plan.inner === 0 ? plan.inner : 1;
  const out: TokenRange[] = [];
  let start = range.start;
  for (let k = 1; k <= n; k++) {
    const end = k === n ? range.end : range.start + Math.round((len * k) / n / align) * align;
    if (end > start) out.push({ start, end });
    start = Math.max(start, end);
  }
  return out;
}

/** Token blocks of the reduced path: REDUCED_TOKEN_BLOCK tokens, whole channels-first rows when they fit. */
export function tokenBlocks(plan: AnalysisPlan): TokenRange[] {
  const block = plan.inner > 1 && plan.inner <= REDUCED_TOKEN_BLOCK ? Math.floor(REDUCED_TOKEN_BLOCK / plan.inner) * plan.inner : REDUCED_TOKEN_BLOCK;
  const size = Math.min(block, plan.maxTokenSeries);
  const out: TokenRange[] = [];
  for (let s = 0; s < plan.tokens; s += size) out.push({ start: s, end: Math.min(plan.tokens, s + size) });
  return out;
}

function reducedHow(plan: AnalysisPlan, points: number, bucketSize: number): string {
  const n = formatCount(plan.tokens);
  return `${n} tokens are more than the per-token cap of ${formatCount(plan.maxTokenSeries)} (maxTokenSeries): the per-token arrays are left out; series show ${formatCount(points)} min/mean/max buckets of ${formatCount(bucketSize)} tokens; summaries are exact (with the tokens of min and max), top lists the ${REDUCED_TOP_K} largest tokens, output distributions are binned on the norm-output range.`;
}

/** Tokens listed per reduced series in `top`. */
export const REDUCED_TOP_K = 64;

/** executeAnalysis for inputs with more tokens than plan.maxTokenSeries (see the comment above). */
export async function executeReducedTokens(plan: AnalysisPlan, executor: PassExecutor, source: { description: string; format: string }, hooks: AnalysisRunHooks = {}): Promise<AnalysisReport> {
  const started = Date.now();
  const T = plan.tokens;
  const F = plan.features;
  const eps = plan.eps;
  const mask = plan.mask;
  const th = plan.thresholds;
  const elements = T * F;
  const total = elements * (plan.outputName !== null ? 4 : 3);
  let done = 0;
  const onElements = (n: number): void => {
    done += n;
    hooks.onProgress?.(Math.min(1, done / total));
  };
  const blocks = tokenBlocks(plan);
  const parallel = (r: TokenRange): TokenRange[] => (plan.randomAccess ? splitRange(plan, r, executor.parallelism) : [r]);
  // Each block runs as `parallelism` ranges; their partials are reduced one after the other, in token
  // order, without merging them into one block-long copy.
  const pass1Parts = async (ranges: readonly TokenRange[]): Promise<Pass1Partial[]> => {
    const parts = await executor.runPass1(plan, ranges, onElements);
    throwIfCancelled(hooks.cancellation);
    return parts;
  };
  const longest = blocks[0] ? blocks[0].end - blocks[0].start : 0;
  // Scratch for derived per-token values of one range (reused: less garbage per block).
  const scratchStd = new Float64Array(longest);
  const scratchMean = new Float64Array(longest);
  const isReal = (t: number): boolean => mask === null || mask[t] === 1;

  // Pass 1, block by block.
  const cells = createPass1Partial(plan, { start: 0, end: 0 });
  const maxPoints = plan.maxSeriesPoints;
  const lnMean = new TokenSeriesReducer(T, maxPoints, 0);
  const lnStd = new TokenSeriesReducer(T, maxPoints, REDUCED_TOP_K);
  const rms = new TokenSeriesReducer(T, maxPoints, REDUCED_TOP_K);
  const bounds = emptyNormalizedBounds();
  let g: Moments = { n: 0, mean: 0, m2: 0 };
  let min = Infinity;
  let max = -Infinity;
  const nonFinite: number[] = [];
  const degenerate: number[] = [];
  let degenerateCount = 0;
  const unitValidTokens = new Float64Array(plan.units);
  for (const block of blocks) {
    for (const p of await pass1Parts(parallel(block))) {
      const r = { start: p.tokenStart, end: p.tokenEnd };
      mergePass1Into(cells, p, false);
      const ts = tokenStatistics(p, eps);
      const n = r.end - r.start;
      const std = scratchStd.subarray(0, n);
      const indices: number[] = [];
      for (let k = 0; k < n; k++) {
        const t = r.start + k;
        std[k] = Math.sqrt(ts.layerNorm.var[k]!);
        if (isReal(t)) unitValidTokens[Math.floor(t / plan.tokensPerUnit)]!++;
        const c = p.tokenCount[k]!;
        if (c < F && nonFinite.length < TOKEN_LIST_LIMIT) nonFinite.push(t);
        if (c === 0) continue;
        indices.push(k);
        if (p.tokenMin[k]! < min) min = p.tokenMin[k]!;
        if (p.tokenMax[k]! > max) max = p.tokenMax[k]!;
        if (isReal(t) && ts.layerNorm.var[k]! <= th.degenerateVarOverEps * eps) {
          degenerateCount++;
          if (degenerate.length < TOKEN_LIST_LIMIT) degenerate.push(t);
        }
      }
      g = mergeMoments(g, mergeMomentsTree(p.tokenCount, p.tokenMean, p.tokenM2, indices));
      // Tokens without finite values have NaN statistics, which the reducers skip: the mask selects the rest.
      lnMean.add(ts.layerNorm.mean, r.start, mask);
      lnStd.add(std, r.start, mask);
      rms.add(ts.rmsNorm.rms, r.start, mask);
      widenNormalizedBounds(bounds, plan, ts, p);
    }
  }
  const global: GlobalStats = {
    count: T * F,
    finite: g.n,
    nan: cells.nan,
    posInf: cells.posInf,
    negInf: cells.negInf,
    min: g.n > 0 ? min : NaN,
    max: g.n > 0 ? max : NaN,
    mean: g.n > 0 ? g.mean : NaN,
    std: g.n > 0 ? Math.sqrt(g.m2 / g.n) : NaN,
  };
  const empty = new Float64Array(0);
  const stats: Pass1Statistics = {
    layerNorm: { mean: empty, var: empty, rstd: empty },
    rmsNorm: { meanSquare: empty, rms: empty, rrms: empty },
    batchNorm: batchNormStatistics(plan, cells),
    global,
  };
  const plain = plan.weight === null && plan.bias === null;
  let shared = buildSharedPass2Context(plan, stats, cells, null, bounds);

  // GroupNorm / InstanceNorm: as in executeAnalysis; the G fit's range gets its own pass 1.
  const unavailable = sampleChannelUnavailable(plan);
  let sampleChannel: SampleChannelReportInput = { setup: null, groups: null, reasons: { groupnorm: unavailable, instancenorm: unavailable } };
  if (unavailable === null) {
    const moments = sampleChannelMoments(plan, cells);
    let fit: { candidates: readonly number[]; sums: Float64Array } | null = null;
    if (plan.groups === null && plan.outputName !== null) {
      const range = groupFitRange(plan);
      const candidates = groupCandidates(plan.features);
      const pr = mergePass1(plan, await executor.runPass1(plan, [range], () => undefined), range);
      const context: Pass2Context = {
        ...pass2ContextFor(shared, tokenStatistics(pr, eps), range, pr.tokenCount, F, plain, range.start),
        groupFit: groupFitContext(plan, moments, candidates, shared.weight, shared.bias),
      };
      const [fitted] = await executor.runPass2(plan, [range], [context], () => undefined);
      throwIfCancelled(hooks.cancellation);
      if (fitted?.groupFit) fit = { candidates, sums: fitted.groupFit };
    }
    const groups = chooseGroups(plan, fit);
    const setup = buildSampleChannelSetup(plan, cells, moments, groups.groups, shared.weight, shared.bias);
    shared = { ...shared, sampleChannel: setup.context };
    sampleChannel = { setup, groups, reasons: { groupnorm: groups.reason, instancenorm: null } };
  }
  const pass1Done = Date.now();

  // Pass 2, block by block (each block's pass 1 again for its per-token mean and 1/std).
  const bins = plan.bins;
  const outLo = shared.outputEdges[0]!;
  const outHi = shared.outputEdges[bins]!;
  const rangeOf = (r: TokenSeriesReducer): [number, number] => {
    const x = r.range();
    return x ? [x.min, x.max] : [Infinity, -Infinity];
  };
  const inMeanHist = new FixedEdgesHistogram(...rangeOf(lnMean), bins);
  const inStdHist = new FixedEdgesHistogram(...rangeOf(lnStd), bins);
  const outHists = Array.from({ length: 3 }, () => ({ mean: new FixedEdgesHistogram(outLo, outHi, bins), std: new FixedEdgesHistogram(0, outHi - outLo, bins) }));
  const outStd = Array.from({ length: 3 }, () => new TokenSeriesReducer(T, maxPoints, REDUCED_TOP_K));
  const lnFit = new FitAccumulator(plan.maxTokenSeries);
  const rmsFit = new FitAccumulator(plan.maxTokenSeries);
  const scNorms = shared.sampleChannel?.norms.length ?? 0;
  const p2 = createPass2Partial(plan, { start: 0, end: 0 }, plan.outputName !== null, scNorms, 0);
  const onElements2 = plan.outputName !== null ? (n: number): void => onElements(2 * n) : onElements;
  for (const block of blocks) {
    const ranges = parallel(block);
    const parts1 = await pass1Parts(ranges);
    const stats1 = parts1.map((p) => tokenStatistics(p, eps));
    const contexts = ranges.map((x, k) => pass2ContextFor(shared, stats1[k]!, x, parts1[k]!.tokenCount, F, plain, x.start));
    const parts2 = await executor.runPass2(plan, ranges, contexts, onElements2);
    throwIfCancelled(hooks.cancellation);
    for (let part = 0; part < ranges.length; part++) {
      const r = ranges[part]!;
      const p = parts1[part]!;
      const ts = stats1[part]!;
      const b = parts2[part]!;
      mergePass2Into(p2, b);
      const n = r.end - r.start;
      const std = scratchStd.subarray(0, n);
      for (let k = 0; k < n; k++) std[k] = Math.sqrt(ts.layerNorm.var[k]!);
      inMeanHist.add(ts.layerNorm.mean, r.start, mask);
      inStdHist.add(std, r.start, mask);
      const mean = scratchMean.subarray(0, n);
      const sums = [
        [b.layerNormSum, b.layerNormSq, (): number => shared.layerNormShift],
        [b.rmsNormSum, b.rmsNormSq, (k: number): number => ts.layerNorm.mean[k]! * ts.rmsNorm.rrms[k]! * shared.weightMean],
        [b.batchNormSum, b.batchNormSq, (): number => shared.batchNormShift],
      ] as const;
      sums.forEach(([sum, sq, shift], j) => {
        outputMomentsInto(sum, sq, p.tokenCount, shift, mean, std);
        outHists[j]!.mean.add(mean, r.start, mask);
        outHists[j]!.std.add(std, r.start, mask);
        outStd[j]!.add(std, r.start, mask);
      });
      if (b.replay) {
        lnFit.add(b.replay.layerNormA, b.replay.layerNormB, (k) => p.tokenM2[k]!, (k) => ts.layerNorm.var[k]!);
        rmsFit.add(b.replay.rmsNormA, b.replay.rmsNormB, (k) => p.tokenSumSq[k]!, (k) => ts.rmsNorm.meanSquare[k]!);
      }
    }
  }
  const pass2Done = Date.now();
  const lnSeries = lnMean.series();
  const reduced: ReducedTokenSections = {
    reduced: { from: T, to: 0, how: reducedHow(plan, lnSeries.mean.length, lnSeries.bucketSize) },
    layerNormSummary: { mean: lnMean.summary(), std: lnStd.summary() },
    layerNormSeries: { mean: lnSeries, std: lnStd.series(), outputStd: outStd[0]!.series() },
    rmsSummary: { rms: rms.summary() },
    rmsSeries: { rms: rms.series(), outputStd: outStd[1]!.series() },
    batchNormOutputStd: outStd[2]!.series(),
    tokenDistributions: {
      input: { mean: inMeanHist.histogram(), std: inStdHist.histogram() },
      layerNorm: { mean: outHists[0]!.mean.histogram(), std: outHists[0]!.std.histogram() },
      rmsNorm: { mean: outHists[1]!.mean.histogram(), std: outHists[1]!.std.histogram() },
      batchNorm: { mean: outHists[2]!.mean.histogram(), std: outHists[2]!.std.histogram() },
    },
    top: { layerNormStd: lnStd.top(), layerNormOutputStd: outStd[0]!.top(), rms: rms.top(), rmsOutputStd: outStd[1]!.top(), batchNormOutputStd: outStd[2]!.top() },
    findings: { nonFinite, degenerate, degenerateCount },
    fits: p2.replay ? { layernorm: lnFit.fit(), rmsnorm: rmsFit.fit() } : null,
    unitValidTokens,
  };
  const report = buildReport(
    plan,
    source,
    cells,
    stats,
    shared,
    p2,
    { totalMs: 0, pass1Ms: pass1Done - started, pass2Ms: pass2Done - pass1Done, workers: executor.workers, chunkBytes: plan.chunkBytes },
    null,
    sampleChannel,
    reduced,
  );
  report.timing.totalMs = Date.now() - started;
  hooks.onProgress?.(1);
  return report;
}

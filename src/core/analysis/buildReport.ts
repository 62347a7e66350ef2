import {
  REPORT_SCHEMA_VERSION,
  type AnalysisReport,
  type AnalysisTiming,
  type BatchElementQuantiles,
  type BatchNormFeatureStats,
  type DownsampledSeries,
  type BatchNormRunningReport,
  type GroupNormReport,
  type Histogram,
  type InstanceNormReport,
  type JsonValue,
  type SampleChannelNormKind,
  type ReducedSeries,
  type SampleStatistics,
  type SeriesSummary,
  type TokenDistribution,
  type TokenExtreme,
} from '../report/analysisReport';
import { computeSubBatches } from './batchDependence';
import { buildReplay, type Fit } from './replay';
import type { CellMoments, GroupsChoice, SampleChannelSetup } from './sampleChannelNorms';
import { reductionSpace, releaseReductionMemory } from './kernels/wasmKernelLoader';
import { WASM_MERGE_MIN } from './moments';
import { downsampleSeries, histogramOf, histogramQuantiles, summarize, type Inclusion } from './histogram';
import type { Pass1Partial } from './pass1';
import type { Pass2Partial } from './pass2';
import { QUANTILE_PROBABILITIES, type AnalysisPlan } from './plan';
import type { SharedPass2Context } from './pass2Context';
import type { FeatureMoments, Pass1Statistics } from './statistics';
import { collectWarnings, type FeatureFindings, type TokenFindings } from './warnings';
import { toNumbers } from '../arrays';

/**
 * What replaces the per-token arrays when the input has more tokens than plan.maxTokenSeries: the
 * summaries, chart series, distributions, extremes and checks, reduced block by block (tokenBlocks.ts).
 */
export interface ReducedTokenSections {
  readonly reduced: ReducedSeries;
  readonly layerNormSummary: { mean: SeriesSummary; std: SeriesSummary };
  readonly layerNormSeries: { mean: DownsampledSeries; std: DownsampledSeries; outputStd: DownsampledSeries };
  readonly rmsSummary: { rms: SeriesSummary };
  readonly rmsSeries: { rms: DownsampledSeries; outputStd: DownsampledSeries };
  readonly batchNormOutputStd: DownsampledSeries;
  readonly tokenDistributions: AnalysisReport['tokenDistributions'];
  readonly top: { layerNormStd: TokenExtreme[]; layerNormOutputStd: TokenExtreme[]; rms: TokenExtreme[]; rmsOutputStd: TokenExtreme[]; batchNormOutputStd: TokenExtreme[] };
  readonly findings: TokenFindings;
  /** LayerNorm / RMSNorm replay fits (null without a recorded output). */
  readonly fits: { layernorm: Fit; rmsnorm: Fit } | null;
  /** Valid tokens per batch unit. */
  readonly unitValidTokens: Float64Array;
}

/** What the feature-block path (featureBlockAnalysis.ts) adds: the per-feature checks' findings and the BatchNorm replay fit. */
export interface ReducedFeatureInputs {
  readonly findings: FeatureFindings;
  readonly batchNormFit: Fit | null;
}

export type { TokenDistribution };

function featureStats(m: FeatureMoments, count: number): BatchNormFeatureStats {
  const F = m.count.length;
  const mean: number[] = new Array<number>(F);
  const v: number[] = new Array<number>(F);
  const vu: number[] = new Array<number>(F);
  for (let f = 0; f < F; f++) {
    const n = m.count[f]!;
    mean[f] = n > 0 ? m.mean[f]! : NaN;
    v[f] = n > 0 ? m.m2[f]! / n : NaN;
    vu[f] = n > 1 ? m.m2[f]! / (n - 1) : NaN;
  }
  return { mean, var: v, varUnbiased: vu, count, counts: toNumbers(m.count), min: toNumbers(m.min, (x) => (Number.isFinite(x) ? x : NaN)), max: toNumbers(m.max, (x) => (Number.isFinite(x) ? x : NaN)) };
}

/** What executeAnalysis found about GroupNorm / InstanceNorm: their setup, G, and why one is absent. */
export interface SampleChannelReportInput {
  readonly setup: SampleChannelSetup | null;
  readonly groups: GroupsChoice | null;
  readonly reasons: Record<SampleChannelNormKind, string | null>;
}

const NO_SAMPLE_CHANNEL: SampleChannelReportInput = {
  setup: null,
  groups: null,
  reasons: { groupnorm: 'GroupNorm was not computed.', instancenorm: 'InstanceNorm was not computed.' },
};

function sampleStatistics(m: CellMoments): SampleStatistics {
  const n = m.count.length;
  const mean = new Array<number>(n);
  const v = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const c = m.count[i]!;
    mean[i] = c > 0 ? m.mean[i]! : NaN;
    v[i] = c > 0 ? m.m2[i]! / c : NaN;
  }
  return { mean, var: v, count: toNumbers(m.count) };
}

/** The `groupNorm` and `instanceNorm` sections (null where the norm does not apply). */
function sampleChannelSections(plan: AnalysisPlan, p2: Pass2Partial, input: SampleChannelReportInput): { groupNorm: GroupNormReport | null; instanceNorm: InstanceNormReport | null; batchNormRunning?: BatchNormRunningReport } {
  const setup = input.setup;
  if (setup === null) return { groupNorm: null, instanceNorm: null };
  const bins = plan.bins;
  const edges = toNumbers(setup.context.edges);
  const histogram = (kind: SampleChannelNormKind | 'batchnorm-running'): Histogram => {
    const j = setup.context.norms.findIndex((n) => n.kind === kind);
    const counts = toNumbers(p2.sampleChannelHistograms.subarray(j * bins, (j + 1) * bins));
    return { edges: [...edges], counts, total: counts.reduce((a, b) => a + b, 0) };
  };
  const affine = { weight: plan.weight !== null, bias: plan.bias !== null };
  const gn = setup.groupNorm;
  const groupNorm: GroupNormReport | null =
    gn === null
      ? null
      : {
          groups: gn.groups,
          groupsSource: input.groups?.source ?? 'option',
          channelsPerGroup: plan.features / gn.groups,
          samples: plan.units,
          channels: plan.features,
          eps: plan.eps,
          affine,
          perGroup: sampleStatistics(gn.moments),
          histogram: histogram('groupnorm'),
          ...(input.groups?.fit ? { fit: input.groups.fit } : {}),
        };
  const inm = setup.instanceNorm;
  const instanceNorm: InstanceNormReport | null =
    inm === null ? null : { samples: plan.units, channels: plan.features, eps: plan.eps, affine, perChannel: sampleStatistics(inm.moments), histogram: histogram('instancenorm') };
  // Eval-mode BatchNorm (running stats): its output histogram, when it was replayed.
  if (setup.batchNormRunning !== null) return { groupNorm, instanceNorm, batchNormRunning: { eps: plan.eps, histogram: histogram('batchnorm-running') } };
  return { groupNorm, instanceNorm };
}

/** Per-token output mean/std from the shifted sums Σ(y−K), Σ(y−K)² of pass 2 (typed arrays, for blocks). */
export function outputMomentsInto(sum: Float64Array, sq: Float64Array, count: Float64Array, shift: (t: number) => number, outputMean: Float64Array, outputStd: Float64Array): void {
  for (let t = 0; t < sum.length; t++) {
    const n = count[t]!;
    if (n === 0) {
      outputMean[t] = NaN;
      outputStd[t] = NaN;
      continue;
    }
    const d = sum[t]! / n;
    outputMean[t] = shift(t) + d;
    outputStd[t] = Math.sqrt(Math.max(0, sq[t]! / n - d * d));
  }
}

/**
 * Per-token output mean/std from the shifted sums Σ(y−K), Σ(y−K)² of pass 2; the shift K is
 * `shift`, or scaled[t]·by[t]·shift. In WebAssembly from WASM_MERGE_MIN tokens (the same bits).
 */
function outputMoments(sum: Float64Array, sq: Float64Array, count: Float64Array, shift: number, scaled: readonly [Float64Array, Float64Array] | null = null): { outputMean: number[]; outputStd: number[] } {
  const T = sum.length;
  const mean = new Float64Array(T);
  const std = new Float64Array(T);
  // By blocks of tokens (a bounded copy whatever the token count).
  const block = Math.min(T, 1 << 16);
  const space = T >= WASM_MERGE_MIN ? reductionSpace([block * 8, block * 8, block * 8, scaled ? block * 8 : 0, scaled ? block * 8 : 0, block * 8, block * 8]) : null;
  if (space) {
    const {
      k,
      at: [s, q, c, a, b, m, d],
    } = space;
    for (let t = 0; t < T; t += block) {
      const e = Math.min(T, t + block);
      k.f64.set(sum.subarray(t, e), s! / 8);
      k.f64.set(sq.subarray(t, e), q! / 8);
      k.f64.set(count.subarray(t, e), c! / 8);
      if (scaled) {
        k.f64.set(scaled[0].subarray(t, e), a! / 8);
        k.f64.set(scaled[1].subarray(t, e), b! / 8);
      }
      k.exports.outputMoments(s!, q!, c!, e - t, shift, scaled ? a! : 0, scaled ? b! : 0, m!, d!);
      mean.set(k.f64.subarray(m! / 8, m! / 8 + (e - t)), t);
      std.set(k.f64.subarray(d! / 8, d! / 8 + (e - t)), t);
    }
    return { outputMean: toNumbers(mean), outputStd: toNumbers(std) };
  }
  const shiftOf = scaled ? (t: number): number => scaled[0][t]! * scaled[1][t]! * shift : (): number => shift;
  outputMomentsInto(sum, sq, count, shiftOf, mean, std);
  return { outputMean: toNumbers(mean), outputStd: toNumbers(std) };
}

/**
 * The report sections that depend on pass 1 only (per-feature BatchNorm statistics, padding and
 * running-stats checks, sub-batch shifts, per-token input statistics and their distributions).
 * `executeAnalysis` builds them while pass 2 runs on the workers, off the critical path.
 */
export interface Pass1ReportSections {
  readonly batchValid: BatchNormFeatureStats;
  readonly batchAll: BatchNormFeatureStats | null;
  readonly bnStd: number[];
  readonly padding: AnalysisReport['padding'];
  readonly runningStats: AnalysisReport['runningStats'];
  readonly subBatches: AnalysisReport['batchDependence']['subBatches'];
  readonly lnStd: Float64Array;
  readonly layerNormPerToken: { mean: number[]; var: number[]; rstd: number[] };
  readonly layerNormSummary: AnalysisReport['layerNorm']['summary'];
  readonly layerNormSeries: { mean: DownsampledSeries; std: DownsampledSeries };
  readonly rms: number[];
  readonly rmsSummary: AnalysisReport['rmsNorm']['summary'];
  readonly rmsSeries: DownsampledSeries;
  readonly batchNormSeries: { mean: DownsampledSeries; std: DownsampledSeries };
  readonly inputTokenDistributions: AnalysisReport['tokenDistributions']['input'];
  /** The tokens the per-token summaries and distributions count (tokenInclusion; null: all, or reduced). */
  readonly tokensCounted: Inclusion;
}

/**
 * The tokens that count in the per-token summaries and distributions (not padding, with finite
 * values): a byte per token, or null when all do.
 */
function tokenInclusion(plan: AnalysisPlan, tokenCount: Float64Array): Inclusion {
  const mask = plan.mask;
  const T = tokenCount.length;
  let valid: Uint8Array | null = null;
  for (let t = 0; t < T; t++) {
    const ok = (mask === null || mask[t] === 1) && tokenCount[t]! > 0;
    if (ok && valid === null) continue;
    if (valid === null) valid = new Uint8Array(T).fill(1, 0, t);
    valid[t] = ok ? 1 : 0;
  }
  return valid;
}

/** Builds the pass-1-only sections of the report (see Pass1ReportSections). */
export function buildPass1Sections(plan: AnalysisPlan, p1: Pass1Partial, stats: Pass1Statistics, reduced: ReducedTokenSections | null = null): Pass1ReportSections {
  const T = plan.tokens;
  const F = plan.features;
  const mask = plan.mask;
  const maxPoints = plan.maxSeriesPoints;
  const isValid = reduced ? null : tokenInclusion(plan, p1.tokenCount);
  const ln = stats.layerNorm;
  const lnStd = new Float64Array(reduced ? 0 : T);
  for (let t = 0; t < lnStd.length; t++) lnStd[t] = Math.sqrt(ln.var[t]!);

  const batchValid = featureStats(stats.batchNorm.valid, plan.validTokens);
  const batchAll = mask ? featureStats(stats.batchNorm.all, T) : null;
  const bnStd = batchValid.var.map((v) => Math.sqrt(v));

  let padding: AnalysisReport['padding'] = null;
  if (mask && batchAll) {
    const meanShift: number[] = new Array<number>(F);
    const varRatio: number[] = new Array<number>(F);
    let maxMeanShift = 0;
    for (let f = 0; f < F; f++) {
      const sd = Math.sqrt(batchValid.var[f]! + plan.eps);
      meanShift[f] = sd > 0 ? Math.abs(batchValid.mean[f]! - batchAll.mean[f]!) / sd : NaN;
      varRatio[f] = batchValid.var[f]! > 0 ? batchAll.var[f]! / batchValid.var[f]! : NaN;
      if (meanShift[f]! > maxMeanShift) maxMeanShift = meanShift[f]!;
    }
    const worstFeatures = meanShift
      .map((v, f) => ({ v: Number.isFinite(v) ? v : -1, f }))
      .sort((a, b) => b.v - a.v)
      .slice(0, 16)
      .map((x) => x.f);
    padding = { paddingTokens: T - plan.validTokens, meanShift, varRatio, maxMeanShift, worstFeatures };
  }

  let runningStats: AnalysisReport['runningStats'] = null;
  if (plan.runningMean && plan.runningVar) {
    const all = batchAll ?? batchValid;
    const meanShift: number[] = new Array<number>(F);
    const varRatio: number[] = new Array<number>(F);
    for (let f = 0; f < F; f++) {
      const sd = Math.sqrt(all.var[f]! + plan.eps);
      meanShift[f] = Math.abs(plan.runningMean[f]! - all.mean[f]!) / sd;
      varRatio[f] = all.varUnbiased[f]! > 0 ? plan.runningVar[f]! / all.varUnbiased[f]! : NaN;
    }
    runningStats = { meanShift, varRatio };
  }

  // Per-feature sections (and the sub-batch shifts) are the same whether per-token arrays are reduced.
  const perFeature = {
    batchValid,
    batchAll,
    bnStd,
    padding,
    runningStats,
    subBatches: computeSubBatches(plan, p1, stats.batchNorm.valid),
    lnStd,
    batchNormSeries: { mean: downsampleSeries(batchValid.mean, maxPoints), std: downsampleSeries(bnStd, maxPoints) },
    tokensCounted: isValid,
  };
  if (reduced) {
    return {
      ...perFeature,
      layerNormPerToken: { mean: [], var: [], rstd: [] },
      layerNormSummary: reduced.layerNormSummary,
      layerNormSeries: { mean: reduced.layerNormSeries.mean, std: reduced.layerNormSeries.std },
      rms: [],
      rmsSummary: reduced.rmsSummary,
      rmsSeries: reduced.rmsSeries.rms,
      inputTokenDistributions: reduced.tokenDistributions.input,
    };
  }
  return {
    ...perFeature,
    layerNormPerToken: { mean: toNumbers(ln.mean), var: toNumbers(ln.var), rstd: toNumbers(ln.rstd) },
    layerNormSummary: { mean: summarize(ln.mean, isValid), std: summarize(lnStd, isValid) },
    layerNormSeries: { mean: downsampleSeries(ln.mean, maxPoints), std: downsampleSeries(lnStd, maxPoints) },
    rms: toNumbers(stats.rmsNorm.rms),
    rmsSummary: { rms: summarize(stats.rmsNorm.rms, isValid) },
    rmsSeries: downsampleSeries(stats.rmsNorm.rms, maxPoints),
    inputTokenDistributions: { mean: histogramOf(ln.mean, plan.bins, isValid), std: histogramOf(lnStd, plan.bins, isValid) },
  };
}

/**
 * Assembles the AnalysisReport from the plan, both merged passes and the pass-2 context; `pre` are
 * the pass-1 sections when already built (else they are built here).
 */
export function buildReport(
  plan: AnalysisPlan,
  source: { description: string; format: string },
  p1: Pass1Partial,
  stats: Pass1Statistics,
  shared: SharedPass2Context,
  p2: Pass2Partial,
  timing: AnalysisTiming,
  pre: Pass1ReportSections | null = null,
  sampleChannel: SampleChannelReportInput = NO_SAMPLE_CHANNEL,
  reduced: ReducedTokenSections | null = null,
  features: ReducedFeatureInputs | null = null,
): AnalysisReport {
  if (pre === null) pre = buildPass1Sections(plan, p1, stats, reduced);
  const T = plan.tokens;
  const F = plan.features;
  const bins = plan.bins;
  const maxPoints = plan.maxSeriesPoints;
  const mask = plan.mask;
  const isValid = pre.tokensCounted;
  const probabilities = [...QUANTILE_PROBABILITIES];

  const ln = stats.layerNorm;
  // Reduced: p2 holds no per-token sums, so these are empty.
  const lnOut = outputMoments(p2.layerNormSum, p2.layerNormSq, p1.tokenCount, shared.layerNormShift);
  const rmsOut = outputMoments(p2.rmsNormSum, p2.rmsNormSq, p1.tokenCount, shared.weightMean, [ln.mean, stats.rmsNorm.rrms]);
  const bnOut = outputMoments(p2.batchNormSum, p2.batchNormSq, p1.tokenCount, shared.batchNormShift);

  // Histograms: slot u of p2.histograms is batch unit u; the last slot (padding) is dropped.
  const kindTotals = [new Array<number>(bins).fill(0), new Array<number>(bins).fill(0), new Array<number>(bins).fill(0), new Array<number>(bins).fill(0)];
  const entries: BatchElementQuantiles[] = [];
  const inEdges = toNumbers(shared.inputEdges);
  const outEdges = toNumbers(shared.outputEdges);
  for (let u = 0; u < plan.units; u++) {
    const per: number[][] = [];
    for (let k = 0; k < 4; k++) {
      const base = (u * 4 + k) * bins;
      const counts = toNumbers(p2.histograms.subarray(base, base + bins));
      for (let b = 0; b < bins; b++) kindTotals[k]![b] += counts[b]!;
      per.push(counts);
    }
    let validTokens = 0;
    if (reduced) validTokens = reduced.unitValidTokens[u]!;
    else for (let t = u * plan.tokensPerUnit; t < Math.min(T, (u + 1) * plan.tokensPerUnit); t++) if (mask === null || mask[t] === 1) validTokens++;
    entries.push({
      first: u * plan.batchElementsPerUnit,
      last: Math.min(plan.batchSize, (u + 1) * plan.batchElementsPerUnit) - 1,
      validTokens,
      input: histogramQuantiles(per[0]!, inEdges, probabilities),
      layerNorm: histogramQuantiles(per[1]!, outEdges, probabilities),
      rmsNorm: histogramQuantiles(per[2]!, outEdges, probabilities),
      batchNorm: histogramQuantiles(per[3]!, outEdges, probabilities),
    });
  }
  const hist = (k: number, edges: number[]): Histogram => ({ edges, counts: kindTotals[k]!, total: kindTotals[k]!.reduce((a, b) => a + b, 0) });

  const { batchValid, batchAll, padding, runningStats, subBatches } = pre;
  const replay = p2.replay && plan.outputName !== null && plan.outputDtype !== null ? buildReplay(plan, stats, p1, p2.replay, plan.outputName, plan.outputDtype, outEdges, sampleChannel.setup, reduced || features ? { ...(reduced?.fits ?? {}), ...(features?.batchNormFit ? { batchnorm: features.batchNormFit } : {}) } : null) : null;
  const warnings = collectWarnings({ plan, p1, stats, replay, subBatches, padding, runningStats, ...(reduced ? { tokenFindings: reduced.findings } : {}), ...(features ? { featureFindings: features.findings } : {}) });
  const { groupNorm, instanceNorm, batchNormRunning } = sampleChannelSections(plan, p2, sampleChannel);

  const tokenHist = (values: ArrayLike<number>): Histogram => histogramOf(values, bins, isValid);
  const thresholds = JSON.parse(JSON.stringify(plan.thresholds)) as { [key: string]: JsonValue };
  const report: AnalysisReport = {
    schemaVersion: REPORT_SCHEMA_VERSION,
    source,
    input: { name: plan.inputName, dtype: plan.inputDtype, shape: [...plan.shape] },
    tensors: {
      mask: plan.tensors.mask,
      output: plan.tensors.output,
      weight: plan.tensors.weight,
      bias: plan.tensors.bias,
      runningMean: plan.tensors.runningMean,
      runningVar: plan.tensors.runningVar,
    },
    options: { eps: plan.eps, bins, featureAxis: plan.featureAxis, maxSeriesPoints: maxPoints, maxTokenSeries: plan.maxTokenSeries, maxFeatureSeries: plan.maxFeatureSeries, quantileProbabilities: probabilities, thresholds },
    layout: {
      featureAxis: plan.featureAxis,
      tokens: T,
      features: F,
      batchAxis: plan.batchAxis,
      batchSize: plan.batchSize,
      tokensPerBatchElement: plan.tokensPerBatchElement,
      validTokens: plan.validTokens,
      paddingTokens: T - plan.validTokens,
      featureAxisRule: plan.featureAxisRule,
    },
    global: { ...stats.global },
    layerNorm: {
      eps: plan.eps,
      affine: { weight: plan.weight !== null, bias: plan.bias !== null },
      perToken: { ...pre.layerNormPerToken, ...lnOut, ...(reduced ? { reduced: reduced.reduced, top: { std: reduced.top.layerNormStd, outputStd: reduced.top.layerNormOutputStd } } : {}) },
      summary: pre.layerNormSummary,
      series: { ...pre.layerNormSeries, outputStd: reduced ? reduced.layerNormSeries.outputStd : downsampleSeries(lnOut.outputStd, maxPoints) },
    },
    rmsNorm: {
      eps: plan.eps,
      perToken: { rms: pre.rms, ...rmsOut, ...(reduced ? { reduced: reduced.reduced, top: { rms: reduced.top.rms, outputStd: reduced.top.rmsOutputStd } } : {}) },
      summary: pre.rmsSummary,
      series: { rms: pre.rmsSeries, outputStd: reduced ? reduced.rmsSeries.outputStd : downsampleSeries(rmsOut.outputStd, maxPoints) },
    },
    batchNorm: {
      eps: plan.eps,
      perFeature: batchValid,
      unmasked: batchAll,
      perToken: reduced ? { ...bnOut, reduced: reduced.reduced, top: { outputStd: reduced.top.batchNormOutputStd } } : bnOut,
      series: { ...pre.batchNormSeries, outputStd: reduced ? reduced.batchNormOutputStd : downsampleSeries(bnOut.outputStd, maxPoints) },
    },
    histograms: { input: hist(0, inEdges), layerNorm: hist(1, outEdges), rmsNorm: hist(2, outEdges), batchNorm: hist(3, outEdges) },
    tokenDistributions: reduced
      ? reduced.tokenDistributions
      : {
      input: pre.inputTokenDistributions,
      layerNorm: { mean: tokenHist(lnOut.outputMean), std: tokenHist(lnOut.outputStd) },
      rmsNorm: { mean: tokenHist(rmsOut.outputMean), std: tokenHist(rmsOut.outputStd) },
      batchNorm: { mean: tokenHist(bnOut.outputMean), std: tokenHist(bnOut.outputStd) },
    },
    perBatch: { elementsPerEntry: plan.batchElementsPerUnit, probabilities, entries },
    batchDependence: { layerNormShift: 0, subBatches },
    padding,
    runningStats,
    comparison: replay,
    groupNorm,
    instanceNorm,
    ...(batchNormRunning ? { batchNormRunning } : {}),
    normAvailability: { ...sampleChannel.reasons },
    warnings,
    timing,
  };
  releaseReductionMemory();
  return report;
}

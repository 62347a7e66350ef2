import { REPORT_SCHEMA_VERSION, type AnalysisReport, type AnalysisTiming, type BatchElementQuantiles, type BatchNormFeatureStats, type Histogram, type JsonValue } from '../report/analysisReport';
import { computeSubBatches } from './batchDependence';
import { buildComparison } from './comparison';
import { downsampleSeries, histogramOf, histogramQuantiles, summarize } from './histogram';
import type { Pass1Partial } from './pass1';
import type { Pass2Partial } from './pass2';
import { QUANTILE_PROBABILITIES, type AnalysisPlan } from './plan';
import type { FeatureMoments, Pass1Statistics, SharedPass2Context } from './statistics';
import { collectWarnings } from './warnings';

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
  return { mean, var: v, varUnbiased: vu, count, counts: Array.from(m.count), min: Array.from(m.min, (x) => (Number.isFinite(x) ? x : NaN)), max: Array.from(m.max, (x) => (Number.isFinite(x) ? x : NaN)) };
}

/** Per-token output mean/std from the shifted sums Σ(y−K), Σ(y−K)² of pass 2. */
function outputMoments(sum: Float64Array, sq: Float64Array, count: Float64Array, shift: (t: number) => number): { outputMean: number[]; outputStd: number[] } {
  const T = sum.length;
  const outputMean: number[] = new Array<number>(T);
  const outputStd: number[] = new Array<number>(T);
  for (let t = 0; t < T; t++) {
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
  return { outputMean, outputStd };
}

/** Assembles the AnalysisReport from the plan, both merged passes and the pass-2 context. */
export function buildReport(
  plan: AnalysisPlan,
  source: { description: string; format: string },
  p1: Pass1Partial,
  stats: Pass1Statistics,
  shared: SharedPass2Context,
  p2: Pass2Partial,
  timing: AnalysisTiming,
): AnalysisReport {
  const T = plan.tokens;
  const F = plan.features;
  const bins = plan.bins;
  const maxPoints = plan.maxSeriesPoints;
  const mask = plan.mask;
  const isValid = (t: number): boolean => (mask === null || mask[t] === 1) && p1.tokenCount[t]! > 0;
  const probabilities = [...QUANTILE_PROBABILITIES];

  const ln = stats.layerNorm;
  const lnStd = ln.var.map((v) => Math.sqrt(v));
  const lnOut = outputMoments(p2.layerNormSum, p2.layerNormSq, p1.tokenCount, () => shared.layerNormShift);
  const rmsOut = outputMoments(p2.rmsNormSum, p2.rmsNormSq, p1.tokenCount, (t) => ln.mean[t]! * stats.rmsNorm.rrms[t]! * shared.weightMean);
  const bnOut = outputMoments(p2.batchNormSum, p2.batchNormSq, p1.tokenCount, () => shared.batchNormShift);

  // Histograms: slot u of p2.histograms is batch unit u; the last slot (padding) is dropped.
  const kindTotals = [new Array<number>(bins).fill(0), new Array<number>(bins).fill(0), new Array<number>(bins).fill(0), new Array<number>(bins).fill(0)];
  const entries: BatchElementQuantiles[] = [];
  const inEdges = Array.from(shared.inputEdges);
  const outEdges = Array.from(shared.outputEdges);
  for (let u = 0; u < plan.units; u++) {
    const per: number[][] = [];
    for (let k = 0; k < 4; k++) {
      const base = (u * 4 + k) * bins;
      const counts = Array.from(p2.histograms.subarray(base, base + bins));
      for (let b = 0; b < bins; b++) kindTotals[k]![b] += counts[b]!;
      per.push(counts);
    }
    let validTokens = 0;
    for (let t = u * plan.tokensPerUnit; t < Math.min(T, (u + 1) * plan.tokensPerUnit); t++) if (mask === null || mask[t] === 1) validTokens++;
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

  const comparison = p2.replay && plan.outputName !== null && plan.outputDtype !== null ? buildComparison(plan, stats, p1, p2.replay, plan.outputName, plan.outputDtype, outEdges) : null;
  const subBatches = computeSubBatches(plan, p1, stats.batchNorm.valid);
  const warnings = collectWarnings({ plan, p1, stats, comparison, subBatches, padding, runningStats });

  const tokenHist = (values: ArrayLike<number>): Histogram => histogramOf(values, bins, isValid);
  const thresholds = JSON.parse(JSON.stringify(plan.thresholds)) as { [key: string]: JsonValue };
  return {
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
    options: { eps: plan.eps, bins, featureAxis: plan.featureAxis, maxSeriesPoints: maxPoints, quantileProbabilities: probabilities, thresholds },
    layout: {
      featureAxis: plan.featureAxis,
      tokens: T,
      features: F,
      batchAxis: plan.batchAxis,
      batchSize: plan.batchSize,
      tokensPerBatchElement: plan.tokensPerBatchElement,
      validTokens: plan.validTokens,
      paddingTokens: T - plan.validTokens,
    },
    global: { ...stats.global },
    layerNorm: {
      eps: plan.eps,
      affine: { weight: plan.weight !== null, bias: plan.bias !== null },
      perToken: { mean: Array.from(ln.mean), var: Array.from(ln.var), rstd: Array.from(ln.rstd), ...lnOut },
      summary: { mean: summarize(ln.mean, isValid), std: summarize(lnStd, isValid) },
      series: { mean: downsampleSeries(ln.mean, maxPoints), std: downsampleSeries(lnStd, maxPoints), outputStd: downsampleSeries(lnOut.outputStd, maxPoints) },
    },
    rmsNorm: {
      eps: plan.eps,
      perToken: { rms: Array.from(stats.rmsNorm.rms), ...rmsOut },
      summary: { rms: summarize(stats.rmsNorm.rms, isValid) },
      series: { rms: downsampleSeries(stats.rmsNorm.rms, maxPoints), outputStd: downsampleSeries(rmsOut.outputStd, maxPoints) },
    },
    batchNorm: {
      eps: plan.eps,
      perFeature: batchValid,
      unmasked: batchAll,
      perToken: bnOut,
      series: { mean: downsampleSeries(batchValid.mean, maxPoints), std: downsampleSeries(bnStd, maxPoints), outputStd: downsampleSeries(bnOut.outputStd, maxPoints) },
    },
    histograms: { input: hist(0, inEdges), layerNorm: hist(1, outEdges), rmsNorm: hist(2, outEdges), batchNorm: hist(3, outEdges) },
    tokenDistributions: {
      input: { mean: tokenHist(ln.mean), std: tokenHist(lnStd) },
      layerNorm: { mean: tokenHist(lnOut.outputMean), std: tokenHist(lnOut.outputStd) },
      rmsNorm: { mean: tokenHist(rmsOut.outputMean), std: tokenHist(rmsOut.outputStd) },
      batchNorm: { mean: tokenHist(bnOut.outputMean), std: tokenHist(bnOut.outputStd) },
    },
    perBatch: { elementsPerEntry: plan.batchElementsPerUnit, probabilities, entries },
    batchDependence: { layerNormShift: 0, subBatches },
    padding,
    runningStats,
    comparison,
    warnings,
    timing,
  };
}

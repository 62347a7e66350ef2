import type { AnalysisReport } from '../report/analysisReport';
import type { SiteSummary, SweepSite, SiteTensors } from '../report/sweepReport';

/** The site's key numbers, read from its full AnalysisReport (which is then dropped: memory per site stays small). */
export function summarizeSite(report: AnalysisReport): SiteSummary {
  const g = report.global;
  const rms = report.rmsNorm.summary.rms;
  const outlier = report.warnings.find((w) => w.code === 'outlier-feature');
  const features = outlier?.details['features'];
  const summary: SiteSummary = {
    mean: g.mean,
    std: g.std,
    min: g.min,
    max: g.max,
    maxAbs: Math.max(Math.abs(g.min), Math.abs(g.max)),
    nan: g.nan,
    inf: g.posInf + g.negInf,
    tokenRms: { mean: rms.mean, min: rms.min, max: rms.max },
    outlierFeatures: Array.isArray(features) ? features.filter((f): f is number => typeof f === 'number') : [],
  };
  const replay = report.comparison;
  if (replay) {
    summary.bestMatch = replay.bestMatch;
    if (replay.bestMatch === 'batchnorm' && replay.batchNormStatistics === 'running') summary.batchNormStatistics = 'running';
    summary.maxAbsError = replay.maxAbsError;
    if (replay.fittedEps !== undefined) summary.fittedEps = replay.fittedEps;
    // G only when GroupNorm is the match (DESIGN.md: `groups: G when groupnorm`).
    if (replay.bestMatch === 'groupnorm' && typeof replay.groups === 'number') summary.groups = replay.groups;
  }
  const subBatches = report.batchDependence.subBatches.filter((s) => s.size < report.layout.batchSize && s.minCount > 1);
  const half = subBatches.length > 0 ? subBatches[subBatches.length - 1]! : undefined;
  if (half) summary.bnSubBatchShift = half.rmsShift;
  return summary;
}

/** One row of the SweepReport from a site's analysis. */
export function sweepSiteOf(name: string, tensors: SiteTensors, report: AnalysisReport): SweepSite {
  return {
    name,
    tensors,
    shape: [...report.input.shape],
    dtype: report.input.dtype,
    layout: { featureAxis: report.layout.featureAxis, tokens: report.layout.tokens, features: report.layout.features, featureAxisRule: report.layout.featureAxisRule },
    summary: summarizeSite(report),
    warnings: report.warnings.map((w) => ({ code: w.code, severity: w.severity, message: w.message })),
  };
}

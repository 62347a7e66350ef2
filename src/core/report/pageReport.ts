import type { AnalysisReport, DownsampledSeries } from './analysisReport';

/**
 * The report as the pages get it: without the long arrays they do not draw, which are most of a big
 * dump's report and cross to the page as binary (in a remote or web workbench, ~0.1 ms per KiB):
 * the per-token arrays (the pages draw `series` of them; the inspector asks for LayerNorm's mean and
 * std of one batch element at a time, `tokenSeries`), per-feature min, max, counts and unbiased
 * variance, the unmasked BatchNorm statistics and padding's variance ratios (the pages show none of
 * them), the series of LayerNorm's token mean and of RMS, and BatchNorm's mean and std series
 * unless the per-feature arrays are reduced (the page draws those arrays). Exports and commands use
 * the full report.
 */
export function pageReport(report: AnalysisReport): AnalysisReport {
  const ln = report.layerNorm;
  const bn = report.batchNorm;
  const pf = bn.perFeature;
  const noSeries = (s: DownsampledSeries): DownsampledSeries => ({ ...s, mean: [], min: [], max: [] });
  return {
    ...report,
    // `reduced` and `top` stay: the pages say when the per-token arrays were over their cap.
    layerNorm: { ...ln, perToken: { ...ln.perToken, mean: [], var: [], rstd: [], outputMean: [], outputStd: [] }, series: { ...ln.series, mean: noSeries(ln.series.mean) } },
    rmsNorm: { ...report.rmsNorm, perToken: { ...report.rmsNorm.perToken, rms: [], outputMean: [], outputStd: [] }, series: { ...report.rmsNorm.series, rms: noSeries(report.rmsNorm.series.rms) } },
    batchNorm: {
      ...bn,
      perFeature: { ...pf, varUnbiased: [], counts: [], min: [], max: [] },
      unmasked: null,
      perToken: { ...bn.perToken, outputMean: [], outputStd: [] },
      series: pf.reduced ? bn.series : { ...bn.series, mean: noSeries(bn.series.mean), std: noSeries(bn.series.std) },
    },
    padding: report.padding ? { ...report.padding, varRatio: [] } : null,
  };
}

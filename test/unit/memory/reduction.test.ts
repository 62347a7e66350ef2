import { strict as assert } from 'node:assert';
import { analyzeDump } from '../../../src/core/analysis/analyze';
import type { AnalysisOptions } from '../../../src/core/analysis/plan';
import type { AnalysisReport, DownsampledSeries, Histogram } from '../../../src/core/report/analysisReport';
import { memoryDump, normalGenerator, type MemoryTensor } from '../analysis/memoryDump';

function close(a: number, b: number, what: string, rel = 1e-12): void {
  if (Number.isNaN(a) && Number.isNaN(b)) return;
  assert.ok(Math.abs(a - b) <= rel * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);
}

function sameSeries(a: DownsampledSeries, b: DownsampledSeries, what: string): void {
  assert.equal(a.length, b.length, `${what}.length`);
  assert.equal(a.bucketSize, b.bucketSize, `${what}.bucketSize`);
  for (const k of ['mean', 'min', 'max'] as const) {
    assert.equal(a[k].length, b[k].length);
    a[k].forEach((v, i) => close(v, b[k][i]!, `${what}.${k}[${i}]`));
  }
}

function sameHistogram(a: Histogram, b: Histogram, what: string): void {
  assert.deepEqual(a.counts, b.counts, `${what}.counts`);
  a.edges.forEach((v, i) => close(v, b.edges[i]!, `${what}.edges[${i}]`));
}

/** First index of the min / max of the finite values where include holds. */
function argExtremes(values: number[], include: (t: number) => boolean): { min: number; max: number; minToken: number; maxToken: number } {
  let min = Infinity;
  let max = -Infinity;
  let minToken = -1;
  let maxToken = -1;
  values.forEach((v, t) => {
    if (!Number.isFinite(v) || !include(t)) return;
    if (v < min) [min, minToken] = [v, t];
    if (v > max) [max, maxToken] = [v, t];
  });
  return { min, max, minToken, maxToken };
}

function topOf(values: number[], include: (t: number) => boolean, k: number): { token: number; value: number }[] {
  return values
    .map((value, token) => ({ token, value }))
    .filter((x) => Number.isFinite(x.value) && include(x.token))
    .sort((a, b) => b.value - a.value || a.token - b.token)
    .slice(0, k);
}

/** Runs the analysis with the default cap (full arrays) and with a tiny cap (reduced), and compares. */
async function compare(tensors: MemoryTensor[], options: AnalysisOptions): Promise<{ full: AnalysisReport; reduced: AnalysisReport }> {
  const full = await analyzeDump(memoryDump(tensors), options);
  const reduced = await analyzeDump(memoryDump(tensors), { ...options, maxTokenSeries: 64 });
  const T = full.layout.tokens;
  const mask = tensors.find((t) => t.name === 'attention_mask')?.values;
  const real = (t: number): boolean => !mask || mask[t] === 1;

  assert.equal(full.layerNorm.perToken.mean.length, T);
  assert.equal(full.layerNorm.perToken.reduced, undefined);
  assert.deepEqual(reduced.layerNorm.perToken.mean, []);
  assert.deepEqual(reduced.rmsNorm.perToken.rms, []);
  assert.deepEqual(reduced.batchNorm.perToken.outputStd, []);
  assert.equal(reduced.layerNorm.perToken.reduced?.from, T);
  assert.equal(reduced.layerNorm.perToken.reduced?.to, 0);
  assert.match(reduced.layerNorm.perToken.reduced?.how ?? '', /min\/mean\/max buckets/);

  for (const k of ['count', 'finite', 'nan', 'posInf', 'negInf', 'min', 'max'] as const) assert.equal(reduced.global[k], full.global[k], `global.${k}`);
  close(reduced.global.mean, full.global.mean, 'global.mean', 1e-12);
  close(reduced.global.std, full.global.std, 'global.std', 1e-12);

  // Per-token moments: exact extremes (values and tokens), moments to rounding, same series.
  const lnStd = full.layerNorm.perToken.var.map(Math.sqrt);
  const checks: [string, number[], NonNullable<AnalysisReport['layerNorm']['summary']['mean']>, NonNullable<AnalysisReport['layerNorm']['summary']['mean']>][] = [
    ['layerNorm.mean', full.layerNorm.perToken.mean, reduced.layerNorm.summary.mean, full.layerNorm.summary.mean],
    ['layerNorm.std', lnStd, reduced.layerNorm.summary.std, full.layerNorm.summary.std],
    ['rmsNorm.rms', full.rmsNorm.perToken.rms, reduced.rmsNorm.summary.rms, full.rmsNorm.summary.rms],
  ];
  for (const [what, values, r, f] of checks) {
    const e = argExtremes(values, real);
    // Feature-last: a token's moments come from the same read either way (bit for bit); channels-first
    // tiles split at other places, so a token's Chan-merged moments may differ in the last bit.
    const exact = options.featureAxis === undefined;
    const same = (a: number, b: number, w: string): void => (exact ? assert.equal(a, b, w) : close(a, b, w, 1e-14));
    same(r.min, e.min, `${what}.min`);
    same(r.max, e.max, `${what}.max`);
    assert.equal(r.minToken, e.minToken, `${what}.minToken`);
    assert.equal(r.maxToken, e.maxToken, `${what}.maxToken`);
    close(r.mean, f.mean, `${what}.mean`, 1e-12);
    close(r.std, f.std, `${what}.std`, 1e-10);
  }
  sameSeries(reduced.layerNorm.series.mean, full.layerNorm.series.mean, 'layerNorm.series.mean');
  sameSeries(reduced.layerNorm.series.std, full.layerNorm.series.std, 'layerNorm.series.std');
  sameSeries(reduced.layerNorm.series.outputStd, full.layerNorm.series.outputStd, 'layerNorm.series.outputStd');
  sameSeries(reduced.rmsNorm.series.rms, full.rmsNorm.series.rms, 'rmsNorm.series.rms');
  sameSeries(reduced.rmsNorm.series.outputStd, full.rmsNorm.series.outputStd, 'rmsNorm.series.outputStd');
  sameSeries(reduced.batchNorm.series.outputStd, full.batchNorm.series.outputStd, 'batchNorm.series.outputStd');

  // Top-k extreme tokens.
  const sameTop = (got: { token: number; value: number }[] | undefined, values: number[], what: string): void => {
    const want = topOf(values, real, 64);
    assert.deepEqual((got ?? []).map((x) => x.token), want.map((x) => x.token), what);
    (got ?? []).forEach((x, i) => close(x.value, want[i]!.value, what, 1e-14));
  };
  sameTop(reduced.layerNorm.perToken.top?.std, lnStd, 'layerNorm top std');
  sameTop(reduced.rmsNorm.perToken.top?.rms, full.rmsNorm.perToken.rms, 'rmsNorm top rms');
  sameTop(reduced.layerNorm.perToken.top?.outputStd, full.layerNorm.perToken.outputStd, 'layerNorm top outputStd');
  sameTop(reduced.batchNorm.perToken.top?.outputStd, full.batchNorm.perToken.outputStd, 'batchNorm top outputStd');

  // Histograms: the value histograms and the per-token input distributions are the same.
  for (const k of ['input', 'layerNorm', 'rmsNorm', 'batchNorm'] as const) sameHistogram(reduced.histograms[k], full.histograms[k], `histograms.${k}`);
  sameHistogram(reduced.tokenDistributions.input.mean, full.tokenDistributions.input.mean, 'tokenDistributions.input.mean');
  sameHistogram(reduced.tokenDistributions.input.std, full.tokenDistributions.input.std, 'tokenDistributions.input.std');
  // Output distributions: exact counts on the norm-output range (same totals).
  for (const k of ['layerNorm', 'rmsNorm', 'batchNorm'] as const) {
    assert.equal(reduced.tokenDistributions[k].std.total, full.tokenDistributions[k].std.total);
    assert.equal(reduced.tokenDistributions[k].mean.total, full.tokenDistributions[k].mean.total);
  }

  // Per-feature statistics and checks are the same.
  reduced.batchNorm.perFeature.mean.forEach((v, f) => close(v, full.batchNorm.perFeature.mean[f]!, `bn mean ${f}`));
  reduced.batchNorm.perFeature.var.forEach((v, f) => close(v, full.batchNorm.perFeature.var[f]!, `bn var ${f}`));
  assert.equal(reduced.perBatch.entries.length, full.perBatch.entries.length);
  reduced.perBatch.entries.forEach((e, u) => {
    const f = full.perBatch.entries[u]!;
    assert.equal(e.validTokens, f.validTokens);
    for (const k of ['input', 'layerNorm', 'rmsNorm', 'batchNorm'] as const) e[k].forEach((q, i) => close(q, f[k][i]!, `perBatch ${u} ${k}`, 1e-12));
  });
  assert.deepEqual(reduced.warnings.map((w) => w.code), full.warnings.map((w) => w.code));
  // The fitted eps is the median of the first maxTokenSeries tokens' estimates in the reduced path.
  const details = (r: AnalysisReport): unknown[] => r.warnings.map((w) => ({ ...(w.details as object), fittedEps: undefined, hints: undefined }));
  assert.deepEqual(details(reduced), details(full));
  if (full.comparison) {
    assert.equal(reduced.comparison?.bestMatch, full.comparison.bestMatch);
    assert.equal(reduced.comparison?.maxAbsError, full.comparison.maxAbsError);
    // 1,000 tokens: more eps estimates than the cap of 64, so the fitted eps is a median of the first 64.
    assert.ok(reduced.comparison?.candidates.layernorm.shapeResidual !== undefined);
    close(reduced.comparison!.candidates.layernorm.shapeResidual, full.comparison.candidates.layernorm.shapeResidual, 'shapeResidual', 1e-9);
  }
  return { full, reduced };
}

function data(n: number, seed: number, scale = (i: number): number => 1 + (i % 7)): number[] {
  const g = normalGenerator(seed);
  return Array.from({ length: n }, (_, i) => g() * scale(i) + (i % 13) * 0.1);
}

function layerNormOf(x: number[], F: number, eps = 1e-5): number[] {
  const y = new Array<number>(x.length);
  for (let t = 0; t < x.length / F; t++) {
    const row = x.slice(t * F, (t + 1) * F);
    const m = row.reduce((a, b) => a + b, 0) / F;
    const v = row.reduce((a, b) => a + (b - m) ** 2, 0) / F;
    for (let f = 0; f < F; f++) y[t * F + f] = (row[f]! - m) / Math.sqrt(v + eps);
  }
  return y;
}

describe('reduced per-token series (maxTokenSeries)', () => {
  it('feature-last, no mask, with a recorded LayerNorm output: the reduced statistics equal those of the full arrays', async () => {
    const F = 8;
    const x = data(1000 * F, 1);
    // A constant token (degenerate) and a NaN (non-finite) so the checks have tokens to list.
    for (let f = 0; f < F; f++) x[37 * F + f] = 2;
    x[500 * F + 3] = NaN;
    const y = layerNormOf(x, F);
    await compare(
      [
        { name: 'hidden_states', shape: [10, 100, F], values: x },
        { name: 'output', shape: [10, 100, F], values: y.map((v) => (Number.isNaN(v) ? 0 : v)) },
      ],
      {},
    );
  });

  it('feature-last with a padding mask', async () => {
    const F = 6;
    const mask = Array.from({ length: 1000 }, (_, t) => (t % 100 < 80 ? 1 : 0));
    await compare(
      [
        { name: 'hidden_states', shape: [10, 100, F], values: data(1000 * F, 2) },
        { name: 'attention_mask', shape: [10, 100], values: mask },
      ],
      {},
    );
  });

  it('channels-first (N, C, L) with --feature-axis 1, with and without mask', async () => {
    const C = 8;
    const x = data(4 * C * 250, 3, (i) => 1 + Math.floor(i / 250) % C);
    await compare([{ name: 'hidden_states', shape: [4, C, 250], values: x }], { featureAxis: 1 });
    const mask = Array.from({ length: 1000 }, (_, t) => (t % 250 < 200 ? 1 : 0));
    await compare(
      [
        { name: 'hidden_states', shape: [4, C, 250], values: x },
        { name: 'attention_mask', shape: [4, 250], values: mask },
      ],
      { featureAxis: 1 },
    );
  });
});

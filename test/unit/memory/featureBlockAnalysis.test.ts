import { strict as assert } from 'node:assert';
import { analyzeDump } from '../../../src/core/analysis/analyze';
import { estimateAnalysisMemory } from '../../../src/core/analysis/memoryBudget';
import { planAnalysis, type AnalysisOptions } from '../../../src/core/analysis/plan';
import { downsampleSeries, summarize } from '../../../src/core/analysis/histogram';
import type { AnalysisReport, DownsampledSeries, JsonValue, SeriesSummary } from '../../../src/core/report/analysisReport';
import { NormLensError } from '../../../src/core/errors';
import { formatReportText } from '../../../src/core/report/textSummary';
import { renderMarkdownReport } from '../../../src/core/report/markdownReport';
import { memoryDump, normalGenerator, type MemoryTensor } from '../analysis/memoryDump';
import { join } from 'node:path';
import { analyzeFile } from '../../../src/worker/workerRunner';
import { runAnalyze } from '../../../src/cli/analyzeCommand';

const TRANSFORMER = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'analysis', 'transformer.npz');

const F = 50;

function close(a: number, b: number, what: string, rel = 1e-12): void {
  if (Number.isNaN(a) && Number.isNaN(b)) return;
  if (a === b) return;
  assert.ok(Math.abs(a - b) <= rel * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);
}

function closeArrays(a: ArrayLike<number>, b: ArrayLike<number>, what: string, rel = 1e-12): void {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) close(a[i]!, b[i]!, `${what}[${i}]`, rel);
}

/** Deep comparison with numbers within `rel` (NaN equals NaN, null equals NaN after JSON). */
function closeDeep(a: unknown, b: unknown, what: string, rel = 1e-12): void {
  if (typeof a === 'number' && typeof b === 'number') return close(a, b, what, rel);
  if (Array.isArray(a) && Array.isArray(b)) {
    assert.equal(a.length, b.length, `${what}: length`);
    a.forEach((x, i) => closeDeep(x, b[i], `${what}[${i}]`, rel));
    return;
  }
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort(), `${what}: keys`);
    for (const k of Object.keys(a)) closeDeep((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${what}.${k}`, rel);
    return;
  }
  assert.deepEqual(a, b, what);
}

function closeSeries(a: DownsampledSeries, b: DownsampledSeries, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  assert.equal(a.bucketSize, b.bucketSize, `${what}: bucketSize`);
  closeArrays(a.mean, b.mean, `${what}.mean`);
  closeArrays(a.min, b.min, `${what}.min`);
  closeArrays(a.max, b.max, `${what}.max`);
}

interface Case {
  name: string;
  shape: number[];
  options: AnalysisOptions;
  mask?: number[];
  output?: 'layernorm' | 'batchnorm';
  running?: boolean;
  affine?: boolean;
}

const CASES: Case[] = [
  { name: 'feature-last (4, 3, 50), recorded LayerNorm', shape: [4, 3, F], options: {}, output: 'layernorm' },
  { name: 'feature-last with a mask and running stats', shape: [4, 3, F], options: {}, mask: [1, 1, 0, 1, 0, 0, 1, 1, 1, 1, 1, 0], running: true },
  { name: 'feature-last with a mask, affine, recorded BatchNorm', shape: [4, 3, F], options: {}, mask: [1, 1, 0, 1, 0, 0, 1, 1, 1, 1, 1, 0], output: 'batchnorm', affine: true },
  { name: 'channels-first (3, 50, 5), recorded BatchNorm', shape: [3, F, 5], options: { featureAxis: 1 }, output: 'batchnorm' },
  { name: 'channels-first with a mask, recorded LayerNorm', shape: [3, F, 5], options: { featureAxis: 1 }, mask: [1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 1, 0, 1, 1], output: 'layernorm' },
  { name: 'grouped batch units (8, 2, 50), 2 entries, running stats', shape: [8, 2, F], options: { maxBatchEntries: 2 }, running: true },
];

/** x as (outer, F, inner) → the recorded output of the norm (float32). */
function recorded(kind: 'layernorm' | 'batchnorm', v: number[], outer: number, inner: number): number[] {
  const y = new Array<number>(v.length).fill(0);
  const at = (o: number, f: number, i: number): number => (o * F + f) * inner + i;
  const x = (o: number, f: number, i: number): number => Math.fround(v[at(o, f, i)]!);
  if (kind === 'layernorm') {
    for (let o = 0; o < outer; o++)
      for (let i = 0; i < inner; i++) {
        let m = 0;
        for (let f = 0; f < F; f++) m += x(o, f, i);
        m /= F;
        let s = 0;
        for (let f = 0; f < F; f++) s += (x(o, f, i) - m) ** 2;
        const r = 1 / Math.sqrt(s / F + 1e-5);
        for (let f = 0; f < F; f++) y[at(o, f, i)] = Math.fround((x(o, f, i) - m) * r);
      }
  } else {
    const n = outer * inner;
    for (let f = 0; f < F; f++) {
      let m = 0;
      for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) m += x(o, f, i);
      m /= n;
      let s = 0;
      for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) s += (x(o, f, i) - m) ** 2;
      const r = 1 / Math.sqrt(s / n + 1e-5);
      for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) y[at(o, f, i)] = Math.fround((x(o, f, i) - m) * r);
    }
  }
  return y;
}

async function run(c: Case, maxFeatureSeries?: number): Promise<AnalysisReport> {
  const size = c.shape.reduce((a, b) => a * b, 1);
  const g = normalGenerator(11);
  const axis = c.options.featureAxis ?? c.shape.length - 1;
  const inner = c.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const outer = size / (F * inner);
  // Means far from zero per feature; feature 17 an outlier (massive activation).
  const v = Array.from({ length: size }, (_, k) => {
    const f = Math.floor(k / inner) % F;
    return (f === 17 ? 400 : 0) + 10 + (f % 7) + g() * (1 + (f % 3));
  });
  const tensors: MemoryTensor[] = [{ name: 'activations', shape: c.shape, values: v }];
  if (c.mask) tensors.push({ name: 'attention_mask', shape: [c.mask.length], values: c.mask, dtype: 'float64' });
  if (c.output) tensors.push({ name: 'output', shape: c.shape, values: recorded(c.output, v, outer, inner) });
  if (c.running) {
    tensors.push({ name: 'running_mean', shape: [F], values: Array.from({ length: F }, (_, f) => 10 + (f % 7) + (f % 5 === 0 ? 3 : 0)), dtype: 'float64' });
    tensors.push({ name: 'running_var', shape: [F], values: Array.from({ length: F }, (_, f) => (1 + (f % 3)) ** 2 * (f % 4 === 0 ? 5 : 1)), dtype: 'float64' });
  }
  if (c.affine) {
    tensors.push({ name: 'weight', shape: [F], values: Array.from({ length: F }, (_, f) => 0.5 + f / F), dtype: 'float64' });
    tensors.push({ name: 'bias', shape: [F], values: Array.from({ length: F }, (_, f) => (f % 5) - 2), dtype: 'float64' });
  }
  return analyzeDump(memoryDump(tensors), { ...c.options, ...(maxFeatureSeries !== undefined ? { maxFeatureSeries } : {}) });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const strip = (r: unknown): any => JSON.parse(JSON.stringify(r));

describe('feature-block analysis (features over maxFeatureSeries)', () => {
  for (const c of CASES) {
    it(`the report's statistics equal the unblocked run's: ${c.name}`, async () => {
      const full = await run(c);
      const blocked = await run(c, 8);
      assert.equal(full.batchNorm.perFeature.reduced, undefined);
      const red = blocked.batchNorm.perFeature.reduced;
      assert.ok(red, 'reduced per-feature series');
      assert.equal(red.from, F);
      assert.match(red.how, /maxFeatureSeries/);
      assert.equal(blocked.batchNorm.perFeature.mean.length, 0);
      assert.equal(blocked.options.maxFeatureSeries, 8);
      // Global and per-token statistics.
      closeDeep(blocked.global, full.global, 'global');
      closeDeep(strip(blocked).layerNorm, strip(full).layerNorm, 'layerNorm');
      closeDeep(strip(blocked).rmsNorm, strip(full).rmsNorm, 'rmsNorm');
      closeDeep(blocked.batchNorm.perToken, full.batchNorm.perToken, 'batchNorm.perToken');
      // Histograms: exact counts on the same edges (the LayerNorm/RMSNorm bounds come from per-token
      // moments merged across blocks: equal up to the last bits).
      for (const k of ["input", "layerNorm", "rmsNorm", "batchNorm"] as const) { closeArrays(blocked.histograms[k].edges, full.histograms[k].edges, `edges ${k}`, 1e-14); assert.deepEqual(blocked.histograms[k].counts, full.histograms[k].counts, k); }
      closeDeep(strip(blocked.perBatch), strip(full.perBatch), 'perBatch', 1e-12);
      // Per-token distributions: the input's on the same values; the outputs' (per-token output means
      // are rounding noise around the bias for LayerNorm) with the same totals.
      closeDeep(JSON.parse(JSON.stringify(blocked.tokenDistributions.input)), JSON.parse(JSON.stringify(full.tokenDistributions.input)), 'tokenDistributions.input');
      for (const k of ['layerNorm', 'rmsNorm', 'batchNorm'] as const) {
        assert.equal(blocked.tokenDistributions[k].std.total, full.tokenDistributions[k].std.total);
        assert.equal(blocked.tokenDistributions[k].mean.total, full.tokenDistributions[k].mean.total);
      }
      // Reduced per-feature series equal the bucketed full arrays.
      const fm = full.batchNorm.perFeature;
      const std = fm.var.map((x) => Math.sqrt(x));
      closeSeries(blocked.batchNorm.series.mean, downsampleSeries(fm.mean, full.options.maxSeriesPoints), 'series.mean');
      closeSeries(blocked.batchNorm.series.std, downsampleSeries(std, full.options.maxSeriesPoints), 'series.std');
      const summary = (x: SeriesSummary, values: number[], what: string): void => {
        const { minToken, maxToken, ...rest } = x;
        closeDeep(rest, summarize(values, null), what);
        assert.equal(values[minToken!], x.min);
        assert.equal(values[maxToken!], x.max);
      };
      summary(blocked.batchNorm.perFeature.summary!.mean, fm.mean, 'summary.mean');
      closeDeep(blocked.batchNorm.perFeature.summary!.std.max, Math.max(...std), 'summary.std.max');
      assert.equal(blocked.batchNorm.perFeature.top!.maxAbs[0]!.token, 17);
      if (c.mask) {
        assert.ok(blocked.batchNorm.unmasked?.reduced);
        summary(blocked.batchNorm.unmasked!.summary!.mean, full.batchNorm.unmasked!.mean, 'unmasked.summary.mean');
        close(blocked.padding!.maxMeanShift, full.padding!.maxMeanShift, 'padding.maxMeanShift');
        assert.deepEqual(blocked.padding!.worstFeatures, full.padding!.worstFeatures);
        assert.equal(blocked.padding!.paddingTokens, full.padding!.paddingTokens);
      } else assert.equal(blocked.batchNorm.unmasked, null);
      if (c.running) {
        let worst = 0;
        for (const x of full.runningStats!.meanShift) if (Number.isFinite(x) && x > worst) worst = x;
        close(blocked.runningStats!.maxMeanShift!, worst, 'runningStats.maxMeanShift');
      }
      // Sub-batches: exact but medianVarRatio (not computed in blocks).
      assert.equal(blocked.batchDependence.subBatches.length, full.batchDependence.subBatches.length);
      blocked.batchDependence.subBatches.forEach((s, k) => {
        const { medianVarRatio: _a, ...rest } = s;
        const { medianVarRatio: _b, ...want } = full.batchDependence.subBatches[k]!;
        assert.ok(Number.isNaN(_a));
        closeDeep(rest, want, `subBatches[${k}]`);
      });
      // Replay: best match, errors, fits (the BatchNorm fitted eps is over the first 8 features only).
      if (c.output) {
        const a = blocked.comparison!;
        const b = full.comparison!;
        assert.equal(a.bestMatch, b.bestMatch);
        if (!c.affine) assert.equal(b.bestMatch, c.output);
        close(a.maxAbsError, b.maxAbsError, 'maxAbsError');
        for (const k of Object.keys(b.candidates) as (keyof typeof b.candidates)[]) {
          if (k === 'groupnorm' || k === 'instancenorm') continue;
          const x = a.candidates[k]!;
          const y = b.candidates[k]!;
          close(x.maxAbsError, y.maxAbsError, `${k}.maxAbsError`);
          close(x.rmsError, y.rmsError, `${k}.rmsError`);
          close(x.shapeResidual, y.shapeResidual, `${k}.shapeResidual`, 1e-9);
          if (k !== 'batchnorm') assert.equal(x.fittedEps, y.fittedEps);
        }
        closeDeep(a.recordedHistogram, b.recordedHistogram, 'recordedHistogram', 1e-14);
        assert.deepEqual(a.errorHistograms.layernorm, b.errorHistograms.layernorm);
        assert.deepEqual(a.errorHistograms.batchnorm, b.errorHistograms.batchnorm);
      } else assert.equal(blocked.comparison, null);
      // Warnings: the same codes, feature lists and numbers.
      const warn = (r: AnalysisReport): JsonValue => (JSON.parse(JSON.stringify(r.warnings.map((w) => ({ code: w.code, severity: w.severity, details: w.details })))) as JsonValue);
      closeDeep(warn(blocked), warn(full), 'warnings');
      assert.ok(blocked.warnings.some((w) => w.code === 'outlier-feature'));
      assert.equal(blocked.groupNorm, null);
      assert.equal(blocked.instanceNorm, null);
    });
  }

  it('the text and Markdown summaries say the per-feature series are reduced; full runs do not', async () => {
    const c = CASES[1]!;
    const blocked = await run(c, 8);
    const full = await run(c);
    assert.match(formatReportText(blocked), /per-feature series: 50 features, shown as 50 min\/max buckets of 1 feature \(over the cap of 8; summaries exact\)/);
    assert.match(renderMarkdownReport(blocked), /Per-feature series: 50 features/);
    assert.match(renderMarkdownReport(blocked), /GroupNorm\/InstanceNorm are not computed/);
    assert.doesNotMatch(formatReportText(full), /per-feature series/);
    // The feature mean range of the text summary is the full run's.
    const range = (t: string): string => /feature mean: range \[[^\]]*\]/.exec(t)![0];
    assert.equal(range(formatReportText(blocked)), range(formatReportText(full)));
  });

  it('runs its blocks on worker threads (block plans read through resolvePlanTensors) to the in-process report, and --max-feature-series reaches it', async () => {
    const full = (await analyzeFile(TRANSFORMER, { workers: 0 })).report;
    const inProcess = (await analyzeFile(TRANSFORMER, { workers: 0, analysis: { maxFeatureSeries: 8 } })).report;
    const workers = (await analyzeFile(TRANSFORMER, { workers: 2, minElementsForWorkers: 0, analysis: { maxFeatureSeries: 8 } })).report;
    assert.equal(workers.timing.workers, 2);
    assert.ok(workers.batchNorm.perFeature.reduced);
    closeDeep(strip({ ...workers, timing: null }), strip({ ...inProcess, timing: null }), 'workers vs in process');
    closeDeep(workers.global, full.global, 'global');
    assert.deepEqual(workers.histograms.input, full.histograms.input);
    assert.equal(workers.comparison?.bestMatch, full.comparison?.bestMatch);
    assert.deepEqual(workers.warnings.map((w) => w.code), full.warnings.map((w) => w.code));
    let out = '';
    const code = await runAnalyze([TRANSFORMER, '--json', '--max-feature-series', '8'], { out: (t) => (out += t), err: () => undefined });
    assert.equal(code, 0);
    const cli = JSON.parse(out) as AnalysisReport;
    assert.equal(cli.options.maxFeatureSeries, 8);
    assert.equal(cli.batchNorm.perFeature.reduced?.from, full.layout.features);
  });

  it('the estimate counts one block; with tokens and features both over their caps the budget error names the features', async () => {
    const dump = memoryDump([{ name: 'x', shape: [4, F], values: new Array<number>(4 * F).fill(1) }]);
    const blocked = await planAnalysis(dump, { maxFeatureSeries: 8 });
    const full = await planAnalysis(dump, {});
    const cells = (p: typeof full): number => estimateAnalysisMemory(p, 0).items.find((i) => i.what.startsWith('per-(batch'))!.bytes;
    assert.ok(cells(blocked) < cells(full));
    const both = await planAnalysis(dump, { maxFeatureSeries: 8, maxTokenSeries: 2, maxMemoryMB: 0.0001 });
    await assert.rejects(
      analyzeDump(dump, { maxFeatureSeries: 8, maxTokenSeries: 2, maxMemoryMB: 0.0001 }),
      (e: unknown) => e instanceof NormLensError && e.kind === 'limit' && /4 tokens > maxTokenSeries \(2\) and 50 features > maxFeatureSeries \(8\)/.test(e.message),
    );
    assert.match(estimateAnalysisMemory(both, 0).items.map((i) => i.what).join(' | '), /over maxTokenSeries too/);
  });
});

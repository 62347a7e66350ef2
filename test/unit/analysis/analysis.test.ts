import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyzeDump, executeAnalysis, inProcessExecutor } from '../../../src/core/analysis/analyze';
import { planAnalysis } from '../../../src/core/analysis/plan';
import { DEFAULT_THRESHOLDS } from '../../../src/core/analysis/thresholds';
import { isNormLensError } from '../../../src/core/errors';
import type { AnalysisReport, WarningCode } from '../../../src/core/report/analysisReport';
import { memoryDump, normalGenerator, openFixture, type MemoryTensor } from './memoryDump';

const FIXTURES = join(__dirname, '..', '..', 'fixtures', 'analysis');

interface ExpectedStats {
  global: { count: number; nan: number; posInf: number; negInf: number; min: number; max: number; mean: number; std: number };
  lnMean: number[];
  lnVar: number[];
  rms: number[];
  bnMean: number[];
  bnVar: number[];
  bnVarUnbiased: number[];
  bnCount: number;
  bnAllMean?: number[];
  bnAllVar?: number[];
  inputHistogram: number[];
}
interface ExpectedCase {
  file: string;
  featureAxis: number;
  stats: ExpectedStats;
  bestMatch?: string;
  fittedEps?: number;
  options?: { eps?: number };
  warnings: WarningCode[];
}
const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as Record<string, ExpectedCase>;

function close(actual: number, want: number, rel: number, what: string): void {
  const err = Math.abs(actual - want) / Math.max(Math.abs(want), 1e-300);
  assert.ok(err <= rel || Math.abs(actual - want) < 1e-300, `${what}: ${actual} vs ${want} (relative error ${err})`);
}

function closeArray(actual: readonly number[], want: readonly number[], rel: number, what: string): void {
  assert.equal(actual.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) close(actual[i]!, want[i]!, rel, `${what}[${i}]`);
}

async function analyzeFixture(name: string): Promise<AnalysisReport> {
  const c = expected[name]!;
  const { dump, close: done } = await openFixture(join(FIXTURES, c.file));
  try {
    return await analyzeDump(dump, { ...(c.options ?? {}), featureAxis: c.featureAxis }, {}, c.file);
  } finally {
    await done();
  }
}

function codes(r: AnalysisReport, severities: readonly string[] = ['error', 'warning']): string[] {
  return [...new Set(r.warnings.filter((w) => severities.includes(w.severity)).map((w) => w.code))].sort();
}

describe('analysis engine against PyTorch/numpy fixtures', () => {
  for (const name of Object.keys(expected)) {
    it(`${name}: statistics match numpy float64 to 1e-9`, async () => {
      const r = await analyzeFixture(name);
      const s = expected[name]!.stats;
      assert.equal(r.schemaVersion, 1);
      for (const k of ['count', 'nan', 'posInf', 'negInf'] as const) assert.equal(r.global[k], s.global[k], `global.${k}`);
      for (const k of ['min', 'max', 'mean', 'std'] as const) close(r.global[k], s.global[k], 1e-9, `global.${k}`);
      closeArray(r.layerNorm.perToken.mean, s.lnMean, 1e-9, 'layerNorm.perToken.mean');
      closeArray(r.layerNorm.perToken.var, s.lnVar, 1e-9, 'layerNorm.perToken.var');
      closeArray(r.rmsNorm.perToken.rms, s.rms, 1e-9, 'rmsNorm.perToken.rms');
      closeArray(r.batchNorm.perFeature.mean, s.bnMean, 1e-9, 'batchNorm.perFeature.mean');
      closeArray(r.batchNorm.perFeature.var, s.bnVar, 1e-9, 'batchNorm.perFeature.var');
      closeArray(r.batchNorm.perFeature.varUnbiased, s.bnVarUnbiased, 1e-9, 'batchNorm.perFeature.varUnbiased');
      assert.equal(r.batchNorm.perFeature.count, s.bnCount);
      if (s.bnAllMean && s.bnAllVar) {
        closeArray(r.batchNorm.unmasked!.mean, s.bnAllMean, 1e-9, 'batchNorm.unmasked.mean');
        closeArray(r.batchNorm.unmasked!.var, s.bnAllVar, 1e-9, 'batchNorm.unmasked.var');
      }
      assert.deepEqual(r.histograms.input.counts, s.inputHistogram, 'input histogram equals numpy.histogram');
    });
    it(`${name}: best match, fitted eps and warning codes`, async () => {
      const r = await analyzeFixture(name);
      const c = expected[name]!;
      assert.deepEqual(codes(r), [...c.warnings].sort());
      if (c.bestMatch !== undefined) assert.equal(r.comparison?.bestMatch, c.bestMatch);
      else assert.equal(r.comparison, null);
      if (c.fittedEps !== undefined) close(r.comparison!.fittedEps!, c.fittedEps, 0.05, 'fittedEps');
    });
  }

  it('holds float16 outputs to float16 precision, not float32', async () => {
    const r = await analyzeFixture('ln_fp16');
    const c = r.comparison!;
    assert.equal(c.dtype, 'float16');
    assert.ok(c.candidates.layernorm.withinTolerance);
    assert.ok(c.maxAbsError > DEFAULT_THRESHOLDS.replayRelativeTolerance.float32 * Math.max(1, ...r.histograms.layerNorm.edges.map(Math.abs)) / 10, 'error is above float32 precision');
  });

  it('outlier-feature lists the planted features', async () => {
    const r = await analyzeFixture('massive');
    const w = r.warnings.find((x) => x.code === 'outlier-feature')!;
    assert.deepEqual(w.details.features, [7, 41]);
  });

  it('every histogram counts every valid finite value exactly once', async () => {
    const r = await analyzeFixture('transformer');
    const n = r.layout.validTokens * r.layout.features;
    for (const h of [r.histograms.input, r.histograms.layerNorm, r.histograms.rmsNorm, r.histograms.batchNorm]) {
      assert.equal(h.total, n);
      assert.equal(h.counts.reduce((a, b) => a + b, 0), n);
      assert.equal(h.edges.length, h.counts.length + 1);
    }
    assert.deepEqual(r.histograms.layerNorm.edges, r.histograms.batchNorm.edges, 'norm outputs share edges');
    assert.equal(r.perBatch.entries.length, 4);
    assert.ok(r.perBatch.entries.every((e) => e.layerNorm.length === r.perBatch.probabilities.length));
  });
});

function randomTensor(name: string, shape: number[], seed: number, scale = 1, shift = 0): MemoryTensor {
  const next = normalGenerator(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return { name, shape, values: Array.from({ length: size }, () => next() * scale + shift) };
}

describe('analysis engine: crafted warnings and negative controls', () => {
  it('stays silent on clean data', async () => {
    const r = await analyzeDump(memoryDump([randomTensor('hidden_states', [4, 16, 32], 1)]));
    assert.deepEqual(r.warnings, []);
    assert.equal(r.comparison, null);
    assert.equal(r.padding, null);
  });

  it('non-finite: counts NaN/±Inf, leaves them out of the moments', async () => {
    const x = randomTensor('hidden_states', [2, 16, 32], 2);
    const values = Array.from(x.values);
    values[5] = NaN;
    values[40] = Infinity;
    values[41] = -Infinity;
    const r = await analyzeDump(memoryDump([{ ...x, values }]));
    assert.deepEqual(codes(r), ['non-finite']);
    assert.equal(r.global.nan, 1);
    assert.equal(r.global.posInf, 1);
    assert.equal(r.global.negInf, 1);
    const clean = values.slice(0, 32).map(Math.fround).filter((_, i) => i !== 5);
    close(r.layerNorm.perToken.mean[0]!, clean.reduce((a, b) => a + b, 0) / 31, 1e-12, 'token 0 mean without the NaN');
    assert.equal(r.histograms.input.total, 2 * 16 * 32 - 3);
    assert.deepEqual(r.warnings[0]!.details.tokens, [0, 1]);
  });

  it('shape-mismatch: a weight of the wrong size is ignored, with an axis hint', async () => {
    // Given the last axis (unset, the weight's length would pick axis 1: featureAxis.ts).
    const r = await analyzeDump(memoryDump([randomTensor('hidden_states', [4, 16, 32], 3), { name: 'weight', shape: [16], values: new Array(16).fill(1) }]), { featureAxis: -1 });
    assert.deepEqual(codes(r), ['shape-mismatch']);
    assert.match(r.warnings[0]!.message, /feature axis 1/);
    assert.deepEqual((r.warnings[0]!.details as { hints?: unknown }).hints, [{ kind: 'featureAxis', value: 1 }]);
    assert.equal(r.tensors.weight?.used, false);
  });

  it('shape-mismatch: a mask that does not have one entry per token', async () => {
    const r = await analyzeDump(memoryDump([randomTensor('hidden_states', [4, 16, 32], 4), { name: 'attention_mask', shape: [4, 15], values: new Array(60).fill(1) }]));
    assert.deepEqual(codes(r), ['shape-mismatch']);
    assert.equal(r.layout.paddingTokens, 0);
  });

  it('degenerate-token: constant real tokens', async () => {
    const x = randomTensor('hidden_states', [4, 16, 32], 5);
    const values = Array.from(x.values);
    for (let f = 0; f < 32; f++) values[3 * 32 + f] = 0.25;
    const r = await analyzeDump(memoryDump([{ ...x, values }]));
    assert.deepEqual(codes(r), ['degenerate-token']);
    assert.deepEqual(r.warnings[0]!.details.tokens, [3]);
  });

  it('small-batch: few tokens per feature (a warning when the dump is about BatchNorm, else info)', async () => {
    const r = await analyzeDump(memoryDump([randomTensor('activations', [8, 16], 6)]));
    assert.deepEqual(codes(r, ['info']), ['small-batch']);
    assert.deepEqual(codes(r), []);
    const withRunning = await analyzeDump(
      memoryDump([randomTensor('activations', [8, 16], 6), { name: 'running_mean', shape: [16], values: new Array(16).fill(0) }, { name: 'running_var', shape: [16], values: new Array(16).fill(1) }]),
      { thresholds: { runningMeanShift: 100, runningVarRatio: 100 } },
    );
    assert.deepEqual(codes(withRunning), ['small-batch']);
  });

  it('padding-in-batch-stats: padding with another distribution; silent for masked-out copies of real data', async () => {
    const x = randomTensor('hidden_states', [4, 16, 32], 7);
    const mask = Array.from({ length: 64 }, (_, t) => (t % 16 < 10 ? 1 : 0));
    const values = Array.from(x.values);
    for (let t = 0; t < 64; t++) if (mask[t] === 0) for (let f = 0; f < 32; f++) values[t * 32 + f] = 3;
    const r = await analyzeDump(memoryDump([{ ...x, values }, { name: 'attention_mask', shape: [4, 16], values: mask, dtype: 'int64' }]));
    assert.deepEqual(codes(r), ['padding-in-batch-stats']);
    assert.equal(r.layout.validTokens, 40);
    const sparse = Array.from({ length: 64 }, (_, t) => (t === 63 ? 0 : 1));
    const quiet = await analyzeDump(memoryDump([randomTensor('hidden_states', [4, 16, 32], 7), { name: 'attention_mask', shape: [4, 16], values: sparse, dtype: 'int64' }]));
    assert.deepEqual(codes(quiet), []);
  });

  it('running-stats: silent for converged running statistics (cnn fixture has them)', async () => {
    const r = await analyzeFixture('cnn');
    assert.ok(r.runningStats);
    assert.deepEqual(codes(r), []);
  });

  it('rejects bad options with NormLensError usage', async () => {
    const dump = memoryDump([randomTensor('hidden_states', [2, 4, 8], 8)]);
    await assert.rejects(analyzeDump(dump, { featureAxis: 3 }), (e) => isNormLensError(e) && e.kind === 'usage');
    await assert.rejects(analyzeDump(dump, { tensor: 'nope' }), (e) => isNormLensError(e) && e.kind === 'usage');
    await assert.rejects(analyzeDump(dump, { bins: 1 }), (e) => isNormLensError(e) && e.kind === 'usage');
  });
});

/** Largest relative difference between two reports' numbers (timing left out). */
function reportDifference(a: unknown, b: unknown, path = ''): number {
  if (typeof a === 'number' && typeof b === 'number') {
    if (Number.isNaN(a) && Number.isNaN(b)) return 0;
    return Math.abs(a - b) / Math.max(1, Math.abs(a));
  }
  if (a && typeof a === 'object' && b && typeof b === 'object') {
    let worst = 0;
    for (const k of Object.keys(a)) if (k !== 'timing') worst = Math.max(worst, reportDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`));
    return worst;
  }
  assert.deepEqual(a, b, `report field ${path}`);
  return 0;
}

describe('analysis engine: chunking, splitting and layouts give the same report', () => {
  it('small chunks and three token ranges equal one pass (feature last, with mask and output)', async () => {
    const x = randomTensor('hidden_states', [8, 64, 64], 9, 2, 1);
    const y = randomTensor('output', [8, 64, 64], 10);
    const mask = { name: 'attention_mask', shape: [8, 64], dtype: 'int64' as const, values: Array.from({ length: 512 }, (_, t) => (t % 64 < 50 ? 1 : 0)) };
    const dump = memoryDump([x, y, mask]);
    const whole = await analyzeDump(dump, { chunkBytes: 1 << 26 });
    const plan = await planAnalysis(dump, { chunkBytes: 64 * 1024 });
    const split = await executeAnalysis(plan, { ...inProcessExecutor(dump), parallelism: 3 }, { description: 'dump', format: 'npz' });
    assert.ok(reportDifference(whole, split) < 1e-12);
  });

  it('channels-first tiles (whole blocks, row groups, partial rows) agree with the transposed input', async () => {
    const N = 2;
    const C = 4;
    const L = 20000;
    const cf = randomTensor('activations', [N, C, L], 11, 3, -1);
    const t: number[] = new Array(N * C * L);
    for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let l = 0; l < L; l++) t[(n * L + l) * C + c] = cf.values[(n * C + c) * L + l]!;
    const a = await analyzeDump(memoryDump([cf]), { featureAxis: 1, chunkBytes: 64 * 1024 });
    const b = await analyzeDump(memoryDump([{ name: 'activations', shape: [N, L, C], values: t }]));
    for (const k of ['mean', 'var', 'varUnbiased'] as const) closeArray(a.batchNorm.perFeature[k], b.batchNorm.perFeature[k], 1e-12, k);
    closeArray(a.layerNorm.perToken.var, b.layerNorm.perToken.var, 1e-12, 'ln var');
    closeArray(a.rmsNorm.perToken.rms, b.rmsNorm.perToken.rms, 1e-12, 'rms');
    assert.deepEqual(a.histograms.batchNorm.counts, b.histograms.batchNorm.counts);
    const shiftsA = a.batchDependence.subBatches.map((s) => s.rmsShift);
    const shiftsB = b.batchDependence.subBatches.map((s) => s.rmsShift);
    shiftsA.forEach((v, i) => assert.ok(Math.abs(v - shiftsB[i]!) <= 1e-12 + 1e-9 * Math.abs(v), `sub-batch shift ${i}`));
  });

  it('sub-batch shifts equal a brute-force BatchNorm on each sub-batch', async () => {
    const B = 4;
    const T = 6;
    const H = 5;
    const x = randomTensor('hidden_states', [B, T, H], 12, 2, 0.5);
    const r = await analyzeDump(memoryDump([x]));
    const v = Array.from(x.values, (a) => Math.fround(a));
    const eps = 1e-5;
    const bn = (tokens: number[], f: number): { m: number; r: number } => {
      const xs = tokens.map((t) => v[t * H + f]!);
      const m = xs.reduce((a, b) => a + b, 0) / xs.length;
      const va = xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length;
      return { m, r: 1 / Math.sqrt(va + eps) };
    };
    const all = Array.from({ length: B * T }, (_, t) => t);
    for (const size of [1, 2]) {
      let sq = 0;
      let n = 0;
      let mx = 0;
      for (let g = 0; g < B / size; g++) {
        const tokens = all.filter((t) => Math.floor(t / T / size) === g);
        for (let f = 0; f < H; f++) {
          const full = bn(all, f);
          const sub = bn(tokens, f);
          for (const t of tokens) {
            const d = (v[t * H + f]! - sub.m) * sub.r - (v[t * H + f]! - full.m) * full.r;
            sq += d * d;
            n++;
            mx = Math.max(mx, Math.abs(d));
          }
        }
      }
      const row = r.batchDependence.subBatches.find((s) => s.size === size)!;
      close(row.rmsShift, Math.sqrt(sq / n), 1e-9, `rms shift at ${size}`);
      close(row.maxShift, mx, 1e-9, `max shift at ${size}`);
    }
    assert.equal(r.batchDependence.subBatches[r.batchDependence.subBatches.length - 1]!.size, B);
  });

  it('reports progress up to 1 and stops when cancelled', async () => {
    const dump = memoryDump([randomTensor('hidden_states', [8, 64, 64], 13)]);
    const seen: number[] = [];
    await analyzeDump(dump, { chunkBytes: 64 * 1024 }, { onProgress: (f) => seen.push(f) });
    assert.ok(seen.length > 2);
    assert.equal(seen[seen.length - 1], 1);
    assert.ok(seen.every((f, i) => i === 0 || f >= seen[i - 1]!));
    const flag = { aborted: false };
    await assert.rejects(
      analyzeDump(dump, { chunkBytes: 64 * 1024 }, { cancellation: flag, onProgress: () => (flag.aborted = true) }),
      (e) => isNormLensError(e) && e.kind === 'cancelled',
    );
  });

  it('downsamples long per-token series to the configured number of points with envelopes', async () => {
    const r = await analyzeDump(memoryDump([randomTensor('hidden_states', [40, 100, 4], 14)]), { maxSeriesPoints: 256 });
    const s = r.layerNorm.series.std;
    assert.equal(s.length, 4000);
    assert.ok(s.mean.length <= 256);
    assert.equal(r.layerNorm.perToken.var.length, 4000);
    for (let k = 0; k < s.mean.length; k++) assert.ok(s.min[k]! <= s.mean[k]! && s.mean[k]! <= s.max[k]!);
  });
});

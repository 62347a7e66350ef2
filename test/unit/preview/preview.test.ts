import { strict as assert } from 'node:assert';
import { analyzeDump } from '../../../src/core/analysis/analyze';
import { analyzePreview, chooseTokenSubset, evenlySpread, previewLabel } from '../../../src/core/analysis/preview';
import { planAnalysis } from '../../../src/core/analysis/plan';
import type { AnalysisReport } from '../../../src/core/report/analysisReport';
import { packReport, unpackReport } from '../../../src/core/report/packReport';
import { memoryDump, normalGenerator, openFixture } from '../analysis/memoryDump';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyzeFile } from '../../../src/worker/workerRunner';

/** A little-endian float32 C-order .npy of `values` with `shape`. */
function npy(shape: number[], values: Float32Array): Buffer {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header = header.padEnd(128 - 10 - 1, ' ') + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1;
  pre.writeUInt16LE(header.length, 8);
  return Buffer.concat([pre, Buffer.from(header, 'latin1'), Buffer.from(values.buffer, values.byteOffset, values.byteLength)]);
}

/** Values of a (B, T, F) input: normal, a per-feature offset, and one massive feature. */
function activations(B: number, T: number, F: number, seed = 1): Float32Array {
  const g = normalGenerator(seed);
  const x = new Float32Array(B * T * F);
  for (let i = 0; i < x.length; i++) {
    const f = i % F;
    x[i] = g() * (1 + (f % 5) * 0.3) + (f % 7) * 0.1 + (f === 3 ? 40 : 0);
  }
  return x;
}

/** The statistics a preview must share exactly with the analysis of its subset written as its own array. */
function sameStatistics(preview: AnalysisReport, subset: AnalysisReport): void {
  assert.deepEqual(preview.global, subset.global);
  assert.deepEqual(preview.layout, subset.layout);
  assert.deepEqual(preview.layerNorm.perToken, subset.layerNorm.perToken);
  assert.deepEqual(preview.rmsNorm.perToken, subset.rmsNorm.perToken);
  assert.deepEqual(preview.batchNorm.perFeature, subset.batchNorm.perFeature);
  assert.deepEqual(preview.histograms, subset.histograms);
}

describe('preview: an evenly spread token subset, analyzed exactly', () => {
  it('spreads indices evenly from the first', () => {
    assert.deepEqual(evenlySpread(10, 5), [0, 2, 4, 6, 8]);
    assert.deepEqual(evenlySpread(16384, 2048).slice(0, 3), [0, 8, 16]);
    assert.deepEqual(evenlySpread(3, 5), [0, 1, 2]);
  });

  it('labels the subset it was computed from', () => {
    assert.equal(previewLabel(2048, 16384), 'Preview from 2,048 of 16,384 tokens');
  });

  it('feature-last (B, T, F): whole token rows per batch element, statistics exact on the subset', async () => {
    const [B, T, F] = [4, 64, 16];
    const x = activations(B, T, F);
    const mask = Float64Array.from({ length: B * T }, (_, i) => (i % T < T - 5 * (i % B) ? 1 : 0));
    const dump = memoryDump([
      { name: 'hidden_states', shape: [B, T, F], values: x },
      { name: 'attention_mask', shape: [B, T], dtype: 'float64', values: mask },
    ]);
    const preview = await analyzePreview(dump, {}, {}, 'test', 32);
    assert.ok(preview);
    assert.equal(preview.sampledTokens, 32);
    assert.equal(preview.totalTokens, 256);
    assert.equal(preview.label, 'Preview from 32 of 256 tokens');
    assert.deepEqual(preview.report.warnings, [], 'a preview carries no warnings');

    // The subset written as its own array: 8 positions (stride 8) of each of the 4 batch elements.
    const m = 8;
    const sub = new Float32Array(B * m * F);
    const subMask = new Float64Array(B * m);
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < m; j++) {
        const t = b * T + j * 8;
        sub.set(x.subarray(t * F, (t + 1) * F), (b * m + j) * F);
        subMask[b * m + j] = mask[t]!;
      }
    }
    const exact = await analyzeDump(memoryDump([
      { name: 'hidden_states', shape: [B, m, F], values: sub },
      { name: 'attention_mask', shape: [B, m], dtype: 'float64', values: subMask },
    ]));
    sameStatistics(preview.report, exact);
    assert.equal(exact.layout.validTokens, preview.report.layout.validTokens);
  });

  it('many batch elements: as many as 65,536 (element, feature) cells allow, evenly spread, the same tokens of each, statistics exact', async () => {
    // A 2 GiB (128, 1024, 4096) dump: 16 of the 128 batch elements, 16 tokens of each.
    const big = chooseTokenSubset({ shape: [128, 1024, 4096], outer: 131072, features: 4096, inner: 1, tokens: 131072 }, 2048, 1 << 20);
    assert.ok(big);
    assert.deepEqual(big.shape, [16, 16, 4096]);
    assert.deepEqual(big.tokens.slice(0, 3), [0, 64, 128]);
    assert.equal(big.tokens[16], 8 * 1024, 'the second batch element kept is element 8');
    assert.deepEqual(big.batchElements, Array.from({ length: 16 }, (_, k) => 8 * k), 'the dump numbers of the kept elements');
    // Every batch element kept: numbered as in the dump, no list needed.
    assert.equal(chooseTokenSubset({ shape: [16, 1024, 4096], outer: 16384, features: 4096, inner: 1, tokens: 16384 }, 2048, 1 << 20)?.batchElements, undefined);
    // Fewer features, more elements: (4096, 4, 512) keeps 128 elements (every 32nd), all 4 tokens of each.
    const short = chooseTokenSubset({ shape: [4096, 4, 512], outer: 16384, features: 512, inner: 1, tokens: 16384 }, 2048, 1 << 20);
    assert.ok(short);
    assert.deepEqual(short.shape, [128, 4, 512]);
    assert.deepEqual(short.batchElements?.slice(0, 3), [0, 32, 64]);
    // Small enough to write the subset out: 64 batch elements of 8 tokens, a budget of 64 tokens; at
    // 8,192 features 16 elements are kept.
    const [B, T, F] = [64, 8, 8192];
    const x = activations(B, T, F, 3);
    const dump = memoryDump([{ name: 'hidden_states', shape: [B, T, F], values: x }]);
    const preview = await analyzePreview(dump, {}, {}, 'test', 64);
    assert.ok(preview);
    assert.equal(preview.label, 'Preview from 64 of 512 tokens');
    assert.deepEqual(preview.batchElements, [0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44, 48, 52, 56, 60]);
    // Batch elements 0, 4, ..., 60; tokens 0, 2, 4, 6 of each.
    const sub = new Float32Array(16 * 4 * F);
    for (let k = 0; k < 16; k++) for (let j = 0; j < 4; j++) sub.set(x.subarray((k * 4 * T + j * 2) * F, (k * 4 * T + j * 2 + 1) * F), (k * 4 + j) * F);
    const exact = await analyzeDump(memoryDump([{ name: 'hidden_states', shape: [16, 4, F], values: sub }]));
    sameStatistics(preview.report, exact);
  });

  it('with analysis workers: computed on the calling thread beside the passes, the same preview as in process', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'normlens-preview-'));
    try {
      const file = join(dir, 'hidden.npy');
      const [B, T, F] = [8, 512, 64];
      writeFileSync(file, npy([B, T, F], activations(B, T, F, 5)));
      const delivered: { label: string; report: AnalysisReport }[] = [];
      // New workers take tens of milliseconds to start; the preview of 2,048 tokens × 64 features a
      // few. A preview is delivered only before the run's report (never after it, or after a failure).
      const result = await analyzeFile(file, {
        workers: 2,
        minElementsForWorkers: 0,
        preview: { description: 'test', onPreview: (p) => delivered.push({ label: p.label, report: p.report }) },
      });
      assert.equal(result.report.timing.workers, 2, 'the exact passes ran on the workers');
      assert.equal(delivered.length, 1, 'one preview, delivered before the exact report');
      assert.equal(delivered[0]!.label, 'Preview from 2,048 of 4,096 tokens');
      const { dump, close } = await openFixture(file);
      try {
        const inProcess = await analyzePreview(dump, {}, {}, 'test');
        sameStatistics(delivered[0]!.report, inProcess!.report);
      } finally {
        await close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rank 2 (T, F): tokens at an even stride', async () => {
    const [T, F] = [1000, 8];
    const x = activations(1, T, F, 7);
    const preview = await analyzePreview(memoryDump([{ name: 'x', shape: [T, F], values: x }]), {}, {}, 'test', 100);
    assert.ok(preview);
    const idx = evenlySpread(T, 100);
    const sub = new Float32Array(100 * F);
    idx.forEach((t, k) => sub.set(x.subarray(t * F, (t + 1) * F), k * F));
    const exact = await analyzeDump(memoryDump([{ name: 'x', shape: [100, F], values: sub }]));
    sameStatistics(preview.report, exact);
  });

  it('channels-first (N, C, L): evenly spread samples and runs of positions, bounded reads, exact on the subset', async () => {
    const [N, C, L] = [6, 4, 512];
    const x = activations(1, N * C, L, 3);
    const reads: number[] = [];
    const dump = memoryDump([{ name: 'x', shape: [N, C, L], values: x }]);
    const input = dump.tensors[0]!;
    const counting = { ...dump, tensors: [{ ...input, read: (s: number, c: number) => (reads.push(c), input.read(s, c)) }] };
    const plan = await planAnalysis(counting, { featureAxis: 1 });
    const subset = chooseTokenSubset(plan, 256);
    assert.ok(subset);
    const preview = await analyzePreview(counting, { featureAxis: 1 }, {}, 'test', 256);
    assert.ok(preview);
    assert.equal(preview.sampledTokens, subset.tokens.length);
    assert.ok(preview.sampledTokens <= 256);
    assert.ok(reads.reduce((a, b) => a + b, 0) <= 2 * subset.tokens.length * C, 'reads only (about) the subset');

    // The same subset, gathered by hand: samples × position runs, shape (N', C, L').
    const [n, , l] = subset.shape as [number, number, number];
    const sub = new Float32Array(n * C * l);
    const samples = [...new Set(subset.tokens.map((t) => Math.floor(t / L)))];
    const positions = subset.tokens.slice(0, l).map((t) => t % L);
    samples.forEach((o, si) => {
      for (let c = 0; c < C; c++) positions.forEach((p, pi) => (sub[(si * C + c) * l + pi] = x[(o * C + c) * L + p]!));
    });
    const exact = await analyzeDump(memoryDump([{ name: 'x', shape: [n, C, l], values: sub }]), { featureAxis: 1 });
    sameStatistics(preview.report, exact);
  });

  it('gives no preview when the input is not larger than the subset', async () => {
    const dump = memoryDump([{ name: 'x', shape: [16, 8], values: activations(1, 16, 8) }]);
    assert.equal(await analyzePreview(dump, {}, {}, 'test', 32), null);
  });
});

describe('packReport: long number arrays as binary for webview messages', () => {
  it('round-trips a report and leaves the original untouched', async () => {
    const report = await analyzeDump(memoryDump([{ name: 'x', shape: [2, 600, 4], values: activations(2, 600, 4) }]));
    const before = JSON.stringify(report);
    const packed = packReport(report, 512);
    assert.ok(packed.arrays.length > 0);
    assert.ok(packed.arrays.some((a) => a.path.join('.') === 'layerNorm.perToken.mean'));
    assert.equal(JSON.stringify(report), before, 'the report itself is not changed');
    assert.ok(JSON.stringify(packed.report).length < before.length / 2);
    assert.deepEqual(JSON.parse(JSON.stringify(unpackReport(structuredClone(packed)))), JSON.parse(before));
  });
});

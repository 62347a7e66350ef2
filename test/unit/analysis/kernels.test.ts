import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDump } from '../../../src/core/formats/openDump';
import { MemoryByteSource } from '../../../src/core/io/byteSource';
import { analyzeFile } from '../../../src/worker/workerRunner';
import { NodeFileByteSource } from '../../../src/platform/nodeFileSource';
import { analyzeDump } from '../../../src/core/analysis/analyze';
import { computeSubBatches } from '../../../src/core/analysis/batchDependence';
import { mergeMinMax, mergeMomentArrays } from '../../../src/core/analysis/moments';
import { downsampleSeries, histogramOf, median, summarize } from '../../../src/core/analysis/histogram';
import { setWasmKernelsEnabled, wasmKernels } from '../../../src/core/analysis/kernels/wasmKernelLoader';
import { mergePass1, runPass1, type Pass1Partial } from '../../../src/core/analysis/pass1';
import { runPass2, type Pass2Partial } from '../../../src/core/analysis/pass2';
import { planAnalysis, resolvePlanTensors, type AnalysisOptions } from '../../../src/core/analysis/plan';
import { buildSharedPass2Context, pass2ContextFor } from '../../../src/core/analysis/pass2Context';
import { computePass1Statistics } from '../../../src/core/analysis/statistics';
import { splitTokens } from '../../../src/core/analysis/tiles';
import type { Dump } from '../../../src/core/formats/types';
import { memoryDump, normalGenerator, type MemoryTensor } from './memoryDump';

/** Deterministic uniform [0, 1) generator. */
function uniformGenerator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 4294967296;
  };
}

/** Bit-for-bit equality of every typed array and number of two partials (NaN equals NaN, −0 differs from 0). */
function assertSameBits(a: unknown, b: unknown, path: string): void {
  if (ArrayBuffer.isView(a) && ArrayBuffer.isView(b)) {
    const x = a as unknown as ArrayLike<number>;
    const y = b as unknown as ArrayLike<number>;
    assert.equal(x.length, y.length, `${path}: length`);
    for (let i = 0; i < x.length; i++) {
      if (!Object.is(x[i], y[i])) assert.fail(`${path}[${i}]: ${x[i]} (WebAssembly) vs ${y[i]} (JavaScript)`);
    }
    return;
  }
  if (typeof a === 'number' && typeof b === 'number') {
    assert.ok(Object.is(a, b), `${path}: ${a} vs ${b}`);
    return;
  }
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort(), `${path}: keys`);
    for (const k of Object.keys(a)) assertSameBits((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`);
    return;
  }
  assert.deepEqual(a, b, path);
}

/** Both passes over `parts` token ranges, as the executors run them. */
async function passes(dump: Dump, options: AnalysisOptions, parts: number): Promise<{ p1: Pass1Partial[]; p2: Pass2Partial[] }> {
  const plan = await planAnalysis(dump, options);
  const tensors = resolvePlanTensors(dump, plan);
  const ranges = splitTokens(plan, parts);
  const p1: Pass1Partial[] = [];
  for (const r of ranges) p1.push(await runPass1(tensors, plan, r));
  const merged = mergePass1(plan, p1);
  const stats = computePass1Statistics(plan, merged);
  const shared = buildSharedPass2Context(plan, stats, merged);
  const p2: Pass2Partial[] = [];
  for (const r of ranges) p2.push(await runPass2(tensors, plan, pass2ContextFor(shared, stats, r, merged.tokenCount, plan.features, plan.weight === null && plan.bias === null), r));
  return { p1, p2 };
}

/** Runs `body` with the WebAssembly kernels and with the JavaScript ones. */
async function both<T>(body: () => Promise<T>): Promise<{ wasm: T; js: T }> {
  setWasmKernelsEnabled(true);
  const wasm = await body();
  setWasmKernelsEnabled(false);
  try {
    return { wasm, js: await body() };
  } finally {
    setWasmKernelsEnabled(true);
  }
}

interface Case {
  name: string;
  shape: number[];
  values: (i: number, f: number, rnd: () => number, normal: () => number) => number;
  extra?: (shape: number[]) => MemoryTensor[];
  options?: AnalysisOptions;
}

const mask = (B: number, T: number, valid: (b: number) => number): MemoryTensor => ({
  name: 'attention_mask',
  shape: [B, T],
  values: Array.from({ length: B * T }, (_, i) => (i % T < valid(Math.floor(i / T)) ? 1 : 0)),
});

const CASES: Case[] = [
  { name: 'normal, F % 4 = 2', shape: [3, 37, 130], values: (_i, f, _r, n) => n() * (f === 7 ? 40 : 1) + 0.25 },
  { name: 'normal, odd F', shape: [2, 19, 131], values: (_i, _f, _r, n) => n() * 3 - 1 },
  { name: 'three features', shape: [5, 11, 3], values: (_i, _f, _r, n) => n() },
  { name: 'one feature', shape: [4, 9, 1], values: (_i, _f, _r, n) => n() },
  // Integers in [-32, 32] on 64 bins: every input sits exactly on a bin edge.
  { name: 'values on the bin edges', shape: [2, 40, 96], values: (_i, _f, r) => Math.floor(r() * 65) - 32, options: { bins: 64 } },
  // More than 64 bins: the WebAssembly kernel counts each histogram apart (no joint tables).
  { name: '200 bins', shape: [2, 33, 260], values: (_i, f, _r, n) => n() * (f % 9 === 4 ? 25 : 1), options: { bins: 200 } },
  // Far from zero, narrow: the float32 guesses' margins are wide, many values take the exact rule.
  { name: 'offset 1000, spread 1e-3', shape: [2, 20, 120], values: (_i, _f, _r, n) => 1000 + n() * 1e-3 },
  { name: 'offset 1e6, spread 1', shape: [2, 20, 64], values: (_i, _f, _r, n) => 1e6 + n(), options: { bins: 1024 } },
  // eps 0 with a constant feature and a constant token: infinite BatchNorm/LayerNorm scales.
  { name: 'eps 0, constant feature and token', shape: [2, 12, 36], values: (i, f, _r, n) => (f === 5 ? 2 : i % (12 * 36) < 36 ? 1.5 : n()), options: { eps: 0 } },
  { name: 'coarse grid, 7 bins', shape: [2, 24, 64], values: (_i, _f, r) => Math.floor(r() * 8) / 4, options: { bins: 7 } },
  { name: 'signed zeros and ReLU', shape: [2, 16, 68], values: (_i, _f, r, n) => (r() < 0.5 ? (r() < 0.5 ? -0 : 0) : Math.max(0, n())) },
  {
    name: 'NaN and ±Inf in some tokens',
    shape: [3, 21, 52],
    values: (i, _f, r, n) => {
      const u = r();
      if (i % 7 === 3 && u < 0.05) return NaN;
      if (i % 11 === 5 && u < 0.03) return Infinity;
      if (i % 13 === 2 && u < 0.03) return -Infinity;
      return n();
    },
  },
  { name: 'a token of NaN', shape: [2, 10, 36], values: (i, _f, _r, n) => (i >= 36 * 4 && i < 36 * 5 ? NaN : n()) },
  // 2048 features: kernel blocks of 32 tokens, so runs of 45 tokens span two (a NaN in the second one).
  { name: 'runs longer than a kernel block', shape: [3, 45, 2048], values: (i, _f, _r, n) => (i === (45 + 40) * 2048 + 3 ? NaN : n()) },
  { name: 'huge and tiny magnitudes', shape: [2, 12, 40], values: (_i, _f, r, n) => n() * 10 ** Math.floor(r() * 60 - 30) },
  { name: 'overflowing sums', shape: [2, 6, 20], values: (i, _f, _r, n) => (i === 45 ? 3e38 : i === 46 ? 3e38 : n()) },
  {
    name: 'padding mask',
    shape: [4, 30, 66],
    values: (_i, _f, _r, n) => n() * 2,
    extra: ([B, T]) => [mask(B!, T!, (b) => [30, 17, 5, 22][b]!)],
  },
  {
    // Padding values 10^11 … 10^41 bins away from the valid range: JavaScript's `u | 0` wraps there.
    name: 'padding far outside the valid range',
    shape: [2, 20, 44],
    values: (i, _f, r, n) => (i % (20 * 44) >= 12 * 44 ? (r() < 0.5 ? -1 : 1) * 10 ** Math.floor(r() * 30 - 20) : n() * 1e-30),
    extra: ([B, T]) => [mask(B!, T!, () => 12)],
  },
  {
    name: 'recorded output (replay)',
    shape: [2, 25, 48],
    values: (_i, _f, _r, n) => n(),
    extra: (s) => {
      const g = normalGenerator(99);
      return [{ name: 'output', shape: s, values: Array.from({ length: s.reduce((a, b) => a * b, 1) }, (_, i) => (i % 97 === 5 ? NaN : g())) }];
    },
    options: { output: 'output' },
  },
  {
    name: 'weight and bias (pass 1 only on WebAssembly)',
    shape: [2, 14, 40],
    values: (_i, _f, _r, n) => n(),
    extra: ([, , F]) => [
      { name: 'weight', shape: [F!], values: Array.from({ length: F! }, (_, f) => 1 + f / 100) },
      { name: 'bias', shape: [F!], values: Array.from({ length: F! }, (_, f) => f / 50) },
    ],
    options: { weight: 'weight', bias: 'bias' },
  },
  { name: 'channels-first (JavaScript only)', shape: [3, 20, 17], values: (_i, _f, _r, n) => n(), options: { featureAxis: 1 } },
];

function dumpFor(c: Case, seed: number): Dump {
  const size = c.shape.reduce((a, b) => a * b, 1);
  const F = c.shape[c.shape.length - 1]!;
  const rnd = uniformGenerator(seed);
  const normal = normalGenerator(seed + 1);
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) values[i] = c.values(i, i % F, rnd, normal);
  return memoryDump([{ name: 'x', shape: c.shape, values }, ...(c.extra ? c.extra(c.shape) : [])]);
}

describe('WebAssembly kernels (kernels/wasmKernels) against the JavaScript kernels', () => {
  it('compile and instantiate here (Node has WebAssembly SIMD)', () => {
    assert.ok(wasmKernels() !== null);
  });

  for (const c of CASES) {
    it(`${c.name}: pass-1 and pass-2 partials agree bit for bit`, async () => {
      for (const seed of [1, 2]) {
        const dump = dumpFor(c, seed);
        // Small chunks: many tiles and token runs cut at tile ends; 1 and 3 token ranges.
        for (const parts of [1, 3]) {
          for (const chunkBytes of [64 * 1024, 8 * 1024 * 1024]) {
            const options = { ...c.options, tensor: 'x', chunkBytes };
            const { wasm, js } = await both(() => passes(dump, options, parts));
            assertSameBits(wasm, js, `${c.name} seed ${seed} parts ${parts} chunk ${chunkBytes}`);
          }
        }
      }
    });
  }

  it('a whole report is the same with and without WebAssembly (masked, replayed, non-finite values)', async () => {
    const [B, T, F] = [3, 40, 72];
    const g = normalGenerator(5);
    const x = Array.from({ length: B * T * F }, (_, i) => (i % 1013 === 17 ? NaN : g() * (i % F === 3 ? 25 : 1)));
    const y = Array.from({ length: B * T * F }, () => g());
    const dump = memoryDump([
      { name: 'x', shape: [B, T, F], values: x },
      { name: 'output', shape: [B, T, F], values: y },
      mask(B, T, (b) => [40, 31, 12][b]!),
    ]);
    const { wasm, js } = await both(() => analyzeDump(dump, { tensor: 'x', output: 'output', mask: 'attention_mask', chunkBytes: 64 * 1024 }));
    const strip = (r: typeof wasm): unknown => ({ ...r, timing: null });
    assert.deepEqual(strip(wasm), strip(js));
  });
});

describe('report reductions in WebAssembly (histogram.ts, batchDependence.ts) against JavaScript', () => {
  const sync = async <T>(body: () => T): Promise<{ wasm: T; js: T }> => both(async () => body());

  it('summarize, histogramOf, downsampleSeries and median agree bit for bit (NaN, ±Infinity, masks, empty)', async () => {
    const g = normalGenerator(11);
    const rnd = uniformGenerator(12);
    for (const n of [0, 1, 2, 7, 1000, 4097]) {
      const values = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const r = rnd();
        values[i] = r < 0.02 ? NaN : r < 0.03 ? Infinity : r < 0.04 ? -Infinity : r < 0.2 ? Math.round(g() * 4) / 4 : g() * 1e3 + 7;
      }
      const valid = new Uint8Array(n).map(() => (rnd() < 0.8 ? 1 : 0));
      const plain = Array.from(values);
      for (const mask of [null, valid]) {
        for (const bins of [2, 64, 1024]) {
          const { wasm, js } = await sync(() => histogramOf(values, bins, mask));
          assert.deepEqual(wasm, js, `histogramOf n ${n} bins ${bins} mask ${mask !== null}`);
        }
        const s = await sync(() => summarize(plain, mask));
        assert.deepEqual(s.wasm, s.js, `summarize n ${n} mask ${mask !== null}`);
      }
      for (const points of [1, 3, 512, 5000]) {
        const { wasm, js } = await sync(() => downsampleSeries(values, points));
        assert.deepEqual(wasm, js, `downsampleSeries n ${n} points ${points}`);
      }
      const m = await sync(() => [median(values), median(plain), median(values.subarray(0, n >> 1))]);
      assert.deepEqual(m.wasm, m.js, `median n ${n}`);
    }
    // A constant series: one degenerate histogram range, every value on one edge.
    const constant = new Float64Array(300).fill(2.5);
    const c = await sync(() => [histogramOf(constant, 64, null), summarize(constant, null), median(constant)]);
    assert.deepEqual(c.wasm, c.js);
  });

  it('the merge of pass-1 partials, the statistics and the pass-2 edges from it agree bit for bit (WebAssembly from 1024 tokens or cells)', async () => {
    const [B, T, F] = [5, 260, 300];
    const g = normalGenerator(17);
    const x = Array.from({ length: B * T * F }, (_, i) => (i % 7919 === 5 ? NaN : i % 104729 === 11 ? Infinity : g() * (i % F === 9 ? 50 : 1) + (i % F) * 0.01));
    const dump = memoryDump([{ name: 'x', shape: [B, T, F], values: x }, mask(B, T, (b) => [260, 100, 0, 259, 7][b]!)]);
    for (const options of [{ tensor: 'x', mask: 'attention_mask' }, { tensor: 'x' }]) {
      const plan = await planAnalysis(dump, options);
      assert.ok(plan.tokens >= 1024 && plan.units * plan.features >= 1024);
      const tensors = resolvePlanTensors(dump, plan);
      const parts: Pass1Partial[] = [];
      for (const r of splitTokens(plan, 3)) parts.push(await runPass1(tensors, plan, r));
      const { wasm, js } = await sync(() => {
        const merged = mergePass1(plan, parts);
        const stats = computePass1Statistics(plan, merged);
        return { merged, stats, shared: buildSharedPass2Context(plan, stats, merged) };
      });
      assertSameBits(wasm, js, `merge, statistics and pass-2 edges, mask ${options.mask !== undefined}`);
    }
  });

  it('element-wise merges and per-token output moments go by blocks: the same bits past a block (150,000 cells, 70,000 tokens)', async () => {
    const rnd = uniformGenerator(31);
    const n = 150_000;
    const arrays = (): Float64Array[] => {
      const counts = [new Float64Array(n).map(() => (rnd() < 0.1 ? 0 : Math.floor(rnd() * 50))), new Float64Array(n).map(() => rnd() * 4 - 2), new Float64Array(n).map(() => rnd() * 9)];
      return counts;
    };
    const a = arrays();
    const b = arrays();
    const lo = new Float64Array(n).map(() => (rnd() < 0.05 ? Infinity : rnd()));
    const hi = new Float64Array(n).map(() => (rnd() < 0.05 ? -Infinity : rnd()));
    const { wasm, js } = await sync(() => {
      const x = a.map((v) => v.slice());
      mergeMomentArrays(x[0]!, x[1]!, x[2]!, b[0]!, b[1]!, b[2]!);
      const mn = lo.slice();
      const mx = hi.slice();
      mergeMinMax(mn, mx, hi, lo);
      return { x, mn, mx };
    });
    assertSameBits(wasm, js, 'element-wise merges');
    // A report over 70,000 tokens of 3 features: per-token output moments in two blocks.
    const g = normalGenerator(32);
    const dump = memoryDump([{ name: 'x', shape: [70_000, 3], values: Array.from({ length: 210_000 }, (_, i) => (i % 9973 === 1 ? NaN : g() * 2 + (i % 3))) }]);
    const reports = await both(() => analyzeDump(dump, { tensor: 'x' }));
    const strip = (r: typeof reports.wasm): unknown => ({ ...r, timing: null });
    assert.deepEqual(strip(reports.wasm), strip(reports.js));
  });

  it('sub-batch shifts agree bit for bit (6 batch elements, a padded one, empty cells, NaN)', async () => {
    const [B, T, F] = [6, 20, 37];
    const g = normalGenerator(13);
    const x = Array.from({ length: B * T * F }, (_, i) => (i % 517 === 3 ? NaN : g() * (i % F === 5 ? 30 : 1) + (i % F) * 0.1));
    const dump = memoryDump([{ name: 'x', shape: [B, T, F], values: x }, mask(B, T, (b) => [20, 13, 0, 20, 1, 7][b]!)]);
    const plan = await planAnalysis(dump, { tensor: 'x', mask: 'attention_mask' });
    const tensors = resolvePlanTensors(dump, plan);
    const p1 = mergePass1(plan, [await runPass1(tensors, plan, { start: 0, end: plan.tokens })]);
    const stats = computePass1Statistics(plan, p1);
    const { wasm, js } = await sync(() => computeSubBatches(plan, p1, stats.batchNorm.valid));
    assert.equal(wasm.length, 4);
    assert.deepEqual(wasm, js);
  });
});

describe('reads into the kernels\' memory (kernelReads)', () => {
  /** A float32 (B, T, F) .npy on disk with a few NaN; its path. */
  function writeNpy(dir: string, shape: number[], seed: number): string {
    const g = normalGenerator(seed);
    const values = new Float32Array(shape.reduce((a, b) => a * b, 1)).map((_, i) => (i % 1999 === 7 ? NaN : g() * (i % shape[2]! === 3 ? 20 : 1)));
    let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}), }`;
    header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
    const prologue = Buffer.concat([Buffer.from([0x93]), Buffer.from('NUMPY'), Buffer.from([1, 0, header.length & 0xff, header.length >> 8]), Buffer.from(header, 'latin1')]);
    const path = join(dir, `x${seed}.npy`);
    writeFileSync(path, Buffer.concat([prologue, Buffer.from(values.buffer)]));
    return path;
  }

  it('give the reports of in-memory reads on numpy float32 files (little- and big-endian, misaligned data)', async () => {
    const dir = join(__dirname, '..', '..', 'fixtures', 'formats', 'npy');
    for (const name of ['float32_le.npy', 'float32_be.npy', 'misaligned_f4_le.npy', 'align16_f4_le.npy']) {
      const path = join(dir, name);
      const fromFile = (await analyzeFile(path, { workers: 0 })).report;
      const inMemory = (await analyzeFile(new MemoryByteSource(new Uint8Array(readFileSync(path)), name), { workers: 0 })).report;
      assert.deepEqual({ ...fromFile, source: null, timing: null }, { ...inMemory, source: null, timing: null }, name);
    }
  });

  it('give the partials of copied reads bit for bit, and give the slots back (also after a failed read)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'normlens-slots-'));
    const source = await NodeFileByteSource.open(writeNpy(dir, [4, 100, 130], 21));
    try {
      const dump = await openDump(source);
      const plan = await planAnalysis(dump, { chunkBytes: 16 * 1024 });
      const tensors = resolvePlanTensors(dump, plan);
      assert.equal(typeof tensors.input.readInto, 'function');
      const copied = { ...tensors, input: { info: tensors.input.info, randomAccess: true, read: tensors.input.read } };
      const range = { start: 0, end: plan.tokens };
      const direct1 = await runPass1(tensors, plan, range);
      assertSameBits(direct1, await runPass1(copied, plan, range), 'pass 1');
      const merged = mergePass1(plan, [direct1]);
      const stats = computePass1Statistics(plan, merged);
      const context = pass2ContextFor(buildSharedPass2Context(plan, stats, merged), stats, range, merged.tokenCount, plan.features, true);
      assertSameBits(await runPass2(tensors, plan, context, range), await runPass2(copied, plan, context, range), 'pass 2');
      // The slots are back: the memory may grow again, and slots can be taken again.
      const k = wasmKernels()!;
      assert.ok(k.reserve(k.byteLength + 65536));
      // A read that fails mid-pass: the pass rejects and the slots are given back.
      let calls = 0;
      const failing = { ...tensors, input: { ...tensors.input, readInto: (s: number, c: number, t: Uint8Array) => (++calls === 3 ? Promise.reject(new Error('disk gone')) : tensors.input.readInto!(s, c, t)) } };
      await assert.rejects(runPass1(failing, plan, range), /disk gone/);
      assert.ok(calls >= 3);
      const slots = k.readSlots(1024, 1024, 2);
      assert.ok(slots !== null);
      k.releaseSlots();
    } finally {
      await source.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

import { strict as assert } from 'node:assert';
import { FeatureBlockReducer, featureBlockHandle, featureBlockPlan, featureBlocks, runPass1ByFeatureBlocks } from '../../../src/core/analysis/featureBlocks';
import { downsampleSeries, summarize } from '../../../src/core/analysis/histogram';
import { batchNormStatistics } from '../../../src/core/analysis/statistics';
import type { DownsampledSeries } from '../../../src/core/report/analysisReport';
import { runPass1, type Pass1Partial } from '../../../src/core/analysis/pass1';
import { planAnalysis, resolvePlanTensors, type AnalysisOptions } from '../../../src/core/analysis/plan';
import { memoryDump, normalGenerator, type MemoryTensor } from '../analysis/memoryDump';

function close(a: number, b: number, what: string, rel = 1e-12): void {
  if (Number.isNaN(a) && Number.isNaN(b)) return;
  if (a === b) return;
  assert.ok(Math.abs(a - b) <= rel * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);
}

function values(n: number, seed: number, scale = 1): number[] {
  const g = normalGenerator(seed);
  // Offsets per position so means differ a lot from zero (a test of the Chan merge, not of E[x²]−E[x]²).
  return Array.from({ length: n }, (_, i) => 1000 + (i % 7) + scale * g());
}

interface Case {
  name: string;
  shape: number[];
  options: AnalysisOptions;
  mask?: number[];
  nonFinite?: boolean;
}

const F = 50;
const CASES: Case[] = [
  { name: 'feature-last (4, 3, 50)', shape: [4, 3, F], options: {} },
  { name: 'feature-last with a mask', shape: [4, 3, F], options: {}, mask: [1, 1, 0, 1, 0, 0, 1, 1, 1, 1, 1, 0] },
  { name: 'feature-last with NaN/Inf values', shape: [4, 3, F], options: {}, nonFinite: true },
  { name: 'channels-first (3, 50, 5)', shape: [3, F, 5], options: { featureAxis: 1 } },
  { name: 'channels-first with a mask', shape: [3, F, 5], options: { featureAxis: 1 }, mask: [1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 1, 0, 1, 1] },
  { name: 'grouped batch units (8, 2, 50), 2 entries', shape: [8, 2, F], options: { maxBatchEntries: 2 } },
];

describe('feature blocks (pass 1 by blocks of features)', () => {
  it('featureBlocks covers the features with blocks of at most the cap', async () => {
    const dump = memoryDump([{ name: 'x', shape: [2, F], values: values(2 * F, 1) }]);
    const plan = await planAnalysis(dump, { featureAxis: -1 });
    const blocks = featureBlocks(plan, 8);
    assert.equal(blocks.length, 7);
    assert.deepEqual(blocks[0], { f0: 0, f1: 8 });
    assert.deepEqual(blocks[6], { f0: 48, f1: 50 });
  });

  it('a block handle reads x[..., f0:f1, ...] of the real tensor (feature-last and channels-first)', async () => {
    for (const [shape, axis] of [[[3, F], 1], [[2, F, 3], 1]] as const) {
      const size = shape.reduce((a, b) => a * b, 1);
      const v = values(size, 2);
      const dump = memoryDump([{ name: 'x', shape: [...shape], values: v }]);
      const plan = await planAnalysis(dump, { featureAxis: axis });
      const block = { f0: 9, f1: 17 };
      const h = featureBlockHandle(dump.tensors[0]!, plan, block);
      const inner = plan.inner;
      const got = Array.from(await h.read(0, h.info.size));
      const want: number[] = [];
      for (let o = 0; o < plan.outer; o++) for (let f = block.f0; f < block.f1; f++) for (let i = 0; i < inner; i++) want.push(Math.fround(v[(o * F + f) * inner + i]!));
      assert.deepEqual(got, want);
      // Any sub-range, across rows.
      assert.deepEqual(Array.from(await h.read(5, 13)), want.slice(5, 18));
      assert.deepEqual(featureBlockPlan(plan, block).shape, shape.map((s, i) => (i === axis ? 8 : s)));
    }
  });

  for (const c of CASES) {
    it(`per-token moments merged over blocks of 8 features and the per-feature cells equal the unblocked pass 1: ${c.name}`, async () => {
      const size = c.shape.reduce((a, b) => a * b, 1);
      const v = values(size, 3);
      if (c.nonFinite) {
        v[3] = NaN;
        v[60] = Infinity;
        v[61] = -Infinity;
        for (let f = 0; f < F; f++) v[2 * F + f] = NaN; // a token without finite values
      }
      const tensors: MemoryTensor[] = [{ name: 'activations', shape: c.shape, values: v }];
      if (c.mask) tensors.push({ name: 'attention_mask', shape: [c.mask.length], values: c.mask, dtype: 'float64' });
      const dump = memoryDump(tensors);
      const plan = await planAnalysis(dump, { ...c.options, ...(c.mask ? { mask: 'attention_mask' } : {}) });
      assert.equal(plan.features, F);
      assert.equal(plan.mask !== null, c.mask !== undefined);
      const tensorsOf = resolvePlanTensors(dump, plan);
      const whole = await runPass1(tensorsOf, plan, { start: 0, end: plan.tokens });
      const blocks: { f0: number; f1: number; p: Pass1Partial }[] = [];
      // maxPoints 16 < 50 features: bucketed series (bucket size 4), top 5.
      const reducer = new FeatureBlockReducer(F, 16, 5);
      const merged = await runPass1ByFeatureBlocks(tensorsOf, plan, 8, (block, sub, p) => {
        assert.equal(sub.features, block.f1 - block.f0);
        blocks.push({ ...block, p });
        reducer.add(block, sub, p);
      });
      // The reduced per-feature series against the full arrays of the unblocked run.
      const bn = batchNormStatistics(plan, whole).valid;
      const full = {
        mean: Array.from({ length: F }, (_, f) => (bn.count[f]! > 0 ? bn.mean[f]! : NaN)),
        std: Array.from({ length: F }, (_, f) => (bn.count[f]! > 0 ? Math.sqrt(bn.m2[f]! / bn.count[f]!) : NaN)),
        maxAbs: Array.from({ length: F }, (_, f) => Math.max(Math.abs(bn.min[f]!), Math.abs(bn.max[f]!))),
        rms: Array.from({ length: F }, (_, f) => Math.sqrt(bn.mean[f]! ** 2 + bn.m2[f]! / bn.count[f]!)),
      };
      for (const k of ['mean', 'std', 'maxAbs', 'rms'] as const) {
        const want: DownsampledSeries = downsampleSeries(full[k], 16);
        const got = reducer[k].series();
        assert.equal(got.bucketSize, want.bucketSize);
        assert.equal(got.length, F);
        for (const s of ['mean', 'min', 'max'] as const) got[s].forEach((x, i) => close(x, want[s][i]!, `${k}.series.${s}[${i}]`));
        const ws = summarize(full[k], null);
        const gs = reducer[k].summary();
        close(gs.mean, ws.mean, `${k}.summary.mean`);
        close(gs.std, ws.std, `${k}.summary.std`, 1e-10);
        assert.equal(gs.min, ws.min);
        assert.equal(gs.max, ws.max);
        if (k !== 'mean') {
          const top = full[k].map((value, token) => ({ token, value })).sort((a, b) => b.value - a.value || a.token - b.token).slice(0, 5);
          assert.deepEqual(reducer[k].top().map((e) => e.token), top.map((e) => e.token), `${k}.top`);
        }
      }
      assert.equal(blocks.length, 7);
      for (let t = 0; t < plan.tokens; t++) {
        assert.equal(merged.tokenCount[t], whole.tokenCount[t], `count[${t}]`);
        close(merged.tokenMean[t]!, whole.tokenMean[t]!, `mean[${t}]`);
        close(merged.tokenM2[t]!, whole.tokenM2[t]!, `m2[${t}]`, 1e-10);
        close(merged.tokenSumSq[t]!, whole.tokenSumSq[t]!, `sumSq[${t}]`);
        assert.equal(merged.tokenMin[t], whole.tokenMin[t]);
        assert.equal(merged.tokenMax[t], whole.tokenMax[t]);
      }
      assert.deepEqual([merged.nan, merged.posInf, merged.negInf], [whole.nan, whole.posInf, whole.negInf]);
      for (const { f0, f1, p } of blocks) {
        const B = f1 - f0;
        for (let u = 0; u < plan.units; u++) {
          for (let j = 0; j < B; j++) {
            const a = u * B + j;
            const b = u * F + f0 + j;
            assert.equal(p.validCount[a], whole.validCount[b], `validCount[${u}, ${f0 + j}]`);
            close(p.validMean[a]!, whole.validMean[b]!, 'validMean');
            close(p.validM2[a]!, whole.validM2[b]!, 'validM2');
            assert.equal(p.validMin[a], whole.validMin[b]);
            assert.equal(p.validMax[a], whole.validMax[b]);
            if (plan.mask) {
              assert.equal(p.paddingCount[a], whole.paddingCount[b]);
              close(p.paddingMean[a]!, whole.paddingMean[b]!, 'paddingMean');
              close(p.paddingM2[a]!, whole.paddingM2[b]!, 'paddingM2');
            }
          }
        }
      }
    });
  }
});

import { strict as assert } from 'node:assert';
import { analyzeDump } from '../../../src/core/analysis/analyze';
import { layerNormTokenSeries, toSeries } from '../../../src/core/report/chartSeries';
import { pageReport } from '../../../src/core/report/pageReport';
import { memoryDump, normalGenerator } from './memoryDump';

describe('chart series (the page asks for LayerNorm token series by batch element)', () => {
  it('toSeries: bucket 1 keeps every value; longer series become mean and min/max buckets, without non-finite values', () => {
    const full = toSeries([1, 2, 3]);
    assert.deepEqual(full, { length: 3, bucketSize: 1, mean: [1, 2, 3], min: [1, 2, 3], max: [1, 2, 3] });
    const reduced = toSeries([1, 3, NaN, 5, Infinity, NaN, 7], 3);
    assert.equal(reduced.bucketSize, 3);
    assert.deepEqual(reduced.mean, [2, 5, 7]);
    assert.deepEqual(reduced.min, [1, 5, 7]);
    assert.deepEqual(reduced.max, [3, 5, 7]);
    const empty = toSeries([NaN, NaN], 1);
    assert.ok(Number.isNaN(empty.mean[0]!) && Number.isNaN(empty.min[0]!) && Number.isNaN(empty.max[0]!));
  });

  it("layerNormTokenSeries: one batch element's per-token mean and std are the report's, every token's when b is null", async () => {
    const rand = normalGenerator(7);
    const [B, T, F] = [3, 5, 8];
    const values = Array.from({ length: B * T * F }, (_, i) => rand() * (1 + (i % 5)) + Math.floor(i / (T * F)));
    const report = await analyzeDump(memoryDump([{ name: 'x', shape: [B, T, F], values }]), {});
    const ln = report.layerNorm.perToken;
    const b1 = layerNormTokenSeries(report, 1)!;
    assert.equal(b1.mean.length, T);
    assert.deepEqual(b1.mean.mean, ln.mean.slice(T, 2 * T));
    assert.deepEqual(b1.std.mean, ln.var.slice(T, 2 * T).map(Math.sqrt));
    // Against the values themselves (float64 mean and population std of each token of element 1).
    for (let t = 0; t < T; t++) {
      const row = values.slice((T + t) * F, (T + t + 1) * F).map((v) => Math.fround(v));
      const mean = row.reduce((a, v) => a + v, 0) / F;
      const std = Math.sqrt(row.reduce((a, v) => a + (v - mean) ** 2, 0) / F);
      assert.ok(Math.abs(b1.mean.mean[t]! - mean) < 1e-12 * (1 + Math.abs(mean)));
      assert.ok(Math.abs(b1.std.mean[t]! - std) < 1e-12 * (1 + std));
    }
    const all = layerNormTokenSeries(report, null)!;
    assert.equal(all.mean.length, B * T);
    assert.deepEqual(all.mean.mean, ln.mean);
    const two = layerNormTokenSeries(report, null, 4)!;
    assert.equal(two.mean.bucketSize, 4, 'all tokens reduced to at most 4 buckets');
    assert.equal(layerNormTokenSeries(report, 3), null, 'no batch element 3');
    assert.equal(layerNormTokenSeries(report, -1), null);
    const stripped = { ...report, layerNorm: { ...report.layerNorm, perToken: { ...ln, mean: [], var: [] } } };
    assert.equal(layerNormTokenSeries(stripped, 0), null, 'a page report without the arrays has none');
  });

  it("pageReport: the page's report has no per-token arrays but keeps saying when they were over the cap; the report itself is untouched", async () => {
    const rand = normalGenerator(11);
    const [B, T, F] = [3, 5, 8];
    const dump = () => memoryDump([{ name: 'x', shape: [B, T, F], values: Array.from({ length: B * T * F }, () => rand()) }]);
    const full = await analyzeDump(dump(), {});
    const page = pageReport(full);
    assert.deepEqual(page.layerNorm.perToken.mean, []);
    assert.deepEqual(page.rmsNorm.perToken.rms, []);
    assert.equal(page.layerNorm.perToken.reduced, undefined);
    assert.equal(full.layerNorm.perToken.mean.length, B * T, 'the report exports and commands use keeps its arrays');
    const reduced = await analyzeDump(dump(), { maxTokenSeries: 8 });
    assert.ok(reduced.layerNorm.perToken.reduced, 'over the cap of 8 tokens');
    const pageReduced = pageReport(reduced);
    assert.deepEqual(pageReduced.layerNorm.perToken.reduced, reduced.layerNorm.perToken.reduced);
    assert.deepEqual(pageReduced.layerNorm.perToken.top, reduced.layerNorm.perToken.top);
    assert.deepEqual(pageReduced.rmsNorm.perToken.reduced, reduced.rmsNorm.perToken.reduced);
    assert.deepEqual(pageReduced.batchNorm.perToken.reduced, reduced.batchNorm.perToken.reduced);
    assert.equal(layerNormTokenSeries(pageReduced, 0), null);
  });
});

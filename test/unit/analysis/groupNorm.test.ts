import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyzeDump, executeAnalysis, inProcessExecutor } from '../../../src/core/analysis/analyze';
import { binIndex } from '../../../src/core/analysis/histogram';
import { NORMS, NORM_KINDS } from '../../../src/core/analysis/norms';
import { planAnalysis, type AnalysisOptions } from '../../../src/core/analysis/plan';
import { main as runCli } from '../../../src/cli/main';
import { isNormLensError } from '../../../src/core/errors';
import type { AnalysisReport, Histogram, SampleStatistics } from '../../../src/core/report/analysisReport';
import { formatReportText } from '../../../src/core/report/textSummary';
import { renderMarkdownReport } from '../../../src/core/report/markdownReport';
import { memoryDump, normalGenerator, openFixture } from './memoryDump';

const FIXTURES = join(__dirname, '..', '..', 'fixtures', 'analysis');

interface GroupCase {
  file: string;
  shape: number[];
  groupNorm: SampleStatistics | null;
  instanceNorm: SampleStatistics;
  bestMatch?: string;
  groups?: number;
  groupsSource?: string;
  options?: AnalysisOptions;
}
const expected = JSON.parse(readFileSync(join(FIXTURES, 'groupnorm_expected.json'), 'utf8')) as Record<string, GroupCase>;

function closeArray(actual: readonly number[], want: readonly number[], rel: number, what: string): void {
  assert.equal(actual.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const a = actual[i]!;
    const w = want[i]!;
    const err = Math.abs(a - w) / Math.max(Math.abs(w), 1e-300);
    assert.ok(err <= rel, `${what}[${i}]: ${a} vs ${w} (relative error ${err})`);
  }
}

async function analyzeCase(name: string, extra: AnalysisOptions = {}): Promise<AnalysisReport> {
  const c = expected[name]!;
  const { dump, close } = await openFixture(join(FIXTURES, c.file));
  try {
    return await analyzeDump(dump, { featureAxis: 1, ...(c.options ?? {}), ...extra }, {}, c.file);
  } finally {
    await close();
  }
}

/**
 * The output histogram recomputed here from the report's own per-sample statistics (checked against
 * numpy above), y = x·scale + offset as the kernel does, binned with numpy's rule on the report's edges.
 */
async function recomputedHistogram(name: string, r: AnalysisReport, stats: SampleStatistics, groups: number): Promise<number[]> {
  const c = expected[name]!;
  const { dump, close } = await openFixture(join(FIXTURES, c.file));
  try {
    const x = dump.tensors.find((t) => t.info.name === 'activations')!;
    const values = await x.read(0, x.info.size);
    const weight = dump.tensors.find((t) => t.info.name === 'weight');
    const bias = dump.tensors.find((t) => t.info.name === 'bias');
    const w = weight ? await weight.read(0, weight.info.size) : null;
    const b = bias ? await bias.read(0, bias.info.size) : null;
    const [N, C] = c.shape as [number, number];
    const inner = x.info.size / (N * C);
    const h = groups === C ? r.instanceNorm!.histogram : r.groupNorm!.histogram;
    const bins = h.counts.length;
    const edges = Float64Array.from(h.edges);
    const inv = bins / (edges[bins]! - edges[0]!);
    const counts = new Array<number>(bins).fill(0);
    for (let n = 0; n < N; n++) {
      for (let ch = 0; ch < C; ch++) {
        const i = n * groups + Math.floor(ch / (C / groups));
        const rstd = 1 / Math.sqrt(stats.var[i]! + r.options.eps);
        const scale = rstd * (w ? w[ch]! : 1);
        const offset = (b ? b[ch]! : 0) - stats.mean[i]! * scale;
        for (let k = 0; k < inner; k++) counts[binIndex(values[(n * C + ch) * inner + k]! * scale + offset, edges[0]!, inv, edges, bins)]!++;
      }
    }
    return counts;
  } finally {
    await close();
  }
}

function total(h: Histogram): number {
  return h.counts.reduce((a, b) => a + b, 0);
}

describe('GroupNorm and InstanceNorm against PyTorch/numpy fixtures', () => {
  for (const name of Object.keys(expected)) {
    it(`${name}: per-(sample, group) and per-(sample, channel) statistics match numpy float64 to 1e-9`, async () => {
      const c = expected[name]!;
      const r = await analyzeCase(name);
      assert.ok(r.instanceNorm, 'instanceNorm applies to (N, C, ...)');
      closeArray(r.instanceNorm.perChannel.mean, c.instanceNorm.mean, 1e-9, 'instanceNorm.perChannel.mean');
      closeArray(r.instanceNorm.perChannel.var, c.instanceNorm.var, 1e-9, 'instanceNorm.perChannel.var');
      assert.deepEqual(r.instanceNorm.perChannel.count, c.instanceNorm.count);
      assert.equal(r.normAvailability.instancenorm, null);
      if (c.groupNorm === null) {
        assert.equal(r.groupNorm, null);
        assert.match(r.normAvailability.groupnorm ?? '', /--groups G/);
        return;
      }
      assert.ok(r.groupNorm, 'groupNorm section');
      assert.equal(r.groupNorm.groups, c.groups);
      assert.equal(r.groupNorm.groupsSource, c.groupsSource);
      assert.equal(r.groupNorm.channelsPerGroup, c.shape[1]! / c.groups!);
      closeArray(r.groupNorm.perGroup.mean, c.groupNorm.mean, 1e-9, 'groupNorm.perGroup.mean');
      closeArray(r.groupNorm.perGroup.var, c.groupNorm.var, 1e-9, 'groupNorm.perGroup.var');
      assert.deepEqual(r.groupNorm.perGroup.count, c.groupNorm.count);
      assert.equal(r.normAvailability.groupnorm, null);
    });

    it(`${name}: output histograms count every value once, bin for bin as recomputed from the statistics`, async () => {
      const c = expected[name]!;
      const r = await analyzeCase(name);
      const size = c.shape.reduce((a, b) => a * b, 1);
      assert.equal(total(r.instanceNorm!.histogram), size);
      assert.deepEqual(r.instanceNorm!.histogram.counts, await recomputedHistogram(name, r, r.instanceNorm!.perChannel, c.shape[1]!));
      if (r.groupNorm) {
        assert.equal(total(r.groupNorm.histogram), size);
        assert.deepEqual(r.groupNorm.histogram.edges, r.instanceNorm!.histogram.edges, 'GroupNorm and InstanceNorm share edges');
        assert.deepEqual(r.groupNorm.histogram.counts, await recomputedHistogram(name, r, r.groupNorm.perGroup, r.groupNorm.groups));
      }
    });

    it(`${name}: replay best match and groups`, async () => {
      const c = expected[name]!;
      const r = await analyzeCase(name);
      if (c.bestMatch === undefined) {
        assert.equal(r.comparison, null);
        return;
      }
      const replay = r.comparison!;
      assert.equal(replay.bestMatch, c.bestMatch);
      assert.ok(replay.candidates[c.bestMatch as 'groupnorm' | 'instancenorm']!.withinTolerance, 'the best candidate is within tolerance');
      assert.ok(replay.candidates.instancenorm, 'InstanceNorm is a candidate');
      if (c.groups !== undefined) {
        assert.equal(replay.groups, c.groups);
        assert.ok(replay.candidates.groupnorm);
        assert.ok(r.groupNorm?.fit && r.groupNorm.fit.length > 1, 'the fit lists the divisors tried');
      }
      for (const k of Object.keys(replay.candidates)) {
        const h = replay.errorHistograms[k as 'layernorm']!;
        assert.equal(total(h), r.comparison!.candidates.layernorm.maxAbsError >= 0 ? total(replay.errorHistograms.layernorm) : 0, `${k}: error histogram counts every compared element`);
      }
    });
  }

  it('--groups overrides the fit; a divisor of C only', async () => {
    const r = await analyzeCase('gn32_affine_4d', { groups: 16 });
    assert.equal(r.groupNorm!.groups, 16);
    assert.equal(r.groupNorm!.groupsSource, 'option');
    assert.equal(r.comparison!.groups, 16);
    assert.notEqual(r.comparison!.bestMatch, 'groupnorm', 'GroupNorm with the wrong G does not explain the output');
    await assert.rejects(analyzeCase('gn32_affine_4d', { groups: 5 }), (e) => isNormLensError(e) && e.kind === 'usage' && /--groups 5 does not divide the 64 channels/.test(e.message) && /1, 2, 4, 8, 16, 32, 64/.test(e.message));
    await assert.rejects(analyzeCase('gn32_affine_4d', { groups: 0 }), (e) => isNormLensError(e) && e.kind === 'usage' && /--groups 0/.test(e.message));
  });

  it('is absent with a reason on feature-last inputs and when samples share accumulators', async () => {
    const next = normalGenerator(3);
    const fl = await analyzeDump(memoryDump([{ name: 'hidden_states', shape: [2, 8, 16], values: Array.from({ length: 256 }, next) }]));
    assert.equal(fl.groupNorm, null);
    assert.equal(fl.instanceNorm, null);
    assert.match(fl.normAvailability.groupnorm!, /pick feature axis 1/);
    assert.equal(fl.comparison, null);
    const grouped = await analyzeDump(memoryDump([{ name: 'activations', shape: [8, 4, 6], values: Array.from({ length: 192 }, next) }]), { featureAxis: 1, maxBatchEntries: 2 });
    assert.equal(grouped.groupNorm, null);
    assert.equal(grouped.instanceNorm, null);
    assert.match(grouped.normAvailability.instancenorm!, /batch of 8 samples is larger than the per-sample accumulators/);
  });

  it('gives the same statistics and histograms split over ranges with small chunks (exact merges)', async () => {
    const c = expected['gn32_affine_4d']!;
    const { dump, close } = await openFixture(join(FIXTURES, c.file));
    try {
      const whole = await analyzeDump(dump, { featureAxis: 1 });
      const plan = await planAnalysis(dump, { featureAxis: 1, chunkBytes: 64 * 1024 });
      const split = await executeAnalysis(plan, { ...inProcessExecutor(dump), parallelism: 3 }, { description: 'dump', format: 'npz' });
      closeArray(split.groupNorm!.perGroup.var, whole.groupNorm!.perGroup.var, 1e-12, 'split var');
      // Chan merges are exact in real arithmetic: the statistics (so the edges) agree to rounding.
      for (const k of ['groupNorm', 'instanceNorm'] as const) {
        closeArray(split[k]!.histogram.edges, whole[k]!.histogram.edges, 1e-12, `${k} edges`);
        assert.deepEqual(split[k]!.histogram.counts, whole[k]!.histogram.counts, `${k} counts`);
      }
      assert.equal(split.comparison!.bestMatch, 'groupnorm');
      assert.equal(split.comparison!.groups, 32);
    } finally {
      await close();
    }
  });

  it('summaries name GroupNorm and InstanceNorm from the norm table', async () => {
    const r = await analyzeCase('gn32_affine_4d');
    const text = formatReportText(r);
    assert.match(text, /GroupNorm \(per sample over a group of C\/G channels and all positions; G = 32, fitted\)/);
    assert.match(text, /best match groupnorm \(G = 32\)/);
    const md = renderMarkdownReport(r);
    assert.match(md, /G = 32 \(fitted\), 2 channels per group over 2 samples/);
    assert.deepEqual(NORM_KINDS, ['layernorm', 'rmsnorm', 'batchnorm', 'groupnorm', 'instancenorm']);
    assert.ok(NORMS.every((n) => n.eps === 'inside the square root'));
  });

  it('normlens analyze --groups G on the command line', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (s: string) => out.push(s), err: (s: string) => err.push(s) };
    const file = join(FIXTURES, expected['gn4_noout_4d']!.file);
    assert.equal(await runCli(['analyze', file, '--feature-axis', '1', '--groups', '4', '--json'], io), 0);
    const report = JSON.parse(out.join('')) as AnalysisReport;
    assert.equal(report.groupNorm!.groups, 4);
    assert.equal(report.groupNorm!.groupsSource, 'option');
    out.length = 0;
    assert.equal(await runCli(['analyze', file, '--feature-axis', '1', '--groups', '5'], io), 2);
    assert.match(err.join(''), /normlens: error: --groups 5 does not divide the 12 channels on axis 1/);
    const dir = mkdtempSync(join(tmpdir(), 'normlens-gn-'));
    try {
      writeFileSync(join(dir, 'x.json'), JSON.stringify({ activations: [[[1, 2], [3, 4]]] }));
      assert.equal(await runCli(['analyze', join(dir, 'x.json'), '--groups', 'x'], io), 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { runAnalyze } from '../../../src/cli/analyzeCommand';
import { withHintFlags } from '../../../src/cli/cliIO';
import { main } from '../../../src/cli/main';
import { analyzeDump } from '../../../src/core/analysis/analyze';
import { estimateAnalysisMemory } from '../../../src/core/analysis/memoryBudget';
import { MAX_UNIT_FEATURE_CELLS, planAnalysis } from '../../../src/core/analysis/plan';
import { hintAsFlag, isNormLensError, plural } from '../../../src/core/errors';
import { renderMarkdownReport } from '../../../src/core/report/markdownReport';
import { formatReportText } from '../../../src/core/report/textSummary';
import { memoryDump, normalGenerator } from '../analysis/memoryDump';

const ROOT = join(__dirname, '..', '..', '..');
const TRANSFORMER = join(ROOT, 'test', 'fixtures', 'analysis', 'transformer.npz');

function capture(): { io: { out(t: string): void; err(t: string): void }; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return { io: { out: (t) => (out += t), err: (t) => (err += t) }, out: () => out, err: () => err };
}

function values(n: number, seed: number): number[] {
  const g = normalGenerator(seed);
  return Array.from({ length: n }, () => g());
}

describe('memory budget (maxMemoryMB)', () => {
  it('stops before reading with one limit error that names what is too large and the setting/flag', async () => {
    // (2, 2^22): 4,194,304 features, so the per-feature statistics alone are hundreds of MiB; the dump's
    // values are never read (the handle's read would throw).
    const F = 1 << 22;
    const dump = memoryDump([{ name: 'x', shape: [2, 4], values: values(8, 1) }]);
    const handle = dump.tensors[0]!;
    const big = { ...handle, info: { ...handle.info, shape: [2, F], size: 2 * F, byteLength: 8 * F }, read: async (): Promise<never> => assert.fail('read before the budget check') };
    await assert.rejects(
      analyzeDump({ ...dump, tensors: [big] }, { maxFeatureSeries: F }),
      (e: unknown) => {
        assert.ok(isNormLensError(e));
        assert.equal(e.kind, 'limit');
        assert.match(e.message, /4,194,304 features/);
        assert.match(e.message, /memory budget of 1024 MiB/);
        assert.deepEqual(e.hints[0], { kind: 'limit', setting: 'normlens.limits.maxMemoryMB', flag: '--max-memory-mb', value: e.hints[0]!.kind === 'limit' ? e.hints[0]!.value : 0 });
        assert.match(withHintFlags(e.message, e.hints), /\(try --max-memory-mb \d+(, --max-feature-series \d+)?\)$/);
        return true;
      },
    );
  });

  it('the CLI prints the budget error with the flag and exits 2 (never a crash)', async () => {
    const c = capture();
    assert.equal(await main(['analyze', TRANSFORMER, '--max-memory-mb', '1'], c.io), 2);
    assert.match(c.err(), /^normlens: error: analyzing '.*' \(.*\) would need about \d+ MiB, over the memory budget of 1 MiB; .* \(try --max-memory-mb \d+.*\)\n$/);
    assert.equal(c.out(), '');
  });

  it('the estimate of a normal shape fits the default budget; tokens over the cap count one block', async () => {
    const dump = memoryDump([{ name: 'x', shape: [4, 64, 16], values: values(4 * 64 * 16, 2) }]);
    const plan = await planAnalysis(dump);
    assert.ok(estimateAnalysisMemory(plan, 2).bytes < 1024 * 1024 * 1024);
    const small = await planAnalysis(dump, { maxTokenSeries: 8 });
    assert.ok(estimateAnalysisMemory(small, 2).bytes <= estimateAnalysisMemory(plan, 2).bytes);
  });

  it('per-(batch element, feature) cells are capped at 2^20: (512, 1024, 4096) groups the batch in pairs, (N, C, H, W) with C = 1024, N = 1024 stays per sample', async () => {
    const dump = memoryDump([{ name: 'x', shape: [2, 4], values: values(8, 5) }]);
    const handle = dump.tensors[0]!;
    const sized = (shape: number[]): typeof handle => {
      const size = shape.reduce((a, b) => a * b, 1);
      return { ...handle, info: { ...handle.info, shape, size, byteLength: 8 * size }, read: async (): Promise<never> => assert.fail('read while planning') };
    };
    const xl = await planAnalysis({ ...dump, tensors: [sized([512, 1024, 4096])] }, { featureAxis: -1 });
    assert.equal(xl.units, 256);
    assert.equal(xl.batchElementsPerUnit, 2);
    assert.ok(xl.units * xl.features <= MAX_UNIT_FEATURE_CELLS);
    const item = estimateAnalysisMemory(xl, 2).items.find((i) => /cells/.test(i.what))!;
    // 8 Float64 per cell per pass-1 partial: 64 MiB a partial (it was 256 MiB with 2^22 cells).
    assert.ok(item.bytes <= 320 * 1024 * 1024, `${item.what}: ${item.bytes}`);
    const nchw = await planAnalysis({ ...dump, tensors: [sized([1024, 1024, 2, 2])] }, { featureAxis: 1 });
    assert.equal(nchw.units, 1024);
    assert.equal(nchw.batchElementsPerUnit, 1);
  });

  it('a compressed member (read front to back) keeps full per-token arrays above the cap, within the budget', async () => {
    const dump = memoryDump([{ name: 'x', shape: [200, 4], values: values(800, 4) }], { randomAccess: false });
    const r = await analyzeDump(dump, { maxTokenSeries: 64 });
    assert.equal(r.layerNorm.perToken.mean.length, 200);
    assert.equal(r.layerNorm.perToken.reduced, undefined);
    const plan = await planAnalysis(dump, { maxTokenSeries: 64 });
    assert.match(estimateAnalysisMemory(plan, 1).items.map((i) => i.what).join('; '), /per-token arrays of 200 tokens \(a compressed member/);
  });

  it('--max-token-series reduces the JSON per-token arrays and says so', async () => {
    const c = capture();
    assert.equal(await runAnalyze([TRANSFORMER, '--json', '--max-token-series', '16'], c.io), 0);
    const r = JSON.parse(c.out()) as { layout: { tokens: number }; layerNorm: { perToken: { mean: number[]; reduced?: { from: number; to: number; how: string } } }; options: { maxTokenSeries: number } };
    assert.deepEqual(r.layerNorm.perToken.mean, []);
    assert.equal(r.layerNorm.perToken.reduced?.from, r.layout.tokens);
    assert.equal(r.options.maxTokenSeries, 16);
    const t = capture();
    assert.equal(await runAnalyze([TRANSFORMER, '--max-token-series', '16'], t.io), 0);
    assert.match(t.out(), /per-token series: [\d,]+ tokens, shown as [\d,]+ min\/max buckets of [\d,]+ tokens? \(over the cap of 16; summaries exact\)/);
    const md = renderMarkdownReport(await analyzeDump(memoryDump([{ name: 'x', shape: [300, 4], values: values(1200, 5) }]), { maxTokenSeries: 100 }));
    assert.match(md, /Per-token series: 300 tokens, shown as 300 min\/max buckets of 1 token \(over the cap of 100; summaries exact\)\./);
    const bad = capture();
    assert.equal(await main(['analyze', TRANSFORMER, '--max-token-series', '0'], bad.io), 2);
    assert.match(bad.err(), /--max-token-series 1048576/);
  });
});

describe('hints and pluralization', () => {
  it('hints render as CLI flags', () => {
    assert.equal(hintAsFlag({ kind: 'featureAxis', value: 1 }), '--feature-axis 1');
    assert.equal(hintAsFlag({ kind: 'tensor', role: 'output', name: 'y' }), '--output y');
    assert.equal(hintAsFlag({ kind: 'tensor', role: 'input', name: 'h' }), '--tensor h');
    assert.equal(hintAsFlag({ kind: 'tensor', role: 'runningMean', name: 'rm' }), '--running-mean rm');
    assert.equal(hintAsFlag({ kind: 'eps', value: 1e-6 }), '--eps 0.000001');
    assert.equal(hintAsFlag({ kind: 'groups', value: 8 }), '--groups 8');
    assert.equal(hintAsFlag({ kind: 'limit', setting: 'normlens.limits.maxMemoryMB', flag: '--max-memory-mb', value: 2048 }), '--max-memory-mb 2048');
  });

  it('a warning hint is neutral in the core and a flag in the CLI summary', async () => {
    const r = await analyzeDump(memoryDump([{ name: 'hidden_states', shape: [4, 16, 32], values: values(4 * 16 * 32, 3) }, { name: 'weight', shape: [16], values: new Array(16).fill(1) }]), { featureAxis: -1 });
    const w = r.warnings.find((x) => x.code === 'shape-mismatch')!;
    assert.doesNotMatch(w.message, /--/);
    assert.match(w.message, /pick feature axis 1/);
    assert.match(formatReportText(r, hintAsFlag), /pick feature axis 1\. \(try --feature-axis 1\)/);
    assert.doesNotMatch(formatReportText(r).split('\n').find((l) => l.includes('[shape-mismatch]'))!, /--feature-axis/);
  });

  it('"1 feature", "1 token": singular counts in summaries and warnings', async () => {
    assert.equal(plural(1, 'feature'), '1 feature');
    assert.equal(plural(2, 'feature'), '2 features');
    assert.equal(plural(0, 'token'), '0 tokens');
    const r = await analyzeDump(memoryDump([{ name: 'x', shape: [1, 4], values: [1, 2, 3, 4] }]));
    const text = formatReportText(r);
    assert.match(text, /1 token × 4 features/);
    assert.doesNotMatch(text, /\b1 (tokens|features|valid tokens)\b/);
    const one = await analyzeDump(memoryDump([{ name: 'x', shape: [4, 1], values: [1, 2, 3, 4] }]));
    assert.match(formatReportText(one), /4 tokens × 1 feature\b/);
  });
});

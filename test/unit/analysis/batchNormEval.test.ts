import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyzeDump } from '../../../src/core/analysis/analyze';
import { ERROR_BINS } from '../../../src/core/analysis/pass2Partial';
import type { AnalysisReport } from '../../../src/core/report/analysisReport';
import { renderMarkdownReport } from '../../../src/core/report/markdownReport';
import { formatReportText } from '../../../src/core/report/textSummary';
import { summarizeSite } from '../../../src/core/sweep/siteSummary';
import { analyzeFile } from '../../../src/worker/workerRunner';
import { openFixture } from './memoryDump';

// Eval-mode BatchNorm (running statistics) in the replay: nn.BatchNorm2d / nn.BatchNorm1d trained a
// few steps then .eval() (scripts/fixtures/generate_analysis.py → bneval_expected.json).

const FIXTURES = join(__dirname, '..', '..', 'fixtures', 'analysis');

interface EvalCase {
  file: string;
  shape: number[];
  eps: number;
  bestMatch: string;
  batchNormStatistics: string;
  warnings: string[];
}
const expected = JSON.parse(readFileSync(join(FIXTURES, 'bneval_expected.json'), 'utf8')) as Record<string, EvalCase>;

async function analyzeFixture(file: string): Promise<{ report: AnalysisReport; reference: number }> {
  const { dump, close } = await openFixture(join(FIXTURES, file));
  try {
    const report = await analyzeDump(dump, { featureAxis: 1 }, {}, file);
    // max |PyTorch output − (x − rm)/√(rv + eps)·w + b| in float64: what the replay's error should be.
    const read = async (name: string): Promise<Float64Array | null> => {
      const t = dump.tensors.find((x) => x.info.name === name);
      return t ? Float64Array.from(await t.read(0, t.info.size)) : null;
    };
    const [x, y, w, b, rm, rv] = await Promise.all(['activations', 'output', 'weight', 'bias', 'running_mean', 'running_var'].map(read));
    let reference = NaN;
    if (x && y && w && b && rm && rv) {
      const shape = report.input.shape;
      const C = shape[1]!;
      const inner = x.length / (shape[0]! * C);
      reference = 0;
      for (let i = 0; i < x.length; i++) {
        const c = Math.floor(i / inner) % C;
        const z = ((x[i]! - rm[c]!) / Math.sqrt(rv[c]! + report.options.eps)) * w[c]! + b[c]!;
        reference = Math.max(reference, Math.abs(y[i]! - z));
      }
    }
    return { report, reference };
  } finally {
    await close();
  }
}

describe('replay: eval-mode BatchNorm (running statistics)', () => {
  for (const [name, c] of Object.entries(expected)) {
    it(`${name} ${JSON.stringify(c.shape)}: bestMatch batchnorm with running statistics, within tolerance of PyTorch's output`, async () => {
      const { report, reference } = await analyzeFixture(c.file);
      const r = report.comparison!;
      assert.equal(r.bestMatch, c.bestMatch);
      assert.equal(r.batchNormStatistics, c.batchNormStatistics);
      const cand = r.candidates['batchnorm-running']!;
      assert.ok(cand, 'the eval-mode candidate is replayed');
      assert.ok(cand.withinTolerance, `max error ${cand.maxAbsError} vs tolerance ${r.tolerance}`);
      assert.equal(r.maxAbsError, cand.maxAbsError);
      // Same error as the float64 recompute here (the replay is float64 too).
      assert.ok(Math.abs(cand.maxAbsError - reference) <= 1e-9 + 1e-6 * reference, `${cand.maxAbsError} vs ${reference}`);
      assert.ok(cand.shapeResidual < 1e-10, `shape residual ${cand.shapeResidual}`);
      assert.ok(r.fittedEps !== undefined && Math.abs(r.fittedEps - c.eps) < 0.1 * c.eps, `fitted eps ${r.fittedEps}`);
      // The batch-statistics BatchNorm does not explain an eval-mode output.
      assert.ok(!r.candidates.batchnorm.withinTolerance);
      const hist = r.errorHistograms['batchnorm-running']!;
      assert.equal(hist.counts.length, ERROR_BINS);
      assert.equal(hist.total, r.errorHistograms.layernorm.total, 'every compared element');
      const codes: string[] = report.warnings.map((w) => w.code);
      assert.ok(!codes.includes('recorded-output-mismatch'), codes.join(', '));
      assert.ok(!codes.includes('batch-dependent-output'), 'an eval-mode output does not depend on the batch');
      for (const code of c.warnings) assert.ok(codes.includes(code), `${code} in ${codes.join(', ')}`);
      if (!c.warnings.includes('running-stats-mismatch')) assert.ok(!codes.includes('running-stats-mismatch'), 'converged running stats are not flagged');
      const stale = report.warnings.find((w) => w.code === 'running-stats-mismatch');
      if (stale) {
        assert.match(stale.message, /produced with these running stats \(the model is in eval mode\)/);
        assert.equal(stale.details['evalMode'], true);
      }
      // Summaries name it eval-mode BatchNorm.
      assert.match(formatReportText(report), /best match batchnorm \(running stats\)/);
      assert.match(renderMarkdownReport(report), /best match \*\*batchnorm \(running stats\)\*\*/);
      assert.equal(summarizeSite(report).batchNormStatistics, 'running');
      // The eval-mode output histogram of channels-first inputs (over every element: no mask).
      if (report.input.shape.length >= 3) {
        assert.ok(report.batchNormRunning);
        assert.equal(report.batchNormRunning.histogram.total, report.global.finite);
        assert.deepEqual(report.batchNormRunning.histogram.edges, report.instanceNorm!.histogram.edges);
      }
    });
  }

  it('the same on the worker pool (token ranges on workers, merged replay sums)', async () => {
    for (const c of Object.values(expected)) {
      const { report } = await analyzeFile(join(FIXTURES, c.file), { analysis: { featureAxis: 1 }, workers: 2, minElementsForWorkers: 0 });
      const { report: local } = await analyzeFixture(c.file);
      assert.equal(report.comparison!.bestMatch, 'batchnorm');
      assert.equal(report.comparison!.batchNormStatistics, 'running');
      const a = report.comparison!.candidates['batchnorm-running']!;
      const b = local.comparison!.candidates['batchnorm-running']!;
      assert.equal(a.maxAbsError, b.maxAbsError);
      assert.ok(Math.abs(a.rmsError - b.rmsError) <= 1e-12 * b.rmsError + 1e-300);
    }
  });

  it('training-mode BatchNorm stays batchnorm with all-token statistics (bn_train): the eval candidate is replayed and loses', async () => {
    const { report } = await analyzeFixture('bn_train.npz');
    const r = report.comparison!;
    assert.equal(r.bestMatch, 'batchnorm');
    assert.equal(r.batchNormStatistics, 'all-tokens');
    assert.ok(r.candidates['batchnorm-running'] && !r.candidates['batchnorm-running'].withinTolerance);
    const codes: string[] = report.warnings.map((w) => w.code);
    assert.ok(codes.includes('batch-dependent-output'));
    const stale = report.warnings.find((w) => w.code === 'running-stats-mismatch')!;
    assert.match(stale.message, /In eval mode BatchNorm would normalize this data wrongly/);
    assert.equal(summarizeSite(report).batchNormStatistics, undefined);
    assert.doesNotMatch(formatReportText(report), /running stats\)/);
  });

  it('without a recorded output or without running stats there is no eval-mode candidate', async () => {
    const { dump, close } = await openFixture(join(FIXTURES, 'cnn.npz'));
    try {
      const report = await analyzeDump(dump, { featureAxis: 1 }, {}, 'cnn.npz');
      assert.equal(report.comparison, null);
      assert.equal(report.batchNormRunning, undefined);
    } finally {
      await close();
    }
    const { report } = await analyzeFixture('in2d_affine.npz');
    assert.equal(report.comparison!.candidates['batchnorm-running'], undefined);
    assert.equal(report.comparison!.batchNormStatistics, 'all-tokens');
  });
});

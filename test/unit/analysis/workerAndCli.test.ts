import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { runAnalyze } from '../../../src/cli/analyzeCommand';
import { main } from '../../../src/cli/main';
import type { AnalysisReport } from '../../../src/core/report/analysisReport';
import { analyzeFile } from '../../../src/worker/workerRunner';

const ROOT = join(__dirname, '..', '..', '..');
const TRANSFORMER = join(ROOT, 'test', 'fixtures', 'analysis', 'transformer.npz');

function capture(): { io: { out(t: string): void; err(t: string): void }; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return { io: { out: (t) => (out += t), err: (t) => (err += t) }, out: () => out, err: () => err };
}

function maxDifference(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return Number.isNaN(a) && Number.isNaN(b) ? 0 : Math.abs(a - b) / Math.max(1, Math.abs(a));
  if (a && typeof a === 'object' && b && typeof b === 'object') {
    let worst = 0;
    for (const k of Object.keys(a)) if (k !== 'timing') worst = Math.max(worst, maxDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
    return worst;
  }
  assert.deepEqual(a, b);
  return 0;
}

describe('worker runner', () => {
  it('two workers give the in-process report (to 1e-12)', async () => {
    const inProcess = await analyzeFile(TRANSFORMER, {}, { workers: 0 });
    const workers = await analyzeFile(TRANSFORMER, {}, { workers: 2, minElementsForWorkers: 0 });
    assert.equal(inProcess.timing.workers, 0);
    assert.equal(workers.timing.workers, 2);
    assert.ok(maxDifference(inProcess, workers) < 1e-12);
  });

  it('a cancelled run stops the workers and rejects', async () => {
    const flag = { aborted: true };
    await assert.rejects(analyzeFile(TRANSFORMER, {}, { workers: 2, minElementsForWorkers: 0, cancellation: flag }), /cancelled/);
  });
});

describe('normlens analyze', () => {
  it('prints a summary with the warning codes and exits 0', async () => {
    const c = capture();
    const code = await runAnalyze([join(ROOT, 'media', 'samples', 'transformer-block.npz')], c.io);
    assert.equal(code, 0);
    assert.match(c.out(), /best match layernorm/);
    assert.match(c.out(), /\[padding-in-batch-stats\]/);
  });

  it('--json prints the full report; --fail-on warning exits 1', async () => {
    const c = capture();
    const code = await runAnalyze([TRANSFORMER, '--json', '--fail-on', 'warning'], c.io);
    assert.equal(code, 1);
    const report = JSON.parse(c.out()) as AnalysisReport;
    assert.equal(report.schemaVersion, 1);
    assert.deepEqual(Object.keys(report.layout).slice(0, 3), ['featureAxis', 'tokens', 'features']);
    assert.equal(report.comparison?.bestMatch, 'layernorm');
  });

  it('--feature-axis 1 on the CNN sample; bad input exits 2 with one line', async () => {
    const ok = capture();
    assert.equal(await runAnalyze([join(ROOT, 'media', 'samples', 'cnn-batchnorm.npz'), '--feature-axis', '1', '--fail-on', 'error'], ok.io), 0);
    assert.match(ok.out(), /8 features/);
    const bad = capture();
    assert.equal(await main(['analyze', TRANSFORMER, '--bins', 'many'], bad.io), 2);
    assert.match(bad.err(), /^normlens: error: --bins many: expected an integer\.\n$/);
    const missing = capture();
    assert.equal(await main(['analyze', TRANSFORMER, '--tensor', 'nope'], missing.io), 2);
    assert.match(missing.err(), /nope/);
  });
});

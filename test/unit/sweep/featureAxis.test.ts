import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { analyzeDump } from '../../../src/core/analysis/analyze';
import { inferFeatureAxis } from '../../../src/core/analysis/featureAxis';
import { formatReportText } from '../../../src/core/report/textSummary';
import { analyzeFile } from '../../../src/worker/workerRunner';
import { memoryDump, normalGenerator, type MemoryTensor } from '../analysis/memoryDump';
import { memoryTensor, SITES_FIXTURES } from '../sites/helpers';

function random(name: string, shape: number[], seed: number): MemoryTensor {
  const next = normalGenerator(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  // Per-position offsets and scales, so that no norm of a wrong axis explains a norm of the right one.
  return { name, shape, values: Array.from({ length: size }, (_, i) => next() * (1 + (i % 7) * 0.3) + ((i * 13) % 5)) };
}

/** BatchNorm in training mode of (N, C, ...) over N and positions, per channel (no affine). */
function batchNormChannels(x: MemoryTensor): number[] {
  const [n, c] = x.shape as [number, number];
  const inner = x.values.length / (n * c);
  const out = new Array<number>(x.values.length);
  for (let ch = 0; ch < c; ch++) {
    let sum = 0;
    for (let s = 0; s < n; s++) for (let i = 0; i < inner; i++) sum += x.values[(s * c + ch) * inner + i]!;
    const mean = sum / (n * inner);
    let v = 0;
    for (let s = 0; s < n; s++) for (let i = 0; i < inner; i++) v += (x.values[(s * c + ch) * inner + i]! - mean) ** 2;
    const rstd = 1 / Math.sqrt(v / (n * inner) + 1e-5);
    for (let s = 0; s < n; s++) for (let i = 0; i < inner; i++) out[(s * c + ch) * inner + i] = (x.values[(s * c + ch) * inner + i]! - mean) * rstd;
  }
  return out;
}

/** InstanceNorm of (N, C, ...): per sample and channel over positions. */
function instanceNorm(x: MemoryTensor): number[] {
  const [n, c] = x.shape as [number, number];
  const inner = x.values.length / (n * c);
  const out = new Array<number>(x.values.length);
  for (let r = 0; r < n * c; r++) {
    let sum = 0;
    for (let i = 0; i < inner; i++) sum += x.values[r * inner + i]!;
    const mean = sum / inner;
    let v = 0;
    for (let i = 0; i < inner; i++) v += (x.values[r * inner + i]! - mean) ** 2;
    for (let i = 0; i < inner; i++) out[r * inner + i] = (x.values[r * inner + i]! - mean) / Math.sqrt(v / inner + 1e-5);
  }
  return out;
}

/** LayerNorm over the last axis with a per-feature weight and bias. */
function layerNormLast(x: MemoryTensor): number[] {
  const f = x.shape[x.shape.length - 1]!;
  const out = new Array<number>(x.values.length);
  for (let t = 0; t < x.values.length / f; t++) {
    let sum = 0;
    for (let i = 0; i < f; i++) sum += x.values[t * f + i]!;
    const mean = sum / f;
    let v = 0;
    for (let i = 0; i < f; i++) v += (x.values[t * f + i]! - mean) ** 2;
    for (let i = 0; i < f; i++) out[t * f + i] = ((x.values[t * f + i]! - mean) / Math.sqrt(v / f + 1e-5)) * (0.5 + i / f) + 0.1 * i;
  }
  return out;
}

describe('feature axis when none is given (DESIGN.md rules)', () => {
  it('given: --feature-axis wins, and the report says so', async () => {
    const r = await analyzeDump(memoryDump([random('x', [4, 16, 32], 1), { name: 'weight', shape: [16], values: new Array(16).fill(1) }]), { featureAxis: 2 });
    assert.equal(r.layout.featureAxis, 2);
    assert.equal(r.layout.featureAxisRule, 'given');
    assert.match(formatReportText(r), /feature axis 2 \(given\)/);
  });

  it('parameters: a weight, bias or running stat of length F that matches one axis; the last axis wins a tie', async () => {
    const one = await analyzeDump(memoryDump([random('x', [4, 16, 32], 1), { name: 'weight', shape: [16], values: new Array(16).fill(1) }]));
    assert.equal(one.layout.featureAxis, 1);
    assert.equal(one.layout.featureAxisRule, 'parameters');
    assert.equal(one.tensors.weight?.used, true);
    assert.match(formatReportText(one), /feature axis 1 \(matches the parameters\)/);
    const stats = await analyzeDump(memoryDump([random('x', [4, 16, 32], 1), { name: 'running_var', shape: [16], values: new Array(16).fill(1) }]));
    assert.equal(stats.layout.featureAxis, 1);
    const tie = await analyzeDump(memoryDump([random('x', [4, 32, 32], 1), { name: 'bias', shape: [32], values: new Array(32).fill(0) }]));
    assert.equal(tie.layout.featureAxis, 2);
    assert.equal(tie.layout.featureAxisRule, 'parameters');
  });

  it('replay: with an output and no parameters, the axis whose norm explains the output', async () => {
    const cnl = random('x', [4, 8, 50], 2);
    const bn = await analyzeDump(memoryDump([cnl, { name: 'output', shape: cnl.shape, values: batchNormChannels(cnl) }]));
    assert.equal(bn.layout.featureAxis, 1);
    assert.equal(bn.layout.featureAxisRule, 'replay');
    assert.equal(bn.comparison?.bestMatch, 'batchnorm');
    assert.ok(!bn.warnings.some((w) => w.code === 'shape-mismatch' || w.code === 'recorded-output-mismatch'));
    const nchw = random('x', [2, 6, 5, 7], 3);
    const inorm = await analyzeDump(memoryDump([nchw, { name: 'output', shape: nchw.shape, values: instanceNorm(nchw) }]));
    assert.equal(inorm.layout.featureAxis, 1);
    assert.equal(inorm.layout.featureAxisRule, 'replay');
    const btf = random('x', [3, 10, 24], 4);
    const ln = await analyzeDump(memoryDump([btf, { name: 'output', shape: btf.shape, values: layerNormLast(btf) }]));
    assert.equal(ln.layout.featureAxis, 2);
    assert.equal(ln.layout.featureAxisRule, 'replay');
  });

  it('last: no parameters and no output, or an output no norm explains', async () => {
    const plain = await analyzeDump(memoryDump([random('x', [4, 8, 50], 5)]));
    assert.equal(plain.layout.featureAxis, 2);
    assert.equal(plain.layout.featureAxisRule, 'last');
    assert.match(formatReportText(plain), /feature axis 2 \(last axis\)/);
    const noise = random('y', [4, 8, 50], 6);
    const unexplained = await analyzeDump(memoryDump([random('x', [4, 8, 50], 5), { name: 'output', shape: [4, 8, 50], values: noise.values }]));
    assert.equal(unexplained.layout.featureAxis, 2);
    assert.equal(unexplained.layout.featureAxisRule, 'last');
  });

  it('the replay rule reads a bounded number of elements, however big the tensor', async () => {
    const shape = [8, 64, 4096];
    const input = memoryTensor('x', shape);
    const output = memoryTensor('y', shape);
    const choice = await inferFeatureAxis(input, { parameters: [], output });
    assert.equal(choice.rule, 'replay'); // y = x: every norm's affine map explains it; the tie goes to the last axis
    assert.equal(choice.axis, 2);
    const read = (t: typeof input): number => t.reads.reduce((a, [, n]) => a + n, 0);
    assert.ok(read(input) <= 2 * 65536 + 2 * 4096, `${read(input)} input elements read`);
    assert.ok(read(output) <= 2 * 65536 + 2 * 4096, `${read(output)} output elements read`);
  });

  it('the CNN BatchNorm2d capture (N, C, H, W) opens on axis 1 with no shape-mismatch, through analyzeFile', async () => {
    for (const site of ['bn1', 'bn2']) {
      const { report } = await analyzeFile(join(SITES_FIXTURES, 'cnn_batchnorm_train.safetensors'), { site, workers: 0 });
      assert.equal(report.layout.featureAxis, 1);
      assert.equal(report.layout.featureAxisRule, 'parameters');
      assert.ok(!report.warnings.some((w) => w.code === 'shape-mismatch'), report.warnings.map((w) => w.message).join('; '));
      assert.equal(report.comparison?.bestMatch, 'batchnorm');
      assert.equal(report.tensors.runningMean?.used, true);
    }
  });
});

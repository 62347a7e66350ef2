import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { analyzeDump } from '../../../src/core/analysis/analyze';
import { ERROR_BINS, ERROR_EDGES, errorBin } from '../../../src/core/analysis/pass2';
import { planAnalysis } from '../../../src/core/analysis/plan';
import type { AnalysisReport, Histogram, TokenFeatureNormKind } from '../../../src/core/report/analysisReport';
import { memoryDump, normalGenerator, openFixture } from './memoryDump';

const FIXTURES = join(__dirname, '..', '..', 'fixtures', 'analysis');
const KINDS: TokenFeatureNormKind[] = ['layernorm', 'rmsnorm', 'batchnorm'];

/** numpy.histogram(values, bins=edges): searchsorted on the edges, last bin closed, outside values dropped. */
function numpyHistogram(values: readonly number[], edges: readonly number[]): number[] {
  const bins = edges.length - 1;
  const counts = new Array<number>(bins).fill(0);
  for (const v of values) {
    if (v < edges[0]! || v > edges[bins]!) continue;
    if (v === edges[bins]) {
      counts[bins - 1]!++;
      continue;
    }
    let lo = 0;
    let hi = bins;
    // Largest k with edges[k] <= v.
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (edges[mid]! <= v) lo = mid;
      else hi = mid;
    }
    counts[lo]!++;
  }
  return counts;
}

/** The fixture's report and decoded input/output/mask (whole tensors; the fixtures are small). */
async function fixture(file: string): Promise<{ report: AnalysisReport; x: Float64Array; y: Float64Array; mask: Float64Array | null; features: number }> {
  const { dump, close } = await openFixture(join(FIXTURES, file));
  try {
    const report = await analyzeDump(dump, {}, {}, file);
    const plan = await planAnalysis(dump, {});
    const read = async (name: string): Promise<Float64Array> => {
      const h = dump.tensors.find((t) => t.info.name === name)!;
      return Float64Array.from(await h.read(0, h.info.size));
    };
    const x = await read(plan.inputName);
    const y = await read(plan.outputName!);
    const mask = plan.mask ? Float64Array.from(plan.mask) : null;
    return { report, x, y, mask, features: plan.features };
  } finally {
    await close();
  }
}

function sum(h: Histogram): number {
  return h.counts.reduce((a, b) => a + b, 0);
}

describe('replay histograms (comparison.recordedHistogram, comparison.errorHistograms)', () => {
  it('error edges are 10^-12 … 10^4 with 4 bins per decade; zeros go to the first bin, huge errors to the last', () => {
    assert.equal(ERROR_BINS, 64);
    assert.equal(ERROR_EDGES.length, 65);
    assert.equal(ERROR_EDGES[0], 1e-12);
    assert.ok(Math.abs(ERROR_EDGES[64]! - 1e4) < 1e-9);
    assert.equal(errorBin(0), 0);
    assert.equal(errorBin(1e-20), 0);
    assert.equal(errorBin(1e9), 63);
    for (let k = 0; k < 64; k++) {
      assert.equal(errorBin(ERROR_EDGES[k]!), k, `edge ${k} opens bin ${k}`);
      assert.equal(errorBin(Math.sqrt(ERROR_EDGES[k]! * ERROR_EDGES[k + 1]!)), k, `middle of bin ${k}`);
    }
  });

  for (const file of ['transformer.npz', 'ln_affine.npz', 'rmsnorm.npz', 'bn_train.npz', 'ln_plus_residual.npz', 'ln_fp16.safetensors']) {
    it(`${file}: error counts sum to the compared elements; the best match's errors sit below its tolerance`, async () => {
      const { report, x, y } = await fixture(file);
      const c = report.comparison!;
      let compared = 0;
      for (let i = 0; i < x.length; i++) if (Number.isFinite(x[i]!) && Number.isFinite(y[i]!)) compared++;
      for (const kind of KINDS) {
        const h = c.errorHistograms[kind];
        assert.equal(h.counts.length, ERROR_BINS);
        assert.deepEqual(h.edges, Array.from(ERROR_EDGES));
        assert.equal(sum(h), compared, `${kind}: counts sum to the compared elements`);
        assert.equal(h.total, compared);
        // The highest non-empty bin is the bin of the candidate's max error.
        const top = h.counts.reduce((best, n, k) => (n > 0 ? k : best), -1);
        assert.equal(top, errorBin(c.candidates[kind].maxAbsError), `${kind}: top bin holds maxAbsError`);
      }
      if (c.bestMatch !== 'none') {
        const h = c.errorHistograms[c.bestMatch]!;
        h.counts.forEach((n, k) => {
          if (n > 0) assert.ok(h.edges[k]! <= c.tolerance, `${c.bestMatch}: bin ${k} (from ${h.edges[k]}) is below the tolerance ${c.tolerance}`);
        });
      }
    });
  }

  it('transformer.npz: recordedHistogram equals numpy.histogram of the recorded output over valid tokens on the LayerNorm edges', async () => {
    const { report, y, mask, features } = await fixture('transformer.npz');
    assert.ok(mask, 'the fixture has a padding mask');
    const c = report.comparison!;
    const values: number[] = [];
    for (let i = 0; i < y.length; i++) {
      const t = Math.floor(i / features);
      if (mask![t] === 1 && Number.isFinite(y[i]!)) values.push(y[i]!);
    }
    assert.deepEqual(c.recordedHistogram.edges, report.histograms.layerNorm.edges);
    assert.equal(c.recordedHistogramClamped, 0);
    assert.deepEqual(c.recordedHistogram.counts, numpyHistogram(values, report.histograms.layerNorm.edges));
    assert.equal(c.recordedHistogram.total, values.length);
    assert.ok(values.length < y.length, 'padding tokens are left out');
  });

  it('clamps recorded values outside the edges into the end bins and counts them', async () => {
    const next = normalGenerator(5);
    const x = Array.from({ length: 4 * 32 }, () => next());
    const y = x.map((v, i) => (i === 3 ? 1e6 : i === 9 ? -1e6 : v));
    const r = await analyzeDump(memoryDump([{ name: 'x', shape: [4, 32], values: x }, { name: 'output', shape: [4, 32], values: y }]));
    const c = r.comparison!;
    const edges = r.histograms.layerNorm.edges;
    const lo = edges[0]!;
    const hi = edges[edges.length - 1]!;
    const below = y.filter((v) => v < lo).length;
    const above = y.filter((v) => v > hi).length;
    assert.ok(below >= 1 && above >= 1);
    assert.equal(c.recordedHistogramClamped, below + above);
    assert.equal(c.recordedHistogram.total, 128);
    const inside = numpyHistogram(y, edges);
    inside[0]! += below;
    inside[inside.length - 1]! += above;
    assert.deepEqual(c.recordedHistogram.counts, inside);
  });

  it('channels-first and feature-last layouts give the same replay histograms', async () => {
    const N = 2;
    const C = 3;
    const L = 700;
    const next = normalGenerator(21);
    const cf = Array.from({ length: N * C * L }, () => next() * 2 + 0.5);
    const out = cf.map((v) => v * 0.5 + 0.001 * next());
    const transpose = (a: number[]): number[] => {
      const t: number[] = new Array(N * C * L);
      for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let l = 0; l < L; l++) t[(n * L + l) * C + c] = a[(n * C + c) * L + l]!;
      return t;
    };
    const a = await analyzeDump(memoryDump([{ name: 'x', shape: [N, C, L], values: cf }, { name: 'output', shape: [N, C, L], values: out }]), { featureAxis: 1, chunkBytes: 64 * 1024 });
    const b = await analyzeDump(memoryDump([{ name: 'x', shape: [N, L, C], values: transpose(cf) }, { name: 'output', shape: [N, L, C], values: transpose(out) }]));
    assert.deepEqual(a.comparison!.recordedHistogram, b.comparison!.recordedHistogram);
    for (const kind of KINDS) assert.equal(sum(a.comparison!.errorHistograms[kind]), N * C * L);
    // Errors differ by rounding between layouts; the bins agree except for values on a bin edge.
    for (const kind of KINDS) {
      const da = a.comparison!.errorHistograms[kind].counts;
      const db = b.comparison!.errorHistograms[kind].counts;
      const moved = da.reduce((acc, n, k) => acc + Math.abs(n - db[k]!), 0);
      assert.ok(moved <= 0.01 * N * C * L, `${kind}: ${moved} elements in other bins`);
    }
  });
});

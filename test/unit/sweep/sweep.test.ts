import { strict as assert } from 'node:assert';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SweepReport, SweepSite } from '../../../src/core/report/sweepReport';
import { analyzeFile } from '../../../src/worker/workerRunner';
import { listSweepSites, sweepPath } from '../../../src/worker/sweepRunner';
import { formatSweepText } from '../../../src/core/sweep/sweepTable';
import { expectedFixtures, SITES_FIXTURES, type ExpectedFixture, type ExpectedSite } from '../sites/helpers';

const fixtures = expectedFixtures();

/** Relative closeness for float64 sums over float32 data in a different order. */
function close(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= 1e-9 * Math.max(1, Math.abs(expected)), `${what}: ${actual} vs ${expected}`);
}

function sweepFixture(fixture: ExpectedFixture, workers: number): Promise<SweepReport> {
  return sweepPath(join(SITES_FIXTURES, fixture.path), { workers, minElementsForWorkers: 0, ...(fixture.layerAxis !== undefined ? { layerAxis: fixture.layerAxis } : {}) });
}

/** A site's numbers against numpy's float64 ones (token RMS over the valid tokens when there is a mask). */
function checkSummary(row: SweepSite, e: ExpectedSite): void {
  assert.equal(row.error, undefined, `${row.name}: ${row.error}`);
  const s = row.summary;
  for (const key of ['mean', 'std', 'min', 'max', 'maxAbs'] as const) close(s[key], e.summary[key], `${row.name} ${key}`);
  const rms = e.summary.maskedTokenRms ?? e.summary.tokenRms;
  for (const key of ['mean', 'min', 'max'] as const) close(s.tokenRms[key], rms[key], `${row.name} tokenRms.${key}`);
  assert.equal(s.nan, e.summary.nan);
  assert.equal(s.inf, e.summary.inf);
  assert.deepEqual(s.outlierFeatures, e.summary.outlierFeatures, row.name);
  assert.equal(row.layout.featureAxis, e.featureAxis, `${row.name} feature axis`);
  assert.deepEqual(row.shape, e.shape, row.name);
  assert.equal(row.dtype, e.dtype, row.name);
}

/** Best matches the replay cannot tell apart: a token that is already zero-mean makes LayerNorm and RMSNorm the same. */
function sameMatch(row: SweepSite, expected: string): boolean {
  if (row.summary.bestMatch === expected) return true;
  const pair = new Set([row.summary.bestMatch, expected]);
  return pair.has('layernorm') && pair.has('rmsnorm') && Math.abs(row.summary.mean) < 1e-6 * row.summary.std;
}

describe('sweep: every fixture written from real PyTorch modules', () => {
  for (const [name, fixture] of Object.entries(fixtures)) {
    it(`${name}: site names and order, statistics (1e-9), best match, feature axis, in the worker pool`, async () => {
      const report = await sweepFixture(fixture, 2);
      assert.equal(report.schemaVersion, 1);
      assert.equal(report.source.kind, fixture.kind);
      assert.deepEqual(
        report.sites.map((s) => s.name),
        fixture.siteNames,
      );
      report.sites.forEach((row, i) => {
        const e = fixture.sites[i]!;
        checkSummary(row, e);
        assert.equal(row.tensors.input, e.tensors.input);
        for (const role of ['output', 'weight', 'bias', 'runningMean', 'runningVar', 'mask'] as const) assert.equal(row.tensors[role], e.tensors[role], `${row.name} ${role}`);
        if (e.file !== undefined) assert.equal(row.file, e.file);
        if (e.slice !== undefined) assert.deepEqual(row.slice, e.slice);
        if (e.normClass !== undefined) assert.equal(row.normClass, e.normClass);
        if (e.bestMatch !== undefined) assert.ok(sameMatch(row, e.bestMatch), `${row.name}: best match ${row.summary.bestMatch}, expected ${e.bestMatch}`);
        if (e.groups !== undefined) assert.equal(row.summary.groups, e.groups, `${row.name} groups`);
        if (e.bestMatch !== undefined) {
          assert.ok(!row.warnings.some((w) => w.code === 'recorded-output-mismatch' || w.code === 'shape-mismatch'), `${row.name}: ${row.warnings.map((w) => w.code).join(', ')}`);
        }
        const outliers = row.warnings.filter((w) => w.code === 'outlier-feature');
        assert.equal(outliers.length, e.summary.outlierFeatures.length > 0 ? 1 : 0, `${row.name} outlier-feature warnings`);
      });
    });
  }

  it('in process and on workers give the same rows', async () => {
    const fixture = fixtures['stacked_layers']!;
    const a = await sweepFixture(fixture, 0);
    const b = await sweepFixture(fixture, 2);
    assert.equal(a.timing.workers, 0);
    assert.equal(b.timing.workers, 2);
    assert.deepEqual(
      a.sites.map((s) => [s.name, s.summary]),
      b.sites.map((s) => [s.name, s.summary]),
    );
  });

  it('massive activations: outlier features first appear at the expected depth, and stay', async () => {
    const fixture = fixtures['massive_activations']!;
    const report = await sweepFixture(fixture, 0);
    const first = report.sites.findIndex((s) => s.summary.outlierFeatures.length > 0);
    assert.equal(report.sites[first]!.name, fixture.firstOutlierSite);
    for (const row of report.sites.slice(first)) assert.deepEqual(row.summary.outlierFeatures, [5, 21]);
  });

  it('the CNN BatchNorm capture opens on axis 1 (by its parameters) with no shape-mismatch', async () => {
    const report = await sweepPath(join(SITES_FIXTURES, 'cnn_batchnorm_train.safetensors'), { workers: 0 });
    for (const row of report.sites) {
      assert.equal(row.layout.featureAxis, 1);
      assert.equal(row.layout.featureAxisRule, 'parameters');
      assert.equal(row.summary.bestMatch, 'batchnorm');
      assert.equal(row.summary.groups, undefined, 'G only for a GroupNorm match');
      assert.ok(!row.warnings.some((w) => w.code === 'shape-mismatch'));
    }
  });

  it('an eval-mode CNN capture (BatchNorm2d after 3 training steps, .eval()): batchnorm with running stats, no false mismatch', async () => {
    const report = await sweepPath(join(SITES_FIXTURES, 'cnn_batchnorm_eval.safetensors'), { workers: 0 });
    assert.deepEqual(
      report.sites.map((s) => s.name),
      ['bn1', 'bn2'],
    );
    for (const row of report.sites) {
      assert.equal(row.summary.bestMatch, 'batchnorm');
      assert.equal(row.summary.batchNormStatistics, 'running');
      assert.ok(row.summary.maxAbsError! < 1e-4, `${row.name}: ${row.summary.maxAbsError}`);
      const codes = row.warnings.map((w) => w.code);
      assert.ok(!codes.includes('recorded-output-mismatch') && !codes.includes('batch-dependent-output'), codes.join(', '));
    }
    const text = formatSweepText(report);
    assert.match(text, /bn1 .* batchnorm \(running stats\) /);
    assert.doesNotMatch(text, /not explained by any norm/);
    // The training-mode capture keeps the batch statistics.
    const train = await sweepPath(join(SITES_FIXTURES, 'cnn_batchnorm_train.safetensors'), { workers: 0 });
    for (const row of train.sites) assert.equal(row.summary.batchNormStatistics, undefined);
  });

  it('reports progress per site, weighted, up to 1, and hands over each row once', async () => {
    const seen: string[] = [];
    const done: number[] = [];
    let last = 0;
    let monotone = true;
    const report = await sweepPath(join(SITES_FIXTURES, 'hidden_states.safetensors'), { workers: 0 }, {
      onSite: (index, count, name) => seen.push(`${index}/${count} ${name}`),
      onProgress: (f) => {
        if (f < last) monotone = false;
        last = f;
      },
      onSiteDone: (index, row, full) => {
        assert.equal(full?.input.name, row.tensors.input);
        done.push(index);
      },
    });
    assert.equal(seen.length, 13);
    assert.equal(seen[0], '0/13 hidden_states.0');
    assert.equal(seen[12], '12/13 hidden_states.12');
    assert.deepEqual(done, [...report.sites.keys()]);
    assert.ok(monotone);
    assert.equal(last, 1);
  });

  it('is cancellable mid-sweep (NormLensError cancelled), in process and on workers', async () => {
    for (const workers of [0, 2]) {
      const cancellation = { aborted: false };
      let sites = 0;
      await assert.rejects(
        sweepPath(join(SITES_FIXTURES, 'hidden_states.safetensors'), { workers, minElementsForWorkers: 0 }, {
          cancellation,
          onSite: (index) => {
            sites++;
            if (index === 3) cancellation.aborted = true;
          },
        }),
        (e: Error & { kind?: string }) => e.name === 'NormLensError' && e.kind === 'cancelled',
      );
      assert.ok(sites <= 5, `${sites} sites started after cancelling`);
    }
  });

  it('lists the sites from the headers (for a site picker)', async () => {
    const listing = await listSweepSites(join(SITES_FIXTURES, 'layer_files'));
    assert.equal(listing.kind, 'folder');
    assert.equal(listing.format, 'npy');
    assert.deepEqual(
      listing.sites.map((s) => s.name),
      fixtures['layer_files']!.siteNames,
    );
  });
});

describe('sweep: broken inputs', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'normlens-sweep-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('a broken file among several in a folder gets a row with its error; the others are analyzed', async () => {
    for (const n of ['layer_2.npy', 'layer_10.npy', 'layer_1.npy']) copyFileSync(join(SITES_FIXTURES, 'layer_files', n), join(dir, n));
    writeFileSync(join(dir, 'layer_3.npy'), Buffer.from('not a numpy file at all'));
    writeFileSync(join(dir, 'notes.txt'), 'ignored');
    mkdirSync(join(dir, 'sub'));
    copyFileSync(join(SITES_FIXTURES, 'layer_files', 'layer_0.npy'), join(dir, 'sub', 'layer_0.npy'));
    const report = await sweepPath(dir, { workers: 0 });
    assert.deepEqual(
      report.sites.map((s) => s.name),
      ['layer_1', 'layer_2', 'layer_3', 'layer_10'],
    );
    const broken = report.sites[2]!;
    assert.equal(broken.file, 'layer_3.npy');
    assert.match(broken.error!, /npy|NUMPY|magic|format/i);
    assert.ok(Number.isNaN(broken.summary.mean));
    for (const i of [0, 1, 3]) assert.equal(report.sites[i]!.error, undefined);
  });

  it('a single file that cannot be opened fails the sweep; so does an empty folder', async () => {
    const bad = join(dir, 'bad.safetensors');
    writeFileSync(bad, Buffer.from([1, 2, 3]));
    await assert.rejects(sweepPath(bad, { workers: 0 }), (e: Error) => e.name === 'NormLensError');
    await assert.rejects(sweepPath(join(dir, 'missing.npy'), { workers: 0 }), /no such file/);
    rmSync(bad);
    await assert.rejects(sweepPath(dir, { workers: 0 }), /no dump files/);
  });

  it('a site that cannot be analyzed gets an error row and the sweep goes on', async () => {
    // --feature-axis 5 is out of range for every (2, 3, 16) site: each row says so, none throws.
    const report = await sweepPath(join(SITES_FIXTURES, 'layer_files'), { workers: 0, analysis: { featureAxis: 5 } });
    assert.equal(report.sites.length, 12);
    for (const row of report.sites) assert.match(row.error ?? '', /--feature-axis 5 is out of range/);
  });
});

describe('analyzeFile { site }', () => {
  it('gives the full report of one site, also of a --layer-axis slice on workers', async () => {
    const fixture = fixtures['stacked_layers']!;
    const path = join(SITES_FIXTURES, fixture.path);
    const e = fixture.sites[3]!;
    for (const workers of [0, 2]) {
      const { report } = await analyzeFile(path, { site: e.name, layerAxis: 0, workers, minElementsForWorkers: 0 });
      assert.equal(report.input.name, e.name);
      assert.deepEqual(report.input.shape, e.shape);
      close(report.global.mean, e.summary.mean, 'mean');
      close(report.global.std, e.summary.std, 'std');
    }
    const bn = await analyzeFile(join(SITES_FIXTURES, 'cnn_batchnorm_train.safetensors'), { site: 'bn2', workers: 0 });
    assert.equal(bn.report.input.name, 'bn2.input');
    assert.equal(bn.report.tensors.output?.name, 'bn2.output');
    assert.equal(bn.report.layout.featureAxis, 1);
  });

  it('an unknown site is a usage error listing some names', async () => {
    await assert.rejects(analyzeFile(join(SITES_FIXTURES, 'cnn_batchnorm_train.safetensors'), { site: 'bn3', workers: 0 }), /no such site.*'bn1', 'bn2'/);
  });
});

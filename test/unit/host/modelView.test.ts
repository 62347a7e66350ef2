import { strict as assert } from 'node:assert';
import { failedSweepSite, type SweepReport, type SweepSite } from '../../../src/core/report/sweepReport';
import { chooseSite, folderSiteTarget, sweepCacheKey } from '../../../src/extension/sweepOptions';
import { depthSeries, moveFocus, nextSort, siteRows, sortSiteRows, type SiteRow } from '../../../webview/inspector/siteRows';

/** A swept row with the given numbers. */
function swept(name: string, maxAbs: number, extra: Partial<SweepSite['summary']> = {}, warnings: SweepSite['warnings'] = []): SweepSite {
  return {
    name,
    tensors: { input: `${name}.input` },
    shape: [2, 4, 8],
    dtype: 'float32',
    layout: { featureAxis: 2, tokens: 8, features: 8 },
    summary: { mean: 0, std: 1, min: -maxAbs, max: maxAbs, maxAbs, nan: 0, inf: 0, tokenRms: { mean: 1, min: 0.5, max: 2 }, outlierFeatures: [], ...extra },
    warnings,
  };
}

const entries = ['layer_0', 'layer_1', 'layer_2', 'layer_10'].map((name) => ({ name, shape: [2, 4, 8], input: `${name}.input` }));

function report(sites: SweepSite[]): SweepReport {
  return { schemaVersion: 1, source: { path: '/m.safetensors', kind: 'file', format: 'safetensors' }, sites, timing: { totalMs: 1, workers: 0 } };
}

describe('Model view: site rows', () => {
  it('joins the listing with the sweep rows by name, pending sites without a row', () => {
    const rows = siteRows(entries, report([swept('layer_1', 3), swept('layer_0', 2)]));
    assert.deepEqual(
      rows.map((r) => [r.index, r.name, r.swept?.summary.maxAbs]),
      [
        [0, 'layer_0', 2],
        [1, 'layer_1', 3],
        [2, 'layer_2', undefined],
        [3, 'layer_10', undefined],
      ],
    );
  });

  it('appends swept sites the listing did not have (folder files unreadable at listing time)', () => {
    const rows = siteRows(entries.slice(0, 1), report([swept('layer_0', 1), failedSweepSite('broken', { input: 'broken.npy' }, [], 'unknown', 'bad header')]));
    assert.deepEqual(
      rows.map((r) => r.name),
      ['layer_0', 'broken'],
    );
    assert.equal(rows[1]!.swept?.error, 'bad header');
  });

  it('sorts by a numeric column with absent values last either way, ties in depth order', () => {
    const rows = siteRows(entries, report([swept('layer_0', 5), swept('layer_1', 50), swept('layer_10', 5)]));
    const desc = sortSiteRows(rows, { column: 'maxAbs', descending: true }).map((r) => r.name);
    assert.deepEqual(desc, ['layer_1', 'layer_0', 'layer_10', 'layer_2']);
    const asc = sortSiteRows(rows, { column: 'maxAbs', descending: false }).map((r) => r.name);
    assert.deepEqual(asc, ['layer_0', 'layer_10', 'layer_1', 'layer_2']);
  });

  it('sorts names in natural order and warnings by severity', () => {
    const rows: SiteRow[] = siteRows(
      entries,
      report([
        swept('layer_0', 1, {}, [{ code: 'small-batch', severity: 'info', message: '' }]),
        swept('layer_1', 1, {}, [{ code: 'recorded-output-mismatch', severity: 'error', message: '' }]),
        swept('layer_2', 1, {}, [
          { code: 'outlier-feature', severity: 'warning', message: '' },
          { code: 'small-batch', severity: 'info', message: '' },
        ]),
        swept('layer_10', 1),
      ]),
    );
    assert.deepEqual(
      sortSiteRows(rows, { column: 'name', descending: false }).map((r) => r.name),
      ['layer_0', 'layer_1', 'layer_2', 'layer_10'],
    );
    assert.deepEqual(
      sortSiteRows(rows, { column: 'warnings', descending: true }).map((r) => r.name),
      ['layer_1', 'layer_2', 'layer_0', 'layer_10'],
    );
  });

  it('flips the order on the same column; numbers start high, names low', () => {
    assert.deepEqual(nextSort({ column: 'index', descending: false }, 'index'), { column: 'index', descending: true });
    assert.deepEqual(nextSort({ column: 'index', descending: false }, 'maxAbs'), { column: 'maxAbs', descending: true });
    assert.deepEqual(nextSort({ column: 'maxAbs', descending: true }, 'name'), { column: 'name', descending: false });
  });

  it('moves the table focus with the keyboard, clamped to the rows', () => {
    assert.equal(moveFocus(0, 4, 'ArrowDown'), 1);
    assert.equal(moveFocus(0, 4, 'ArrowUp'), 0);
    assert.equal(moveFocus(1, 4, 'End'), 3);
    assert.equal(moveFocus(3, 4, 'Home'), 0);
    assert.equal(moveFocus(2, 4, 'PageDown'), 3);
    assert.equal(moveFocus(2, 4, 'a'), undefined);
    assert.equal(moveFocus(0, 0, 'ArrowDown'), undefined);
  });

  it('builds the depth series in depth order, NaN where a site is pending or has no value', () => {
    const rows = siteRows(entries, report([swept('layer_0', 2, { maxAbsError: 1e-6, bestMatch: 'layernorm', outlierFeatures: [3] }), swept('layer_1', 300, { bnSubBatchShift: 0.2 })]));
    const d = depthSeries(rows);
    assert.deepEqual(d.names, ['layer_0', 'layer_1', 'layer_2', 'layer_10']);
    assert.deepEqual(d.maxAbs.slice(0, 2), [2, 300]);
    assert.ok(Number.isNaN(d.maxAbs[2]!));
    assert.deepEqual(d.outliers.slice(0, 2), [1, 0]);
    assert.equal(d.error[0], 1e-6);
    assert.ok(Number.isNaN(d.error[1]!));
    assert.deepEqual(d.bestMatch.slice(0, 2), ['layernorm', undefined]);
    assert.ok(Number.isNaN(d.bnShift[0]!));
    assert.equal(d.bnShift[1], 0.2);
  });
});

describe('Model view: host helpers', () => {
  it('keeps the restored site when the dump still has it, else the first', () => {
    assert.equal(chooseSite(['a', 'b'], 'b'), 'b');
    assert.equal(chooseSite(['a', 'b'], 'gone'), 'a');
    assert.equal(chooseSite(['a', 'b'], undefined), 'a');
    assert.equal(chooseSite([], 'a'), undefined);
  });

  it('finds the file and inner site of a folder site', () => {
    assert.deepEqual(folderSiteTarget('layer_2', 'layer_2.npy'), { file: 'layer_2.npy' });
    assert.deepEqual(folderSiteTarget('block_1/layers.0.norm1', 'block_1.safetensors'), { file: 'block_1.safetensors', site: 'layers.0.norm1' });
    // Two files with one stem are named by their file names.
    assert.deepEqual(folderSiteTarget('a.npz/x', 'a.npz'), { file: 'a.npz', site: 'x' });
  });

  it('gives equal option sets one cache key, whatever their key order', () => {
    const a = sweepCacheKey('file:///m', '1:2', { eps: 1e-5, analysis: { bins: 64, eps: 1e-5 } });
    const b = sweepCacheKey('file:///m', '1:2', { analysis: { eps: 1e-5, bins: 64 }, eps: 1e-5, layerAxis: undefined });
    assert.equal(a, b);
    assert.notEqual(a, sweepCacheKey('file:///m', '1:3', { eps: 1e-5, analysis: { bins: 64, eps: 1e-5 } }));
  });
});

import { strict as assert } from 'node:assert';
import { analyzeDump } from '../../../src/core/analysis/analyze';
import { siteAnalysis, type Site } from '../../../src/core/dump/sites';
import { expectedFixtures, fixtureSites, readAllFloat64, summarize, type ExpectedSite } from './helpers';

const fixtures = expectedFixtures();

/** Relative closeness for float64 sums over float32 data in a different order. */
function close(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= 1e-9 * Math.max(1, Math.abs(expected)), `${what}: ${actual} vs ${expected}`);
}

function roles(site: Site): Record<string, string> {
  return Object.fromEntries(Object.entries(site.tensors).filter(([, v]) => v !== undefined)) as Record<string, string>;
}

describe('sites: grouping of the fixtures written from real PyTorch modules', () => {
  for (const [name, fixture] of Object.entries(fixtures)) {
    describe(name, () => {
      it('groups the tensors into the expected sites, in natural order, with their roles', async () => {
        const { sites } = await fixtureSites(fixture);
        assert.deepEqual(
          sites.map((s) => s.name),
          fixture.siteNames,
        );
        sites.forEach((site, i) => {
          const e: ExpectedSite = fixture.sites[i]!;
          assert.deepEqual(roles(site), e.tensors, site.name);
          assert.deepEqual([...site.shape], e.shape, site.name);
          assert.deepEqual(site.slice, e.slice, site.name);
          if (e.file !== undefined) assert.equal(site.file, e.file);
          if (e.normClass !== undefined) {
            assert.equal(site.norm?.normClass, e.normClass, site.name);
            assert.equal(site.norm?.eps, e.eps, site.name);
            assert.equal(site.norm?.training, e.training, site.name);
            assert.equal(site.norm?.groups, e.groups, site.name);
          }
        });
      });

      it('reads each site input (slices too) with the statistics numpy computed in float64', async () => {
        const { sites, dumpOf } = await fixtureSites(fixture);
        for (const [i, site] of sites.entries()) {
          const e = fixture.sites[i]!;
          const { dump, options } = siteAnalysis(dumpOf(site), site);
          const handle = dump.tensors.find((h) => h.info.name === options.tensor)!;
          assert.equal(handle.info.dtype, e.dtype, site.name);
          const got = summarize(await readAllFloat64(handle, 77), handle.info.shape, e.featureAxis);
          for (const key of ['mean', 'std', 'min', 'max', 'maxAbs'] as const) close(got[key], e.summary[key], `${site.name} ${key}`);
          for (const key of ['mean', 'min', 'max'] as const) close(got.tokenRms[key], e.summary.tokenRms[key], `${site.name} tokenRms.${key}`);
          assert.equal(got.nan, e.summary.nan);
          assert.equal(got.inf, e.summary.inf);
          assert.deepEqual(got.outlierFeatures, e.summary.outlierFeatures, site.name);
        }
      });
    });
  }

  it('massive activations first appear at the expected depth', () => {
    const fixture = fixtures['massive_activations']!;
    const first = fixture.sites.find((s) => s.summary.outlierFeatures.length > 0);
    assert.equal(first?.name, fixture.firstOutlierSite);
    assert.deepEqual(first?.summary.outlierFeatures, [5, 21]);
  });

  it('the shared mask joins every site whose token shape fits', async () => {
    for (const name of ['transformer_encoder', 'hidden_states', 'stacked_layers']) {
      const { sites } = await fixtureSites(fixtures[name]!);
      for (const s of sites) assert.equal(s.tensors.mask, 'attention_mask', `${name} ${s.name}`);
    }
  });

  describe('feeds the analysis as it is today (siteAnalysis -> analyzeDump)', () => {
    const cases: [string, string][] = [
      ['transformer_encoder', 'layers.1.norm2'],
      ['cnn_batchnorm_train', 'bn2'],
      ['llama_rmsnorm_bf16', 'layers.2.post_attention_layernorm'],
      ['hidden_states', 'hidden_states.10'],
      ['stacked_layers', 'hidden_states[3]'],
    ];
    for (const [fixtureName, siteName] of cases) {
      it(`${fixtureName} / ${siteName}`, async () => {
        const fixture = fixtures[fixtureName]!;
        const { sites, dumpOf } = await fixtureSites(fixture);
        const site = sites.find((s) => s.name === siteName)!;
        const e = fixture.sites.find((s) => s.name === siteName)!;
        const { dump, options } = siteAnalysis(dumpOf(site), site);
        const report = await analyzeDump(dump, { ...options, featureAxis: e.featureAxis });
        assert.equal(report.input.name, options.tensor);
        close(report.global.mean, e.summary.mean, 'mean');
        close(report.global.min, e.summary.min, 'min');
        close(report.global.max, e.summary.max, 'max');
        if (e.bestMatch !== undefined) assert.equal(report.comparison?.bestMatch, e.bestMatch);
        else assert.equal(report.comparison ?? null, null);
      });
    }
  });
});

import { strict as assert } from 'node:assert';
import { MAX_BINS, MIN_BINS, planAnalysis } from '../../../src/core/analysis/plan';
import { resolveSettings, type InspectedSetting, type SettingsReader } from '../../../src/extension/settingsModel';
import { memoryDump } from '../analysis/memoryDump';

/** A configuration with package.json-like defaults and the given user values (global scope). */
function config(user: Record<string, unknown> = {}, where: 'globalValue' | 'workspaceValue' | 'workspaceFolderValue' = 'globalValue'): SettingsReader {
  const defaults: Record<string, unknown> = { eps: 1e-5, featureAxis: -1, bins: 64, workers: 0, maxInMemoryMB: 1024, 'limits.maxJsonMB': 256, 'limits.maxNpyHeaderBytes': 10000 };
  return {
    inspect<T>(key: string): InspectedSetting<T> {
      const i: InspectedSetting<T> = {};
      if (key in defaults) i.defaultValue = defaults[key] as T;
      if (key in user) i[where] = user[key] as T;
      return i;
    },
  };
}

describe('settings', () => {
  it('leaves eps and featureAxis to the dump and the core when the user set neither', () => {
    const s = resolveSettings(config());
    assert.equal(s.analysis.eps, undefined, 'a JSON dump’s own eps applies');
    assert.equal(s.analysis.featureAxis, undefined, 'the core picks the feature axis');
    assert.equal(s.analysis.bins, 64);
    assert.deepEqual(s.analysis.thresholds, {});
  });

  it('applies eps and featureAxis the user set, in any scope; view options win', () => {
    for (const where of ['globalValue', 'workspaceValue', 'workspaceFolderValue'] as const) {
      const s = resolveSettings(config({ eps: 1e-6, featureAxis: 1 }, where));
      assert.equal(s.analysis.eps, 1e-6, where);
      assert.equal(s.analysis.featureAxis, 1, where);
    }
    const v = resolveSettings(config({ eps: 1e-6 }), { eps: 0.5, featureAxis: 0, bins: 16, tensor: 'x', useMask: false });
    assert.deepEqual([v.analysis.eps, v.analysis.featureAxis, v.analysis.bins, v.analysis.tensor, v.analysis.ignoreMask], [0.5, 0, 16, 'x', true]);
  });

  it('turns the limits into open options (bytes) and passes thresholds the user set', () => {
    const s = resolveSettings(config({ 'limits.maxJsonMB': 512, 'limits.maxNpyHeaderBytes': 50000, 'thresholds.outlierFeatureFactor': 1000, workers: 3 }));
    assert.deepEqual(s.open.limits, { maxJsonBytes: 512 * 1024 * 1024, maxNpyHeaderBytes: 50000 });
    assert.deepEqual(s.analysis.thresholds, { outlierFeatureFactor: 1000 });
    assert.equal(s.workers, 3);
    assert.deepEqual(resolveSettings(config()).open.limits, { maxJsonBytes: 256 * 1024 * 1024, maxNpyHeaderBytes: 10000 });
  });

  it('normlens.bf16FromUint16 reaches the open options (off unless set)', () => {
    assert.equal(resolveSettings(config()).open.bf16FromUint16, undefined);
    assert.equal(resolveSettings(config({ bf16FromUint16: true })).open.bf16FromUint16, true);
  });

  it('the bins range the inspector states is the one the core accepts', async () => {
    const dump = memoryDump([{ name: 'hidden_states', shape: [2, 4, 8], values: Array.from({ length: 64 }, (_, i) => Math.sin(i)) }]);
    assert.equal((await planAnalysis(dump, { bins: MAX_BINS })).bins, MAX_BINS);
    assert.equal((await planAnalysis(dump, { bins: MIN_BINS })).bins, MIN_BINS);
    await assert.rejects(planAnalysis(dump, { bins: MAX_BINS + 1 }), /bins/);
    await assert.rejects(planAnalysis(dump, { bins: MIN_BINS - 1 }), /bins/);
  });
});

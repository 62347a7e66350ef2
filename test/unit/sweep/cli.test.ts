import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { main } from '../../../src/cli/main';
import type { AnalysisReport } from '../../../src/core/report/analysisReport';
import type { SweepReport } from '../../../src/core/report/sweepReport';
import { formatSweepText, shortNumber, truncatedList } from '../../../src/core/sweep/sweepTable';
import { SITES_FIXTURES } from '../sites/helpers';

async function run(argv: string[], errIsTTY = false): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (t) => (out += t), err: (t) => (err += t), errIsTTY });
  return { code, out, err };
}

const fixture = (name: string): string => join(SITES_FIXTURES, name);

describe('normlens sweep', () => {
  it('prints one aligned line per site, with outliers, best match, warnings and a depth note', async () => {
    const r = await run(['sweep', fixture('massive_activations.safetensors')]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.err, '');
    const lines = r.out.split('\n');
    assert.match(lines[0]!, /massive_activations\.safetensors: safetensors, 9 sites/);
    const header = lines[2]!;
    const rows = lines.slice(3, 12);
    assert.equal(rows.length, 9);
    for (const [k, row] of rows.entries()) assert.ok(row.startsWith(`layers.${k} `), row);
    // Aligned: the shape column starts at the same place on every line.
    const at = header.indexOf('shape');
    for (const row of rows) assert.equal(row.indexOf('(2, 8, 32)'), at, row);
    assert.match(rows[4]!, /5,21\s+-\s+outlier-feature$/);
    assert.match(r.out, /outlier features first at 'layers\.4'/);
    assert.match(r.out, /normlens analyze .*massive_activations\.safetensors --site NAME/);
  });

  it('--json prints the SweepReport', async () => {
    const r = await run(['sweep', fixture('cnn_batchnorm_train.safetensors'), '--json']);
    assert.equal(r.code, 0, r.err);
    const report = JSON.parse(r.out) as SweepReport;
    assert.equal(report.schemaVersion, 1);
    assert.deepEqual(report.source, { path: fixture('cnn_batchnorm_train.safetensors'), kind: 'file', format: 'safetensors' });
    assert.deepEqual(
      report.sites.map((s) => s.name),
      ['bn1', 'bn2'],
    );
    const s = report.sites[0]!;
    assert.deepEqual(Object.keys(s.tensors).sort(), ['bias', 'input', 'output', 'runningMean', 'runningVar', 'weight']);
    assert.deepEqual(s.layout, { featureAxis: 1, tokens: 144, features: 8, featureAxisRule: 'parameters' });
    for (const key of ['mean', 'std', 'min', 'max', 'maxAbs', 'nan', 'inf']) assert.equal(typeof (s.summary as unknown as Record<string, unknown>)[key], 'number');
    assert.deepEqual(Object.keys(s.summary.tokenRms), ['mean', 'min', 'max']);
    assert.ok(Array.isArray(s.summary.outlierFeatures));
    assert.equal(s.summary.bestMatch, 'batchnorm');
    assert.equal(typeof s.summary.maxAbsError, 'number');
    for (const w of s.warnings) assert.deepEqual(Object.keys(w), ['code', 'severity', 'message']);
  });

  it('--layer-axis splits a stacked tensor; a folder sweeps its files in natural order', async () => {
    const stacked = JSON.parse((await run(['sweep', fixture('stacked_layers.npz'), '--layer-axis', '0', '--json'])).out) as SweepReport;
    assert.deepEqual(
      stacked.sites.map((s) => s.name),
      [0, 1, 2, 3, 4, 5].map((i) => `hidden_states[${i}]`),
    );
    const folder = await run(['sweep', fixture('layer_files')]);
    assert.equal(folder.code, 0);
    const names = folder.out
      .split('\n')
      .slice(3, 15)
      .map((l) => l.split(' ')[0]);
    assert.deepEqual(
      names,
      Array.from({ length: 12 }, (_, i) => `layer_${i}`),
    );
  });

  it('exit codes: --fail-on warning/error/never; 2 with one line for bad input', async () => {
    assert.equal((await run(['sweep', fixture('massive_activations.safetensors'), '--fail-on', 'warning'])).code, 1);
    assert.equal((await run(['sweep', fixture('massive_activations.safetensors'), '--fail-on', 'error'])).code, 0);
    assert.equal((await run(['sweep', fixture('massive_activations.safetensors'), '--fail-on', 'never'])).code, 0);
    // A site that cannot be analyzed counts as an error.
    assert.equal((await run(['sweep', fixture('layer_files'), '--feature-axis', '7', '--fail-on', 'error'])).code, 1);
    for (const argv of [
      ['sweep', fixture('missing.safetensors')],
      ['sweep'],
      ['sweep', fixture('layer_files'), '--bogus'],
      ['sweep', fixture('stacked_layers.npz'), '--layer-axis', '9'],
      ['sweep', fixture('stacked_layers.npz'), '--eps', 'abc'],
      ['sweep', fixture('massive_activations.safetensors'), '--fail-on', 'sometimes'],
      ['sweep', fixture('transformer_encoder.safetensors'), '--layer-axis', '0'],
    ]) {
      const r = await run(argv);
      assert.equal(r.code, 2, argv.join(' '));
      assert.equal(r.out, '');
      assert.match(r.err, /^normlens: error: [^\n]+\n$/, r.err);
    }
  });

  it('shows progress on stderr only when stderr is a terminal', async () => {
    const quiet = await run(['sweep', fixture('hidden_states.safetensors')], false);
    assert.equal(quiet.err, '');
    const tty = await run(['sweep', fixture('hidden_states.safetensors')], true);
    assert.match(tty.err, /site 1\/13 hidden_states\.0/);
    assert.equal(tty.out, quiet.out);
  });

  it('--help documents sweep and analyze --site', async () => {
    const top = await run(['--help']);
    assert.match(top.out, /normlens sweep PATH/);
    assert.match(top.out, /--site NAME/);
    const help = await run(['sweep', '--help']);
    assert.match(help.out, /--layer-axis N/);
    assert.match(help.out, /--fail-on/);
  });
});

describe('normlens analyze --site', () => {
  it('prints the full AnalysisReport of one site', async () => {
    const r = await run(['analyze', fixture('transformer_encoder.safetensors'), '--site', 'layers.1.norm2', '--json']);
    assert.equal(r.code, 0, r.err);
    const report = JSON.parse(r.out) as AnalysisReport;
    assert.equal(report.input.name, 'layers.1.norm2.input');
    assert.equal(report.tensors.output?.name, 'layers.1.norm2.output');
    assert.equal(report.tensors.mask?.name, 'attention_mask');
    assert.equal(report.comparison?.bestMatch, 'layernorm');
    const slice = await run(['analyze', fixture('stacked_layers.npz'), '--site', 'hidden_states[2]', '--layer-axis', '0']);
    assert.equal(slice.code, 0, slice.err);
    assert.match(slice.out, /input 'hidden_states\[2\]' float32 \(2, 4, 16\)/);
  });

  it('an unknown site is one line listing some site names and the sweep command', async () => {
    const r = await run(['analyze', fixture('cnn_batchnorm_train.safetensors'), '--site', 'bn9']);
    assert.equal(r.code, 2);
    assert.match(r.err, /^normlens: error: --site bn9: no such site\. The dump has 2 sites: 'bn1', 'bn2'\. List them with: normlens sweep \S+cnn_batchnorm_train\.safetensors\n$/);
    const clash = await run(['analyze', fixture('cnn_batchnorm_train.safetensors'), '--site', 'bn1', '--output', 'bn2.output']);
    assert.equal(clash.code, 2);
    assert.match(clash.err, /leave out --output/);
  });
});

describe('sweep table helpers', () => {
  it('truncates long lists with a count and shortens numbers', () => {
    assert.equal(truncatedList(['1', '2', '3', '4', '5', '6'], 4), '1,2,3,4 +2 more');
    assert.equal(truncatedList([], 4), '-');
    assert.equal(shortNumber(123456789), '1.23e+8');
    assert.equal(shortNumber(0.000012), '1.20e-5');
    assert.equal(shortNumber(3.14159), '3.142');
    assert.equal(shortNumber(NaN), '-');
  });

  it('prints a failed site with its error in place of its numbers', () => {
    const text = formatSweepText({
      schemaVersion: 1,
      source: { path: 'dir', kind: 'folder', format: 'npy' },
      timing: { totalMs: 1, workers: 0 },
      sites: [
        {
          name: 'broken',
          tensors: { input: 'broken.npy' },
          shape: [],
          dtype: 'unknown',
          layout: { featureAxis: NaN, tokens: NaN, features: NaN },
          summary: { mean: NaN, std: NaN, min: NaN, max: NaN, maxAbs: NaN, nan: NaN, inf: NaN, tokenRms: { mean: NaN, min: NaN, max: NaN }, outlierFeatures: [] },
          warnings: [],
          error: 'not a .npy file',
        },
      ],
    });
    assert.match(text, /broken\s+-\s+-\s+-\s+-\s+-\s+-\s+error: not a \.npy file/);
    assert.match(text, /1 site could not be analyzed: 'broken'/);
  });
});

import { strict as assert } from 'node:assert';
import {
  captureMetadata,
  findSite,
  fileStem,
  groupFolderSites,
  groupSites,
  isDumpFileName,
  naturalCompare,
  parseSiteName,
  siteAnalysis,
  tokenShapeFits,
  type Site,
} from '../../../src/core/dump/sites';
import { isNormLensError } from '../../../src/core/errors';
import type { Dump } from '../../../src/core/formats/types';
import { info, memoryTensor, readAllFloat64 } from './helpers';

const names = (sites: readonly Site[]): string[] => sites.map((s) => s.name);
const usageError = (e: unknown): boolean => isNormLensError(e) && e.kind === 'usage';

describe('sites: grouping rules (DESIGN.md, "Whole-model dumps")', () => {
  it('P<sep>ROLE with sep . / : and every role spelling forms site P', () => {
    const sites = groupSites([
      info('layers.0.norm1.input', [2, 3, 8]),
      info('layers.0.norm1.output', [2, 3, 8]),
      info('layers.0.norm1.weight', [8]),
      info('layers.0.norm1.bias', [8]),
      info('1/in', [4, 8]),
      info('1/out', [4, 8]),
      info('1/gamma', [8]),
      info('1/beta', [8]),
      info('bn:x', [4, 8, 5]),
      info('bn:y', [4, 8, 5]),
      info('bn:scale', [8]),
      info('bn:running_mean', [8]),
      info('bn:running_var', [8]),
      info('Enc.LN.INPUT', [2, 8]),
    ]);
    assert.deepEqual(names(sites), ['1', 'Enc.LN', 'bn', 'layers.0.norm1']);
    assert.deepEqual(sites[0]!.tensors, { input: '1/in', output: '1/out', weight: '1/gamma', bias: '1/beta' });
    assert.deepEqual(sites[2]!.tensors, { input: 'bn:x', output: 'bn:y', weight: 'bn:scale', runningMean: 'bn:running_mean', runningVar: 'bn:running_var' });
    assert.deepEqual(sites[3]!.tensors, {
      input: 'layers.0.norm1.input',
      output: 'layers.0.norm1.output',
      weight: 'layers.0.norm1.weight',
      bias: 'layers.0.norm1.bias',
    });
    assert.deepEqual(parseSiteName('1/input'), { prefix: '1', role: 'input', suffix: 'input' });
    assert.equal(parseSiteName('.input'), undefined);
    assert.equal(parseSiteName('layers.0'), undefined);
  });

  it('other floating tensors of two or more dims are one site each; 1-D parameters and integer tensors are not sites', () => {
    const sites = groupSites([
      info('hidden_states.0', [2, 3, 8]),
      info('hidden_states.1', [2, 3, 8]),
      info('embed.weight', [100, 8]),
      info('final.norm.weight', [8]),
      info('final.norm.bias', [8]),
      info('positions', [2, 3], 'int64'),
      info('logits', [2, 3, 100], 'bfloat16'),
    ]);
    assert.deepEqual(names(sites), ['hidden_states.0', 'hidden_states.1', 'logits']);
    assert.deepEqual(sites[2]!.tensors, { input: 'logits' });
  });

  it('a classic one-site dump keeps its whole-name roles together, named after its input', () => {
    const sites = groupSites([
      info('hidden_states', [2, 3, 8]),
      info('output', [2, 3, 8]),
      info('weight', [8]),
      info('bias', [8]),
      info('attention_mask', [2, 3], 'int64'),
    ]);
    assert.deepEqual(names(sites), ['hidden_states']);
    assert.deepEqual(sites[0]!.tensors, { input: 'hidden_states', output: 'output', weight: 'weight', bias: 'bias', mask: 'attention_mask' });
    const bn = groupSites([info('activations_bn', [4, 6, 5]), info('normalized', [4, 6, 5]), info('running_mean', [6]), info('running_var', [6])]);
    assert.deepEqual(bn[0]!.tensors, { input: 'activations_bn', output: 'normalized', runningMean: 'running_mean', runningVar: 'running_var' });
  });

  it('a single-tensor dump is one site, whatever its rank', () => {
    assert.deepEqual(names(groupSites([info('array', [16])])), ['array']);
    assert.deepEqual(names(groupSites([info('array', [2, 3, 16])])), ['array']);
    assert.deepEqual(names(groupSites([info('weights_only', [16]), info('other', [32])])), ['other']);
    assert.deepEqual(groupSites([]), []);
  });

  it('a shared mask or tokens tensor joins only the sites whose token shape fits', () => {
    const sites = groupSites([
      info('attention_mask', [2, 5], 'int64'),
      info('input_ids', [2, 5], 'int64'),
      info('a.input', [2, 5, 32]),
      info('bn1d.input', [2, 16, 5]),
      info('conv.input', [4, 8, 6, 6]),
      info('own.input', [2, 5, 8]),
      info('own.attention_mask', [2, 5], 'bool'),
    ]);
    const byName = Object.fromEntries(sites.map((s) => [s.name, s.tensors]));
    assert.equal(byName['a']!.mask, 'attention_mask');
    assert.equal(byName['a']!.tokens, 'input_ids');
    assert.equal(byName['bn1d']!.mask, 'attention_mask');
    assert.equal(byName['conv']!.mask, undefined);
    assert.equal(byName['own']!.mask, 'own.attention_mask');
    assert.ok(tokenShapeFits([10], [2, 5, 32]));
    assert.ok(!tokenShapeFits([5, 2], [2, 5, 32]));
  });

  it('natural sort: numbers as numbers, prefixes first, leading zeros ignored', () => {
    const sorted = ['layer_10', 'layer_2', 'hidden_states.10', 'hidden_states.9', 'a', 'a.0', 'x[10]', 'x[2]', 'l007', 'l7b', 'l8'].sort(naturalCompare);
    assert.deepEqual(sorted, ['a', 'a.0', 'hidden_states.9', 'hidden_states.10', 'l007', 'l7b', 'l8', 'layer_2', 'layer_10', 'x[2]', 'x[10]']);
    assert.equal(naturalCompare('n99999999999999999999', 'n100000000000000000000'), -1);
  });

  it('--layer-axis splits the only site (or the named tensor) into NAME[i] sites', () => {
    const sites = groupSites([info('stack', [3, 2, 4, 8]), info('attention_mask', [2, 4], 'int64')], { layerAxis: 0 });
    assert.deepEqual(names(sites), ['stack[0]', 'stack[1]', 'stack[2]']);
    assert.deepEqual(sites[1], { name: 'stack[1]', tensors: { input: 'stack', mask: 'attention_mask' }, shape: [2, 4, 8], slice: { tensor: 'stack', axis: 0, index: 1 } });
    const named = groupSites([info('a', [2, 12, 3, 8]), info('b', [2, 3, 8])], { layerAxis: -3, layerTensor: 'a' });
    assert.equal(named.length, 13);
    assert.deepEqual(named[0]!.slice, { tensor: 'a', axis: 1, index: 0 });
    assert.deepEqual(names(named).slice(-3), ['a[10]', 'a[11]', 'b']);
    assert.throws(() => groupSites([info('a', [2, 3]), info('b', [2, 3])], { layerAxis: 0 }), usageError);
    assert.throws(() => groupSites([info('a', [2, 3])], { layerAxis: 2 }), usageError);
    assert.throws(() => groupSites([info('a', [2, 3])], { layerAxis: 0, layerTensor: 'nope' }), usageError);
  });

  it('reads the capture helper metadata per site and ignores unreadable metadata', () => {
    const metadata = { 'normlens.capture': JSON.stringify({ sites: { gn: { class: 'GroupNorm', eps: 1e-6, groups: 8, training: false, normalized_shape: 'x' } } }) };
    const [site] = groupSites([info('gn.input', [2, 32, 4, 4]), info('gn.output', [2, 32, 4, 4])], { metadata });
    assert.deepEqual(site!.norm, { normClass: 'GroupNorm', eps: 1e-6, groups: 8, training: false });
    assert.equal(captureMetadata({ 'normlens.capture': '{not json' }).size, 0);
    assert.equal(captureMetadata({ 'normlens.capture': 'null' }).size, 0);
    assert.equal(captureMetadata(undefined).size, 0);
  });
});

describe('sites: folders', () => {
  it('each file is a site named by its stem, or its sites as file/site; natural order over the folder', () => {
    const sites = groupFolderSites([
      { fileName: 'layer_10.npy', tensors: [info('array', [2, 8])] },
      { fileName: 'layer_2.npy', tensors: [info('array', [2, 8])] },
      { fileName: 'model.safetensors', tensors: [info('b.input', [2, 8]), info('a.input', [2, 8])] },
    ]);
    assert.deepEqual(names(sites), ['layer_2', 'layer_10', 'model/a', 'model/b']);
    assert.deepEqual(
      sites.map((s) => s.file),
      ['layer_2.npy', 'layer_10.npy', 'model.safetensors', 'model.safetensors'],
    );
    assert.ok(isDumpFileName('x.SAFETENSORS') && !isDumpFileName('README.md') && !isDumpFileName('.npy'));
    assert.equal(fileStem('layer_2.npy'), 'layer_2');
    assert.equal(fileStem('.hidden'), '.hidden');
  });
});

describe('sites: hostile names', () => {
  it('an empty prefix (.input alone) is not a site prefix', () => {
    assert.deepEqual(names(groupSites([info('.input', [2, 8])])), ['.input']);
    assert.deepEqual(names(groupSites([info('.input', [8]), info('/output', [8])])), ['.input']);
    const sites = groupSites([info('.input', [2, 8]), info('.output', [2, 8]), info('n.input', [2, 8])]);
    assert.deepEqual(names(sites), ['.input', '.output', 'n']);
  });

  it('duplicate site names stay unique: within a file, across files and across same-stem files', () => {
    assert.deepEqual(names(groupSites([info('layers.0', [2, 3, 8]), info('layers.0.input', [2, 3, 8])])), ['layers.0', 'layers.0#2']);
    const sites = groupFolderSites([
      { fileName: 'a.npy', tensors: [info('array', [2, 8])] },
      { fileName: 'a.npz', tensors: [info('array', [2, 8])] },
      { fileName: 'x.safetensors', tensors: [info('n.input', [2, 8]), info('m.input', [2, 8])] },
      { fileName: 'x', tensors: [info('n.input', [2, 8]), info('m.input', [2, 8])] },
      { fileName: 'x.npz', tensors: [info('q', [2, 8])] },
    ]);
    const all = names(sites);
    assert.equal(new Set(all).size, all.length, all.join(', '));
    assert.ok(all.includes('a.npy') && all.includes('a.npz'));
  });

  it('a group without a floating input (a state dict) is parameters, not a site', () => {
    const sites = groupSites([
      info('encoder.norm.weight', [8]),
      info('encoder.norm.bias', [8]),
      info('encoder.fc.weight', [8, 8]),
      info('mask.input', [2, 8], 'int64'),
      info('hidden_states.0', [2, 3, 8]),
    ]);
    assert.deepEqual(names(sites), ['hidden_states.0']);
  });

  it('groups 10,000 sites (40,000 tensors) and 10,000 plain tensors in bounded time', () => {
    const tensors = [];
    for (let i = 0; i < 10000; i++) {
      tensors.push(info(`blocks.${i}.norm.input`, [2, 4, 8]), info(`blocks.${i}.norm.output`, [2, 4, 8]), info(`blocks.${i}.norm.weight`, [8]), info(`blocks.${i}.norm.bias`, [8]));
    }
    tensors.push(info('attention_mask', [2, 4], 'int64'));
    const started = Date.now();
    const sites = groupSites(tensors);
    const plain = groupSites(Array.from({ length: 10000 }, (_, i) => info(`h.${9999 - i}`, [2, 8])));
    const elapsed = Date.now() - started;
    assert.equal(sites.length, 10000);
    assert.equal(sites[2]!.name, 'blocks.2.norm');
    assert.equal(sites[9999]!.tensors.mask, 'attention_mask');
    assert.deepEqual(names(plain).slice(0, 3), ['h.0', 'h.1', 'h.2']);
    assert.ok(elapsed < 3000, `${elapsed} ms`);
  });
});

describe('sites: siteAnalysis and findSite', () => {
  const dumpOf = (handles: ReturnType<typeof memoryTensor>[]): Dump => ({ format: 'safetensors', tensors: handles, metadata: {} });

  it('gives only the site its roles, so another site\'s output is never picked by name', () => {
    const dump = dumpOf([memoryTensor('a.input', [2, 8]), memoryTensor('b.input', [2, 8]), memoryTensor('b.output', [2, 8]), memoryTensor('b.weight', [8])]);
    const sites = groupSites(dump.tensors.map((h) => h.info));
    const a = siteAnalysis(dump, findSite(sites, 'a'));
    assert.equal(a.dump, dump);
    assert.equal(a.options.tensor, 'a.input');
    assert.equal(a.options.output, undefined);
    assert.deepEqual([...a.options.roles.entries()].filter(([, r]) => r !== 'other'), [['a.input', 'input']]);
    const b = siteAnalysis(dump, findSite(sites, 'b'));
    assert.deepEqual({ output: b.options.output, weight: b.options.weight }, { output: 'b.output', weight: 'b.weight' });
    assert.throws(() => findSite(sites, 'c'), (e: unknown) => usageError(e) && /'a', 'b'/.test((e as Error).message));
  });

  it('wraps a --layer-axis slice as a dump holding the sliced handle under the site name, plus the mask', async () => {
    const stack = memoryTensor('stack', [3, 2, 4]);
    const dump = dumpOf([stack, memoryTensor('attention_mask', [2])]);
    const sites = groupSites(dump.tensors.map((h) => h.info), { layerAxis: 0 });
    const { dump: view, options } = siteAnalysis(dump, findSite(sites, 'stack[2]'));
    assert.deepEqual(
      view.tensors.map((h) => h.info.name),
      ['stack[2]', 'attention_mask'],
    );
    assert.equal(options.tensor, 'stack[2]');
    assert.equal(options.mask, 'attention_mask');
    assert.deepEqual([...(await readAllFloat64(view.tensors[0]!))], [16, 17, 18, 19, 20, 21, 22, 23]);
  });

  it('carries the recorded eps into the options', () => {
    const dump = dumpOf([memoryTensor('n.input', [2, 8])]);
    const [site] = groupSites(dump.tensors.map((h) => h.info), { metadata: { 'normlens.capture': '{"sites":{"n":{"class":"LayerNorm","eps":1e-6}}}' } });
    assert.equal(siteAnalysis(dump, site!).options.eps, 1e-6);
  });
});

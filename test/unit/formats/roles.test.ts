import { strict as assert } from 'node:assert';
import { guessRoles, tensorWithRole } from '../../../src/core/dump/roles';
import { isNormLensError } from '../../../src/core/errors';
import type { DType, TensorInfo } from '../../../src/core/formats/types';

function t(name: string, shape: number[], dtype: DType = 'float32'): TensorInfo {
  const size = shape.reduce((a, b) => a * b, 1);
  return { name, dtype, shape, size, byteLength: size * 4 };
}

describe('guessRoles', () => {
  it('finds roles by name, case-insensitively and on the last path segment', () => {
    const roles = guessRoles([
      t('Hidden_States', [2, 3, 8]),
      t('attention_mask', [2, 3], 'int64'),
      t('layer.0.norm.weight', [8]),
      t('layer.0.norm.bias', [8]),
      t('normalized', [2, 3, 8]),
      t('bn/running_mean', [8]),
      t('bn/running_var', [8]),
      t('extra', [100]),
    ]);
    assert.deepEqual(Object.fromEntries(roles), {
      Hidden_States: 'input',
      attention_mask: 'mask',
      'layer.0.norm.weight': 'weight',
      'layer.0.norm.bias': 'bias',
      normalized: 'output',
      'bn/running_mean': 'running_mean',
      'bn/running_var': 'running_var',
      extra: 'other',
    });
  });

  it('prefers earlier names and whole-name matches, and falls back on the largest floating tensor for input', () => {
    const roles = guessRoles([t('ids', [1000], 'int64'), t('a', [10, 8]), t('b', [20, 8]), t('gamma', [8]), t('weight', [8])]);
    assert.equal(tensorWithRole(roles, 'input'), 'b');
    assert.equal(tensorWithRole(roles, 'weight'), 'weight');
    assert.equal(roles.get('gamma'), 'other');
    assert.equal(roles.get('ids'), 'other');
    assert.equal(tensorWithRole(guessRoles([t('activations', [4]), t('x', [400])]), 'input'), 'activations');
  });

  it('applies overrides first and lists the available names when an override is missing', () => {
    const tensors = [t('hidden_states', [2, 8]), t('ln_out', [2, 8]), t('pad', [2], 'bool')];
    const roles = guessRoles(tensors, { output: 'ln_out', mask: 'pad' });
    assert.equal(roles.get('ln_out'), 'output');
    assert.equal(roles.get('pad'), 'mask');
    assert.equal(roles.get('hidden_states'), 'input');
    assert.throws(
      () => guessRoles(tensors, { tensor: 'nope' }),
      (e: Error) => isNormLensError(e) && e.kind === 'usage' && /--tensor nope.*'hidden_states', 'ln_out', 'pad'/.test(e.message),
    );
  });
});

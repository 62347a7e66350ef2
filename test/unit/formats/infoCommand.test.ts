import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { main } from '../../../src/cli/main';
import { FIXTURES } from './helpers';

// main.ts loads subcommands with a dynamic import(); under mocha's CommonJS-only tsx hook that goes
// to Node's ESM loader, which needs tsx's ESM hook to resolve `./infoCommand` (a .ts file).
before(async () => {
  const tsxEsmHook = 'tsx/esm';
  await import(tsxEsmHook);
});

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

describe('normlens info', () => {
  it('prints a table of tensors with dtype, shape, role, bytes and metadata', async () => {
    const { code, out, err } = await run(['info', join(FIXTURES, 'npz/stored.npz')]);
    assert.equal(code, 0, err);
    assert.match(out, /stored\.npz: npz, 5 tensors/);
    assert.match(out, /^name\s+dtype\s+shape\s+role\s+bytes$/m);
    assert.match(out, /^hidden_states\s+float32\s+\(2, 3, 8\)\s+input\s+192 B$/m);
    assert.match(out, /^attention_mask\s+int64\s+\(2, 3\)\s+mask\s+48 B$/m);
    assert.match(out, /^ln\.weight\s+float32\s+\(8,\)\s+weight\s+32 B$/m);
    const st = await run(['info', join(FIXTURES, 'safetensors/all_dtypes.safetensors')]);
    assert.match(st.out, /\nmetadata:\n/);
    assert.match(st.out, /^ {2}model: tiny-llama$/m);
    assert.match(st.out, /^ {2}format: pt$/m);
  });

  it('--json gives { format, tensors: [{ name, dtype, shape, role, bytes }], metadata }', async () => {
    const { code, out } = await run(['info', join(FIXTURES, 'json/named.json'), '--json']);
    assert.equal(code, 0);
    const doc = JSON.parse(out);
    assert.equal(doc.format, 'json');
    assert.deepEqual(doc.tensors[0], { name: 'hidden_states', dtype: 'float64', shape: [2, 2, 2], role: 'input', bytes: 64 });
    assert.deepEqual(doc.tensors[1], { name: 'attention_mask', dtype: 'float64', shape: [2, 2], role: 'mask', bytes: 32 });
    assert.deepEqual(doc.metadata, { model: 'gpt2' });
    assert.equal(doc.eps, 1e-5);
    assert.equal(doc.tokens, 4);
  });

  it('exits 2 with one "normlens: error:" line and no stack trace on a bad file', async () => {
    for (const file of ['hostile/npy_unknown_dtype.npy', 'hostile/npz_npy_member_not_npy.npz', 'hostile/st_gap.safetensors', 'hostile/npz_zip_bomb_ratio.npz', 'does-not-exist.npy']) {
      const { code, out, err } = await run(['info', join(FIXTURES, file)]);
      assert.equal(code, 2, file);
      assert.equal(out, '');
      assert.match(err, /^normlens: error: \S.*\n$/);
      assert.equal(err.split('\n').length, 2, err);
      assert.doesNotMatch(err, /\bat .*\.ts:\d+/);
    }
  });

  it('exits 2 on usage errors', async () => {
    assert.equal((await run(['info'])).code, 2);
    assert.match((await run(['info', 'a', '--bogus'])).err, /^normlens: error: unknown option --bogus/);
  });
});

import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { main } from '../../../src/cli/main';
import { describeMissingInput, guessRoles } from '../../../src/core/dump/roles';
import { isNormLensError } from '../../../src/core/errors';
import { JsonBytesParser, JsonNumberText } from '../../../src/core/formats/jsonBytes';
import { parseNpyDescr, parseNpyHeaderText } from '../../../src/core/formats/npyHeader';
import { openDump } from '../../../src/core/formats/openDump';
import { countOf } from '../../../src/core/formats/tensorHandle';
import { MemoryByteSource } from '../../../src/core/io/byteSource';
import type { DType, TensorInfo } from '../../../src/core/formats/types';
import { FIXTURES, fixtureSource } from './helpers';
import { withHintFlags } from '../../../src/cli/cliIO';

// See infoCommand.test.ts: main() loads subcommands with a dynamic import().
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

const fixture = (relative: string): string => join(FIXTURES, relative);

describe('readers agree with numpy and safetensors (issue 9, item 4)', () => {
  describe('npy descr spellings (each fixture written by hand and loaded by np.load)', () => {
    const cases: Array<[string, DType, boolean]> = [
      ['float64', 'float64', true],
      ['<d', 'float64', true],
      ['>d', 'float64', false],
      ['d', 'float64', true],
      ['double', 'float64', true],
      ['float', 'float64', true],
      ['f4', 'float32', true],
      ['float32', 'float32', true],
      ['f', 'float32', true],
      ['|f4', 'float32', true],
      ['=f4', 'float32', true],
      ['<f04', 'float32', true],
      ['e', 'float16', true],
      ['half', 'float16', true],
      ['i8', 'int64', true],
      ['int64', 'int64', true],
      ['q', 'int64', true],
      ['l', 'int64', true],
      ['int', 'int64', true],
      ['b', 'int8', true],
      ['B', 'uint8', true],
      ['h', 'int16', true],
      ['H', 'uint16', true],
      ['I', 'uint32', true],
      ['uint', 'uint64', true],
      ['?', 'bool', true],
      ['bool', 'bool', true],
      ['b1', 'bool', true],
      ['<b1', 'bool', true],
      ['|?', 'bool', true],
      ['bool_', 'bool', true],
    ];
    for (const [descr, dtype, littleEndian] of cases) {
      it(`'${descr}' is ${dtype}`, () => {
        assert.deepEqual(parseNpyDescr(descr, false, 'x'), { dtype, littleEndian });
      });
    }
    it('refuses what numpy refuses: bytes literal, stray spaces, impossible sizes', () => {
      assert.throws(() => parseNpyHeaderText("{'descr': b'<f8', 'fortran_order': False, 'shape': (2,), }", 'f.npy'), /bytes literal b'<f8'.*numpy refuses/);
      for (const bad of ['float64 ', 'Float64', 'f3', 'b2', '?1', 'bool8', '<float64', 'e2', 'I8', 'f0', '<i16']) {
        assert.throws(() => parseNpyDescr(bad, false, 'f.npy'), (e: Error) => isNormLensError(e) && /unknown dtype descr/.test(e.message), bad);
      }
      // u'...' is a str literal in Python: numpy accepts it.
      assert.equal(parseNpyHeaderText("{'descr': u'<f8', 'fortran_order': False, 'shape': (2,), }", 'f.npy').descr, '<f8');
    });
    it('lists valid numpy dtypes it does not decode as unsupported, with their itemsize', () => {
      const c8 = parseNpyDescr('<c8', false, 'f');
      assert.equal(c8.dtype, 'unsupported');
      assert.equal(c8.itemSize, 8);
      assert.match(c8.unsupported!.reason, /^complex64 \('<c8'\) is not supported: NormLens analyzes real numbers/);
      assert.equal(parseNpyDescr('<U4', false, 'f').itemSize, 16);
      assert.equal(parseNpyDescr('|S3', false, 'f').itemSize, 3);
      assert.equal(parseNpyDescr('<M8[ns]', false, 'f').itemSize, 8);
      assert.equal(parseNpyDescr('D', false, 'f').unsupported!.dtype, 'D');
    });
  });

  it('np.save twice on one file: the first array, with trailingBytes (as np.load)', async () => {
    const dump = await openDump(fixtureSource('npy/saved_twice.npy'));
    assert.equal(dump.tensors.length, 1);
    assert.equal(dump.tensors[0]!.info.trailingBytes, 168);
    assert.deepEqual([...(await dump.tensors[0]!.read(0, 6))], [-0.5, -0.25, 0, 0.25, 0.5, 0.75]);
    const { code, out } = await run(['info', fixture('npy/saved_twice.npy'), '--json']);
    assert.equal(code, 0);
    assert.deepEqual(JSON.parse(out).tensors[0], { name: 'array', dtype: 'float32', shape: [2, 3], role: 'input', bytes: 24, trailingBytes: 168 });
    const text = await run(['info', fixture('npy/saved_twice.npy')]);
    assert.match(text.out, /saved_twice\.npy: npy, 1 tensor\n/);
    assert.match(text.out, /note: 'array': 168 more bytes follow the array \(np\.save called twice/);
  });

  it('an npz member named *.npy that is not an npy array is an error naming the member', async () => {
    await assert.rejects(openDump(fixtureSource('hostile/npz_npy_member_not_npy.npz')), /member 'notes\.npy' is named like an \.npy array but is not one/);
    const { code, out, err } = await run(['info', fixture('hostile/npz_npy_member_not_npy.npz')]);
    assert.equal(code, 2);
    assert.equal(out, '');
    assert.match(err, /notes\.npy/);
    // Other non-npy members are still skipped and noted.
    const dump = await openDump(fixtureSource('npz/with_text_member.npz'));
    assert.match(dump.metadata['npz.skipped']!, /README\.txt/);
  });

  describe('safetensors: numbers and strings as the reference (serde) reads them', () => {
    const open = (header: string, data = new Uint8Array(16)): Promise<unknown> => {
      const json = new TextEncoder().encode(header);
      const bytes = new Uint8Array(8 + json.length + data.length);
      new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
      bytes.set(json, 8);
      bytes.set(data, 8 + json.length);
      return openDump(new MemoryByteSource(bytes, 't.safetensors'));
    };
    it('refuses floats, exponents, signs (2.0, 2e0, -0, -1) in shape and data_offsets', async () => {
      for (const [shape, offsets, shown] of [['[4.0]', '[0,16]', '4.0'], ['[4]', '[0,16e0]', '16e0'], ['[4]', '[-0,16]', '-0'], ['[4]', '[0,1.6E1]', '1.6E1'], ['[-1]', '[0,16]', '-1']] as const) {
        await assert.rejects(open(`{"a":{"dtype":"F32","shape":${shape},"data_offsets":${offsets}}}`), (e: Error) => isNormLensError(e) && e.message.includes(`found ${shown}`), shown);
      }
    });
    it('prints the exact integer beyond 2^53, and refuses values beyond 2^64 - 1', async () => {
      await assert.rejects(open('{"a":{"dtype":"U8","shape":[9007199254740993],"data_offsets":[0,9007199254740993]}}'), /'shape' contains 9007199254740993, beyond 2\^53/);
      await assert.rejects(open('{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,18446744073709551616]}}'), /18446744073709551616, which does not fit in 64 bits/);
    });
    it('accepts [0, 2^64-1] (checked product 0) but not [2^64-1, 2, 0] (overflows first), as the reference', async () => {
      const dump = await openDump(fixtureSource('safetensors/zero_huge_dim.safetensors'));
      assert.equal(dump.tensors[0]!.info.size, 0);
      assert.equal(dump.tensors[0]!.info.shape[1], 2 ** 64);
      await assert.rejects(openDump(fixtureSource('hostile/st_overflow_before_zero.safetensors')), /overflows 64 bits/);
    });
    it('refuses lone surrogates in names; a surrogate pair is fine', async () => {
      await assert.rejects(open('{"\\ud800":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}'), /lone UTF-16 surrogate \\ud800/);
      await assert.rejects(open('{"x\\udfff":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}'), /lone UTF-16 surrogate \\udfff/);
      await assert.rejects(open('{"\\ud800\\u0041":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}'), /lone UTF-16 surrogate/);
      const dump = (await open('{"\\ud83d\\ude00":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}')) as { tensors: Array<{ info: TensorInfo }> };
      assert.equal(dump.tensors[0]!.info.name, '😀');
    });
    it('JSON dumps keep plain numbers (the strict mode is for safetensors only)', () => {
      const strict = new JsonBytesParser(new TextEncoder().encode('[2.0, 3]'), 'x', 8, false, true).parseValue() as JsonNumberText[];
      assert.deepEqual(
        strict.map((n) => [n.text, n.isUnsignedInteger]),
        [
          ['2.0', false],
          ['3', true],
        ],
      );
      assert.deepEqual(new JsonBytesParser(new TextEncoder().encode('[2.0, 3]'), 'x', 8, false).parseValue(), [2, 3]);
    });
  });

  describe('unsupported dtypes are listed, not fatal', () => {
    it('npz with complex, str, bytes, object and long double members: the float one is analyzed', async () => {
      const dump = await openDump(fixtureSource('npz/mixed_unsupported.npz'));
      const roles = guessRoles(dump.tensors.map((t) => t.info));
      assert.equal(roles.get('hidden_states'), 'input');
      for (const name of ['phase', 'words', 'raw', 'objects', 'long']) assert.equal(roles.get(name), 'other', name);
      const { code, out } = await run(['info', fixture('npz/mixed_unsupported.npz'), '--json']);
      assert.equal(code, 0);
      const phase = JSON.parse(out).tensors.find((t: { name: string }) => t.name === 'phase');
      assert.deepEqual(phase, { name: 'phase', dtype: '<c8', shape: [4], role: 'other', bytes: 32, unsupported: "complex64 ('<c8') is not supported: NormLens analyzes real numbers; save np.real(x) and np.imag(x) separately." });
      const analyzed = await run(['analyze', fixture('npz/mixed_unsupported.npz'), '--json']);
      assert.equal(analyzed.code, 0, analyzed.err);
      assert.equal(JSON.parse(analyzed.out).input.name, 'hidden_states');
      const named = await run(['analyze', fixture('npz/mixed_unsupported.npz'), '--tensor', 'objects']);
      assert.equal(named.code, 2);
      assert.match(named.err, /tensor 'objects' cannot be analyzed: it has dtype object \('\|O'\): its data is a Python pickle/);
    });
    it('a safetensors C64 tensor next to a float one', async () => {
      const dump = await openDump(fixtureSource('safetensors/with_complex.safetensors'));
      const phase = dump.tensors.find((t) => t.info.name === 'phase')!;
      assert.equal(phase.info.dtype, 'unsupported');
      assert.equal(phase.info.unsupported!.dtype, 'C64');
      assert.equal(phase.info.byteLength, 16);
      assert.equal((await run(['analyze', fixture('safetensors/with_complex.safetensors')])).code, 0);
    });
    it('a file whose only tensor is unsupported: info lists it, analyze gives one clear error', async () => {
      const info = await run(['info', fixture('npy/complex64_only.npy')]);
      assert.equal(info.code, 0);
      assert.match(info.out, /^array\s+<c8\s+\(2,\)\s+other\s+16 B$/m);
      const analyzed = await run(['analyze', fixture('npy/complex64_only.npy')]);
      assert.equal(analyzed.code, 2);
      assert.match(analyzed.err, /^normlens: error: the dump has no tensor NormLens can analyze: its only tensor has an unsupported dtype: 'array' \(<c8\)\. For 'array': complex64/);
      assert.equal(analyzed.err.split('\n').length, 2);
    });
  });

  describe('integer activations', () => {
    const t = (name: string, shape: number[], dtype: DType): TensorInfo => ({ name, dtype, shape, size: shape.reduce((a, b) => a * b, 1), byteLength: 0 });
    it('with no floating tensor, the input is the largest integer tensor, 2-D or more first; never bool, uint16 or unsupported', () => {
      const roles = guessRoles([t('scales', [1000], 'int32'), t('q', [2, 3, 8], 'int8'), t('flags', [4, 4], 'bool'), t('c', [9, 9], 'unsupported')]);
      assert.equal(roles.get('q'), 'input');
      assert.equal(guessRoles([t('a', [10], 'int16'), t('b', [20], 'int8')]).get('b'), 'input');
      assert.equal(guessRoles([t('bits', [4, 4], 'uint16')]).get('bits'), 'other');
      // Neutral words and hints: the CLI spells them as flags, VS Code names the setting.
      const missing = describeMissingInput([t('bits', [4, 4], 'uint16')]);
      assert.doesNotMatch(missing.message, /--/);
      assert.deepEqual(missing.hints, [{ kind: 'bf16FromUint16' }, { kind: 'tensor', role: 'input', name: 'bits' }]);
      assert.ok(withHintFlags(missing.message, missing.hints).endsWith(' (try --bf16-from-uint16, --tensor bits)'));
      assert.equal(guessRoles([t('x', [4], 'float32'), t('q', [2, 3, 8], 'int8')]).get('x'), 'input');
    });
    it('an int8-only dump is analyzed; --tensor may name an int16 one', async () => {
      const analyzed = await run(['analyze', fixture('npz/int8_activations.npz'), '--json']);
      assert.equal(analyzed.code, 0, analyzed.err);
      const report = JSON.parse(analyzed.out);
      assert.deepEqual(report.input, { name: 'q', dtype: 'int8', shape: [2, 3, 8] });
      const named = await run(['analyze', fixture('npz/int8_activations.npz'), '--tensor', 'zero_points', '--json']);
      assert.equal(named.code, 0, named.err);
      assert.equal(JSON.parse(named.out).input.dtype, 'int16');
    });
  });

  it('counts read in the right number', () => {
    assert.equal(countOf(1, 'byte'), '1 byte');
    assert.equal(countOf(2n, 'byte'), '2 bytes');
    assert.equal(countOf(0, 'tensor'), '0 tensors');
  });
});

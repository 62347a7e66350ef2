import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDump } from '../../../src/core/formats/openDump';
import { NodeFileByteSource } from '../../../src/platform/nodeFileSource';
import { bitsOf, FIXTURES, fixtureSource, readAll } from './helpers';

interface ExpectedTensor {
  name: string;
  dtype: string;
  shape: number[];
  bits: 'f32' | 'f64';
  values: string[] | null;
  formula?: string;
  /** Listed but not decoded: the dtype as the file writes it. */
  unsupported?: string;
  trailingBytes?: number;
}
interface ExpectedFile {
  format: string;
  tensors: ExpectedTensor[];
  metadata: Record<string, string>;
  options?: { bf16FromUint16?: boolean };
  tokens?: string[];
  eps?: number;
}

const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as Record<string, ExpectedFile>;

describe('format fixtures decode exactly as numpy / safetensors say', () => {
  for (const [relative, want] of Object.entries(expected)) {
    it(`${relative}`, async () => {
      for (const chunk of [1 << 20, 5]) {
        const dump = await openDump(fixtureSource(relative), want.options);
        assert.equal(dump.format, want.format);
        assert.deepEqual(dump.metadata, want.metadata);
        if (want.tokens) assert.deepEqual(dump.tokens, want.tokens);
        if (want.eps !== undefined) assert.equal(dump.eps, want.eps);
        assert.deepEqual(
          dump.tensors.map((t) => t.info.name),
          want.tensors.map((t) => t.name),
        );
        for (const [i, handle] of dump.tensors.entries()) {
          const w = want.tensors[i]!;
          assert.equal(handle.info.dtype, w.dtype, `${w.name} dtype`);
          assert.deepEqual(handle.info.shape, w.shape, `${w.name} shape`);
          assert.equal(handle.info.size, w.shape.reduce((a, b) => a * b, 1));
          assert.equal(handle.info.trailingBytes, w.trailingBytes, `${w.name} trailingBytes`);
          assert.equal(handle.info.unsupported?.dtype, w.unsupported, `${w.name} unsupported`);
          if (w.unsupported !== undefined) {
            await assert.rejects(handle.read(0, handle.info.size), (e: Error) => e.name === 'NormLensError' && e.message.includes(`tensor '${w.name}' cannot be analyzed`));
            continue;
          }
          const values = await readAll(handle, chunk);
          assert.equal(values instanceof Float32Array, w.bits === 'f32', `${w.name} result array type`);
          if (w.values) {
            assert.deepEqual(bitsOf(values), w.values, `${w.name} values (chunk ${chunk})`);
          } else {
            for (let k = 0; k < values.length; k++) if (values[k] !== (k % 1000) / 8) assert.fail(`${w.name}[${k}] = ${values[k]}`);
          }
        }
        if (chunk === 5) break;
      }
    });
  }

  it('reads through NodeFileByteSource too (positional reads)', async () => {
    const source = await NodeFileByteSource.open(join(FIXTURES, 'safetensors/all_dtypes.safetensors'));
    try {
      const dump = await openDump(source);
      const memory = await openDump(fixtureSource('safetensors/all_dtypes.safetensors'));
      for (const [i, handle] of dump.tensors.entries()) assert.deepEqual(bitsOf(await readAll(handle)), bitsOf(await readAll(memory.tensors[i]!)));
    } finally {
      await source.close();
    }
  });

  it('streams deflated members forward and restarts when reading backwards', async () => {
    const dump = await openDump(fixtureSource('npz/large_compressed.npz'));
    const handle = dump.tensors[0]!;
    assert.equal(handle.randomAccess, false);
    const late = await handle.read(250_000, 10);
    assert.deepEqual([...late], Array.from({ length: 10 }, (_, k) => ((250_000 + k) % 1000) / 8));
    const early = await handle.read(3, 4);
    assert.deepEqual([...early], [3 / 8, 4 / 8, 5 / 8, 6 / 8]);
    const [a, b] = await Promise.all([handle.read(100_000, 2), handle.read(7, 1)]);
    assert.deepEqual([...a!, ...b!], [0, 1 / 8, 7 / 8]);
    const tail = await handle.read(handle.info.size - 3, 3);
    assert.deepEqual([...tail], [997 / 8, 998 / 8, 999 / 8]);
  });

  it('stored npz members are random access', async () => {
    const dump = await openDump(fixtureSource('npz/stored.npz'));
    assert.ok(dump.tensors.every((t) => t.randomAccess));
  });

  it('writes version 2.0 and 3.0 npy headers where the fixtures say so', () => {
    for (const v of [1, 2, 3]) assert.equal(readFileSync(join(FIXTURES, `npy/version_${v}_0.npy`))[6], v);
    const misaligned = readFileSync(join(FIXTURES, 'npy/misaligned_f8_le.npy'));
    assert.equal((10 + misaligned.readUInt16LE(8)) % 8, 3);
  });

  it('refuses <V2 and <u2 as bfloat16 without the explicit flag', async () => {
    const v2 = await openDump(fixtureSource('npy/bfloat16_v2.npy'));
    assert.equal(v2.tensors[0]!.info.dtype, 'unsupported');
    assert.match(v2.tensors[0]!.info.unsupported!.reason, /bf16-from-uint16/);
    await assert.rejects(v2.tensors[0]!.read(0, 1), /bf16-from-uint16/);
    const dump = await openDump(fixtureSource('npy/bfloat16_bits_u2.npy'));
    assert.equal(dump.tensors[0]!.info.dtype, 'uint16');
  });

  it('rejects out-of-range element reads with a usage error', async () => {
    const dump = await openDump(fixtureSource('npy/float32_le.npy'));
    await assert.rejects(dump.tensors[0]!.read(10, 5), (e: Error) => e.name === 'NormLensError' && /cannot read elements/.test(e.message));
  });
});

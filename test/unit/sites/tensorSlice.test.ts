import { strict as assert } from 'node:assert';
import { sliceTensor } from '../../../src/core/dump/tensorSlice';
import { isNormLensError } from '../../../src/core/errors';
import { memoryTensor, readAllFloat64 } from './helpers';

/** Reference: index `index` of axis `axis`, gathered element by element in C order. */
function reference(shape: number[], axis: number, index: number): number[] {
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((p, d) => p * d, 1));
  const rest = shape.filter((_, i) => i !== axis);
  const size = rest.reduce((p, d) => p * d, 1);
  const out: number[] = [];
  for (let k = 0; k < size; k++) {
    let r = k;
    let flat = 0;
    for (let j = rest.length - 1, dim = shape.length - 1; dim >= 0; dim--) {
      if (dim === axis) {
        flat += index * strides[dim]!;
        continue;
      }
      flat += (r % rest[j]!) * strides[dim]!;
      r = Math.floor(r / rest[j]!);
      j--;
    }
    out.push(flat);
  }
  return out;
}

describe('sliceTensor (--layer-axis views)', () => {
  const shape = [3, 4, 5, 6];

  it('reads the right values for every axis and index, in any chunking', async () => {
    for (let axis = 0; axis < shape.length; axis++) {
      for (let index = 0; index < shape[axis]!; index++) {
        const expected = reference(shape, axis, index);
        for (const chunk of [1, 7, 30, 1000]) {
          const handle = sliceTensor(memoryTensor('t', shape), axis, index);
          assert.deepEqual([...(await readAllFloat64(handle, chunk))], expected, `axis ${axis} index ${index} chunk ${chunk}`);
        }
        const tiny = sliceTensor(memoryTensor('t', shape), axis, index, { maxSpanElements: 10 });
        assert.deepEqual([...(await readAllFloat64(tiny, 13))], expected, `axis ${axis} index ${index} span 10`);
      }
    }
  });

  it('names the slice NAME[i], drops the axis from the shape, keeps the dtype; negative axes count from the end', () => {
    const s = sliceTensor(memoryTensor('hidden_states', shape), -1, 2);
    assert.equal(s.info.name, 'hidden_states[2]');
    assert.deepEqual(s.info.shape, [3, 4, 5]);
    assert.equal(s.info.size, 60);
    assert.equal(s.info.byteLength, 480);
    assert.equal(s.info.dtype, 'float64');
    assert.equal(sliceTensor(memoryTensor('h', shape), 0, 1, { name: 'layer 1' }).info.name, 'layer 1');
  });

  it('axis 0 reads one contiguous run of exactly the requested elements', async () => {
    const source = memoryTensor('t', [6, 2, 5, 16]);
    const s = sliceTensor(source, 0, 4);
    await s.read(10, 50);
    assert.deepEqual(source.reads, [[4 * 160 + 10, 50]]);
  });

  it('long strided runs read only slice elements; short runs read bounded spans', async () => {
    const long = memoryTensor('t', [4, 3, 512]);
    await readAllFloat64(sliceTensor(long, 1, 2), 100000);
    assert.equal(long.reads.length, 4);
    assert.equal(
      long.reads.reduce((n, [, c]) => n + c, 0),
      4 * 512,
    );
    const short = memoryTensor('t', [50, 40, 2]);
    await readAllFloat64(sliceTensor(short, 1, 0, { maxSpanElements: 400 }), 100000);
    for (const [, count] of short.reads) assert.ok(count <= 400, `span ${count}`);
    assert.ok(short.reads.length < 50);
  });

  it('refuses axes, indices and reads out of range with NormLensError', async () => {
    const source = memoryTensor('t', shape);
    for (const [axis, index] of [
      [4, 0],
      [-5, 0],
      [0, 3],
      [1, -1],
      [0.5, 0],
    ] as const) {
      assert.throws(() => sliceTensor(source, axis, index), (e: unknown) => isNormLensError(e) && e.kind === 'usage');
    }
    const s = sliceTensor(source, 0, 0);
    await assert.rejects(s.read(100, 21), (e: unknown) => isNormLensError(e));
    assert.equal((await s.read(5, 0)).length, 0);
  });
});

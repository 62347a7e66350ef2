import { strict as assert } from 'node:assert';
import { MemoryByteSource } from '../../src/core/io/byteSource';
import { isNormLensError } from '../../src/core/errors';

describe('MemoryByteSource', () => {
  it('reads a range and refuses reads past the end with a NormLensError', async () => {
    const src = new MemoryByteSource(new Uint8Array([1, 2, 3, 4]), 'mem');
    assert.deepEqual([...(await src.read(1, 2))], [2, 3]);
    await assert.rejects(src.read(3, 2), (e) => isNormLensError(e) && /truncated/.test((e as Error).message));
  });
});

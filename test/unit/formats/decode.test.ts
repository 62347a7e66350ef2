import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeElements } from '../../../src/core/formats/dtypes';
import { crc32Update } from '../../../src/core/io/crc32';
import type { DType } from '../../../src/core/formats/types';
import { FIXTURES } from './helpers';

function table(name: string): Uint32Array {
  const bytes = readFileSync(join(FIXTURES, 'tables', name));
  return new Uint32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

function isNaNBits(bits: number): boolean {
  return (bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0;
}

/** Every bit pattern, decoded by us, equals numpy / ml_dtypes bit for bit (NaNs: both NaN, and same bits where numpy keeps the payload). */
function checkAllPatterns(dtype: DType, file: string, width: 1 | 2, exactNaNBits: boolean): void {
  const want = table(file);
  const n = want.length;
  for (const littleEndian of width === 2 ? [true, false] : [true]) {
    const bytes = new Uint8Array(n * width);
    for (let code = 0; code < n; code++) {
      if (width === 1) {
        bytes[code] = code;
      } else {
        bytes[2 * code + (littleEndian ? 0 : 1)] = code & 0xff;
        bytes[2 * code + (littleEndian ? 1 : 0)] = code >>> 8;
      }
    }
    const decoded = decodeElements(bytes, dtype, littleEndian);
    assert.ok(decoded instanceof Float32Array);
    const got = new Uint32Array(decoded.buffer, decoded.byteOffset, n);
    let nanCount = 0;
    for (let code = 0; code < n; code++) {
      const w = want[code]!;
      const g = got[code]!;
      if (isNaNBits(w)) {
        nanCount++;
        assert.ok(isNaNBits(g), `${dtype} 0x${code.toString(16)}: expected NaN, got bits 0x${g.toString(16)}`);
        if (exactNaNBits) assert.equal(g, w, `${dtype} 0x${code.toString(16)} NaN payload`);
      } else if (g !== w) {
        assert.fail(`${dtype} code 0x${code.toString(16)} (${littleEndian ? 'LE' : 'BE'}): expected bits 0x${w.toString(16)}, got 0x${g.toString(16)}`);
      }
    }
    assert.ok(nanCount > 0);
  }
}

describe('decoding every bit pattern against numpy / ml_dtypes', () => {
  it('float16: all 65536 patterns, both byte orders (NaN payloads as numpy)', () => checkAllPatterns('float16', 'float16_to_float32.bin', 2, true));
  it('bfloat16: all 65536 patterns, both byte orders (NaN payloads kept)', () => checkAllPatterns('bfloat16', 'bfloat16_to_float32.bin', 2, true));
  it('float8_e4m3fn: all 256 patterns', () => checkAllPatterns('float8_e4m3fn', 'float8_e4m3fn_to_float32.bin', 1, false));
  it('float8_e5m2: all 256 patterns', () => checkAllPatterns('float8_e5m2', 'float8_e5m2_to_float32.bin', 1, false));
});

describe('decodeElements', () => {
  it('returns a zero-copy view for aligned little-endian float32 and copies misaligned input', () => {
    const buffer = new Uint8Array(20);
    new DataView(buffer.buffer).setFloat32(4, 1.5, true);
    const aligned = decodeElements(buffer.subarray(4, 12), 'float32', true);
    assert.equal(aligned.buffer, buffer.buffer);
    assert.equal(aligned[0], 1.5);
    new DataView(buffer.buffer).setFloat32(5, -2.25, true);
    const misaligned = decodeElements(buffer.subarray(5, 9), 'float32', true);
    assert.notEqual(misaligned.buffer, buffer.buffer);
    assert.equal(misaligned[0], -2.25);
  });

  it('rounds int64 / uint64 beyond 2^53 to the nearest double, ties to even', () => {
    const values = [2n ** 53n + 1n, -(2n ** 63n), 2n ** 63n - 1n, 2n ** 53n + 3n, -(2n ** 53n) - 1n];
    const bytes = new Uint8Array(8 * values.length);
    const view = new DataView(bytes.buffer);
    values.forEach((v, i) => view.setBigInt64(8 * i, v, false));
    const decoded = decodeElements(bytes, 'int64', false);
    assert.deepEqual([...decoded], values.map((v) => Number(v)));
    view.setBigUint64(0, 2n ** 64n - 1n, true);
    assert.equal(decodeElements(bytes.subarray(0, 8), 'uint64', true)[0], 2 ** 64);
  });

  it('decodes bool as 0/1 (any non-zero byte is true)', () => {
    assert.deepEqual([...decodeElements(new Uint8Array([0, 1, 2, 255]), 'bool', true)], [0, 1, 1, 1]);
  });
});

describe('crc32Update', () => {
  it('matches the standard check value and composes over chunks', () => {
    const text = new TextEncoder().encode('123456789');
    assert.equal(crc32Update(0, text), 0xcbf43926);
    assert.equal(crc32Update(crc32Update(0, text.subarray(0, 4)), text.subarray(4)), 0xcbf43926);
  });
});

import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { MemoryByteSource } from '../../../src/core/io/byteSource';
import type { DecodedValues, TensorHandle } from '../../../src/core/formats/types';

/** Root of the committed format fixtures (see scripts/fixtures/generate_formats.py). */
export const FIXTURES = join(__dirname, '..', '..', 'fixtures', 'formats');

/** A fixture file as an in-memory ByteSource named like the file. */
export function fixtureSource(relative: string): MemoryByteSource {
  return new MemoryByteSource(new Uint8Array(readFileSync(join(FIXTURES, relative))), basename(relative));
}

/** Hex bit patterns of decoded values (float32 bits for Float32Array, float64 bits otherwise). */
export function bitsOf(values: DecodedValues): string[] {
  if (values instanceof Float32Array) return [...new Uint32Array(values.buffer, values.byteOffset, values.length)].map((v) => v.toString(16).padStart(8, '0'));
  const copy = Float64Array.from(values);
  return [...new BigUint64Array(copy.buffer)].map((v) => v.toString(16).padStart(16, '0'));
}

/** Reads a whole tensor in chunks of `chunk` elements, concatenated. */
export async function readAll(handle: TensorHandle, chunk = 1 << 20): Promise<DecodedValues> {
  const { size } = handle.info;
  const parts: DecodedValues[] = [];
  for (let start = 0; start < size; start += chunk) parts.push(await handle.read(start, Math.min(chunk, size - start)));
  if (size === 0) return handle.read(0, 0);
  const isF32 = parts[0] instanceof Float32Array;
  const out = isF32 ? new Float32Array(size) : new Float64Array(size);
  let offset = 0;
  for (const p of parts) {
    if (out instanceof Float32Array) new Uint32Array(out.buffer).set(new Uint32Array(p.buffer, p.byteOffset, p.length), offset);
    else out.set(p, offset);
    offset += p.length;
  }
  return out;
}

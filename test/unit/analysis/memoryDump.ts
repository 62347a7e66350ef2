import { openDump } from '../../../src/core/formats/openDump';
import { NodeFileByteSource } from '../../../src/platform/nodeFileSource';
import type { DType, DecodedValues, Dump, TensorHandle } from '../../../src/core/formats/types';

/** A tensor given as values, for in-memory test dumps. */
export interface MemoryTensor {
  name: string;
  dtype?: DType;
  shape: number[];
  values: ArrayLike<number>;
}

/** A Dump held in memory; `read` returns Float32Array for float32/float16 tensors, like the readers. */
export function memoryDump(tensors: MemoryTensor[], extra: { eps?: number; randomAccess?: boolean } = {}): Dump {
  const handles: TensorHandle[] = tensors.map((t) => {
    const dtype = t.dtype ?? 'float32';
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (size !== t.values.length) throw new Error(`${t.name}: ${t.values.length} values for shape ${t.shape}`);
    const data: DecodedValues = dtype === 'float32' || dtype === 'float16' || dtype === 'bfloat16' ? Float32Array.from(t.values) : Float64Array.from(t.values);
    return {
      info: { name: t.name, dtype, shape: t.shape, size, byteLength: size * (dtype === 'float64' ? 8 : 4) },
      randomAccess: extra.randomAccess ?? true,
      read: async (start: number, count: number) => data.subarray(start, start + count),
    };
  });
  return { format: 'npz', tensors: handles, metadata: {}, ...(extra.eps !== undefined ? { eps: extra.eps } : {}) };
}

/** Opens a fixture file with the real readers (openDump over a file source). */
export async function openFixture(path: string): Promise<{ dump: Dump; close: () => Promise<void> }> {
  const source = await NodeFileByteSource.open(path);
  return { dump: await openDump(source), close: () => source.close() };
}

/** A deterministic pseudo-random normal generator (Box–Muller over a 32-bit LCG). */
export function normalGenerator(seed: number): () => number {
  let state = seed >>> 0;
  const uniform = (): number => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state + 0.5) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

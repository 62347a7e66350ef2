import type { DecodedValues, TensorHandle } from '../formats/types';

/**
 * A handle on the virtual tensor (outer, f1 − f0, inner) of `input` viewed as (outer, F, inner):
 * element v = o·B·inner + r maps to o·F·inner + f0·inner + r (r < B·inner), so a read is one
 * contiguous read per outer index. Values come back in the type of the real handle's reads
 * (Float32Array for float32, so the WebAssembly kernels run as on the whole tensor).
 */
export function featureBlockView(input: TensorHandle, outer: number, F: number, inner: number, f0: number, f1: number): TensorHandle {
  const B = f1 - f0;
  const row = B * inner;
  const size = outer * row;
  const shape = input.info.shape.map((s) => s);
  // The feature axis is the one whose size is F between outer and inner (shape products).
  let prod = 1;
  for (let i = 0; i < shape.length; i++) {
    if (prod === outer && shape[i] === F) {
      shape[i] = B;
      break;
    }
    prod *= shape[i]!;
  }
  const info = { ...input.info, shape, size, byteLength: Math.round((input.info.byteLength / Math.max(1, input.info.size)) * size) };
  return {
    info,
    randomAccess: input.randomAccess,
    async read(start: number, count: number): Promise<DecodedValues> {
      let out: DecodedValues | null = null;
      let at = 0;
      for (let v = start; v < start + count; ) {
        const o = Math.floor(v / row);
        const r = v - o * row;
        const n = Math.min(row - r, start + count - v);
        const part = await input.read(o * F * inner + f0 * inner + r, n);
        if (n === count) return part;
        if (out === null) out = part instanceof Float32Array ? new Float32Array(count) : new Float64Array(count);
        out.set(part, at);
        at += n;
        v += n;
      }
      return out ?? new Float64Array(0);
    },
  };
}

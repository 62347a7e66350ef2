import { NormLensError } from '../errors';
import { allocateDecoded, DTYPE_ITEMSIZE } from '../formats/dtypes';
import type { DecodedValues, TensorHandle, TensorInfo } from '../formats/types';

/** Runs shorter than this many elements are gathered from one larger read instead of one read each. */
const SHORT_RUN_ELEMENTS = 256;
/** Most elements one gathering read may span (bounds the memory of a strided read). */
const DEFAULT_MAX_SPAN_ELEMENTS = 1 << 18;

/** Options of {@link sliceTensor}. */
export interface SliceOptions {
  /** Name of the sliced tensor; default `NAME[index]`. */
  readonly name?: string;
  /** Most source elements one read of short strided runs may span; default 262144. */
  readonly maxSpanElements?: number;
}

/**
 * A view of index `index` along axis `axis` of `source` (the tensor with that axis removed), for
 * `--layer-axis`. Reads decode only the requested slice elements: one contiguous source read for
 * axis 0, one read per strided run otherwise (short runs are gathered from reads spanning at most
 * `maxSpanElements` source elements). Throws NormLensError('usage') for an axis or index out of range.
 */
export function sliceTensor(source: TensorHandle, axis: number, index: number, options: SliceOptions = {}): TensorHandle {
  const shape = source.info.shape;
  const rank = shape.length;
  const name = source.info.name;
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw new NormLensError('usage', `--layer-axis ${axis} is out of range for '${name}' of shape (${shape.join(', ')}): use 0..${rank - 1} (or a negative axis counted from the end).`);
  }
  const a = axis < 0 ? axis + rank : axis;
  const n = shape[a]!;
  if (!Number.isInteger(index) || index < 0 || index >= n) {
    throw new NormLensError('usage', `slice ${index} of '${name}' along axis ${a} does not exist: the axis has ${n} entries (0..${n - 1}).`);
  }
  const outer = shape.slice(0, a).reduce((p, d) => p * d, 1);
  const inner = shape.slice(a + 1).reduce((p, d) => p * d, 1);
  const sliceShape = [...shape.slice(0, a), ...shape.slice(a + 1)];
  const size = outer * inner;
  const info: TensorInfo = {
    name: options.name ?? `${name}[${index}]`,
    dtype: source.info.dtype,
    shape: sliceShape,
    size,
    byteLength: size * DTYPE_ITEMSIZE[source.info.dtype],
  };
  const maxSpan = Math.max(1, options.maxSpanElements ?? DEFAULT_MAX_SPAN_ELEMENTS);
  /** Source element index of slice element k. */
  const sourceIndex = (k: number): number => (Math.floor(k / inner) * n + index) * inner + (k % inner);

  const read = async (start: number, count: number): Promise<DecodedValues> => {
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(count) || start < 0 || count < 0 || start + count > size) {
      throw new NormLensError('usage', `read of elements ${start}..${start + count} is outside slice '${info.name}' of ${size} elements.`);
    }
    if (count === 0) return allocateDecoded(info.dtype, 0);
    if (outer === 1) return source.read(sourceIndex(start), count);
    const out = allocateDecoded(info.dtype, count);
    let k = start;
    const end = start + count;
    while (k < end) {
      const runLength = Math.min(inner - (k % inner), end - k);
      if (inner >= SHORT_RUN_ELEMENTS || runLength === end - k) {
        out.set(await source.read(sourceIndex(k), runLength), k - start);
        k += runLength;
        continue;
      }
      // Short strided runs: one read spanning as many runs as fit in maxSpan source elements.
      const first = sourceIndex(k);
      let last = k + runLength; // exclusive slice index covered so far
      while (last < end && sourceIndex(Math.min(end, last + inner) - 1) + 1 - first <= maxSpan) last = Math.min(end, last + inner);
      const span = await source.read(first, sourceIndex(last - 1) + 1 - first);
      for (let j = k; j < last; ) {
        const run = Math.min(inner - (j % inner), last - j);
        const from = sourceIndex(j) - first;
        out.set(span.subarray(from, from + run), j - start);
        j += run;
      }
      k = last;
    }
    return out;
  };
  return { info, randomAccess: source.randomAccess, read };
}

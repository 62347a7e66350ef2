import { NormLensError } from '../errors';
import type { ByteSource } from '../io/byteSource';
import { decodeElements } from './dtypes';
import type { DecodedValues, TensorHandle, TensorInfo } from './types';

/** Positional access to a byte range (a whole file, or one npz member after decompression). */
export interface ByteRangeReader {
  /** Total bytes available. */
  readonly size: number;
  /** True when reads at any offset are cheap; false when the bytes are produced front to back. */
  readonly randomAccess: boolean;
  /** Reads exactly `length` bytes at `offset`; throws NormLensError when that is impossible. */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Optional: `read` into the start of `target` (see ByteSource.readInto). */
  readInto?(offset: number, length: number, target: Uint8Array): Promise<Uint8Array>;
}

/** The whole of `source` as a ByteRangeReader (with readInto when the source has it). */
export function sourceReader(source: ByteSource): ByteRangeReader {
  const into = source.readInto;
  return {
    size: source.size,
    randomAccess: true,
    read: (offset, length) => source.read(offset, length),
    ...(into ? { readInto: (offset: number, length: number, target: Uint8Array) => into.call(source, offset, length, target) } : {}),
  };
}

/**
 * Product of `shape`, refusing negative, fractional or unsafe dimensions and products beyond 2^53
 * (no real dump is that large; such a header is corrupt or hostile). `where` prefixes messages.
 */
export function checkedElementCount(shape: readonly number[], where: string): number {
  let count = 1;
  let hasZero = false;
  for (const dim of shape) {
    if (!Number.isSafeInteger(dim) || dim < 0) {
      throw new NormLensError('format', `${where}: invalid dimension ${dim} in shape (${shape.join(', ')}); dimensions must be integers >= 0. The file is corrupt.`);
    }
    if (dim === 0) hasZero = true;
  }
  if (hasZero) return 0;
  for (const dim of shape) {
    count *= dim;
    if (count > Number.MAX_SAFE_INTEGER) {
      throw new NormLensError('format', `${where}: shape (${shape.join(', ')}) claims more than 2^53 elements; the header is corrupt or hostile.`);
    }
  }
  return count;
}

/** `count · itemSize`, refusing results beyond 2^53. */
export function checkedByteLength(count: number, itemSize: number, where: string): number {
  const bytes = count * itemSize;
  if (bytes > Number.MAX_SAFE_INTEGER) {
    throw new NormLensError('format', `${where}: ${count} elements of ${itemSize} bytes exceed 2^53 bytes; the header is corrupt or hostile.`);
  }
  return bytes;
}

/** Validates a `TensorHandle.read(start, count)` request. */
export function checkElementRange(info: TensorInfo, start: number, count: number): void {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(count) || start < 0 || count < 0 || start + count > info.size) {
    throw new NormLensError('usage', `tensor '${info.name}': cannot read elements [${start}, ${start}+${count}) of ${info.size}.`);
  }
}

/** A tensor whose elements are stored contiguously in C order at `dataOffset` of `reader`. */
export function contiguousTensorHandle(info: TensorInfo, reader: ByteRangeReader, dataOffset: number, itemSize: number, littleEndian: boolean): TensorHandle {
  const into = reader.readInto;
  return {
    info,
    randomAccess: reader.randomAccess,
    async read(start: number, count: number): Promise<DecodedValues> {
      checkElementRange(info, start, count);
      const bytes = await reader.read(dataOffset + start * itemSize, count * itemSize);
      return decodeElements(bytes, info.dtype, littleEndian);
    },
    ...(into
      ? {
          async readInto(start: number, count: number, target: Uint8Array): Promise<DecodedValues> {
            checkElementRange(info, start, count);
            const bytes = await into.call(reader, dataOffset + start * itemSize, count * itemSize, target);
            return decodeElements(bytes, info.dtype, littleEndian);
          },
        }
      : {}),
  };
}

/** A tensor whose decoded values are already in memory (JSON dumps, reordered Fortran arrays). */
export function inMemoryTensorHandle(info: TensorInfo, values: DecodedValues): TensorHandle {
  return {
    info,
    randomAccess: true,
    async read(start: number, count: number): Promise<DecodedValues> {
      checkElementRange(info, start, count);
      return values.subarray(start, start + count);
    },
  };
}

/** Splits a large read into chunks of at most this many bytes (bounds transient memory). */
export const READ_CHUNK_BYTES = 16 * 1024 * 1024;

/**
 * A tensor NormLens lists but does not decode (`info.unsupported` is set): every read throws a
 * NormLensError that names the tensor and says why. Its bytes are never touched (an object array's
 * pickle is never even read).
 */
export function unsupportedTensorHandle(info: TensorInfo, where: string): TensorHandle {
  return {
    info,
    randomAccess: true,
    read(start: number, count: number): Promise<DecodedValues> {
      return Promise.reject(unsupportedTensorError(info, where, start, count));
    },
  };
}

function unsupportedTensorError(info: TensorInfo, where: string, start: number, count: number): NormLensError {
  try {
    checkElementRange(info, start, count);
  } catch (e) {
    return e as NormLensError;
  }
  return new NormLensError('unsupported', `${where}: tensor '${info.name}' cannot be analyzed: ${info.unsupported?.reason ?? 'its dtype is not supported'}`);
}

/** `1 byte`, `2 bytes`: a count with its noun in the right number. */
export function countOf(n: number | bigint, singular: string, plural = `${singular}s`): string {
  return `${n} ${n === 1 || n === 1n ? singular : plural}`;
}

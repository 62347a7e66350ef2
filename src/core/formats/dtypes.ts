import type { DecodedValues, DType } from './types';

/** Bytes per element of each dtype as stored in a file. */
export const DTYPE_ITEMSIZE: Readonly<Record<DType, number>> = {
  float16: 2,
  bfloat16: 2,
  float32: 4,
  float64: 8,
  float8_e4m3fn: 1,
  float8_e5m2: 1,
  int8: 1,
  int16: 2,
  int32: 4,
  int64: 8,
  uint8: 1,
  uint16: 2,
  uint32: 4,
  uint64: 8,
  bool: 1,
  // Never decoded; the tensor's byteLength comes from its own dtype (see TensorInfo.unsupported).
  unsupported: 0,
};

/** True for integer dtypes (int8..int64, uint8..uint64; not bool). */
export function isIntegerDType(dtype: DType): boolean {
  return dtype.startsWith('int') || dtype.startsWith('uint');
}

/** True for dtypes that hold real-valued activations (float16/bfloat16/float8/float32/float64). */
export function isFloatingDType(dtype: DType): boolean {
  return dtype.startsWith('float') || dtype === 'bfloat16';
}

/** True when `dtype` decodes to a Float32Array (exactly); the others decode to Float64Array. */
export function decodesToFloat32(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float16' || dtype === 'bfloat16' || dtype === 'float8_e4m3fn' || dtype === 'float8_e5m2';
}

/** An empty result array of the kind `dtype` decodes to. */
export function allocateDecoded(dtype: DType, count: number): DecodedValues {
  return decodesToFloat32(dtype) ? new Float32Array(count) : new Float64Array(count);
}

let float16Table: Uint32Array | undefined;

/**
 * float32 bit pattern of every binary16 bit pattern (65536 entries, built once). Same bit route as
 * numpy's `npy_halfbits_to_floatbits`: NaN payloads are kept (mantissa shifted left by 13).
 */
export function float16ToFloat32BitsTable(): Uint32Array {
  if (float16Table) return float16Table;
  const table = new Uint32Array(65536);
  const scratch = new Float32Array(1);
  const scratchBits = new Uint32Array(scratch.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exponent = (h >>> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    if (exponent === 0x1f) {
      table[h] = (sign | 0x7f800000 | (mantissa << 13)) >>> 0;
    } else if (exponent === 0) {
      // Zero or subnormal: exactly ±mantissa·2^-24, representable in float32.
      scratch[0] = mantissa * 2 ** -24;
      table[h] = (sign | scratchBits[0]!) >>> 0;
    } else {
      table[h] = (sign | (((h & 0x7fff) + 0x1c000) << 13)) >>> 0;
    }
  }
  float16Table = table;
  return table;
}

let e4m3fnTable: Uint32Array | undefined;
let e5m2Table: Uint32Array | undefined;

/** float32 bits of every float8_e4m3fn byte (bias 7, no Inf, NaN = S.1111.111, max 448). */
export function float8E4M3FNToFloat32BitsTable(): Uint32Array {
  if (e4m3fnTable) return e4m3fnTable;
  const table = new Uint32Array(256);
  const scratch = new Float32Array(1);
  const scratchBits = new Uint32Array(scratch.buffer);
  for (let b = 0; b < 256; b++) {
    const negative = (b & 0x80) !== 0;
    const exponent = (b >>> 3) & 0xf;
    const mantissa = b & 0x7;
    if (exponent === 0xf && mantissa === 0x7) {
      table[b] = negative ? 0xffc00000 : 0x7fc00000;
      continue;
    }
    const magnitude = exponent === 0 ? (mantissa / 8) * 2 ** -6 : (1 + mantissa / 8) * 2 ** (exponent - 7);
    scratch[0] = negative ? -magnitude : magnitude;
    table[b] = scratchBits[0]!;
  }
  e4m3fnTable = table;
  return table;
}

/** float32 bits of every float8_e5m2 byte: the binary16 value of `byte << 8` (IEEE-style Inf/NaN). */
export function float8E5M2ToFloat32BitsTable(): Uint32Array {
  if (e5m2Table) return e5m2Table;
  const half = float16ToFloat32BitsTable();
  const table = new Uint32Array(256);
  for (let b = 0; b < 256; b++) table[b] = half[b << 8]!;
  e5m2Table = table;
  return table;
}

/** A view of `bytes` usable as a typed array of `itemSize`-byte elements (copying only when misaligned). */
function alignedBytes(bytes: Uint8Array, itemSize: number): Uint8Array {
  return bytes.byteOffset % itemSize === 0 ? bytes : bytes.slice();
}

/** Decodes 2-byte codes through a 65536-entry float32-bits table. */
function decodeViaTable16(bytes: Uint8Array, count: number, littleEndian: boolean, table: Uint32Array): Float32Array {
  const out = new Float32Array(count);
  const outBits = new Uint32Array(out.buffer);
  if (littleEndian) {
    const aligned = alignedBytes(bytes, 2);
    const codes = new Uint16Array(aligned.buffer, aligned.byteOffset, count);
    for (let i = 0; i < count; i++) outBits[i] = table[codes[i]!]!;
  } else {
    for (let i = 0, j = 0; i < count; i++, j += 2) outBits[i] = table[(bytes[j]! << 8) | bytes[j + 1]!]!;
  }
  return out;
}

/**
 * Decodes `bytes` (a whole number of elements of `dtype`, in file byte order) to numbers.
 *
 * - float32 (little-endian, aligned) returns a view over `bytes` without copying: treat the result as
 *   read-only. float16 / bfloat16 / float8 decode bit-exactly to float32 (NaN payloads kept).
 * - int64 / uint64 beyond ±2^53 decode to the nearest double (round half to even), as `Number(BigInt)`.
 * - bool decodes to 0/1 (any non-zero byte is 1, as numpy).
 */
export function decodeElements(bytes: Uint8Array, dtype: DType, littleEndian: boolean): DecodedValues {
  const itemSize = DTYPE_ITEMSIZE[dtype];
  const count = Math.floor(bytes.byteLength / itemSize);
  switch (dtype) {
    case 'float32': {
      if (littleEndian) {
        const aligned = alignedBytes(bytes, 4);
        return new Float32Array(aligned.buffer, aligned.byteOffset, count);
      }
      const out = new Float32Array(count);
      const outBits = new Uint32Array(out.buffer);
      for (let i = 0, j = 0; i < count; i++, j += 4) {
        outBits[i] = ((bytes[j]! << 24) | (bytes[j + 1]! << 16) | (bytes[j + 2]! << 8) | bytes[j + 3]!) >>> 0;
      }
      return out;
    }
    case 'float64': {
      if (littleEndian) {
        const aligned = alignedBytes(bytes, 8);
        return new Float64Array(aligned.buffer, aligned.byteOffset, count);
      }
      const out = new Float64Array(count);
      const outBytes = new Uint8Array(out.buffer);
      for (let i = 0; i < count * 8; i += 8) {
        for (let k = 0; k < 8; k++) outBytes[i + k] = bytes[i + 7 - k]!;
      }
      return out;
    }
    case 'float16':
      return decodeViaTable16(bytes, count, littleEndian, float16ToFloat32BitsTable());
    case 'bfloat16': {
      const out = new Float32Array(count);
      const outBits = new Uint32Array(out.buffer);
      const lo = littleEndian ? 0 : 1;
      const hi = 1 - lo;
      for (let i = 0, j = 0; i < count; i++, j += 2) outBits[i] = (((bytes[j + hi]! << 8) | bytes[j + lo]!) << 16) >>> 0;
      return out;
    }
    case 'float8_e4m3fn':
    case 'float8_e5m2': {
      const table = dtype === 'float8_e4m3fn' ? float8E4M3FNToFloat32BitsTable() : float8E5M2ToFloat32BitsTable();
      const out = new Float32Array(count);
      const outBits = new Uint32Array(out.buffer);
      for (let i = 0; i < count; i++) outBits[i] = table[bytes[i]!]!;
      return out;
    }
    case 'bool': {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = bytes[i] === 0 ? 0 : 1;
      return out;
    }
    case 'uint8':
      return Float64Array.from(bytes.subarray(0, count));
    case 'int8':
      return Float64Array.from(new Int8Array(bytes.buffer, bytes.byteOffset, count));
    default:
      return decodeWideInteger(bytes, dtype, count, littleEndian);
  }
}

/** int16/32/64 and uint16/32/64 through a DataView (any alignment, either byte order). */
function decodeWideInteger(bytes: Uint8Array, dtype: DType, count: number, littleEndian: boolean): Float64Array {
  const out = new Float64Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'int16':
      for (let i = 0; i < count; i++) out[i] = view.getInt16(i * 2, littleEndian);
      break;
    case 'uint16':
      for (let i = 0; i < count; i++) out[i] = view.getUint16(i * 2, littleEndian);
      break;
    case 'int32':
      for (let i = 0; i < count; i++) out[i] = view.getInt32(i * 4, littleEndian);
      break;
    case 'uint32':
      for (let i = 0; i < count; i++) out[i] = view.getUint32(i * 4, littleEndian);
      break;
    case 'int64':
    case 'uint64': {
      // hi·2^32 and lo are exact doubles, so their sum is the correctly rounded value.
      const signed = dtype === 'int64';
      const hiOffset = littleEndian ? 4 : 0;
      const loOffset = littleEndian ? 0 : 4;
      for (let i = 0, j = 0; i < count; i++, j += 8) {
        const hi = signed ? view.getInt32(j + hiOffset, littleEndian) : view.getUint32(j + hiOffset, littleEndian);
        out[i] = hi * 4294967296 + view.getUint32(j + loOffset, littleEndian);
      }
      break;
    }
    default:
      throw new Error(`decodeWideInteger: unexpected dtype ${dtype}`);
  }
  return out;
}

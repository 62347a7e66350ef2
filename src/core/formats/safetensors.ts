import { NormLensError } from '../errors';
import type { ByteSource } from '../io/byteSource';
import { DTYPE_ITEMSIZE } from './dtypes';
import { JsonBytesParser, JsonNumberText, type JsonValue } from './jsonBytes';
import { describeBytes, type ResolvedOpenOptions } from './options';
import { contiguousTensorHandle, countOf, sourceReader, unsupportedTensorHandle } from './tensorHandle';
import type { DType, Dump, TensorHandle, TensorInfo } from './types';

/** safetensors dtype names NormLens decodes, and what they are called here. */
export const SAFETENSORS_DTYPES: Readonly<Record<string, DType>> = {
  F64: 'float64',
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  F8_E4M3: 'float8_e4m3fn',
  F8_E5M2: 'float8_e5m2',
  I8: 'int8',
  I16: 'int16',
  I32: 'int32',
  I64: 'int64',
  U8: 'uint8',
  U16: 'uint16',
  U32: 'uint32',
  U64: 'uint64',
  BOOL: 'bool',
};

/** Valid safetensors dtypes that NormLens does not decode, with their size in bits. */
const KNOWN_UNSUPPORTED: Readonly<Record<string, number>> = { F4: 4, F6_E2M3: 6, F6_E3M2: 6, F8_E8M0: 8, F8_E4M3FNUZ: 8, F8_E5M2FNUZ: 8, C64: 64 };

const U64_MAX = (1n << 64n) - 1n;
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);

interface ParsedEntry {
  readonly name: string;
  readonly dtype: DType;
  /** Bits per element (as the reference's `Dtype::bitsize`). */
  readonly bits: number;
  readonly unsupported?: { readonly dtype: string; readonly reason: string };
  readonly shape: bigint[];
  readonly begin: bigint;
  readonly end: bigint;
}

/**
 * A JSON array of unsigned integers, as the reference's serde `Vec<usize>` reads it: plain integer
 * literals only (`2.0`, `2e0`, `-0`, `-1` are refused) and each at most 2^64 - 1. Values stay exact
 * (bigint); the text of each number is what messages print.
 */
function unsignedIntegers(value: JsonValue | undefined, what: string, where: string): bigint[] {
  if (!Array.isArray(value)) throw new NormLensError('format', `${where}: ${what} must be an array of integers. The header is invalid.`);
  return value.map((v) => {
    if (!(v instanceof JsonNumberText)) {
      throw new NormLensError('format', `${where}: ${what} must contain integers >= 0, found ${v instanceof Map ? 'an object' : JSON.stringify(v)}. The header is invalid.`);
    }
    if (!v.isUnsignedInteger) {
      throw new NormLensError(
        'format',
        `${where}: ${what} must contain integers >= 0 written without a sign, decimal point or exponent, found ${v.text} (the reference safetensors parser refuses it too). The header is invalid.`,
      );
    }
    const n = BigInt(v.text);
    if (n > U64_MAX) throw new NormLensError('format', `${where}: ${what} contains ${v.text}, which does not fit in 64 bits. The file is corrupt or hostile.`);
    return n;
  });
}

/** `[2, 3]` for messages. */
function listText(values: readonly bigint[]): string {
  return `[${values.join(', ')}]`;
}

/**
 * Opens a .safetensors file, applying every validation rule of the reference implementation
 * (`read_metadata` / `validate`): header length at most 100,000,000 bytes and inside the file,
 * strict JSON with no duplicate keys, known dtypes, offsets sorted and contiguous from 0 with no
 * gaps or overlaps, byte sizes matching shape × dtype with overflow checks, and the data buffer
 * ending exactly at the end of the file. `__metadata__` becomes `Dump.metadata`.
 */
export async function openSafetensors(source: ByteSource, options: ResolvedOpenOptions): Promise<Dump> {
  const where = source.description;
  if (source.size < 8) {
    throw new NormLensError('format', `${where}: only ${countOf(source.size, 'byte')}, too short for a .safetensors file (8-byte header length). The file is truncated.`);
  }
  const lengthBytes = await source.read(0, 8);
  const headerLengthBig = new DataView(lengthBytes.buffer, lengthBytes.byteOffset, 8).getBigUint64(0, true);
  const limit = options.limits.maxSafetensorsHeaderBytes;
  if (headerLengthBig > BigInt(limit)) {
    throw new NormLensError('limit', `${where}: the safetensors header claims ${headerLengthBig} bytes, over the ${limit}-byte limit of the reference implementation. The file is corrupt, hostile, or not a .safetensors file.`);
  }
  const headerLength = Number(headerLengthBig);
  if (8 + headerLength > source.size) {
    throw new NormLensError('format', `${where}: the safetensors header claims ${headerLength} bytes but the file has only ${countOf(source.size - 8, 'byte')} after the length field. The file is truncated or not a .safetensors file.`);
  }
  const headerBytes = await source.read(8, headerLength);
  const parser = new JsonBytesParser(headerBytes, `${where}: safetensors header`, options.limits.maxJsonDepth, false, true);
  if (parser.peek() !== 0x7b) parser.fail('the header must be a JSON object');
  const header = parser.parseValue();
  parser.expectEnd();
  if (!(header instanceof Map)) throw new NormLensError('format', `${where}: the safetensors header is not a JSON object.`);

  const metadata: Record<string, string> = {};
  const entries: ParsedEntry[] = [];
  for (const [name, value] of header) {
    const at = `${where}: tensor '${name}'`;
    if (name === '__metadata__') {
      if (value === null) continue;
      if (!(value instanceof Map)) throw new NormLensError('format', `${where}: __metadata__ must be an object of strings. The header is invalid.`);
      for (const [key, text] of value) {
        if (typeof text !== 'string') throw new NormLensError('format', `${where}: __metadata__['${key}'] must be a string (safetensors metadata is string to string). The header is invalid.`);
        metadata[key] = text;
      }
      continue;
    }
    if (!(value instanceof Map)) throw new NormLensError('format', `${at}: the entry must be an object with dtype, shape and data_offsets. The header is invalid.`);
    const dtypeName = value.get('dtype');
    if (typeof dtypeName !== 'string') throw new NormLensError('format', `${at}: missing or non-string 'dtype'. The header is invalid.`);
    const supported = SAFETENSORS_DTYPES[dtypeName];
    let entryDtype: DType;
    let bits: number;
    let unsupported: ParsedEntry['unsupported'];
    if (supported) {
      entryDtype = supported;
      bits = DTYPE_ITEMSIZE[supported] * 8;
    } else if (KNOWN_UNSUPPORTED[dtypeName] !== undefined) {
      // Valid safetensors that NormLens does not decode: listed, so the file's other tensors stay usable.
      entryDtype = 'unsupported';
      bits = KNOWN_UNSUPPORTED[dtypeName]!;
      unsupported = {
        dtype: dtypeName,
        reason:
          dtypeName === 'C64'
            ? 'dtype C64 is valid safetensors but not supported (complex64; NormLens analyzes real numbers). Save tensor.real and tensor.imag as separate tensors.'
            : `dtype ${dtypeName} is valid safetensors but not supported by NormLens (supported: ${Object.keys(SAFETENSORS_DTYPES).join(' ')}). Convert it, e.g. tensor.to(torch.float32), before saving.`,
      };
    } else {
      throw new NormLensError('format', `${at}: unknown dtype '${dtypeName}'. The header is invalid (or written by a newer safetensors version).`);
    }
    const shape = unsignedIntegers(value.get('shape'), "'shape'", at);
    const offsets = unsignedIntegers(value.get('data_offsets'), "'data_offsets'", at);
    if (offsets.length !== 2) throw new NormLensError('format', `${at}: 'data_offsets' must be [begin, end]. The header is invalid.`);
    entries.push({ name, dtype: entryDtype, bits, shape, begin: offsets[0]!, end: offsets[1]!, ...(unsupported ? { unsupported } : {}) });
  }

  // Reference `validate`: sorted by offsets, contiguous from 0, sizes matching with checked 64-bit
  // arithmetic (a zero dimension makes any shape empty: [0, 2^64-1] is valid), buffer fully used.
  const sorted = [...entries].sort((a, b) => (a.begin !== b.begin ? (a.begin < b.begin ? -1 : 1) : a.end < b.end ? -1 : a.end > b.end ? 1 : 0));
  let expectedBegin = 0n;
  const infos = new Map<string, TensorInfo>();
  for (const entry of sorted) {
    const at = `${where}: tensor '${entry.name}'`;
    if (entry.begin !== expectedBegin || entry.end < entry.begin) {
      const problem =
        entry.end < entry.begin
          ? 'ends before it begins'
          : entry.begin > expectedBegin
            ? `leaves a gap of ${countOf(entry.begin - expectedBegin, 'byte')} before it`
            : `overlaps the previous tensor by ${countOf(expectedBegin - entry.begin, 'byte')}`;
      throw new NormLensError('format', `${at}: invalid data_offsets [${entry.begin}, ${entry.end}]: it ${problem} (tensors must be packed back to back from offset 0). The file is corrupt.`);
    }
    let count = 1n;
    for (const dim of entry.shape) {
      count *= dim;
      if (count > U64_MAX) {
        throw new NormLensError('format', `${at}: shape ${listText(entry.shape)} claims more than 2^53 elements (its product even overflows 64 bits, which the reference refuses too); the header is corrupt or hostile.`);
      }
    }
    const totalBits = count * BigInt(entry.bits);
    if (totalBits > U64_MAX) {
      throw new NormLensError('format', `${at}: shape ${listText(entry.shape)} of ${entry.unsupported?.dtype ?? entry.dtype} needs more than 2^64 bits (overflow); the header is corrupt or hostile.`);
    }
    if (totalBits % 8n !== 0n) {
      throw new NormLensError('format', `${at}: shape ${listText(entry.shape)} of ${entry.unsupported?.dtype ?? entry.dtype} is ${totalBits} bits, not a whole number of bytes. The header is invalid.`);
    }
    const byteLength = totalBits / 8n;
    if (entry.end - entry.begin !== byteLength) {
      throw new NormLensError('format', `${at}: data_offsets [${entry.begin}, ${entry.end}] span ${countOf(entry.end - entry.begin, 'byte')}, but shape ${listText(entry.shape)} of ${entry.unsupported?.dtype ?? entry.dtype} needs ${byteLength}. The header is invalid.`);
    }
    if (count > SAFE_MAX) {
      const big = entry.shape.find((d) => d > SAFE_MAX);
      throw new NormLensError(
        'format',
        big !== undefined
          ? `${at}: 'shape' contains ${big}, beyond 2^53 (NormLens counts elements in doubles). The file is corrupt or hostile.`
          : `${at}: shape ${listText(entry.shape)} claims ${count} elements, more than 2^53; the header is corrupt or hostile.`,
      );
    }
    if (entry.end > SAFE_MAX) {
      throw new NormLensError('format', `${at}: 'data_offsets' contains ${entry.end}, beyond 2^53. The file is corrupt or hostile.`);
    }
    expectedBegin = entry.end;
    infos.set(entry.name, {
      name: entry.name,
      dtype: entry.dtype,
      shape: entry.shape.map(Number),
      size: Number(count),
      byteLength: Number(byteLength),
      ...(entry.unsupported ? { unsupported: entry.unsupported } : {}),
    });
  }
  const dataStart = 8 + headerLength;
  if (BigInt(dataStart) + expectedBegin !== BigInt(source.size)) {
    const diff = source.size - dataStart - Number(expectedBegin);
    throw new NormLensError(
      'format',
      diff > 0
        ? `${where}: ${countOf(diff, 'unexpected byte')} after the last tensor (the header describes ${describeBytes(Number(expectedBegin))} of data). The file is corrupt; re-save it with safetensors.`
        : `${where}: the header describes ${describeBytes(Number(expectedBegin))} of data but only ${describeBytes(source.size - dataStart)} follow it. The file is truncated.`,
    );
  }
  const reader = sourceReader(source);
  const tensors: TensorHandle[] = entries.map((entry) => {
    const info = infos.get(entry.name)!;
    if (info.unsupported) return unsupportedTensorHandle(info, where);
    return contiguousTensorHandle(info, reader, dataStart + Number(entry.begin), DTYPE_ITEMSIZE[info.dtype], true);
  });
  return { format: 'safetensors', tensors, metadata };
}

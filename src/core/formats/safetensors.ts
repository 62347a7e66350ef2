import { NormLensError } from '../errors';
import type { ByteSource } from '../io/byteSource';
import { DTYPE_ITEMSIZE } from './dtypes';
import { JsonBytesParser, type JsonValue } from './jsonBytes';
import { describeBytes, type ResolvedOpenOptions } from './options';
import { checkedByteLength, checkedElementCount, contiguousTensorHandle, type ByteRangeReader } from './tensorHandle';
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

/** Valid safetensors dtypes that NormLens does not decode. */
const KNOWN_UNSUPPORTED = new Set(['F4', 'F6_E2M3', 'F6_E3M2', 'F8_E8M0', 'F8_E4M3FNUZ', 'F8_E5M2FNUZ', 'C64']);

interface ParsedEntry {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: number[];
  readonly begin: number;
  readonly end: number;
}

function nonNegativeIntegers(value: JsonValue | undefined, what: string, where: string): number[] {
  if (!Array.isArray(value)) throw new NormLensError('format', `${where}: ${what} must be an array of integers. The header is invalid.`);
  return value.map((v) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
      throw new NormLensError('format', `${where}: ${what} must contain integers >= 0, found ${JSON.stringify(v)}. The header is invalid.`);
    }
    if (!Number.isSafeInteger(v)) throw new NormLensError('format', `${where}: ${what} contains ${v}, beyond 2^53 (arithmetic overflow). The file is corrupt or hostile.`);
    return v;
  });
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
    throw new NormLensError('format', `${where}: only ${source.size} bytes, too short for a .safetensors file (8-byte header length). The file is truncated.`);
  }
  const lengthBytes = await source.read(0, 8);
  const headerLengthBig = new DataView(lengthBytes.buffer, lengthBytes.byteOffset, 8).getBigUint64(0, true);
  const limit = options.limits.maxSafetensorsHeaderBytes;
  if (headerLengthBig > BigInt(limit)) {
    throw new NormLensError('limit', `${where}: the safetensors header claims ${headerLengthBig} bytes, over the ${limit}-byte limit of the reference implementation. The file is corrupt, hostile, or not a .safetensors file.`);
  }
  const headerLength = Number(headerLengthBig);
  if (8 + headerLength > source.size) {
    throw new NormLensError('format', `${where}: the safetensors header claims ${headerLength} bytes but the file has only ${source.size - 8} after the length field. The file is truncated or not a .safetensors file.`);
  }
  const headerBytes = await source.read(8, headerLength);
  const parser = new JsonBytesParser(headerBytes, `${where}: safetensors header`, options.limits.maxJsonDepth, false);
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
    const dtype = SAFETENSORS_DTYPES[dtypeName];
    if (!dtype) {
      if (KNOWN_UNSUPPORTED.has(dtypeName)) {
        throw new NormLensError('unsupported', `${at}: dtype ${dtypeName} is valid safetensors but not supported by NormLens (supported: ${Object.keys(SAFETENSORS_DTYPES).join(' ')}). Convert it, e.g. tensor.to(torch.float32), before saving.`);
      }
      throw new NormLensError('format', `${at}: unknown dtype '${dtypeName}'. The header is invalid (or written by a newer safetensors version).`);
    }
    const shape = nonNegativeIntegers(value.get('shape'), "'shape'", at);
    const offsets = nonNegativeIntegers(value.get('data_offsets'), "'data_offsets'", at);
    if (offsets.length !== 2) throw new NormLensError('format', `${at}: 'data_offsets' must be [begin, end]. The header is invalid.`);
    entries.push({ name, dtype, shape, begin: offsets[0]!, end: offsets[1]! });
  }

  // Reference `validate`: sorted by offsets, contiguous from 0, sizes matching, buffer fully used.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expectedBegin = 0;
  const infos = new Map<string, TensorInfo>();
  for (const entry of sorted) {
    const at = `${where}: tensor '${entry.name}'`;
    if (entry.begin !== expectedBegin || entry.end < entry.begin) {
      const problem = entry.end < entry.begin ? 'ends before it begins' : entry.begin > expectedBegin ? `leaves a gap of ${entry.begin - expectedBegin} bytes before it` : `overlaps the previous tensor by ${expectedBegin - entry.begin} bytes`;
      throw new NormLensError('format', `${at}: invalid data_offsets [${entry.begin}, ${entry.end}]: it ${problem} (tensors must be packed back to back from offset 0). The file is corrupt.`);
    }
    const size = checkedElementCount(entry.shape, at);
    const byteLength = checkedByteLength(size, DTYPE_ITEMSIZE[entry.dtype], at);
    if (entry.end - entry.begin !== byteLength) {
      throw new NormLensError('format', `${at}: data_offsets [${entry.begin}, ${entry.end}] span ${entry.end - entry.begin} bytes, but shape [${entry.shape.join(', ')}] of ${entry.dtype} needs ${byteLength}. The header is invalid.`);
    }
    expectedBegin = entry.end;
    infos.set(entry.name, { name: entry.name, dtype: entry.dtype, shape: entry.shape, size, byteLength });
  }
  const dataStart = 8 + headerLength;
  if (dataStart + expectedBegin !== source.size) {
    const diff = source.size - dataStart - expectedBegin;
    throw new NormLensError(
      'format',
      diff > 0
        ? `${where}: ${diff} unexpected bytes after the last tensor (the header describes ${describeBytes(expectedBegin)} of data). The file is corrupt; re-save it with safetensors.`
        : `${where}: the header describes ${describeBytes(expectedBegin)} of data but only ${describeBytes(source.size - dataStart)} follow it. The file is truncated.`,
    );
  }
  const reader: ByteRangeReader = { size: source.size, randomAccess: true, read: (offset, length) => source.read(offset, length) };
  const tensors: TensorHandle[] = entries.map((entry) => {
    const info = infos.get(entry.name)!;
    return contiguousTensorHandle(info, reader, dataStart + entry.begin, DTYPE_ITEMSIZE[info.dtype], true);
  });
  return { format: 'safetensors', tensors, metadata };
}

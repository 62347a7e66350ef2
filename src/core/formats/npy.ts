import { NormLensError } from '../errors';
import { allocateDecoded, decodeElements, decodesToFloat32, DTYPE_ITEMSIZE } from './dtypes';
import { parseNpyDescr, parseNpyHeaderText } from './npyHeader';
import { describeBytes, type ResolvedOpenOptions } from './options';
import { checkedByteLength, checkedElementCount, checkElementRange, contiguousTensorHandle, countOf, READ_CHUNK_BYTES, unsupportedTensorHandle, type ByteRangeReader } from './tensorHandle';
import type { DecodedValues, TensorHandle, TensorInfo } from './types';

/** The npy magic string `\x93NUMPY`. */
export const NPY_MAGIC = new Uint8Array([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);

/** True when `bytes` starts with the npy magic. */
export function hasNpyMagic(bytes: Uint8Array): boolean {
  return bytes.length >= 6 && NPY_MAGIC.every((b, i) => bytes[i] === b);
}

/** Where an npy array's data lives and how to decode it; what the header says. */
export interface NpyLayout {
  readonly info: TensorInfo;
  readonly littleEndian: boolean;
  readonly fortranOrder: boolean;
  /** Byte offset of the first element. */
  readonly dataOffset: number;
  /** dataOffset + byteLength: the exact size the file (or npz member) must have. */
  readonly totalBytes: number;
}

/** `(3,)`, `(2, 4)`, `()`: a shape written the way numpy prints it. */
function pythonShape(shape: readonly number[]): string {
  return `(${shape.join(', ')}${shape.length === 1 ? ',' : ''})`;
}

function latin1(bytes: Uint8Array): string {
  let text = '';
  for (let i = 0; i < bytes.length; i += 4096) text += String.fromCharCode(...bytes.subarray(i, i + 4096));
  return text;
}

/**
 * Reads and validates the npy prologue (magic, version, header) from `reader`, without reading
 * the data. The header length is bounded before the header is read. `where` names the file (or
 * npz member) in messages.
 */
export async function readNpyLayout(reader: ByteRangeReader, name: string, options: ResolvedOpenOptions, where: string, allowTrailingBytes = false): Promise<NpyLayout> {
  if (reader.size < 10) {
    throw new NormLensError('format', `${where}: only ${countOf(reader.size, 'byte')}, too short for an .npy file (at least 10 bytes of prologue). The file is truncated.`);
  }
  const prologue = await reader.read(0, Math.min(reader.size, 12));
  if (!hasNpyMagic(prologue)) {
    const seen = [...prologue.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new NormLensError('format', `${where}: not an .npy file: it should start with the bytes 93 4e 55 4d 50 59 ("\\x93NUMPY") but starts with ${seen}. Check the file, or save it with numpy.save.`);
  }
  const major = prologue[6]!;
  const minor = prologue[7]!;
  if (!((major === 1 || major === 2 || major === 3) && minor === 0)) {
    throw new NormLensError('unsupported', `${where}: unknown .npy format version ${major}.${minor} (numpy reads 1.0, 2.0 and 3.0). Re-save the array with numpy.save.`);
  }
  let headerLength: number;
  let prefixLength: number;
  if (major === 1) {
    headerLength = prologue[8]! | (prologue[9]! << 8);
    prefixLength = 10;
  } else {
    if (prologue.length < 12) throw new NormLensError('format', `${where}: the .npy prologue is truncated (${countOf(reader.size, 'byte')}).`);
    headerLength = (prologue[8]! | (prologue[9]! << 8) | (prologue[10]! << 16) | (prologue[11]! << 24)) >>> 0;
    prefixLength = 12;
  }
  const maxHeader = options.limits.maxNpyHeaderBytes;
  if (headerLength > maxHeader) {
    throw new NormLensError('limit', `${where}: the .npy header claims ${headerLength} bytes, over the limit of ${maxHeader} (numpy's max_header_size). The file is corrupt or hostile; if it is genuine, raise the maxNpyHeaderBytes limit.`);
  }
  if (prefixLength + headerLength > reader.size) {
    throw new NormLensError('format', `${where}: the .npy header claims ${headerLength} bytes but the file has only ${countOf(reader.size - prefixLength, 'byte')} after the prologue. The file is truncated.`);
  }
  const headerBytes = await reader.read(prefixLength, headerLength);
  let headerText: string;
  if (major === 3) {
    try {
      headerText = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
    } catch {
      throw new NormLensError('format', `${where}: the version 3.0 .npy header is not valid UTF-8. The file is corrupt.`);
    }
  } else {
    headerText = latin1(headerBytes);
  }
  const header = parseNpyHeaderText(headerText, where);
  const parsed = parseNpyDescr(header.descr, options.bf16FromUint16, where, header.descrKind);
  const { dtype, littleEndian } = parsed;
  const dataOffset = prefixLength + headerLength;
  const size = checkedElementCount(header.shape, where);
  if (parsed.unsupported && parsed.itemSize === undefined) {
    // Object (pickle) or structured data: its length is not known without interpreting it, and it
    // is never read. Listed so that the file's other tensors stay usable.
    const info: TensorInfo = { name, dtype, shape: header.shape, size, byteLength: reader.size - dataOffset, unsupported: parsed.unsupported };
    return { info, littleEndian, fortranOrder: header.fortranOrder, dataOffset, totalBytes: reader.size };
  }
  const itemSize = parsed.itemSize ?? DTYPE_ITEMSIZE[dtype];
  const byteLength = checkedByteLength(size, itemSize, where);
  const totalBytes = dataOffset + byteLength;
  if (reader.size < totalBytes) {
    throw new NormLensError(
      'format',
      `${where}: the header declares shape ${pythonShape(header.shape)} of ${header.descr}, i.e. ${describeBytes(byteLength)} of data, but only ${describeBytes(reader.size - dataOffset)} follow the header. The file is truncated; re-save or re-copy it.`,
    );
  }
  const trailingBytes = reader.size - totalBytes;
  if (trailingBytes > 0 && !allowTrailingBytes) {
    throw new NormLensError(
      'format',
      `${where}: ${countOf(trailingBytes, 'unexpected byte')} after the data (the header declares shape ${pythonShape(header.shape)} of ${header.descr}, ${describeBytes(byteLength)}). The header and data disagree; re-save the array with numpy.save.`,
    );
  }
  const info: TensorInfo = {
    name,
    dtype,
    shape: header.shape,
    size,
    byteLength,
    ...(parsed.unsupported ? { unsupported: parsed.unsupported } : {}),
    ...(trailingBytes > 0 ? { trailingBytes } : {}),
  };
  return { info, littleEndian, fortranOrder: header.fortranOrder, dataOffset, totalBytes };
}

/** True when Fortran and C order lay the elements out identically (at most one dimension > 1). */
function orderIsIrrelevant(shape: readonly number[]): boolean {
  return shape.filter((d) => d > 1).length <= 1;
}

/** Reorders a column-major (Fortran) array of `shape` to row-major (C) order, bit for bit. */
export function fortranToCOrder(fortran: DecodedValues, shape: readonly number[]): DecodedValues {
  const count = fortran.length;
  const ndim = shape.length;
  // Work on integer views so NaN payloads are copied unchanged.
  const src = fortran instanceof Float32Array ? new Uint32Array(fortran.buffer, fortran.byteOffset, count) : fortran;
  const out = allocateDecoded(fortran instanceof Float32Array ? 'float32' : 'float64', count);
  const dst = out instanceof Float32Array ? new Uint32Array(out.buffer) : out;
  const fortranStrides = new Array<number>(ndim);
  let stride = 1;
  for (let d = 0; d < ndim; d++) {
    fortranStrides[d] = stride;
    stride *= shape[d]!;
  }
  const index = new Array<number>(ndim).fill(0);
  let source = 0;
  const last = ndim - 1;
  for (let i = 0; i < count; i++) {
    dst[i] = src[source]!;
    // Advance the C-order index (last axis fastest) and the matching Fortran offset.
    let d = last;
    while (d >= 0) {
      index[d]!++;
      source += fortranStrides[d]!;
      if (index[d]! < shape[d]!) break;
      source -= fortranStrides[d]! * shape[d]!;
      index[d] = 0;
      d--;
    }
  }
  return out;
}

/** A handle for a Fortran-order array: read whole (up to a limit), reordered once, then served from memory. */
function fortranTensorHandle(layout: NpyLayout, reader: ByteRangeReader, options: ResolvedOpenOptions, where: string): TensorHandle {
  const { info } = layout;
  const decodedBytes = info.size * (decodesToFloat32(info.dtype) ? 4 : 8);
  let loaded: Promise<DecodedValues> | undefined;
  const load = async (): Promise<DecodedValues> => {
    if (decodedBytes > options.limits.maxFortranOrderBytes) {
      throw new NormLensError(
        'limit',
        `${where}: the array is stored in Fortran (column-major) order and needs ${describeBytes(decodedBytes)} to reorder, over the ${describeBytes(options.limits.maxFortranOrderBytes)} limit. Re-save it in C order: np.save(path, np.ascontiguousarray(x)).`,
      );
    }
    const itemSize = DTYPE_ITEMSIZE[info.dtype];
    const chunkElements = Math.max(1, Math.floor(READ_CHUNK_BYTES / itemSize));
    const fortran = allocateDecoded(info.dtype, info.size);
    for (let start = 0; start < info.size; start += chunkElements) {
      const count = Math.min(chunkElements, info.size - start);
      const bytes = await reader.read(layout.dataOffset + start * itemSize, count * itemSize);
      fortran.set(decodeElements(bytes, info.dtype, layout.littleEndian), start);
    }
    return fortranToCOrder(fortran, info.shape);
  };
  return {
    info,
    randomAccess: true,
    async read(start: number, count: number): Promise<DecodedValues> {
      checkElementRange(info, start, count);
      loaded ??= load();
      try {
        return (await loaded).subarray(start, start + count);
      } catch (e) {
        loaded = undefined;
        throw e;
      }
    },
  };
}

/** Opens one npy array (a whole file or an npz member) as a TensorHandle. */
export async function openNpyTensor(reader: ByteRangeReader, name: string, options: ResolvedOpenOptions, where: string, allowTrailingBytes = false): Promise<TensorHandle> {
  const layout = await readNpyLayout(reader, name, options, where, allowTrailingBytes);
  return npyTensorFromLayout(layout, reader, options, where);
}

/** Builds the handle for an already validated npy layout. */
export function npyTensorFromLayout(layout: NpyLayout, reader: ByteRangeReader, options: ResolvedOpenOptions, where: string): TensorHandle {
  if (layout.info.unsupported) return unsupportedTensorHandle(layout.info, where);
  if (layout.fortranOrder && !orderIsIrrelevant(layout.info.shape)) return fortranTensorHandle(layout, reader, options, where);
  return contiguousTensorHandle(layout.info, reader, layout.dataOffset, DTYPE_ITEMSIZE[layout.info.dtype], layout.littleEndian);
}

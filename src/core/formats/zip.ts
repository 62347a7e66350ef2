import { NormLensError } from '../errors';
import type { ByteSource } from '../io/byteSource';
import { countOf } from './tensorHandle';

/** One member of a zip archive, as its central directory (and local header) describe it. */
export interface ZipEntry {
  readonly name: string;
  /** 0 = stored, 8 = deflate. */
  readonly method: number;
  readonly flags: number;
  readonly crc32: number;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
  readonly localHeaderOffset: number;
}

const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;

/** Code page 437 for bytes 0x80-0xFF: zip names without the UTF-8 flag (bit 11) use it. */
const CP437_HIGH =
  'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0';

function decodeName(bytes: Uint8Array, utf8: boolean, where: string): string {
  if (utf8) {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      throw new NormLensError('format', `${where}: a member name is flagged UTF-8 but is not valid UTF-8. The archive is corrupt.`);
    }
  }
  let name = '';
  for (const b of bytes) name += b < 0x80 ? String.fromCharCode(b) : CP437_HIGH[b - 0x80];
  return name;
}

/** Reads a little-endian u64 as a Number, refusing values beyond 2^53 (no real archive is that large). */
function u64(view: DataView, offset: number, what: string, where: string): number {
  const value = view.getBigUint64(offset, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new NormLensError('format', `${where}: the zip ${what} is ${value}, beyond 2^53. The archive is corrupt or hostile.`);
  }
  return Number(value);
}

function dataView(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Reads the central directory of the zip archive in `source` (zip64 included: end-of-central-
 * directory record, zip64 locator and record, zip64 extra fields). Multi-disk and encrypted
 * archives are refused. Member data offsets are not resolved here; see `zipMemberDataOffset`.
 */
export async function readZipDirectory(source: ByteSource, maxEntries: number): Promise<ZipEntry[]> {
  const where = source.description;
  if (source.size < EOCD_SIZE) {
    throw new NormLensError('format', `${where}: only ${countOf(source.size, 'byte')}, too short for a zip (.npz) archive. The file is truncated.`);
  }
  const tailLength = Math.min(source.size, EOCD_SIZE + MAX_COMMENT);
  const tailStart = source.size - tailLength;
  const tail = await source.read(tailStart, tailLength);
  const tailView = dataView(tail);
  let eocd = -1;
  for (let i = tail.length - EOCD_SIZE; i >= 0; i--) {
    if (tailView.getUint32(i, true) === SIG_EOCD && i + EOCD_SIZE + tailView.getUint16(i + 20, true) <= tail.length) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) {
    throw new NormLensError('format', `${where}: no zip end-of-central-directory record found; the .npz file is truncated or not a zip archive. Re-create it with numpy.savez.`);
  }
  const eocdOffset = tailStart + eocd;
  let diskNumber = tailView.getUint16(eocd + 4, true);
  let directoryDisk = tailView.getUint16(eocd + 6, true);
  let entryCount = tailView.getUint16(eocd + 10, true);
  let directorySize = tailView.getUint32(eocd + 12, true);
  let directoryOffset = tailView.getUint32(eocd + 16, true);
  let directoryEnd = eocdOffset;

  // zip64: a locator sits just before the EOCD and points at the zip64 EOCD record.
  if (eocdOffset >= 20) {
    const locator = await source.read(eocdOffset - 20, 20);
    const locatorView = dataView(locator);
    if (locatorView.getUint32(0, true) === SIG_ZIP64_LOCATOR) {
      const recordOffset = u64(locatorView, 8, 'zip64 record offset', where);
      if (locatorView.getUint32(16, true) > 1) throw new NormLensError('unsupported', `${where}: multi-disk (split) zip archives are not supported. Join the parts into one .npz.`);
      if (recordOffset + 56 > eocdOffset - 20) {
        throw new NormLensError('format', `${where}: the zip64 locator points outside the archive (offset ${recordOffset}). The file is corrupt.`);
      }
      const record = await source.read(recordOffset, 56);
      const recordView = dataView(record);
      if (recordView.getUint32(0, true) !== SIG_ZIP64_EOCD) {
        throw new NormLensError('format', `${where}: the zip64 end-of-central-directory record is missing at offset ${recordOffset}. The file is corrupt.`);
      }
      diskNumber = recordView.getUint32(16, true);
      directoryDisk = recordView.getUint32(20, true);
      entryCount = u64(recordView, 32, 'entry count', where);
      directorySize = u64(recordView, 40, 'central directory size', where);
      directoryOffset = u64(recordView, 48, 'central directory offset', where);
      directoryEnd = recordOffset;
    }
  }
  if (diskNumber !== 0 || directoryDisk !== 0) {
    throw new NormLensError('unsupported', `${where}: multi-disk (split) zip archives are not supported. Join the parts into one .npz.`);
  }
  if (entryCount > maxEntries) {
    throw new NormLensError('limit', `${where}: the archive lists ${entryCount} members, over the limit of ${maxEntries}. Split the dump, or raise the maxZipEntries limit.`);
  }
  if (directoryOffset + directorySize > directoryEnd || directorySize < entryCount * 46) {
    throw new NormLensError(
      'format',
      `${where}: the zip central directory (${directorySize} bytes at offset ${directoryOffset} for ${entryCount} members) does not fit before its end record at ${directoryEnd}. The file is truncated or corrupt.`,
    );
  }
  const directory = await source.read(directoryOffset, directorySize);
  const view = dataView(directory);
  const entries: ZipEntry[] = [];
  const seen = new Set<string>();
  let p = 0;
  for (let index = 0; index < entryCount; index++) {
    if (p + 46 > directory.length || view.getUint32(p, true) !== SIG_CENTRAL) {
      throw new NormLensError('format', `${where}: zip central directory entry ${index} is damaged (bad signature at offset ${directoryOffset + p}). The file is corrupt.`);
    }
    const flags = view.getUint16(p + 8, true);
    const method = view.getUint16(p + 10, true);
    const crc32 = view.getUint32(p + 16, true);
    let compressedSize = view.getUint32(p + 20, true);
    let uncompressedSize = view.getUint32(p + 24, true);
    const nameLength = view.getUint16(p + 28, true);
    const extraLength = view.getUint16(p + 30, true);
    const commentLength = view.getUint16(p + 32, true);
    const startDisk = view.getUint16(p + 34, true);
    let localHeaderOffset = view.getUint32(p + 42, true);
    const end = p + 46 + nameLength + extraLength + commentLength;
    if (end > directory.length) throw new NormLensError('format', `${where}: zip central directory entry ${index} runs past the directory. The file is corrupt.`);
    const name = decodeName(directory.subarray(p + 46, p + 46 + nameLength), (flags & 0x800) !== 0, where);
    // zip64 extra field (id 1): 8-byte values for each 32-bit field that is 0xFFFFFFFF, in this order.
    let extra = p + 46 + nameLength;
    const extraEnd = extra + extraLength;
    while (extra + 4 <= extraEnd) {
      const id = view.getUint16(extra, true);
      const size = view.getUint16(extra + 2, true);
      if (extra + 4 + size > extraEnd) throw new NormLensError('format', `${where}: member '${name}' has a damaged extra field. The file is corrupt.`);
      if (id === 0x0001) {
        let q = extra + 4;
        const take = (what: string): number => {
          if (q + 8 > extra + 4 + size) throw new NormLensError('format', `${where}: member '${name}' has a short zip64 extra field (missing the ${what}). The file is corrupt.`);
          const value = u64(view, q, what, where);
          q += 8;
          return value;
        };
        if (uncompressedSize === 0xffffffff) uncompressedSize = take('uncompressed size');
        if (compressedSize === 0xffffffff) compressedSize = take('compressed size');
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = take('local header offset');
      }
      extra += 4 + size;
    }
    if (startDisk !== 0 && startDisk !== 0xffff) throw new NormLensError('unsupported', `${where}: multi-disk (split) zip archives are not supported.`);
    if (seen.has(name)) throw new NormLensError('format', `${where}: the archive contains the member '${name}' twice; it is ambiguous which one to read. Re-create the .npz.`);
    seen.add(name);
    entries.push({ name, method, flags, crc32, compressedSize, uncompressedSize, localHeaderOffset });
    p = end;
  }
  return entries;
}

/**
 * Offset of a member's data: after its local header, whose name and extra lengths may differ from
 * the central directory's. Checks the data lies inside the file.
 */
export async function zipMemberDataOffset(source: ByteSource, entry: ZipEntry): Promise<number> {
  const where = `${source.description}: member '${entry.name}'`;
  if (entry.localHeaderOffset + 30 > source.size) throw new NormLensError('format', `${where}: the local header offset ${entry.localHeaderOffset} is past the end of the file. The archive is truncated or corrupt.`);
  const header = await source.read(entry.localHeaderOffset, 30);
  const view = dataView(header);
  if (view.getUint32(0, true) !== SIG_LOCAL) throw new NormLensError('format', `${where}: no local file header at offset ${entry.localHeaderOffset}. The archive is corrupt.`);
  const dataOffset = entry.localHeaderOffset + 30 + view.getUint16(26, true) + view.getUint16(28, true);
  if (dataOffset + entry.compressedSize > source.size) {
    throw new NormLensError('format', `${where}: the member data (${entry.compressedSize} bytes at offset ${dataOffset}) runs past the end of the file (${source.size} bytes). The archive is truncated.`);
  }
  return dataOffset;
}

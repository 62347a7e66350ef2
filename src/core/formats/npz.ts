import { NormLensError } from '../errors';
import type { ByteSource } from '../io/byteSource';
import { crc32Update } from '../io/crc32';
import { ForwardInflater, hex } from '../io/inflate';
import { hasNpyMagic, npyTensorFromLayout, readNpyLayout } from './npy';
import type { ResolvedOpenOptions } from './options';
import type { ByteRangeReader } from './tensorHandle';
import type { Dump, TensorHandle } from './types';
import { readZipDirectory, zipMemberDataOffset, type ZipEntry } from './zip';

/** Raw deflate cannot expand data by more than about 1032:1; a member claiming more is lying. */
const MAX_DEFLATE_RATIO = 1032;

/**
 * A stored (uncompressed) member: random access straight into the file. The CRC-32 is checked
 * whenever the member is read front to back (as openDump's users stream it).
 */
class StoredMemberReader implements ByteRangeReader {
  readonly randomAccess = true;
  readonly size: number;
  private crcPosition = 0;
  private crc = 0;

  constructor(
    private readonly source: ByteSource,
    private readonly dataOffset: number,
    private readonly entry: ZipEntry,
    private readonly where: string,
  ) {
    this.size = entry.uncompressedSize;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (offset < 0 || length < 0 || offset + length > this.size) {
      throw new NormLensError('format', `${this.where}: invalid read of ${length} bytes at offset ${offset} (the member has ${this.size}).`);
    }
    const bytes = await this.source.read(this.dataOffset + offset, length);
    if (offset <= this.crcPosition && offset + length > this.crcPosition) {
      this.crc = crc32Update(this.crc, bytes.subarray(this.crcPosition - offset));
      this.crcPosition = offset + length;
      if (this.crcPosition === this.size && this.crc !== this.entry.crc32) {
        const actual = this.crc;
        this.crc = 0;
        this.crcPosition = 0;
        throw new NormLensError(
          'format',
          `${this.where}: CRC-32 mismatch (the archive says ${hex(this.entry.crc32)}, the data gives ${hex(actual)}); the file is corrupt. Re-create or re-download it.`,
        );
      }
    }
    return bytes;
  }
}

function describeMethod(method: number): string {
  const names: Record<number, string> = { 1: 'shrink', 6: 'implode', 9: 'deflate64', 12: 'bzip2', 14: 'lzma', 93: 'zstd', 95: 'xz', 99: 'AES encryption' };
  return names[method] ? `${method} (${names[method]})` : String(method);
}

/** A member holding string -> string metadata (like safetensors' `__metadata__`); the capture helper writes it. */
export const NPZ_METADATA_MEMBER = '__metadata__.json';
const MAX_NPZ_METADATA_BYTES = 16 * 1024 * 1024;

/** The `__metadata__.json` member as a string map; anything else in it is refused with one clear error. */
function npzMetadata(bytes: Uint8Array, description: string): Record<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new NormLensError('format', `${description}: member '${NPZ_METADATA_MEMBER}' is not UTF-8 JSON. It should hold a JSON object of strings (like safetensors' __metadata__); re-create the .npz or remove the member.`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed) || Object.values(parsed).some((v) => typeof v !== 'string')) {
    throw new NormLensError('format', `${description}: member '${NPZ_METADATA_MEMBER}' must hold a JSON object of strings (like safetensors' __metadata__); re-create the .npz or remove the member.`);
  }
  return { ...(parsed as Record<string, string>) };
}

/**
 * Opens an .npz archive: each `.npy` member is one tensor named after the member without `.npy`.
 * A `__metadata__.json` member (a JSON object of strings) becomes the dump's metadata. Other members (not named `*.npy` and not npy arrays) are skipped and listed in
 * `metadata['npz.skipped']`; a member named `*.npy` that is not an npy array is an error. A member of a
 * dtype NormLens does not decode is listed as unsupported (TensorInfo.unsupported).
 */
export async function openNpz(source: ByteSource, options: ResolvedOpenOptions): Promise<Dump> {
  const entries = await readZipDirectory(source, options.limits.maxZipEntries);
  const tensors: TensorHandle[] = [];
  const skipped: string[] = [];
  let metadataMember: Uint8Array | undefined;
  const names = new Set<string>();
  for (const entry of entries) {
    if (entry.name.endsWith('/')) continue; // a folder entry
    const where = `${source.description}: member '${entry.name}'`;
    if (entry.flags & 0x1) throw new NormLensError('unsupported', `${where} is encrypted; NormLens reads only unencrypted .npz files.`);
    const dataOffset = await zipMemberDataOffset(source, entry);
    let reader: ByteRangeReader;
    let inflater: ForwardInflater | undefined;
    if (entry.method === 0) {
      if (entry.compressedSize !== entry.uncompressedSize) {
        throw new NormLensError('format', `${where}: a stored (uncompressed) member with different sizes (${entry.compressedSize} vs ${entry.uncompressedSize}). The archive is corrupt.`);
      }
      reader = new StoredMemberReader(source, dataOffset, entry, where);
    } else if (entry.method === 8) {
      if (entry.uncompressedSize > entry.compressedSize * MAX_DEFLATE_RATIO + 1024) {
        throw new NormLensError(
          'format',
          `${where}: claims ${entry.uncompressedSize} bytes from ${entry.compressedSize} compressed bytes, more than deflate can produce (a zip bomb or a corrupt archive). Re-create the .npz.`,
        );
      }
      inflater = new ForwardInflater({
        source,
        compressedOffset: dataOffset,
        compressedSize: entry.compressedSize,
        uncompressedSize: entry.uncompressedSize,
        crc32: entry.crc32,
        where,
      });
      reader = inflater;
    } else {
      throw new NormLensError('unsupported', `${where} uses zip compression method ${describeMethod(entry.method)}; NormLens reads stored and deflate members (what numpy.savez and savez_compressed write).`);
    }
    try {
      const head = await reader.read(0, Math.min(6, reader.size));
      if (!hasNpyMagic(head)) {
        if (entry.name.toLowerCase().endsWith('.npy')) {
          const seen = [...head].map((b) => b.toString(16).padStart(2, '0')).join(' ') || 'nothing (the member is empty)';
          throw new NormLensError(
            'format',
            `${where} is named like an .npy array but is not one: it should start with the bytes 93 4e 55 4d 50 59 ("\\x93NUMPY") but starts with ${seen}. The archive is corrupt or was not written by numpy.savez; re-create it, or rename the member if it is not an array.`,
          );
        }
        if (entry.name === NPZ_METADATA_MEMBER && reader.size <= MAX_NPZ_METADATA_BYTES) {
          metadataMember = await reader.read(0, reader.size);
          continue;
        }
        skipped.push(entry.name);
        continue;
      }
      const name = entry.name.endsWith('.npy') ? entry.name.slice(0, -4) : entry.name;
      if (names.has(name)) throw new NormLensError('format', `${where}: two members are both named '${name}'. Re-create the .npz with distinct names.`);
      names.add(name);
      const layout = await readNpyLayout(reader, name, options, where);
      tensors.push(npyTensorFromLayout(layout, reader, options, where));
    } finally {
      inflater?.release();
    }
  }
  const metadata: Record<string, string> = metadataMember ? npzMetadata(metadataMember, source.description) : {};
  if (skipped.length > 0) metadata['npz.skipped'] = `members that are not .npy arrays: ${skipped.join(', ')}`;
  return { format: 'npz', tensors, metadata };
}

import { NormLensError, isNormLensError } from '../errors';
import type { ByteSource } from '../io/byteSource';
import { openJsonDump } from './jsonDump';
import { hasNpyMagic, openNpyTensor } from './npy';
import { openNpz } from './npz';
import { resolveOpenOptions, type OpenDumpOptions, type ResolvedOpenOptions } from './options';
import { openSafetensors } from './safetensors';
import { sourceReader } from './tensorHandle';
import type { DecodedValues, Dump, DumpFormat, TensorHandle } from './types';

export { DEFAULT_LIMITS, type DumpLimits, type OpenDumpOptions } from './options';

/** The tensor name of a lone .npy file. */
export const NPY_TENSOR_NAME = 'array';

const EXTENSIONS: Record<string, DumpFormat> = { npy: 'npy', npz: 'npz', safetensors: 'safetensors', json: 'json' };

function isJsonWhitespace(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

/**
 * Guesses the format from the first bytes: npy magic, zip signatures, a plausible safetensors
 * header length followed by `{`, or JSON (`{`/`[` after whitespace or a BOM). Falls back on the
 * file extension of `description`, and returns undefined when neither says anything.
 */
export function detectFormat(head: Uint8Array, fileSize: number, description: string): DumpFormat | undefined {
  if (hasNpyMagic(head)) return 'npy';
  if (head[0] === 0x50 && head[1] === 0x4b && ((head[2] === 3 && head[3] === 4) || (head[2] === 5 && head[3] === 6))) return 'npz';
  if (head.length >= 9) {
    const headerLength = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
    if (headerLength >= 2n && headerLength <= BigInt(fileSize - 8)) {
      let p = 8;
      while (p < head.length && isJsonWhitespace(head[p]!)) p++;
      if (head[p] === 0x7b) return 'safetensors';
    }
  }
  let p = head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf ? 3 : 0;
  while (p < head.length && isJsonWhitespace(head[p]!)) p++;
  if (head[p] === 0x7b || head[p] === 0x5b) return 'json';
  const extension = /\.([A-Za-z]+)$/.exec(description)?.[1]?.toLowerCase();
  return extension ? EXTENSIONS[extension] : undefined;
}

/**
 * Opens an activation dump (.npy, .npz, .safetensors or JSON) read through `source`, detecting the
 * format from its bytes. Only headers are read here; tensor data is read on demand, in chunks,
 * through the returned handles. Every problem with the bytes is reported as a NormLensError whose
 * message says what is wrong, where, and what to do.
 */
export async function openDump(source: ByteSource, options?: OpenDumpOptions): Promise<Dump> {
  const resolved = resolveOpenOptions(options);
  const where = source.description;
  if (source.size === 0) throw new NormLensError('format', `${where}: the file is empty. Expected a .npy, .npz, .safetensors or .json dump.`);
  const head = await source.read(0, Math.min(source.size, 64));
  const format = detectFormat(head.slice(), source.size, where);
  let dump: Dump;
  try {
    dump = await openDetected(source, format, head, resolved, where);
  } catch (e) {
    throw asNormLensError(e, `${where}: could not read the ${format ?? 'unrecognized'} dump`);
  }
  return { ...dump, tensors: dump.tensors.map((t) => guardedHandle(t, where)) };
}

/** Passes NormLensErrors through; wraps anything else (a bug, an I/O failure) with context. */
function asNormLensError(e: unknown, context: string): NormLensError {
  if (isNormLensError(e)) return e;
  return new NormLensError('io', `${context} (${e instanceof Error ? e.message : String(e)}).`);
}

/** Makes sure a handle's reads reject only with NormLensError. */
function guardedHandle(handle: TensorHandle, where: string): TensorHandle {
  const guard = (e: unknown): never => {
    throw asNormLensError(e, `${where}: could not read tensor '${handle.info.name}'`);
  };
  const into = handle.readInto;
  return {
    info: handle.info,
    randomAccess: handle.randomAccess,
    read: (start: number, count: number): Promise<DecodedValues> => handle.read(start, count).catch(guard),
    ...(into ? { readInto: (start: number, count: number, target: Uint8Array): Promise<DecodedValues> => into.call(handle, start, count, target).catch(guard) } : {}),
  };
}

async function openDetected(source: ByteSource, format: DumpFormat | undefined, head: Uint8Array, resolved: ResolvedOpenOptions, where: string): Promise<Dump> {
  {
    switch (format) {
      case 'npy': {
        const reader = sourceReader(source);
        // Like np.load, a lone .npy reads its first array and ignores what follows (np.save called
        // twice on one file); TensorInfo.trailingBytes says how much.
        const tensor = await openNpyTensor(reader, NPY_TENSOR_NAME, resolved, where, true);
        return { format: 'npy', tensors: [tensor], metadata: {} };
      }
      case 'npz':
        return await openNpz(source, resolved);
      case 'safetensors':
        return await openSafetensors(source, resolved);
      case 'json':
        return await openJsonDump(source, resolved);
      default: {
        const seen = [...head.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
        throw new NormLensError(
          'format',
          `${where}: unrecognized file format (first bytes: ${seen}). NormLens reads .npy (numpy.save), .npz (numpy.savez), .safetensors and JSON dumps.`,
        );
      }
    }
  }
}

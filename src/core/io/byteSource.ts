import { NormLensError } from '../errors';

/**
 * Positional, read-only access to the bytes of a dump. Implementations never load a whole file
 * unless they already hold it in memory.
 */
export interface ByteSource {
  /** Total size in bytes. */
  readonly size: number;
  /** A short name for messages (usually the file name). */
  readonly description: string;
  /**
   * Reads exactly `length` bytes starting at `offset`. Throws a NormLensError('format') when the
   * range runs past the end. The returned bytes must stay valid and unchanged after later reads
   * (do not recycle buffers): format readers hand out typed-array views onto them without copying.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  /**
   * Optional: reads exactly `length` bytes at `offset` into the start of `target` (at least that
   * long) and returns the view of them, so a caller can read into memory of its own (the pass
   * kernels' WebAssembly memory). Same errors as `read`.
   */
  readInto?(offset: number, length: number, target: Uint8Array): Promise<Uint8Array>;
  /** Releases the underlying handle, if any. */
  close?(): Promise<void>;
}

/** Validates a read request against the source size; shared by every implementation. */
export function checkRange(source: { size: number; description: string }, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new NormLensError('format', `${source.description}: invalid read of ${length} bytes at offset ${offset}.`);
  }
  if (offset + length > source.size) {
    throw new NormLensError(
      'format',
      `${source.description}: the file is truncated (needed bytes ${offset}..${offset + length}, but it has ${source.size}). Re-save or re-copy the dump.`,
    );
  }
}

/** A ByteSource over bytes already in memory (workspace.fs reads, tests). */
export class MemoryByteSource implements ByteSource {
  readonly size: number;
  constructor(
    private readonly bytes: Uint8Array,
    readonly description = 'buffer',
  ) {
    this.size = bytes.byteLength;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    return this.bytes.subarray(offset, offset + length);
  }
}

import { Buffer } from 'node:buffer';
import { open, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { checkRange, type ByteSource } from '../core/io/byteSource';
import { NormLensError } from '../core/errors';

/** Reads at least this long come from (and may return to) the recycling pool. */
const RECYCLE_MIN_BYTES = 64 * 1024;
/** Spare buffers kept per read length. */
const RECYCLE_MAX_SPARE = 4;

/**
 * A ByteSource over a file on disk using positional reads; never buffers the whole file.
 *
 * Large reads go into buffers that are never zero-filled, and a caller that is done with the bytes of
 * a read may hand its buffer back with `recycle` (the analysis passes do, after each chunk), so a
 * pass reuses a few buffers instead of faulting in fresh memory for every chunk. Bytes that are not
 * recycled stay valid forever, as the ByteSource contract requires.
 */
export class NodeFileByteSource implements ByteSource {
  /** Buffers handed out by `read` and not yet given back. */
  private readonly lent = new WeakSet<ArrayBuffer>();
  /** Given-back buffers by byte length. */
  private readonly spare = new Map<number, ArrayBuffer[]>();

  private constructor(
    private readonly handle: FileHandle,
    readonly size: number,
    readonly description: string,
  ) {}

  /** Opens `path` read-only. Errors become NormLensError('io') with the reason. */
  static async open(path: string): Promise<NodeFileByteSource> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a folder' : String((e as Error).message);
      throw new NormLensError('io', `cannot open ${path}: ${why}. Check the path.`);
    }
    const st = await handle.stat();
    if (!st.isFile()) {
      await handle.close();
      throw new NormLensError('io', `cannot open ${path}: not a regular file. Give the path of a .npy, .npz, .safetensors or .json dump.`);
    }
    return new NodeFileByteSource(handle, st.size, basename(path));
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    return this.readInto(offset, length, this.allocate(length));
  }

  async readInto(offset: number, length: number, target: Uint8Array): Promise<Uint8Array> {
    checkRange(this, offset, length);
    if (target.byteLength < length) throw new RangeError(`readInto: ${length} bytes do not fit in ${target.byteLength}`);
    const buf = target.byteLength === length ? target : target.subarray(0, length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(buf, done, length - done, offset + done);
      if (bytesRead === 0) throw new NormLensError('io', `${this.description}: the file shrank while reading (at byte ${offset + done}).`);
      done += bytesRead;
    }
    return buf;
  }

  private allocate(length: number): Uint8Array {
    if (length < RECYCLE_MIN_BYTES) return new Uint8Array(length);
    const reused = this.spare.get(length)?.pop();
    // allocUnsafeSlow: an unpooled, not zero-filled buffer (offset 0; every byte is read into below).
    const buffer = reused ?? Buffer.allocUnsafeSlow(length).buffer;
    this.lent.add(buffer);
    return new Uint8Array(buffer, 0, length);
  }

  /**
   * Gives back the buffer of an earlier `read` (or of a typed array viewing it): the caller promises
   * that nothing uses any view on it any more. Buffers this source did not lend are ignored.
   */
  recycle(buffer: ArrayBufferLike): void {
    if (!(buffer instanceof ArrayBuffer) || !this.lent.has(buffer)) return;
    this.lent.delete(buffer);
    let list = this.spare.get(buffer.byteLength);
    if (!list) {
      list = [];
      this.spare.set(buffer.byteLength, list);
    }
    if (list.length < RECYCLE_MAX_SPARE) list.push(buffer);
  }

  async close(): Promise<void> {
    this.spare.clear();
    await this.handle.close();
  }
}

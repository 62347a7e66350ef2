import { open, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { checkRange, type ByteSource } from '../core/io/byteSource';
import { NormLensError } from '../core/errors';

/** A ByteSource over a file on disk using positional reads; never buffers the whole file. */
export class NodeFileByteSource implements ByteSource {
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
    checkRange(this, offset, length);
    const buf = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(buf, done, length - done, offset + done);
      if (bytesRead === 0) throw new NormLensError('io', `${this.description}: the file shrank while reading (at byte ${offset + done}).`);
      done += bytesRead;
    }
    return buf;
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

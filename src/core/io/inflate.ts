import { NormLensError } from '../errors';
import type { ByteSource } from './byteSource';
import { crc32Update } from './crc32';

/** Compressed bytes fed to the decompressor per source read. */
const COMPRESSED_CHUNK_BYTES = 256 * 1024;

const EMPTY = new Uint8Array(0);

interface InflateState {
  readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly writer: WritableStreamDefaultWriter<Uint8Array>;
  /** Uncompressed offset of `pending[0]`. */
  position: number;
  /** Decompressed bytes not yet handed out. */
  pending: Uint8Array;
  /** Total bytes the decompressor produced so far. */
  produced: number;
  crc: number;
  cancelled: boolean;
}

/** Where the raw-deflate data of one zip member lies and what it must inflate to. */
export interface DeflatedMember {
  readonly source: ByteSource;
  readonly compressedOffset: number;
  readonly compressedSize: number;
  /** Exact uncompressed size (taken from the npy header, so a zip bomb cannot exceed it). */
  readonly uncompressedSize: number;
  /** CRC-32 of the uncompressed bytes, from the zip central directory. */
  readonly crc32: number;
  /** Names the member in messages. */
  readonly where: string;
}

/**
 * Forward-only positional reads of a raw-deflate stream, decompressed with the platform's
 * `DecompressionStream('deflate-raw')` in bounded memory: only the bytes of the current request
 * (plus one decompressor output chunk) are held. Reading backwards restarts decompression from the
 * start. Output beyond `uncompressedSize` is refused as soon as it appears (zip bombs), and the
 * CRC-32 is checked when the end of the stream is reached.
 */
export class ForwardInflater {
  readonly randomAccess = false;
  readonly size: number;
  private state: InflateState | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly member: DeflatedMember) {
    this.size = member.uncompressedSize;
  }

  /** Reads exactly `length` uncompressed bytes at `offset` (calls are serialized). */
  read(offset: number, length: number): Promise<Uint8Array> {
    const run = this.queue.then(() => this.readNow(offset, length));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Stops the decompressor and frees its memory; the next read starts over. */
  release(): void {
    const state = this.state;
    this.state = undefined;
    if (!state) return;
    state.cancelled = true;
    state.reader.cancel().catch(() => undefined);
    state.writer.abort().catch(() => undefined);
  }

  private start(): InflateState {
    const { source, compressedOffset, compressedSize } = this.member;
    const stream = new DecompressionStream('deflate-raw');
    const writer = stream.writable.getWriter();
    const reader = stream.readable.getReader() as ReadableStreamDefaultReader<Uint8Array>;
    const state: InflateState = { reader, writer, position: 0, pending: EMPTY, produced: 0, crc: 0, cancelled: false };
    const pump = async (): Promise<void> => {
      for (let done = 0; done < compressedSize; ) {
        const length = Math.min(COMPRESSED_CHUNK_BYTES, compressedSize - done);
        const bytes = await source.read(compressedOffset + done, length);
        done += length;
        await writer.ready;
        if (state.cancelled) return;
        writer.write(bytes).catch(() => undefined);
      }
      await writer.ready;
      if (!state.cancelled) await writer.close();
    };
    pump().catch((e: unknown) => {
      writer.abort(e).catch(() => undefined);
    });
    return state;
  }

  private corrupt(reason: string): NormLensError {
    return new NormLensError('format', `${this.member.where}: the compressed data is corrupt (${reason}). Re-create the .npz file (numpy.savez_compressed).`);
  }

  /** Next chunk of decompressed bytes, or undefined at the end of the stream. */
  private async nextChunk(state: InflateState): Promise<Uint8Array | undefined> {
    let result: Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>['read']>>;
    try {
      result = await state.reader.read();
    } catch (e) {
      if (e instanceof NormLensError) throw e;
      throw this.corrupt(e instanceof Error ? e.message : String(e));
    }
    if (result.done) return undefined;
    const chunk = result.value;
    state.produced += chunk.byteLength;
    if (state.produced > this.size) {
      throw new NormLensError(
        'format',
        `${this.member.where}: the member inflates to more than the ${this.size} bytes its npy header declares (a zip bomb or a corrupt archive); stopped after ${state.produced} bytes. Re-create the .npz file.`,
      );
    }
    state.crc = crc32Update(state.crc, chunk);
    return chunk;
  }

  private async readNow(offset: number, length: number): Promise<Uint8Array> {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new NormLensError('format', `${this.member.where}: invalid read of ${length} bytes at offset ${offset} (the member has ${this.size}).`);
    }
    if (this.state && offset < this.state.position) this.release();
    const state = (this.state ??= this.start());
    try {
      // Skip forward to `offset`.
      while (state.position + state.pending.byteLength <= offset) {
        state.position += state.pending.byteLength;
        state.pending = EMPTY;
        if (state.position === offset && length === 0) break;
        const chunk = await this.nextChunk(state);
        if (!chunk) throw this.truncated(state);
        state.pending = chunk;
      }
      const skip = offset - state.position;
      if (skip > 0) {
        state.pending = state.pending.subarray(skip);
        state.position = offset;
      }
      let result: Uint8Array;
      if (state.pending.byteLength >= length) {
        result = state.pending.subarray(0, length);
        state.pending = state.pending.subarray(length);
        state.position += length;
      } else {
        result = new Uint8Array(length);
        let filled = 0;
        while (filled < length) {
          if (state.pending.byteLength === 0) {
            const chunk = await this.nextChunk(state);
            if (!chunk) throw this.truncated(state);
            state.pending = chunk;
          }
          const take = Math.min(length - filled, state.pending.byteLength);
          result.set(state.pending.subarray(0, take), filled);
          state.pending = state.pending.subarray(take);
          filled += take;
          state.position += take;
        }
      }
      if (state.position === this.size) await this.finish(state);
      return result;
    } catch (e) {
      this.release();
      throw e;
    }
  }

  /** At the declared end: the stream must end too, and the CRC-32 must match. */
  private async finish(state: InflateState): Promise<void> {
    while (state.produced <= this.size) {
      const chunk = await this.nextChunk(state);
      if (!chunk) break;
    }
    if (state.crc !== this.member.crc32) {
      throw new NormLensError(
        'format',
        `${this.member.where}: CRC-32 mismatch (the archive says ${hex(this.member.crc32)}, the data gives ${hex(state.crc)}); the file is corrupt. Re-create or re-download it.`,
      );
    }
    this.release();
  }

  private truncated(state: InflateState): NormLensError {
    return this.corrupt(`the stream ended after ${state.produced} of ${this.size} bytes`);
  }
}

/** `0x1234abcd` formatting for CRCs. */
export function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}

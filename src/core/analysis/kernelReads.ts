import type { DecodedValues, TensorHandle } from '../formats/types';
import { wasmKernels } from './kernels/wasmKernelLoader';
import type { AnalysisPlan } from './plan';
import type { Tile } from './tiles';

/** Largest read slot (one chunk; a token wider than this is read the usual way). */
const MAX_SLOT_BYTES = 64 << 20;

/** A pass's reads of its input into the kernels' memory, and the end of them. */
export interface KernelReads {
  /** Reads `tile` into the next slot (tiles in order, at most two outstanding, as forEachTile does). */
  read(tile: Tile): Promise<DecodedValues>;
  /** Gives the slots back (after the pass, also when it failed). */
  release(): void;
}

/**
 * Reads of a float32 feature-last input straight into two slots of the WebAssembly kernels' memory,
 * placed after `scratch` bytes of kernel scratch: the kernels read each block where the file's bytes
 * landed instead of copying it in (one copy of every value less per sweep). forEachTile keeps the
 * chunk it visits and the one being read ahead, so two slots taken in turn never overlap a chunk in
 * use. Null (read the usual way) when the input cannot be read into memory given by the caller
 * (not a contiguous tensor of a file, a `--layer-axis` slice), is not float32, is channels-first, or
 * WebAssembly is unavailable.
 */
/**
 * Runs a pass's tiles with the reads of its input: into the kernels' memory when kernelReads can
 * (`scratch` the kernels' scratch bytes; null: never), else the input's own reads; the slots are
 * given back when `body` ends, also when it fails.
 */
export async function withInputReads(input: TensorHandle, plan: AnalysisPlan, tiles: readonly Tile[], scratch: number | null, body: (read: (tile: Tile) => Promise<DecodedValues>) => Promise<void>): Promise<void> {
  const direct = scratch === null ? null : kernelReads(input, plan, tiles, scratch);
  try {
    await body(direct ? direct.read : (tile) => input.read(tile.offset, tile.count));
  } finally {
    direct?.release();
  }
}

export function kernelReads(input: TensorHandle, plan: AnalysisPlan, tiles: readonly Tile[], scratch: number): KernelReads | null {
  const readInto = input.readInto;
  if (readInto === undefined || plan.inner !== 1 || input.info.dtype !== 'float32' || tiles.length === 0) return null;
  const k = wasmKernels();
  if (k === null) return null;
  let most = 0;
  for (const t of tiles) if (t.count > most) most = t.count;
  if (most * 4 > MAX_SLOT_BYTES) return null;
  const slots = k.readSlots(scratch, most * 4, 2);
  if (slots === null) return null;
  let next = 0;
  return {
    read: (tile) => readInto.call(input, tile.offset, tile.count, slots[next++ % 2]!),
    release: () => k.releaseSlots(),
  };
}

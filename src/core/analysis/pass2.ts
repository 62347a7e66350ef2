import type { DecodedValues } from '../formats/types';
import { wasmKernels } from './kernels/wasmKernelLoader';
import { groupFitTile, pass2ChannelsTile } from './pass2ChannelsFirst';
import type { Pass2Context } from './pass2Context';
import { withInputReads } from './kernelReads';
import { pass2FeatureLastRun, pass2FeatureLastTileWasm, pass2WasmScratch } from './pass2FeatureLast';
import { createPass2Partial, type Pass2Partial } from './pass2Partial';
import type { AnalysisPlan, AnalysisTensors } from './plan';
import { forEachTile, forEachTokenRun, planTiles, type PassHooks, type Tile, type TokenRange } from './tiles';

// Pass 2 (histograms of the input and every norm's output, per-token output sums, replay against a
// recorded output): picks the kernel by layout — pass2FeatureLast.ts (the WebAssembly SIMD kernel,
// else JavaScript) or pass2ChannelsFirst.ts — tile by tile. Partials and their merge: pass2Partial.ts.
export * from './pass2Partial';
export type { Pass2Context, SharedPass2Context } from './pass2Context';

/** Runs pass 2 over `range` with the context derived from pass 1; memory bounded by two chunks. */
export async function runPass2(tensors: AnalysisTensors, plan: AnalysisPlan, context: Pass2Context, range: TokenRange, hooks: PassHooks = {}): Promise<Pass2Partial> {
  const output = tensors.output;
  const p = createPass2Partial(plan, range, output !== null, context.sampleChannel?.norms.length ?? 0, context.groupFit?.candidates.length ?? 0);
  const tiles = planTiles(plan, range);
  // Into the kernels' memory only for the plain kernel (the others copy nothing).
  const scratch = context.plain && context.groupFit === null ? pass2WasmScratch(plan) : null;
  await withInputReads(tensors.input, plan, tiles, scratch, (read) => pass2Tiles(p, tensors, plan, context, tiles, read, hooks));
  return p;
}

async function pass2Tiles(p: Pass2Partial, tensors: AnalysisTensors, plan: AnalysisPlan, context: Pass2Context, tiles: readonly Tile[], read: (tile: Tile) => Promise<DecodedValues>, hooks: PassHooks): Promise<void> {
  const output = tensors.output;
  const F = plan.features;
  const I = plan.inner;
  await forEachTile(
    tiles,
    read,
    output ? (tile) => output.read(tile.offset, tile.count) : null,
    hooks,
    (tile, values, out) => {
      if (context.groupFit !== null) {
        if (out !== null && I > 1) for (let k = 0; k < tile.blocks; k++) groupFitTile(p, plan, context, values, out, k * F * I, tile.o + k, tile.f0, tile.rows, tile.i0, tile.i1);
        return;
      }
      const wasm = I === 1 && context.plain && values instanceof Float32Array ? wasmKernels() : null;
      if (wasm !== null && pass2FeatureLastTileWasm(wasm, p, plan, context, values as Float32Array, out, tile.tokenStart, tile.tokens)) {
        // Done on the WebAssembly kernel.
      } else if (I === 1) {
        forEachTokenRun(plan, tile.tokenStart, tile.tokenStart + tile.tokens, (a, b, unit, valid) => {
          pass2FeatureLastRun(p, plan, context, values, out, (a - tile.tokenStart) * F, a, b, valid ? unit : plan.units);
        });
      } else {
        for (let k = 0; k < tile.blocks; k++) {
          pass2ChannelsTile(p, plan, context, values, out, k * F * I, tile.o + k, tile.f0, tile.rows, tile.i0, tile.i1);
        }
      }
    },
  );
}


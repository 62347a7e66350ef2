import { NormLensError } from '../errors';
import type { DecodedValues } from '../formats/types';
import type { AnalysisPlan } from './plan';

/** A contiguous range of tokens [start, end) — the unit of work split between workers. */
export interface TokenRange {
  readonly start: number;
  readonly end: number;
}

/**
 * One read of a pass: `count` elements from element `offset` of the input (and output).
 * Feature-last layouts (inner = 1): `tokens` whole tokens from `tokenStart`.
 * Other layouts: rows f0..f0+rows of outer index `o`, each covering tokens o·inner + [i0, i1);
 * `blocks` > 1 packs several whole outer blocks (i0 = 0, i1 = inner, rows = features) in one read.
 */
export interface Tile {
  readonly offset: number;
  readonly count: number;
  readonly tokenStart: number;
  readonly tokens: number;
  readonly o: number;
  readonly blocks: number;
  readonly f0: number;
  readonly rows: number;
  readonly i0: number;
  readonly i1: number;
}

/** Splits `range` into reads of at most plan.chunkElements elements (one row or token if larger). */
export function planTiles(plan: AnalysisPlan, range: TokenRange): Tile[] {
  const { features: F, inner: I, chunkElements } = plan;
  const tiles: Tile[] = [];
  if (I === 1) {
    const per = Math.max(1, Math.floor(chunkElements / F));
    for (let t = range.start; t < range.end; t += per) {
      const n = Math.min(per, range.end - t);
      tiles.push({ offset: t * F, count: n * F, tokenStart: t, tokens: n, o: t, blocks: n, f0: 0, rows: F, i0: 0, i1: 1 });
    }
    return tiles;
  }
  const blockSize = F * I;
  let t = range.start;
  while (t < range.end) {
    const o = Math.floor(t / I);
    const i0 = t - o * I;
    const i1 = Math.min(I, range.end - o * I);
    if (i0 === 0 && i1 === I && blockSize <= chunkElements) {
      const fullBlocks = Math.floor((range.end - t) / I);
      const k = Math.max(1, Math.min(fullBlocks, Math.floor(chunkElements / blockSize)));
      tiles.push({ offset: o * blockSize, count: k * blockSize, tokenStart: t, tokens: k * I, o, blocks: k, f0: 0, rows: F, i0: 0, i1: I });
      t += k * I;
      continue;
    }
    if (i0 === 0 && i1 === I && I <= chunkElements) {
      const rowsPer = Math.max(1, Math.floor(chunkElements / I));
      for (let f = 0; f < F; f += rowsPer) {
        const rows = Math.min(rowsPer, F - f);
        tiles.push({ offset: o * blockSize + f * I, count: rows * I, tokenStart: t, tokens: I, o, blocks: 1, f0: f, rows, i0: 0, i1: I });
      }
    } else {
      for (let a = i0; a < i1; a += chunkElements) {
        const b = Math.min(i1, a + chunkElements);
        for (let f = 0; f < F; f++) {
          tiles.push({ offset: o * blockSize + f * I + a, count: b - a, tokenStart: o * I + a, tokens: b - a, o, blocks: 1, f0: f, rows: 1, i0: a, i1: b });
        }
      }
    }
    t = o * I + i1;
  }
  return tiles;
}

/**
 * Splits all tokens into `parts` ranges of nearly equal size, aligned to whole outer blocks when
 * that still gives every part work (so channels-first tiles stay whole).
 */
export function splitTokens(plan: AnalysisPlan, parts: number): TokenRange[] {
  const n = Math.max(1, Math.min(parts, plan.tokens));
  const align = plan.inner > 1 && plan.outer >= n ? plan.inner : 1;
  const ranges: TokenRange[] = [];
  let start = 0;
  for (let k = 1; k <= n; k++) {
    const end = k === n ? plan.tokens : Math.round((plan.tokens * k) / n / align) * align;
    if (end > start) ranges.push({ start, end });
    start = Math.max(start, end);
  }
  return ranges;
}

/** Something that says when to stop: an AbortSignal, or an adapter over a VS Code CancellationToken. */
export interface CancellationFlag {
  readonly aborted: boolean;
}

/** Callbacks of a pass: cancellation and progress (elements finished since the last call). */
export interface PassHooks {
  readonly cancellation?: CancellationFlag;
  onElements?(elements: number): void;
  /**
   * Called with each chunk's decoded values once the pass is done with them (nothing keeps a view),
   * so the byte source may reuse their buffer (NodeFileByteSource.recycle).
   */
  release?(values: DecodedValues): void;
}

/** Throws NormLensError('cancelled') once the flag is raised. */
export function throwIfCancelled(flag: CancellationFlag | undefined): void {
  if (flag?.aborted) throw new NormLensError('cancelled', 'the analysis was cancelled.');
}

/**
 * Reads tiles in order with one read ahead (I/O overlaps compute; memory stays two chunks), calling
 * `visit` for each. Checks cancellation between chunks.
 */
export async function forEachTile(
  tiles: readonly Tile[],
  read: (tile: Tile) => Promise<DecodedValues>,
  readOutput: ((tile: Tile) => Promise<DecodedValues>) | null,
  hooks: PassHooks,
  visit: (tile: Tile, values: DecodedValues, output: DecodedValues | null) => void,
): Promise<void> {
  const fetch = (tile: Tile): Promise<[DecodedValues, DecodedValues | null]> => Promise.all([read(tile), readOutput ? readOutput(tile) : Promise.resolve(null)]);
  let next = tiles.length > 0 ? fetch(tiles[0]!) : null;
  for (let k = 0; k < tiles.length; k++) {
    throwIfCancelled(hooks.cancellation);
    const [values, output] = await next!;
    next = k + 1 < tiles.length ? fetch(tiles[k + 1]!) : null;
    visit(tiles[k]!, values, output);
    if (hooks.release) {
      hooks.release(values);
      if (output) hooks.release(output);
    }
    hooks.onElements?.(tiles[k]!.count);
  }
}

/** Calls `visit(a, b, unit, valid)` for each maximal run of tokens in [t0, t1) sharing unit and validity. */
export function forEachTokenRun(plan: AnalysisPlan, t0: number, t1: number, visit: (a: number, b: number, unit: number, valid: boolean) => void): void {
  const mask = plan.mask;
  const perUnit = plan.tokensPerUnit;
  let t = t0;
  while (t < t1) {
    const unit = Math.floor(t / perUnit);
    const unitEnd = Math.min(t1, (unit + 1) * perUnit);
    let r = unitEnd;
    let valid = true;
    if (mask) {
      const m = mask[t]!;
      valid = m === 1;
      r = t + 1;
      while (r < unitEnd && mask[r] === m) r++;
    }
    visit(t, r, unit, valid);
    t = r;
  }
}


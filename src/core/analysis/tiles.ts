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

import { NormLensError } from '../errors';
import { normDescription } from '../analysis/norms';
import type { TensorHandle } from '../formats/types';
import type { NormKind } from '../report/analysisReport';

/** Which values a heatmap cell shows: the input, or a per-token / per-feature norm of it (norms.ts). */
export type HeatmapValues = 'input' | Extract<NormKind, 'layernorm' | 'batchnorm'>;

/** How the values of the tokens × features inside one cell are reduced. */
export type HeatmapAggregate = 'mean' | 'maxAbs';

/** A region of the tokens × features matrix and the largest grid to reduce it to. */
export interface HeatmapRequest {
  values: HeatmapValues;
  aggregate: HeatmapAggregate;
  tokenStart: number;
  tokenEnd: number;
  featureStart: number;
  featureEnd: number;
  maxRows: number;
  maxCols: number;
}

/** A reduced tokens × features grid; `values[r * cols + c]`, null where a cell had no finite value. */
export interface Heatmap {
  request: HeatmapRequest;
  rows: number;
  cols: number;
  /** Tokens per row and features per column (the last row/column may hold fewer). */
  rowStep: number;
  colStep: number;
  values: (number | null)[];
  /** Smallest and largest finite cell value (0 when none). */
  min: number;
  max: number;
}

/** Per-token (LayerNorm) or per-feature (BatchNorm) centring and scaling applied before reduction. */
export interface HeatmapNormalization {
  /** Per token for LayerNorm, per feature for BatchNorm. */
  mean: ArrayLike<number>;
  rstd: ArrayLike<number>;
}

/** Elements read per chunk: bounds memory whatever the tensor size. */
const CHUNK_ELEMENTS = 1 << 22;

/**
 * Reduces a region of the tokens × features view of `tensor` to at most maxRows × maxCols cells,
 * reading it in bounded chunks. `featureAxis` is non-negative; tokens are the C-order positions of
 * the other axes (DESIGN.md).
 */
export async function computeTokenHeatmap(
  tensor: TensorHandle,
  featureAxis: number,
  req: HeatmapRequest,
  normalization?: HeatmapNormalization,
): Promise<Heatmap> {
  const shape = tensor.info.shape;
  if (shape.length === 0) throw new NormLensError('usage', 'a 0-d tensor has no tokens × features view.');
  if (featureAxis < 0 || featureAxis >= shape.length) throw new NormLensError('usage', `feature axis ${featureAxis} is out of range for shape (${shape.join(', ')}).`);
  const features = shape[featureAxis]!;
  const inner = shape.slice(featureAxis + 1).reduce((a, b) => a * b, 1);
  const tokens = features === 0 ? 0 : tensor.info.size / features;
  const t0 = clampInt(req.tokenStart, 0, tokens);
  const t1 = clampInt(req.tokenEnd, t0, tokens);
  const f0 = clampInt(req.featureStart, 0, features);
  const f1 = clampInt(req.featureEnd, f0, features);
  const rowStep = Math.max(1, Math.ceil((t1 - t0) / Math.max(1, Math.floor(req.maxRows))));
  const colStep = Math.max(1, Math.ceil((f1 - f0) / Math.max(1, Math.floor(req.maxCols))));
  const rows = Math.ceil((t1 - t0) / rowStep);
  const cols = Math.ceil((f1 - f0) / colStep);
  const acc = new Float64Array(rows * cols);
  const cnt = new Float64Array(rows * cols);
  const useMax = req.aggregate === 'maxAbs';
  const perToken = req.values !== 'input' && normDescription(req.values).recompute === 'per-token';
  const norm = req.values === 'input' ? undefined : normalization;
  if (req.values !== 'input' && !normalization) throw new NormLensError('usage', `the ${normDescription(req.values).name} heatmap needs the analysis statistics; run the analysis first.`);

  const add = (token: number, feature: number, raw: number) => {
    let v = raw;
    if (norm) {
      const k = perToken ? token : feature;
      v = (raw - norm.mean[k]!) * norm.rstd[k]!;
    }
    if (!Number.isFinite(v)) return;
    const cell = Math.floor((token - t0) / rowStep) * cols + Math.floor((feature - f0) / colStep);
    if (useMax) {
      if (cnt[cell] === 0 || Math.abs(v) > Math.abs(acc[cell]!)) acc[cell] = v;
      cnt[cell] = 1;
    } else {
      acc[cell]! += v;
      cnt[cell]! += 1;
    }
  };

  if (rows > 0 && cols > 0) {
    if (inner === 1) {
      // Features are contiguous per token: read whole tokens in chunks.
      const tokensPerChunk = Math.max(1, Math.floor(CHUNK_ELEMENTS / features));
      for (let t = t0; t < t1; t += tokensPerChunk) {
        const n = Math.min(tokensPerChunk, t1 - t);
        const vals = await tensor.read(t * features, n * features);
        for (let j = 0; j < n; j++) {
          const base = j * features;
          for (let f = f0; f < f1; f++) add(t + j, f, vals[base + f]!);
        }
      }
    } else {
      // Channels-first layouts: token t = o * inner + i, element = (o * features + f) * inner + i.
      for (let t = t0; t < t1; ) {
        const o = Math.floor(t / inner);
        const i0 = t - o * inner;
        const i1 = Math.min(inner, i0 + (t1 - t));
        const featuresPerRead = Math.max(1, Math.floor(CHUNK_ELEMENTS / inner));
        for (let f = f0; f < f1; f += featuresPerRead) {
          const nf = Math.min(featuresPerRead, f1 - f);
          const start = (o * features + f) * inner;
          const vals = await tensor.read(start, nf * inner);
          for (let df = 0; df < nf; df++) {
            for (let i = i0; i < i1; i++) add(o * inner + i, f + df, vals[df * inner + i]!);
          }
        }
        t += i1 - i0;
      }
    }
  }

  const values: (number | null)[] = new Array(rows * cols);
  let min = Infinity;
  let max = -Infinity;
  for (let k = 0; k < rows * cols; k++) {
    if (cnt[k] === 0) {
      values[k] = null;
      continue;
    }
    const v = useMax ? acc[k]! : acc[k]! / cnt[k]!;
    values[k] = v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (min > max) min = max = 0;
  return { request: { ...req, tokenStart: t0, tokenEnd: t1, featureStart: f0, featureEnd: f1 }, rows, cols, rowStep, colStep, values, min, max };
}

function clampInt(v: number, lo: number, hi: number): number {
  const n = Number.isFinite(v) ? Math.floor(v) : lo;
  return Math.min(hi, Math.max(lo, n));
}

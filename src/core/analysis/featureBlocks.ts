import type { TensorHandle } from '../formats/types';
import { featureBlockView } from './featureBlockView';
import { mergeMomentArrays } from './moments';
import { runPass1, type Pass1Partial } from './pass1';
import type { AnalysisPlan, AnalysisTensors } from './plan';
import { batchNormStatistics, type FeatureMoments } from './statistics';
import type { PassHooks } from './tiles';
import { TokenSeriesReducer } from './tokenReduction';

// Building blocks of the per-feature side of the bounded analysis (inputs with more features than a
// feature cap). NOT yet wired into executeAnalysis: such inputs are still refused by the memory
// budget (memoryBudget.ts). What is here, tested against the unblocked pass 1:
//  - featureBlockPlan: the plan of the sub-tensor x[..., f0:f1, ...] (a virtual tensor of shape
//    (outer, f1 − f0, inner)), so the existing passes run on a block unchanged;
//  - featureBlockHandle: reads of that virtual tensor, gathered from the real one (one contiguous
//    read per outer index: x[o, f0:f1, :] is contiguous in C order for any feature axis);
//  - runPass1ByFeatureBlocks: pass 1 block after block; each block's per-(unit, feature) cells go to
//    a visitor (exact, the same numbers as the unblocked pass), and the per-token moments are
//    Chan-merged across blocks (exact up to rounding: count, mean, M2, Σx², min, max per token);
//  - FeatureBlockReducer: folds each block's per-feature BatchNorm statistics (over valid tokens,
//    merged over batch units) into reduced per-feature series: exact summaries with the features of
//    min and max, min/mean/max buckets (the same as downsampleSeries of the full arrays), and the
//    top-k features by std, by max |x| and by RMS. (TokenSeriesReducer indexes by feature here.)

/** The features [f0, f1) of the plan's feature axis: [f0, f1) ⊂ [0, plan.features). */
export interface FeatureBlock {
  readonly f0: number;
  readonly f1: number;
}

/** Consecutive blocks of at most `blockFeatures` features covering [0, plan.features). */
export function featureBlocks(plan: AnalysisPlan, blockFeatures: number): FeatureBlock[] {
  const size = Math.max(1, Math.floor(blockFeatures));
  const out: FeatureBlock[] = [];
  for (let f0 = 0; f0 < plan.features; f0 += size) out.push({ f0, f1: Math.min(plan.features, f0 + size) });
  return out;
}

/**
 * The plan of the sub-tensor of features [f0, f1): same tokens, mask, batch units and eps; the
 * per-feature vectors (weight, bias, running stats) sliced; the recorded output dropped (pass 1
 * does not read it).
 */
export function featureBlockPlan(plan: AnalysisPlan, block: FeatureBlock, keepOutput = false): AnalysisPlan {
  const { f0, f1 } = block;
  const B = f1 - f0;
  // Copies (not views): a block plan is cloned to the workers, and a view would carry the whole buffer.
  const slice = (v: Float64Array | null): Float64Array | null => (v === null ? null : v.slice(f0, f1));
  const shape = plan.shape.map((s, i) => (i === plan.featureAxis ? B : s));
  return {
    ...plan,
    shape,
    features: B,
    chunkElements: Math.max(B, Math.floor(plan.chunkBytes / 8)),
    weight: slice(plan.weight),
    bias: slice(plan.bias),
    runningMean: slice(plan.runningMean),
    runningVar: slice(plan.runningVar),
    featureBlock: { f0, f1, features: plan.features },
    ...(keepOutput ? {} : { outputName: null, outputDtype: null }),
  };
}

/** A handle on the virtual tensor (outer, f1 − f0, inner) of `input` (see featureBlockView). */
export function featureBlockHandle(input: TensorHandle, plan: AnalysisPlan, block: FeatureBlock): TensorHandle {
  return featureBlockView(input, plan.outer, plan.features, plan.inner, block.f0, block.f1);
}

/** Per-token moments over every feature, merged across feature blocks. */
export interface TokenMoments {
  readonly tokenCount: Float64Array;
  readonly tokenMean: Float64Array;
  readonly tokenM2: Float64Array;
  readonly tokenSumSq: Float64Array;
  readonly tokenMin: Float64Array;
  readonly tokenMax: Float64Array;
  nan: number;
  posInf: number;
  negInf: number;
}

/** Empty per-token moments for all tokens of the plan. */
export function createTokenMoments(tokens: number): TokenMoments {
  return {
    tokenCount: new Float64Array(tokens),
    tokenMean: new Float64Array(tokens),
    tokenM2: new Float64Array(tokens),
    tokenSumSq: new Float64Array(tokens),
    tokenMin: new Float64Array(tokens).fill(Infinity),
    tokenMax: new Float64Array(tokens).fill(-Infinity),
    nan: 0,
    posInf: 0,
    negInf: 0,
  };
}

/**
 * Chan-merges the per-token moments of a block's pass-1 partial (tokens p.tokenStart … p.tokenEnd)
 * into `all` (indexed by token): counts add, means and M2 by Chan's formula, Σx² adds, min/max.
 * A token without finite values in the block (count 0, mean NaN) leaves its entry as it is.
 */
export function mergeTokenMoments(all: TokenMoments, p: Pass1Partial): void {
  const at = p.tokenStart;
  const n = p.tokenEnd - p.tokenStart;
  const count = all.tokenCount.subarray(at, at + n);
  const mean = all.tokenMean.subarray(at, at + n);
  const m2 = all.tokenM2.subarray(at, at + n);
  // mergeMomentArrays skips entries with a zero count on the right; a NaN mean comes with count 0.
  mergeMomentArrays(count, mean, m2, p.tokenCount, p.tokenMean, p.tokenM2, false);
  for (let k = 0; k < n; k++) {
    all.tokenSumSq[at + k] += p.tokenSumSq[k]!;
    if (p.tokenMin[k]! < all.tokenMin[at + k]!) all.tokenMin[at + k] = p.tokenMin[k]!;
    if (p.tokenMax[k]! > all.tokenMax[at + k]!) all.tokenMax[at + k] = p.tokenMax[k]!;
  }
  all.nan += p.nan;
  all.posInf += p.posInf;
  all.negInf += p.negInf;
}

/**
 * Pass 1 of the plan's input (all tokens) by feature blocks of at most `blockFeatures` features:
 * `visit` receives each block's partial (its per-(unit, feature) cells, index unit·B + (f − f0))
 * before it is dropped; returns the per-token moments over all features. Memory: one block's
 * partial (cells of units × B) plus the per-token arrays.
 */
export async function runPass1ByFeatureBlocks(
  tensors: AnalysisTensors,
  plan: AnalysisPlan,
  blockFeatures: number,
  visit: (block: FeatureBlock, blockPlan: AnalysisPlan, partial: Pass1Partial) => void,
  hooks: PassHooks = {},
): Promise<TokenMoments> {
  const all = createTokenMoments(plan.tokens);
  for (const block of featureBlocks(plan, blockFeatures)) {
    const sub = featureBlockPlan(plan, block);
    const p = await runPass1({ input: featureBlockHandle(tensors.input, plan, block), output: null }, sub, { start: 0, end: plan.tokens }, hooks);
    mergeTokenMoments(all, p);
    visit(block, sub, p);
  }
  // As the unblocked feature-last kernel: a token without any finite value has a NaN mean.
  if (plan.inner === 1) for (let t = 0; t < plan.tokens; t++) if (all.tokenCount[t] === 0) all.tokenMean[t] = NaN;
  return all;
}

/** Features listed per reduced per-feature series in `top`. */
export const REDUCED_FEATURE_TOP_K = 64;

/**
 * Per-feature series reduced block after block (features in increasing order): BatchNorm mean and
 * std (biased) over valid tokens, max |x| and RMS (√(mean² + var), from the moments) per feature.
 */
export class FeatureBlockReducer {
  readonly mean: TokenSeriesReducer;
  readonly std: TokenSeriesReducer;
  readonly maxAbs: TokenSeriesReducer;
  readonly rms: TokenSeriesReducer;
  private scratch = new Float64Array(0);

  constructor(features: number, maxPoints: number, topK = REDUCED_FEATURE_TOP_K) {
    this.mean = new TokenSeriesReducer(features, maxPoints, 0);
    this.std = new TokenSeriesReducer(features, maxPoints, topK);
    this.maxAbs = new TokenSeriesReducer(features, maxPoints, topK);
    this.rms = new TokenSeriesReducer(features, maxPoints, topK);
  }

  /** Adds the features of `block` from its pass-1 partial (a run of runPass1ByFeatureBlocks). */
  add(block: FeatureBlock, blockPlan: AnalysisPlan, p: Pass1Partial): void {
    this.addMoments(block, batchNormStatistics(blockPlan, p, false).valid);
  }

  /** Adds the features of `block` from their moments (index f − f0). */
  addMoments(block: FeatureBlock, v: FeatureMoments): void {
    const B = block.f1 - block.f0;
    if (this.scratch.length < B) this.scratch = new Float64Array(B);
    const x = this.scratch.subarray(0, B);
    for (let j = 0; j < B; j++) x[j] = v.count[j]! > 0 ? v.mean[j]! : NaN;
    this.mean.add(x, block.f0, null);
    for (let j = 0; j < B; j++) x[j] = v.count[j]! > 0 ? Math.sqrt(v.m2[j]! / v.count[j]!) : NaN;
    this.std.add(x, block.f0, null);
    for (let j = 0; j < B; j++) x[j] = v.count[j]! > 0 ? Math.max(Math.abs(v.min[j]!), Math.abs(v.max[j]!)) : NaN;
    this.maxAbs.add(x, block.f0, null);
    for (let j = 0; j < B; j++) {
      const n = v.count[j]!;
      x[j] = n > 0 ? Math.sqrt(v.mean[j]! * v.mean[j]! + v.m2[j]! / n) : NaN;
    }
    this.rms.add(x, block.f0, null);
  }
}

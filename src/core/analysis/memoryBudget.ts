import { NormLensError, type NormLensHint } from '../errors';
import { featureBlockFeatures, usesFeatureBlocks } from './featureBlockAnalysis';
import { REDUCED_TOKEN_BLOCK, type AnalysisPlan } from './plan';
import { formatCount } from '../count';

const MiB = 1024 * 1024;

/**
 * Float64 values held per token while its per-token arrays are alive: pass-1 partial and its merge
 * (6 + 6), the statistics (6), the pass-2 contexts (3), pass-2 partial and merge (6 + 6, + 4 + 4
 * with a replay), and the report's number arrays (11) — with a margin for the JSON text.
 */
const FLOATS_PER_TOKEN = 56;
/** Float64 values per (unit, feature) cell: valid (5) and padding (3) moments, per pass-1 partial. */
const FLOATS_PER_CELL = 8;
/**
 * Float64 values per (unit, feature) cell held once (not per partial): GroupNorm/InstanceNorm
 * moments and their context (3 + 3), and each pass-2 partial's replay sums for them (2 per norm).
 */
const FLOATS_PER_CELL_ONCE = 6;
/** Float64 values per feature besides the cells: statistics, pass-2 context, replay sums, report arrays. */
const FLOATS_PER_FEATURE = 48;
/** What Node and the code take before any data (measured ~50 MiB RSS for the CLI). */
const BASELINE_BYTES = 64 * MiB;

/** One line of the estimate: what holds memory, and how much. */
export interface MemoryItem {
  readonly what: string;
  readonly bytes: number;
  /** The limit that changes this item, if any. */
  readonly hint?: NormLensHint;
}

/** The estimate of an analysis's peak memory, item by item. */
export interface MemoryEstimate {
  readonly bytes: number;
  readonly items: readonly MemoryItem[];
}

/**
 * True when the analysis takes the reduced per-token path (tokenBlocks.ts): more tokens than
 * maxTokenSeries, and an input read in any order (each block is read twice in pass 2; a compressed
 * npz member would restart its decompression for every block).
 */
export function usesReducedTokens(plan: AnalysisPlan): boolean {
  return plan.tokens > plan.maxTokenSeries && plan.randomAccess;
}

/** Tokens whose per-token arrays are alive at once: all of them, or one block in the reduced path. */
export function tokensHeldAtOnce(plan: AnalysisPlan): number {
  return usesReducedTokens(plan) ? Math.min(plan.tokens, REDUCED_TOKEN_BLOCK) : plan.tokens;
}

/**
 * Estimates the peak memory of analyzing `plan` with `workers` worker threads (0: in process):
 * chunk buffers (two in flight per reader, input and output), per-token arrays (all tokens up to
 * maxTokenSeries, else one block), per-(unit, feature) cells in every partial, per-feature arrays,
 * and the mask. An upper-bound style estimate: it errs on the large side.
 */
export function estimateAnalysisMemory(plan: AnalysisPlan, workers: number): MemoryEstimate {
  const readers = Math.max(1, workers);
  const streams = plan.outputName !== null ? 2 : 1;
  // A chunk holds at most chunkElements decoded values (8 bytes each at most), and never more than the tensor.
  // The feature-block path holds one block's cells and per-feature arrays, plus 4 bytes per feature
  // (the float32 RMS of the outlier median) and the plan's per-feature vectors; its chunks are the blocks'.
  const blocked = usesFeatureBlocks(plan);
  const featuresAtOnce = blocked ? Math.min(plan.features, featureBlockFeatures(plan)) : plan.features;
  const chunkElements = blocked ? Math.max(featuresAtOnce, Math.floor(plan.chunkBytes / 8)) : plan.chunkElements;
  const decoded = Math.min(chunkElements, plan.tokens * plan.features) * 8;
  const partials = readers + 2;
  const cells = plan.units * featuresAtOnce;
  const items: MemoryItem[] = [
    { what: 'Node and NormLens itself', bytes: BASELINE_BYTES },
    { what: `chunk buffers (${readers} reader${readers === 1 ? '' : 's'} × ${streams * 2} chunks of ${(decoded / MiB).toFixed(decoded < MiB ? 2 : 0)} MiB)`, bytes: readers * streams * 2 * decoded * 2 },
    {
      what: `per-token arrays of ${formatCount(tokensHeldAtOnce(plan))} tokens${plan.tokens > plan.maxTokenSeries && !plan.randomAccess ? ' (a compressed member is read front to back, so its per-token series are kept in full; save it uncompressed, np.savez, to have them reduced)' : ''}`,
      bytes: tokensHeldAtOnce(plan) * FLOATS_PER_TOKEN * 8,
      hint: { kind: 'limit', setting: 'normlens.limits.maxTokenSeries', flag: '--max-token-series', value: Math.min(plan.maxTokenSeries, REDUCED_TOKEN_BLOCK) },
    },
    {
      what: `per-(batch entry, feature) accumulators of ${formatCount(cells)} cells (${plan.units} batch ${plan.units === 1 ? 'entry' : 'entries'} × ${formatCount(plan.features)} features, ${partials} partials)`,
      bytes: cells * (FLOATS_PER_CELL * partials + FLOATS_PER_CELL_ONCE + (plan.outputName !== null ? 4 * readers : 0)) * 8,
    },
    {
      what: blocked
        ? `per-feature statistics of one block of ${formatCount(featuresAtOnce)} features (${formatCount(plan.features)} features in blocks)`
        : `per-feature statistics of ${formatCount(plan.features)} features${plan.features > plan.maxFeatureSeries ? (plan.tokens > plan.maxTokenSeries ? ` (kept in full: the ${formatCount(plan.tokens)} tokens are over maxTokenSeries too, and feature blocks need the tokens within their cap)` : ' (kept in full: a compressed member is read front to back; save it uncompressed, np.savez, to have it analyzed by feature blocks)') : ''}`,
      bytes: featuresAtOnce * FLOATS_PER_FEATURE * 8 + (blocked ? plan.features * 4 : 0),
      // Lowering the per-feature cap helps when the feature-block path would then be taken.
      ...(!blocked && plan.tokens <= plan.maxTokenSeries && plan.randomAccess && plan.features > 1
        ? { hint: { kind: 'limit' as const, setting: 'normlens.limits.maxFeatureSeries', flag: '--max-feature-series', value: Math.min(1 << 20, Math.floor(plan.features / 2)) } }
        : {}),
    },
    { what: 'the mask', bytes: plan.mask ? plan.tokens : 0 },
  ];
  return { bytes: items.reduce((a, b) => a + b.bytes, 0), items };
}

/**
 * Throws one NormLensError('limit') when the estimate exceeds plan.maxMemoryMB: it names the largest
 * item and the setting/flag that raises the budget (and the one that shrinks the item, if any).
 */
export function checkMemoryBudget(plan: AnalysisPlan, workers: number): MemoryEstimate {
  const estimate = estimateAnalysisMemory(plan, workers);
  const budget = plan.maxMemoryMB * MiB;
  if (estimate.bytes <= budget) return estimate;
  const largest = estimate.items.slice(1).sort((a, b) => b.bytes - a.bytes)[0]!;
  const needed = Math.ceil(estimate.bytes / MiB);
  const shape = `(${plan.shape.join(', ')}${plan.shape.length === 1 ? ',' : ''})`;
  const hints: NormLensHint[] = [{ kind: 'limit', setting: 'normlens.limits.maxMemoryMB', flag: '--max-memory-mb', value: Math.ceil(needed / 256) * 256 }];
  if (largest.hint) hints.push(largest.hint);
  // Feature blocks hold every token's statistics: with both axes over their caps neither reduction applies.
  const both =
    plan.features > plan.maxFeatureSeries && plan.tokens > plan.maxTokenSeries
      ? ` Both axes are over their caps: ${formatCount(plan.tokens)} tokens > maxTokenSeries (${formatCount(plan.maxTokenSeries)}) and ${formatCount(plan.features)} features > maxFeatureSeries (${formatCount(plan.maxFeatureSeries)}); per-token and per-feature reductions do not combine, so the features are kept in full.`
      : '';
  throw new NormLensError(
    'limit',
    `analyzing '${plan.inputName}' ${shape} would need about ${needed} MiB, over the memory budget of ${plan.maxMemoryMB} MiB; the largest part is ${largest.what} (${Math.ceil(largest.bytes / MiB)} MiB).${both} Raise the memory budget${largest.hint ? (largest.hint.kind === 'limit' && largest.hint.setting.endsWith('maxFeatureSeries') ? ', lower the per-feature series cap' : ', lower the per-token series cap') : ''}, or analyze a slice of the tensor (or pick another feature axis).`,
    hints,
  );
}

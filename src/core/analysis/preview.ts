import { allocateDecoded, DTYPE_ITEMSIZE } from '../formats/dtypes';
import type { DecodedValues, Dump, TensorHandle, TensorInfo, TensorRole } from '../formats/types';
import type { AnalysisReport } from '../report/analysisReport';
import { analyzeDump, type AnalysisRunHooks } from './analyze';
import { planAnalysis, type AnalysisOptions, type AnalysisPlan } from './plan';
import { formatCount } from '../count';

/** Tokens a preview analyzes at most (evenly spread over the input). */
export const PREVIEW_TOKENS = 2048;
/** Most input elements a preview reads (4 MiB of float32): keeps it near 0.1 s whatever the feature count. */
export const PREVIEW_MAX_ELEMENTS = 1 << 20;
/**
 * Most (batch element, feature) cells a preview keeps when it keeps only some batch elements: each
 * kept element has per-feature statistics of its own (16 elements at 4,096 features; more with fewer
 * features, never fewer than PREVIEW_BATCH_ELEMENTS).
 */
export const PREVIEW_UNIT_CELLS = 1 << 16;
/** Fewest batch elements a preview keeps (evenly spread) when it cannot keep them all. */
export const PREVIEW_BATCH_ELEMENTS = 16;
/** Chunk size of a preview's passes (a few chunks per pass rather than one). */
const PREVIEW_CHUNK_BYTES = 1 << 20;
/** Channels-first positions are read in runs of this many (fewer, larger reads than single positions). */
const POSITION_RUN = 64;
/** Gathered source runs closer than this many elements apart (and than a run's length) are read with one read. */
const MERGE_GAP_ELEMENTS = 1024;

/**
 * Which tokens of the input a preview reads: the subset's shape (the input's layout with fewer
 * tokens) and the source element ranges it is made of, in the subset's C order.
 */
export interface TokenSubset {
  /** Shape of the subset tensor: feature-last `(B, m, F)` or `(n, F)`, channels-first `(N', C, L')`. */
  readonly shape: readonly number[];
  /** Feature axis of the subset (last, or 1 for channels-first). */
  readonly featureAxis: number;
  /** Source token indices of the subset's tokens, in the subset's token order (C order). */
  readonly tokens: readonly number[];
  /** The dump's batch element of each of the subset's, when it keeps only some of them (feature-last). */
  readonly batchElements?: readonly number[];
  /** Tokens of the whole input. */
  readonly totalTokens: number;
  /** Source element start of each run, in subset order; every run is `runLength` long. */
  readonly runStarts: Float64Array;
  readonly runLength: number;
}

/** `count` indices evenly spread over [0, n): floor(k·n / count), the first is 0. */
export function evenlySpread(n: number, count: number): number[] {
  const c = Math.max(0, Math.min(n, count));
  return Array.from({ length: c }, (_, k) => Math.floor((k * n) / c));
}

/**
 * Chooses at most `maxTokens` evenly spread tokens of the planned input (and at most `maxElements`
 * elements). Feature-last: whole token rows at an even stride (per batch element for rank ≥ 3, so
 * the subset keeps the batch axis). Channels-first: evenly spread samples, and in each the same
 * evenly spread runs of positions. Returns null when the input is not larger than the subset.
 */
export function chooseTokenSubset(plan: Pick<AnalysisPlan, 'shape' | 'outer' | 'features' | 'inner' | 'tokens'>, maxTokens = PREVIEW_TOKENS, maxElements = PREVIEW_MAX_ELEMENTS): TokenSubset | null {
  const { shape, outer, features: F, inner, tokens } = plan;
  const budget = Math.max(1, Math.min(maxTokens, Math.floor(maxElements / Math.max(1, F))));
  if (tokens <= budget) return null;
  if (inner === 1) {
    // Feature-last: keep the batch axis of a (B, ..., F) input, in evenly spread batch elements, as
    // many as PREVIEW_UNIT_CELLS allows (the per-element statistics of 128 elements × 2 tokens each
    // made a 2 GiB dump's preview cost 3× as much as its reads).
    const B = shape.length >= 3 ? shape[0]! : 1;
    const perB = tokens / B;
    const kept = Math.min(B, Math.max(PREVIEW_BATCH_ELEMENTS, Math.floor(PREVIEW_UNIT_CELLS / Math.max(1, F))));
    const m = Math.min(perB, Math.floor(budget / kept));
    const keepBatch = kept > 1 && m >= 1;
    const elements = evenlySpread(B, kept);
    const picked = keepBatch ? elements.flatMap((b) => evenlySpread(perB, m).map((t) => b * perB + t)) : evenlySpread(tokens, budget);
    const runStarts = Float64Array.from(picked, (t) => t * F);
    return {
      shape: keepBatch ? [kept, m, F] : [picked.length, F],
      featureAxis: keepBatch ? 2 : 1,
      tokens: picked,
      ...(keepBatch && kept < B ? { batchElements: elements } : {}),
      totalTokens: tokens,
      runStarts,
      runLength: F,
    };
  }
  // Channels-first (outer, F, inner): samples × runs of positions, the same runs in every sample.
  const run = Math.min(inner, POSITION_RUN);
  const runsPerSample = Math.floor(inner / run);
  const samples = Math.max(1, Math.min(outer, Math.floor(budget / run)));
  const runs = Math.max(1, Math.min(runsPerSample, Math.floor(budget / samples / run)));
  const sampleIdx = evenlySpread(outer, samples);
  const runIdx = evenlySpread(runsPerSample, runs);
  const positions = runs * run;
  const picked: number[] = [];
  for (const o of sampleIdx) for (const r of runIdx) for (let i = 0; i < run; i++) picked.push(o * inner + r * run + i);
  const runStarts = new Float64Array(samples * F * runs);
  let k = 0;
  for (const o of sampleIdx) for (let f = 0; f < F; f++) for (const r of runIdx) runStarts[k++] = (o * F + f) * inner + r * run;
  return { shape: [samples, F, positions], featureAxis: 1, tokens: picked, totalTokens: tokens, runStarts, runLength: run };
}

/**
 * A view of `source` made of the subset's runs, in order: reads gather the runs they cover, in one
 * source read per group of nearby runs (all issued at once), never more than the runs plus small gaps.
 */
export function gatherTensor(source: TensorHandle, subset: TokenSubset, name = source.info.name): TensorHandle {
  const size = subset.runStarts.length * subset.runLength;
  const info: TensorInfo = { name, dtype: source.info.dtype, shape: [...subset.shape], size, byteLength: size * DTYPE_ITEMSIZE[source.info.dtype] };
  const L = subset.runLength;
  const read = async (start: number, count: number): Promise<DecodedValues> => {
    const out = allocateDecoded(info.dtype, count);
    const end = start + count;
    const pending: Promise<void>[] = [];
    let k = start;
    while (k < end) {
      // One group: consecutive runs whose source ranges are close, read with one source read.
      const r0 = Math.floor(k / L);
      const from = subset.runStarts[r0]! + (k - r0 * L);
      let r = r0;
      let until = Math.min(end, (r0 + 1) * L);
      while (until < end) {
        const next = subset.runStarts[r + 1]!;
        const prevEnd = subset.runStarts[r]! + L;
        // A gap no longer than a run: at most twice the subset is read.
        if (next < prevEnd || next - prevEnd > Math.min(MERGE_GAP_ELEMENTS, L)) break;
        r++;
        until = Math.min(end, (r + 1) * L);
      }
      const groupStart = k;
      const groupEnd = until;
      const srcEnd = subset.runStarts[r]! + (groupEnd - r * L);
      pending.push(
        source.read(from, srcEnd - from).then((values) => {
          for (let j = groupStart; j < groupEnd; ) {
            const rj = Math.floor(j / L);
            const stop = Math.min(groupEnd, (rj + 1) * L);
            const at = subset.runStarts[rj]! + (j - rj * L) - from;
            out.set(values.subarray(at, at + (stop - j)), j - start);
            j = stop;
          }
        }),
      );
      k = groupEnd;
    }
    await Promise.all(pending);
    return out;
  };
  return { info, randomAccess: true, read };
}

/** An in-memory tensor (the subset's mask). */
function memoryTensor(name: string, shape: readonly number[], values: Float64Array): TensorHandle {
  return { info: { name, dtype: 'float64', shape: [...shape], size: values.length, byteLength: values.length * 8 }, randomAccess: true, read: async (s, c) => values.slice(s, s + c) };
}

/** A tensor read once into memory (a gathered subset; other tensors are per-feature or the mask, already small). */
async function held(t: TensorHandle): Promise<TensorHandle> {
  const values = await t.read(0, t.info.size);
  return { info: t.info, randomAccess: true, read: async (s, c) => values.subarray(s, s + c) };
}

/** A preview: the exact report of a token subset, and what it was computed from. */
export interface PreviewResult {
  /** The report of the subset (exact on it), its warnings left out: they would speak of the subset. */
  readonly report: AnalysisReport;
  readonly sampledTokens: number;
  readonly totalTokens: number;
  /** "Preview from 2,048 of 16,384 tokens". */
  readonly label: string;
  /** The dump's batch element of each of the report's, when the preview kept only some of them. */
  readonly batchElements?: readonly number[];
}

/** The label of a preview: "Preview from 2,048 of 16,384 tokens". */
export function previewLabel(sampled: number, total: number): string {
  return `Preview from ${formatCount(sampled)} of ${formatCount(total)} tokens`;
}

/**
 * The dump of the subset: the input (and a recorded output) gathered, the mask as the plan read it
 * restricted to the subset's tokens, per-feature tensors as they are; with options naming each role.
 */
export function subsetDump(dump: Dump, plan: AnalysisPlan, subset: TokenSubset, options: AnalysisOptions): { dump: Dump; options: AnalysisOptions } {
  const byName = (n: string | null | undefined) => (n ? dump.tensors.find((t) => t.info.name === n) : undefined);
  const input = byName(plan.inputName)!;
  const tensors: TensorHandle[] = [gatherTensor(input, subset)];
  const roles = new Map<string, TensorRole>([[plan.inputName, 'input']]);
  const output = plan.outputName !== null ? byName(plan.outputName) : undefined;
  if (output) {
    tensors.push(gatherTensor(output, subset));
    roles.set(output.info.name, 'output');
  }
  let maskName: string | undefined;
  if (plan.mask) {
    maskName = plan.tensors.mask?.name ?? 'mask';
    const tokenShape = subset.shape.filter((_, i) => i !== subset.featureAxis);
    tensors.push(memoryTensor(maskName, tokenShape, Float64Array.from(subset.tokens, (t) => plan.mask![t]!)));
    roles.set(maskName, 'mask');
  }
  const perFeature: [TensorRole, string | undefined][] = [
    ['weight', plan.tensors.weight?.name],
    ['bias', plan.tensors.bias?.name],
    ['running_mean', plan.tensors.runningMean?.name],
    ['running_var', plan.tensors.runningVar?.name],
  ];
  for (const [role, name] of perFeature) {
    const t = byName(name);
    if (!t) continue;
    tensors.push(t);
    roles.set(t.info.name, role);
  }
  const { mask: _m, output: _o, weight: _w, bias: _b, runningMean: _rm, runningVar: _rv, ignoreMask: _i, ...rest } = options;
  return {
    dump: { format: dump.format, tensors, metadata: dump.metadata, eps: plan.eps },
    options: { ...rest, tensor: plan.inputName, featureAxis: subset.featureAxis, eps: plan.eps, roles, ...(maskName ? { mask: maskName } : {}), ...(output ? { output: output.info.name } : {}) },
  };
}

/**
 * A first look at a large dump: plans the analysis as the exact run would, chooses an evenly spread
 * token subset, and analyzes it in this thread (bounded reads of the subset only). Null when the
 * input is small enough to need no preview, or cannot be read out of order (compressed npz).
 */
export async function analyzePreview(dump: Dump, options: AnalysisOptions, hooks: AnalysisRunHooks = {}, description = 'dump', maxTokens = PREVIEW_TOKENS): Promise<PreviewResult | null> {
  return previewOfPlan(dump, await planAnalysis(dump, options), options, hooks, description, maxTokens);
}

/** {@link analyzePreview} with the exact run's plan (the dump opened and planned once for both). */
export async function previewOfPlan(dump: Dump, plan: AnalysisPlan, options: AnalysisOptions, hooks: AnalysisRunHooks = {}, description = 'dump', maxTokens = PREVIEW_TOKENS): Promise<PreviewResult | null> {
  if (!plan.randomAccess) return null;
  const subset = chooseTokenSubset(plan, maxTokens);
  if (!subset) return null;
  const gathered = subsetDump(dump, plan, subset, options);
  // The subset (≤ PREVIEW_MAX_ELEMENTS values per tensor) is read once and held: both passes read it.
  const sub = { ...gathered, dump: { ...gathered.dump, tensors: await Promise.all(gathered.dump.tensors.map(held)) } };
  // Small chunks: the thread that runs a preview (the extension host) gets to handle its events between them.
  const report = await analyzeDump(sub.dump, { ...sub.options, chunkBytes: PREVIEW_CHUNK_BYTES, subBatches: false }, hooks, description);
  report.warnings = [];
  // The subset's axis is given to its analysis; the rule that chose it is the exact run's.
  report.layout.featureAxisRule = plan.featureAxisRule;
  return {
    report,
    sampledTokens: subset.tokens.length,
    totalTokens: subset.totalTokens,
    label: previewLabel(subset.tokens.length, subset.totalTokens),
    ...(subset.batchElements ? { batchElements: subset.batchElements } : {}),
  };
}

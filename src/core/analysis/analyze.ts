import { reductionKernels } from './kernels/wasmKernelLoader';
import type { DecodedValues, Dump } from '../formats/types';
import type { AnalysisReport } from '../report/analysisReport';
import { buildPass1Sections, buildReport, type Pass1ReportSections, type SampleChannelReportInput } from './buildReport';
import { mergePass1Adopting, runPass1, type Pass1Partial } from './pass1';
import { mergePass2, runPass2, type Pass2Partial } from './pass2';
import { buildSharedPass2Context, pass2ContextFor, type Pass2Context } from './pass2Context';
import { planAnalysis, resolvePlanTensors, type AnalysisOptions, type AnalysisPlan } from './plan';
import {
  buildSampleChannelSetup,
  chooseGroups,
  groupCandidates,
  groupFitContext,
  groupFitRange,
  sampleChannelMoments,
  sampleChannelUnavailable,
} from './sampleChannelNorms';
import { checkMemoryBudget, usesReducedTokens } from './memoryBudget';
import { computePass1Statistics } from './statistics';
import { executeReducedTokens } from './tokenBlocks';
import { executeFeatureBlocks, usesFeatureBlocks } from './featureBlockAnalysis';
import { splitTokens, throwIfCancelled, type CancellationFlag, type TokenRange } from './tiles';

/** How a run reports back: cancellation and progress (fraction of both passes done, 0..1). */
export interface AnalysisRunHooks {
  readonly cancellation?: CancellationFlag;
  onProgress?(fraction: number): void;
  /** Passed on to the passes (PassHooks.release): a chunk's values are no longer used. */
  release?(values: DecodedValues): void;
  /** Called at each step of the run (`opened`, `planned`, `pass1-done`, `pass2-sent`, `pass2-done`, `passes-done`), for timing logs. */
  onMark?(name: string): void;
}

/**
 * Runs the passes over token ranges somewhere (this thread, worker threads). Implementations return
 * one partial per range; `executeAnalysis` merges them exactly and finalizes.
 */
export interface PassExecutor {
  /** Worker threads used (0 for in-process). */
  readonly workers: number;
  /** How many ranges to split the tokens into. */
  readonly parallelism: number;
  runPass1(plan: AnalysisPlan, ranges: readonly TokenRange[], onElements: (n: number) => void): Promise<Pass1Partial[]>;
  runPass2(plan: AnalysisPlan, ranges: readonly TokenRange[], contexts: readonly Pass2Context[], onElements: (n: number) => void): Promise<Pass2Partial[]>;
}

/**
 * plan → pass 1 on every range → Chan merge → pass-2 context → pass 2 → merge → AnalysisReport.
 * First the memory estimate must fit plan.maxMemoryMB (else one NormLensError('limit')); inputs
 * with more tokens than plan.maxTokenSeries take the reduced per-token path (tokenBlocks.ts) when
 * they can be read in any order (not compressed npz members: re-reading a block would restart the
 * decompression, so they keep full per-token arrays, within the budget); inputs with more features
 * than plan.maxFeatureSeries (and tokens within their cap) take the feature-block path
 * (featureBlockAnalysis.ts), under the same condition.
 */
export async function executeAnalysis(plan: AnalysisPlan, executor: PassExecutor, source: { description: string; format: string }, hooks: AnalysisRunHooks = {}): Promise<AnalysisReport> {
  checkMemoryBudget(plan, executor.workers);
  if (usesFeatureBlocks(plan)) return executeFeatureBlocks(plan, executor, source, hooks);
  if (usesReducedTokens(plan)) return executeReducedTokens(plan, executor, source, hooks);
  const started = Date.now();
  const elements = plan.tokens * plan.features;
  const total = elements * (plan.outputName !== null ? 3 : 2);
  let done = 0;
  const onElements = (n: number): void => {
    done += n;
    hooks.onProgress?.(Math.min(1, done / total));
  };
  const ranges = plan.randomAccess ? splitTokens(plan, executor.parallelism) : [{ start: 0, end: plan.tokens }];
  const pass1 = executor.runPass1(plan, ranges, onElements);
  // The merge after pass 1 runs in WebAssembly: compile it while the workers read.
  if (executor.workers > 0) reductionKernels();
  const parts1: Pass1Partial[] = await pass1;
  throwIfCancelled(hooks.cancellation);
  hooks.onMark?.('pass1-done');
  // The merge takes over the first partial's cells; the partials are dropped right after.
  const p1 = mergePass1Adopting(plan, parts1);
  parts1.length = 0;
  const stats = computePass1Statistics(plan, p1);
  const plain = plan.weight === null && plan.bias === null;
  let shared = buildSharedPass2Context(plan, stats, p1);
  // GroupNorm / InstanceNorm of an (N, C, ...) input: exact statistics from the pass-1 moments; G from
  // --groups, else a bounded fit to the recorded output (first positions of sample 0), else 32.
  const unavailable = sampleChannelUnavailable(plan);
  let sampleChannel: SampleChannelReportInput = { setup: null, groups: null, reasons: { groupnorm: unavailable, instancenorm: unavailable } };
  if (unavailable === null) {
    const moments = sampleChannelMoments(plan, p1);
    let fit: { candidates: readonly number[]; sums: Float64Array } | null = null;
    if (plan.groups === null && plan.outputName !== null) {
      const range = groupFitRange(plan);
      const candidates = groupCandidates(plan.features);
      const context: Pass2Context = { ...pass2ContextFor(shared, stats, range, p1.tokenCount, plan.features, plain), groupFit: groupFitContext(plan, moments, candidates, shared.weight, shared.bias) };
      const [fitted] = await executor.runPass2(plan, [range], [context], () => undefined);
      throwIfCancelled(hooks.cancellation);
      if (fitted?.groupFit) fit = { candidates, sums: fitted.groupFit };
    }
    const groups = chooseGroups(plan, fit);
    const setup = buildSampleChannelSetup(plan, p1, moments, groups.groups, shared.weight, shared.bias);
    shared = { ...shared, sampleChannel: setup.context };
    sampleChannel = { setup, groups, reasons: { groupnorm: groups.reason, instancenorm: null } };
  }
  const pass1Done = Date.now();
  // Pass 2 reads the output too: progress counts its elements once more. The contexts (per-token
  // slices) are held by the executor only, until their ranges are sent.
  const onElements2 = plan.outputName !== null ? (n: number): void => onElements(2 * n) : onElements;
  const pass2 = executor.runPass2(
    plan,
    ranges,
    ranges.map((r) => pass2ContextFor(shared, stats, r, p1.tokenCount, plan.features, plain)),
    onElements2,
  );
  hooks.onMark?.('pass2-sent');
  // The requests are out: build the pass-1 sections of the report while the workers run pass 2.
  let pre: Pass1ReportSections;
  try {
    pre = buildPass1Sections(plan, p1, stats);
  } catch (e) {
    pass2.catch(() => undefined);
    throw e;
  }
  const parts2 = await pass2;
  throwIfCancelled(hooks.cancellation);
  hooks.onMark?.('pass2-done');
  const p2 = mergePass2(plan, parts2);
  parts2.length = 0;
  const pass2Done = Date.now();
  const report = buildReport(plan, source, p1, stats, shared, p2, {
    totalMs: 0,
    pass1Ms: pass1Done - started,
    pass2Ms: pass2Done - pass1Done,
    workers: executor.workers,
    chunkBytes: plan.chunkBytes,
  }, pre, sampleChannel);
  report.timing.totalMs = Date.now() - started;
  hooks.onProgress?.(1);
  return report;
}

/** Runs both passes in this thread, range after range (tests, small dumps, fallback without workers). */
export function inProcessExecutor(dump: Dump, hooks: AnalysisRunHooks = {}): PassExecutor {
  return {
    workers: 0,
    parallelism: 1,
    async runPass1(plan, ranges, onElements) {
      const tensors = resolvePlanTensors(dump, plan);
      const out: Pass1Partial[] = [];
      for (const r of ranges) out.push(await runPass1(tensors, plan, r, { cancellation: hooks.cancellation, onElements, ...(hooks.release ? { release: hooks.release } : {}) }));
      return out;
    },
    async runPass2(plan, ranges, contexts, onElements) {
      const tensors = resolvePlanTensors(dump, plan);
      const out: Pass2Partial[] = [];
      for (let k = 0; k < ranges.length; k++) out.push(await runPass2(tensors, plan, contexts[k]!, ranges[k]!, { cancellation: hooks.cancellation, onElements, ...(hooks.release ? { release: hooks.release } : {}) }));
      return out;
    },
  };
}

/** Analyzes an opened dump in this thread: the simplest entry point (tests, web extension). */
export async function analyzeDump(dump: Dump, options: AnalysisOptions = {}, hooks: AnalysisRunHooks = {}, description = 'dump'): Promise<AnalysisReport> {
  const plan = await planAnalysis(dump, options);
  return executeAnalysis(plan, inProcessExecutor(dump, hooks), { description, format: dump.format }, hooks);
}

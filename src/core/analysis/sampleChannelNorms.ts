import type { GroupsSource, SampleChannelNormKind } from '../report/analysisReport';
import { uniformEdges } from './histogram';
import { mergeMoments, mergeMomentsTree, momentsTreeStack } from './moments';
import { BATCHNORM_RUNNING_SLOT, normIndex } from './norms';
import type { Pass1Partial } from './pass1';
import type { GroupFitContext, SampleChannelContext, SampleChannelNormContext } from './pass2Context';
import type { AnalysisPlan } from './plan';
import { inverseRoot } from './statistics';

// GroupNorm and InstanceNorm of an (N, C, ...) input, from the exact pass-1 moments. Pass 1 keeps
// per-(batch unit, feature) moments of valid and of padding tokens; when the units are the samples
// (batch ≤ maxBatchEntries) and the features are the channels (feature axis 1), the moments of a
// (sample, channel) are the Chan merge of the two (PyTorch's GroupNorm/InstanceNorm have no mask),
// and those of a (sample, group) the tree merge of its channels'.

/** The default G of GroupNorm when neither `--groups` nor a recorded output gives one (diffusion UNets). */
export const DEFAULT_GROUPS = 32;
/** Most input elements the G fit reads (first positions of sample 0, every channel). */
export const GROUP_FIT_ELEMENTS = 1 << 18;

/** Count, mean and sum of squared deviations per cell (index n·K + k). */
export interface CellMoments {
  readonly count: Float64Array;
  readonly mean: Float64Array;
  readonly m2: Float64Array;
}

/**
 * Why GroupNorm / InstanceNorm cannot be computed for this plan (null when they can): they need an
 * input of rank ≥ 3 with the channels on axis 1, positions (inner > 1) and one accumulator per sample.
 */
export function sampleChannelUnavailable(plan: AnalysisPlan): string | null {
  const rank = plan.shape.length;
  const shape = `(${plan.shape.join(', ')})`;
  if (rank < 3 || plan.featureAxis !== 1) {
    return `GroupNorm and InstanceNorm need an (N, C, ...) input with the channels on axis 1; '${plan.inputName}' ${shape} is analyzed with its features on axis ${plan.featureAxis}. For a channels-first activation, pick feature axis 1.`;
  }
  if (plan.inner <= 1) return `'${plan.inputName}' ${shape} has a single position per channel: per-sample statistics over positions are degenerate.`;
  if (plan.batchElementsPerUnit > 1) {
    return `the batch of ${plan.batchSize} samples is larger than the per-sample accumulators kept (${plan.units} entries of ${plan.batchElementsPerUnit} samples), so per-sample statistics are not available. Analyze fewer samples (a slice of the batch) or raise maxBatchEntries.`;
  }
  return null;
}

/** Per-(sample, channel) moments over every position, padding included. */
export function sampleChannelMoments(plan: AnalysisPlan, p: Pass1Partial): CellMoments {
  const cells = plan.units * plan.features;
  const count = new Float64Array(cells);
  const mean = new Float64Array(cells);
  const m2 = new Float64Array(cells);
  const padded = p.paddingCount.length === cells;
  for (let i = 0; i < cells; i++) {
    const a = { n: p.validCount[i]!, mean: p.validCount[i]! > 0 ? p.validMean[i]! : 0, m2: p.validCount[i]! > 0 ? p.validM2[i]! : 0 };
    const m = padded ? mergeMoments(a, { n: p.paddingCount[i]!, mean: p.paddingCount[i]! > 0 ? p.paddingMean[i]! : 0, m2: p.paddingCount[i]! > 0 ? p.paddingM2[i]! : 0 }) : a;
    count[i] = m.n;
    mean[i] = m.n > 0 ? m.mean : NaN;
    m2[i] = m.m2;
  }
  return { count, mean, m2 };
}

/** Per-(sample, group) moments of the first `samples` samples: the tree merge of each group's channels (G divides C). */
export function groupMoments(plan: AnalysisPlan, m: CellMoments, groups: number, samples = plan.units): CellMoments {
  const C = plan.features;
  const N = samples;
  const per = C / groups;
  const count = new Float64Array(N * groups);
  const mean = new Float64Array(N * groups);
  const m2 = new Float64Array(N * groups);
  const indices = new Array<number>(per);
  const stack = momentsTreeStack(per);
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < groups; g++) {
      for (let k = 0; k < per; k++) indices[k] = n * C + g * per + k;
      const r = mergeMomentsTree(m.count, m.mean, m.m2, indices, stack);
      const i = n * groups + g;
      count[i] = r.n;
      mean[i] = r.n > 0 ? r.mean : NaN;
      m2[i] = r.m2;
    }
  }
  return { count, mean, m2 };
}

/** Divisors of `c` in increasing order. */
export function divisors(c: number): number[] {
  const out: number[] = [];
  for (let d = 1; d <= c; d++) if (c % d === 0) out.push(d);
  return out;
}

/** The G candidates the fit tries: every divisor of C but C itself (that is InstanceNorm), unless C = 1. */
export function groupCandidates(channels: number): number[] {
  const d = divisors(channels);
  return d.length > 1 ? d.slice(0, -1) : d;
}

/** Per-(sample, channel) scale, offset and centre of a norm with statistics per (sample, group). */
function scaleOffset(plan: AnalysisPlan, g: CellMoments, groups: number, weight: Float64Array, bias: Float64Array, samples: number): { scale: Float64Array; offset: Float64Array; centre: Float64Array } {
  const C = plan.features;
  const per = C / groups;
  const scale = new Float64Array(samples * C);
  const offset = new Float64Array(samples * C);
  const centre = new Float64Array(samples * C);
  for (let n = 0; n < samples; n++) {
    for (let c = 0; c < C; c++) {
      const i = n * groups + Math.floor(c / per);
      const cnt = g.count[i]!;
      const mu = cnt > 0 ? g.mean[i]! : 0;
      const r = cnt > 0 ? inverseRoot(g.m2[i]! / cnt + plan.eps) : 0;
      const at = n * C + c;
      scale[at] = r * weight[c]!;
      offset[at] = bias[c]! - mu * r * weight[c]!;
      centre[at] = mu;
    }
  }
  return { scale, offset, centre };
}

/** The G fit's context: scale/offset of every candidate for sample 0. */
export function groupFitContext(plan: AnalysisPlan, m: CellMoments, candidates: readonly number[], weight: Float64Array, bias: Float64Array): GroupFitContext {
  const C = plan.features;
  const scale = new Float64Array(candidates.length * C);
  const offset = new Float64Array(candidates.length * C);
  candidates.forEach((G, k) => {
    const so = scaleOffset(plan, groupMoments(plan, m, G, 1), G, weight, bias, 1);
    scale.set(so.scale, k * C);
    offset.set(so.offset, k * C);
  });
  return { candidates, scale, offset };
}

/** The token range the G fit reads: the first positions of sample 0, at most GROUP_FIT_ELEMENTS elements. */
export function groupFitRange(plan: AnalysisPlan): { start: number; end: number } {
  return { start: 0, end: Math.max(1, Math.min(plan.inner, Math.floor(GROUP_FIT_ELEMENTS / plan.features))) };
}

/** G and where it came from; `groups: null` with a reason when GroupNorm has none. */
export interface GroupsChoice {
  readonly groups: number | null;
  readonly source: GroupsSource | null;
  readonly reason: string | null;
  readonly fit?: { groups: number; rmsError: number }[];
}

/** Picks G: `--groups`, else the fitted one (Σ squared errors per candidate), else 32 when C divides by 32. */
export function chooseGroups(plan: AnalysisPlan, fit: { candidates: readonly number[]; sums: Float64Array } | null): GroupsChoice {
  if (plan.groups !== null) return { groups: plan.groups, source: 'option', reason: null };
  if (fit !== null) {
    const K = fit.candidates.length;
    const n = fit.sums[K]!;
    if (n > 0) {
      let best = 0;
      for (let k = 1; k < K; k++) if (fit.sums[k]! < fit.sums[best]!) best = k;
      return { groups: fit.candidates[best]!, source: 'fitted', reason: null, fit: fit.candidates.map((G, k) => ({ groups: G, rmsError: Math.sqrt(fit.sums[k]! / n) })) };
    }
  }
  if (plan.features % DEFAULT_GROUPS === 0) return { groups: DEFAULT_GROUPS, source: 'default', reason: null };
  return { groups: null, source: null, reason: `no number of groups: C = ${plan.features} channels is not a multiple of 32 and there is no recorded output to fit G to: give G (a divisor of ${plan.features}) with normlens analyze --groups G.` };
}

/** The per-(sample, channel) norms that apply, with their statistics; ready for pass 2 and the report. */
export interface SampleChannelSetup {
  readonly context: SampleChannelContext;
  /** The statistics of each norm of `context.norms` (same order): per (sample, group), G = groups. */
  readonly moments: readonly CellMoments[];
  readonly groupNorm: { readonly groups: number; readonly moments: CellMoments } | null;
  readonly instanceNorm: { readonly moments: CellMoments } | null;
  /**
   * Eval-mode BatchNorm with the running statistics (replay candidate `batchnorm-running`), present
   * when the plan has running_mean, running_var and a recorded output. Its `moments` entry is per
   * (sample, channel) around running_mean (mean = running_mean_c, m2 = Σ(x − running_mean_c)²);
   * the eps fit solves s² = running_var_c + eps per cell.
   */
  readonly batchNormRunning: { readonly runningVar: Float64Array } | null;
}

/** Per-(sample, channel) moments around the running mean: m2 = Σ(x − rm_c)² = m2_cell + n·(mean_cell − rm_c)². */
function aroundRunningMean(plan: AnalysisPlan, m: CellMoments, runningMean: Float64Array): CellMoments {
  const C = plan.features;
  const cells = plan.units * C;
  const count = new Float64Array(cells);
  const mean = new Float64Array(cells);
  const m2 = new Float64Array(cells);
  for (let i = 0; i < cells; i++) {
    const rm = runningMean[i % C]!;
    const n = m.count[i]!;
    const d = n > 0 ? m.mean[i]! - rm : 0;
    count[i] = n;
    mean[i] = rm;
    m2[i] = n > 0 ? m.m2[i]! + n * d * d : 0;
  }
  return { count, mean, m2 };
}

/** Eval-mode BatchNorm as per-(sample, channel) scale/offset (the same for every sample): w/√(rv + eps), b − rm·scale. */
function runningScaleOffset(plan: AnalysisPlan, runningMean: Float64Array, runningVar: Float64Array, weight: Float64Array, bias: Float64Array): { scale: Float64Array; offset: Float64Array; centre: Float64Array } {
  const C = plan.features;
  const N = plan.units;
  const scale = new Float64Array(N * C);
  const offset = new Float64Array(N * C);
  const centre = new Float64Array(N * C);
  for (let c = 0; c < C; c++) {
    const rm = runningMean[c]!;
    const s = inverseRoot(runningVar[c]! + plan.eps) * weight[c]!;
    const o = bias[c]! - rm * s;
    for (let n = 0; n < N; n++) {
      scale[n * C + c] = s;
      offset[n * C + c] = o;
      centre[n * C + c] = rm;
    }
  }
  return { scale, offset, centre };
}

/**
 * Builds the pass-2 context of GroupNorm (when `groups` is set), InstanceNorm and, with running
 * stats and a recorded output, eval-mode BatchNorm, with output edges spanning them over valid tokens (from the per-(unit, channel) valid min/max of pass 1).
 */
export function buildSampleChannelSetup(plan: AnalysisPlan, p: Pass1Partial, m: CellMoments, groups: number | null, weight: Float64Array, bias: Float64Array): SampleChannelSetup {
  const C = plan.features;
  const N = plan.units;
  const norms: SampleChannelNormContext[] = [];
  const moments: CellMoments[] = [];
  const add = (kind: SampleChannelNormKind, G: number, g: CellMoments): void => {
    norms.push({ kind, slot: normIndex(kind), groups: G, ...scaleOffset(plan, g, G, weight, bias, N) });
    moments.push(g);
  };
  const gm = groups !== null ? groupMoments(plan, m, groups) : null;
  if (gm !== null && groups !== null) add('groupnorm', groups, gm);
  add('instancenorm', C, m);
  // Eval-mode BatchNorm: only worth a row sweep when there is an output to explain.
  const rm = plan.runningMean;
  const rv = plan.runningVar;
  const running = rm !== null && rv !== null && plan.outputName !== null ? { runningVar: rv } : null;
  if (rm !== null && running !== null) {
    norms.push({ kind: 'batchnorm-running', slot: BATCHNORM_RUNNING_SLOT, groups: C, ...runningScaleOffset(plan, rm, running.runningVar, weight, bias) });
    moments.push(aroundRunningMean(plan, m, rm));
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (const norm of norms) {
    for (let i = 0; i < N * C; i++) {
      const a = p.validMin[i]!;
      const b = p.validMax[i]!;
      if (!(a <= b)) continue;
      const ya = a * norm.scale[i]! + norm.offset[i]!;
      const yb = b * norm.scale[i]! + norm.offset[i]!;
      const l = Math.min(ya, yb);
      const h = Math.max(ya, yb);
      if (l < lo) lo = l;
      if (h > hi) hi = h;
    }
  }
  // Widen by a few ulps so a value computed in the kernel never falls outside (as for the other norms).
  const pad = (Math.max(Math.abs(lo), Math.abs(hi)) || 1) * 1e-12;
  return {
    context: { norms, edges: uniformEdges(lo - pad, hi + pad, plan.bins) },
    moments,
    groupNorm: gm !== null && groups !== null ? { groups, moments: gm } : null,
    instanceNorm: { moments: m },
    batchNormRunning: running,
  };
}

import { REPLAY_CANDIDATE_SLOTS } from './norms';
import type { AnalysisPlan } from './plan';
import type { TokenRange } from './tiles';

/** Histogram kinds, in the order they are stored in `Pass2Partial.histograms`. */
export const HISTOGRAM_KINDS = ['input', 'layerNorm', 'rmsNorm', 'batchNorm'] as const;

/**
 * Pass 2 result for a token range: value histograms per batch unit (slot `units` collects padding
 * and is dropped), per-token shifted output sums, and the replay sums. Merges by addition/copy.
 */
export interface Pass2Partial {
  readonly tokenStart: number;
  readonly tokenEnd: number;
  /** Index ((slot·4 + kind)·bins + bin), slots 0..units (the last one is padding). */
  readonly histograms: Float64Array;
  /** Per token of the range: Σ(y−K) and Σ(y−K)² of each norm's output. */
  readonly layerNormSum: Float64Array;
  readonly layerNormSq: Float64Array;
  readonly rmsNormSum: Float64Array;
  readonly rmsNormSq: Float64Array;
  readonly batchNormSum: Float64Array;
  readonly batchNormSq: Float64Array;
  readonly replay: ReplaySums | null;
  /** Output histograms of the per-(sample, channel) norms (context.sampleChannel.norms order), valid tokens, bins each. */
  readonly sampleChannelHistograms: Float64Array;
  /** The G fit (context.groupFit): Σ squared error per candidate, then the compared count; null otherwise. */
  readonly groupFit: Float64Array | null;
}

/** Replay sums against the recorded output; `errors` holds the REPLAY_* scalars. */
export interface ReplaySums {
  /** Per token: Σ(x−mean)·y′ and Σy′² (y′ = recorded output with the affine undone), for LayerNorm. */
  readonly layerNormA: Float64Array;
  readonly layerNormB: Float64Array;
  /** Per token: Σx·y′ and Σy′² for RMSNorm. */
  readonly rmsNormA: Float64Array;
  readonly rmsNormB: Float64Array;
  /** Per feature: Σ(x−mean_f)·y′ and Σy′² for BatchNorm (all-token statistics). */
  readonly batchNormA: Float64Array;
  readonly batchNormB: Float64Array;
  /** Per feature: Σ(x − running_mean_f)·y′ and Σy′² for eval-mode BatchNorm on the feature-last kernel (zeros otherwise). */
  readonly batchNormRunningA: Float64Array;
  readonly batchNormRunningB: Float64Array;
  readonly errors: Float64Array;
  /**
   * Per-(sample, channel) norms (context order), index (j·N + n)·C + c: Σ(x − centre)·y′ and Σy′²
   * (summed over a group's channels for the eps fit).
   */
  readonly sampleChannelA: Float64Array;
  readonly sampleChannelB: Float64Array;
  /** Recorded finite values of valid tokens on the norm-output edges (plan.bins bins; outside values clamped to the end bins). */
  readonly recordedHistogram: Float64Array;
  /** Recorded finite values of valid tokens on the per-(sample, channel) norms' edges (empty when they do not apply). */
  readonly recordedSampleChannelHistogram: Float64Array;
  /** |recorded − replayed| per compared element on ERROR_EDGES: ERROR_BINS per norm, in NORMS order, then eval-mode BatchNorm. */
  readonly errorHistograms: Float64Array;
}

/** Decades and resolution of the replay error histograms: 10^-12 … 10^4, 4 bins per decade. */
export const ERROR_MIN_EXPONENT = -12;
export const ERROR_MAX_EXPONENT = 4;
export const ERROR_BINS_PER_DECADE = 4;
export const ERROR_BINS = (ERROR_MAX_EXPONENT - ERROR_MIN_EXPONENT) * ERROR_BINS_PER_DECADE;
/**
 * Fixed log-spaced edges of the error histograms (edge i = 10^(−12 + i/4)). Bin k holds errors in
 * [edge k, edge k+1); the first bin also holds every error below 10^-12 (exact zeros included), the
 * last bin also holds errors of 10^4 and more.
 */
export const ERROR_EDGES: Float64Array = (() => {
  const edges = new Float64Array(ERROR_BINS + 1);
  for (let i = 0; i <= ERROR_BINS; i++) edges[i] = 10 ** (ERROR_MIN_EXPONENT + i / ERROR_BINS_PER_DECADE);
  return edges;
})();
const ERROR_FIRST_UPPER = ERROR_EDGES[1]!;

/** Error-histogram bin of an absolute error `e` ≥ 0 (see ERROR_EDGES). */
export function errorBin(e: number): number {
  if (!(e >= ERROR_FIRST_UPPER)) return 0;
  const last = ERROR_BINS - 1;
  let k = Math.floor((Math.log10(e) - ERROR_MIN_EXPONENT) * ERROR_BINS_PER_DECADE);
  if (!(k <= last)) k = last;
  else if (k < 0) k = 0;
  if (k > 0 && e < ERROR_EDGES[k]!) k--;
  else if (k < last && e >= ERROR_EDGES[k + 1]!) k++;
  return k;
}

/**
 * Indices into ReplaySums.errors: norm j of NORMS has its largest error at 2·j and its sum of squared
 * errors at 2·j + 1; shared scalars follow.
 */
export const replayMaxSlot = (normIndex: number): number => 2 * normIndex;
export const replaySqSlot = (normIndex: number): number => 2 * normIndex + 1;
export const REPLAY_MAX_LN = 0;
export const REPLAY_SQ_LN = 1;
export const REPLAY_MAX_RMS = 2;
export const REPLAY_SQ_RMS = 3;
export const REPLAY_MAX_BN = 4;
export const REPLAY_SQ_BN = 5;
export const REPLAY_COMPARED = 2 * REPLAY_CANDIDATE_SLOTS;
export const REPLAY_SUM_SQ_OUTPUT = REPLAY_COMPARED + 1;
export const REPLAY_MAX_ABS_OUTPUT = REPLAY_COMPARED + 2;
export const REPLAY_NON_FINITE_OUTPUT = REPLAY_COMPARED + 3;
/** Recorded values of valid tokens outside the norm-output edges (counted in the end bins). */
export const REPLAY_RECORDED_CLAMPED = REPLAY_COMPARED + 4;
const REPLAY_SLOTS = REPLAY_COMPARED + 5;
const REPLAY_MAX_SLOTS = [...Array.from({ length: REPLAY_CANDIDATE_SLOTS }, (_, j) => 2 * j), REPLAY_MAX_ABS_OUTPUT];

/** An empty pass-2 partial for `range`. */
export function createPass2Partial(plan: AnalysisPlan, range: TokenRange, withReplay: boolean, sampleChannelNorms = 0, groupFitCandidates = 0): Pass2Partial {
  const n = range.end - range.start;
  const cells = sampleChannelNorms * plan.units * plan.features;
  return {
    tokenStart: range.start,
    tokenEnd: range.end,
    histograms: new Float64Array((plan.units + 1) * 4 * plan.bins),
    layerNormSum: new Float64Array(n),
    layerNormSq: new Float64Array(n),
    rmsNormSum: new Float64Array(n),
    rmsNormSq: new Float64Array(n),
    batchNormSum: new Float64Array(n),
    batchNormSq: new Float64Array(n),
    replay: withReplay
      ? {
          layerNormA: new Float64Array(n),
          layerNormB: new Float64Array(n),
          rmsNormA: new Float64Array(n),
          rmsNormB: new Float64Array(n),
          batchNormA: new Float64Array(plan.features),
          batchNormB: new Float64Array(plan.features),
          batchNormRunningA: new Float64Array(plan.features),
          batchNormRunningB: new Float64Array(plan.features),
          errors: new Float64Array(REPLAY_SLOTS),
          sampleChannelA: new Float64Array(cells),
          sampleChannelB: new Float64Array(cells),
          recordedHistogram: new Float64Array(plan.bins),
          recordedSampleChannelHistogram: new Float64Array(sampleChannelNorms > 0 ? plan.bins : 0),
          errorHistograms: new Float64Array(REPLAY_CANDIDATE_SLOTS * ERROR_BINS),
        }
      : null,
    sampleChannelHistograms: new Float64Array(sampleChannelNorms * plan.bins),
    groupFit: groupFitCandidates > 0 ? new Float64Array(groupFitCandidates + 1) : null,
  };
}

/** Merges pass-2 partials of disjoint token ranges into one covering all tokens. */
export function mergePass2(plan: AnalysisPlan, parts: readonly Pass2Partial[], range: TokenRange = { start: 0, end: plan.tokens }): Pass2Partial {
  const withReplay = parts.some((p) => p.replay !== null);
  const first = parts[0];
  const scNorms = first ? first.sampleChannelHistograms.length / plan.bins : 0;
  const all = createPass2Partial(plan, range, withReplay, scNorms, first?.groupFit ? first.groupFit.length - 1 : 0);
  for (const p of parts) mergePass2Into(all, p);
  return all;
}

/**
 * Merges `p` into `all`: sums add up, per-token entries are copied when `all` has room for them
 * (an `all` over an empty token range collects only the histograms and sums).
 */
export function mergePass2Into(all: Pass2Partial, p: Pass2Partial): void {
  const copy = all.layerNormSum.length > 0;
  {
    const at = p.tokenStart - all.tokenStart;
    addInto(all.histograms, p.histograms);
    addInto(all.sampleChannelHistograms, p.sampleChannelHistograms);
    if (all.groupFit && p.groupFit) addInto(all.groupFit, p.groupFit);
    if (copy) {
      all.layerNormSum.set(p.layerNormSum, at);
      all.layerNormSq.set(p.layerNormSq, at);
      all.rmsNormSum.set(p.rmsNormSum, at);
      all.rmsNormSq.set(p.rmsNormSq, at);
      all.batchNormSum.set(p.batchNormSum, at);
      all.batchNormSq.set(p.batchNormSq, at);
    }
    const r = p.replay;
    const a = all.replay;
    if (r && a) {
      if (copy) {
        a.layerNormA.set(r.layerNormA, at);
        a.layerNormB.set(r.layerNormB, at);
        a.rmsNormA.set(r.rmsNormA, at);
        a.rmsNormB.set(r.rmsNormB, at);
      }
      addInto(a.batchNormA, r.batchNormA);
      addInto(a.batchNormB, r.batchNormB);
      addInto(a.batchNormRunningA, r.batchNormRunningA);
      addInto(a.batchNormRunningB, r.batchNormRunningB);
      addInto(a.sampleChannelA, r.sampleChannelA);
      addInto(a.sampleChannelB, r.sampleChannelB);
      const e = a.errors;
      for (let i = 0; i < e.length; i++) e[i] = REPLAY_MAX_SLOTS.includes(i) ? Math.max(e[i]!, r.errors[i]!) : e[i]! + r.errors[i]!;
      addInto(a.recordedHistogram, r.recordedHistogram);
      addInto(a.recordedSampleChannelHistogram, r.recordedSampleChannelHistogram);
      addInto(a.errorHistograms, r.errorHistograms);
    }
  }
}

/** a[i] += b[i] over the shorter of the two. */
function addInto(a: Float64Array, b: Float64Array): void {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) a[i] += b[i]!;
}

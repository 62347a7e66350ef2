import type { AnalysisReport, AnalysisWarning, Replay, ReplayCandidate, ReplayCandidateKind, SubBatchResult } from '../report/analysisReport';
import { bestMatchText, candidateName } from './norms';
import { plural } from '../errors';
import { median } from './histogram';
import type { Pass1Partial } from './pass1';
import type { AnalysisPlan } from './plan';
import type { Pass1Statistics } from './statistics';

const LIST_LIMIT = 64;

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e4 || a < 1e-3 ? v.toExponential(3) : Number(v.toPrecision(4)).toString();
}

function listText(indices: readonly number[], total: number): string {
  const shown = indices.slice(0, 8).join(', ');
  return total > 8 ? `${shown}, … (${total} in all)` : shown;
}

/** Inputs of the checks, gathered by the report builder. */
export interface WarningInputs {
  readonly plan: AnalysisPlan;
  readonly p1: Pass1Partial;
  readonly stats: Pass1Statistics;
  readonly replay: Replay | null;
  readonly subBatches: readonly SubBatchResult[];
  readonly padding: AnalysisReport['padding'];
  readonly runningStats: AnalysisReport['runningStats'];
  /** The per-token findings when the per-token arrays were reduced (tokenBlocks.ts collects them block by block). */
  readonly tokenFindings?: TokenFindings;
  /** The per-feature findings when the input was analyzed by feature blocks (featureBlockAnalysis.ts). */
  readonly featureFindings?: FeatureFindings;
}

/** Per-feature findings of the checks, collected block by block (features above maxFeatureSeries). */
export interface FeatureFindings {
  /** Fewest valid values of any feature. */
  readonly minCount: number;
  /** Largest |var_all / var_valid − 1| over features (padding check), 0 without a mask. */
  readonly paddingMaxVarChange: number;
  /** running-stats-mismatch: first flagged features (at most 256), how many, worst mean shift. */
  readonly running: { features: number[]; count: number; maxMeanShift: number } | null;
  /** outlier-feature: first flagged features (at most 256) with their max |x|, how many, the largest, the exact median feature RMS. */
  readonly outlier: { features: number[]; maxAbs: number[]; count: number; top: number; median: number } | null;
}

/** Per-token findings of the checks: tokens with non-finite values, degenerate (near-constant) tokens. */
export interface TokenFindings {
  /** First tokens (at most 64) with a non-finite value. */
  readonly nonFinite: number[];
  /** First degenerate real tokens (at most 64), and how many there are. */
  readonly degenerate: number[];
  readonly degenerateCount: number;
}

/** Most tokens listed in a warning's details. */
export const TOKEN_LIST_LIMIT = LIST_LIMIT;

/** Runs every check of DESIGN.md and returns the warnings, errors first. */
export function collectWarnings(w: WarningInputs): AnalysisWarning[] {
  const { plan, p1, stats, replay } = w;
  const th = plan.thresholds;
  const out: AnalysisWarning[] = [...plan.planWarnings];
  const F = plan.features;
  const eps = plan.eps;
  const isValid = (t: number): boolean => plan.mask === null || plan.mask[t] === 1;

  // non-finite (input)
  const g = stats.global;
  const bad = g.nan + g.posInf + g.negInf;
  if (bad > th.nonFiniteCount) {
    const tokens: number[] = w.tokenFindings ? [...w.tokenFindings.nonFinite] : [];
    if (!w.tokenFindings) for (let t = 0; t < plan.tokens && tokens.length < LIST_LIMIT; t++) if (p1.tokenCount[t]! < F) tokens.push(t);
    out.push({
      code: 'non-finite',
      severity: 'error',
      message: `${bad} of ${g.count} values of '${plan.inputName}' are not finite (${g.nan} NaN, ${g.posInf} +Inf, ${g.negInf} −Inf); they were left out of every statistic here, but LayerNorm turns each affected token (first: ${listText(tokens, tokens.length)}) into NaN and BatchNorm each affected feature. Find where they arise (fp16 overflow, division by zero, uninitialized memory) before trusting the norm.`,
      details: { tensor: plan.inputName, nan: g.nan, posInf: g.posInf, negInf: g.negInf, tokens },
    });
  }
  // non-finite (recorded output)
  if (replay && replay.nonFinite > th.nonFiniteCount) {
    out.push({
      code: 'non-finite',
      severity: 'error',
      message: `${replay.nonFinite} values of the recorded output '${replay.tensor}' are NaN or ±Inf; they were left out of the replay. The norm overflowed or its input was already broken: check the input's non-finite values and the output dtype's range.`,
      details: { tensor: replay.tensor, count: replay.nonFinite },
    });
  }

  // recorded-output-mismatch
  if (replay) {
    const c = replay;
    const cands = c.candidates;
    const entries = Object.entries(cands) as [ReplayCandidateKind, ReplayCandidate][];
    const errors = Object.fromEntries(entries.map(([k, v]) => [k, v.maxAbsError]));
    const residuals = Object.fromEntries(entries.map(([k, v]) => [k, v.shapeResidual]));
    const names = entries.map(([k]) => candidateName(k));
    const namesText = names.length > 1 ? `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}` : names.join('');
    if (c.bestMatch === 'none') {
      out.push({
        code: 'recorded-output-mismatch',
        severity: 'error',
        message: `The recorded output '${c.tensor}' is not ${namesText} of '${plan.inputName}' over feature axis ${plan.featureAxis} for any eps (smallest max |error| ${fmt(c.maxAbsError)}, tolerance ${fmt(c.tolerance)}). Check that it was captured right after the norm (not after a residual add or dropout), that the weight and bias are in the dump (--weight/--bias), and the feature axis (--feature-axis).`,
        details: { tensor: c.tensor, maxAbsError: errors, tolerance: c.tolerance, shapeResidual: residuals },
      });
    } else if (!cands[c.bestMatch === 'batchnorm' && c.batchNormStatistics === 'running' ? 'batchnorm-running' : c.bestMatch]!.withinTolerance) {
      const fitted = c.fittedEps;
      const hint = fitted !== undefined ? ` The data fits eps ≈ ${fmt(fitted)} (eps used: ${fmt(eps)}); use eps ${fmt(fitted)} if that is the model's eps.` : '';
      out.push({
        code: 'recorded-output-mismatch',
        severity: 'warning',
        message: `The recorded output '${c.tensor}' has the shape of ${bestMatchText(c.bestMatch, c.batchNormStatistics)} of the input, but differs from it by up to ${fmt(c.maxAbsError)} (tolerance ${fmt(c.tolerance)} for ${c.dtype}).${hint}`,
        details: { tensor: c.tensor, bestMatch: c.bestMatch, maxAbsError: errors, tolerance: c.tolerance, fittedEps: fitted ?? null, eps, ...(fitted !== undefined ? { hints: [{ kind: 'eps', value: Number(fmt(fitted)) }] } : {}) },
      });
    }
  }

  // padding-in-batch-stats
  const pad = w.padding;
  if (pad) {
    let maxVarChange = w.featureFindings?.paddingMaxVarChange ?? 0;
    for (const r of pad.varRatio) if (Number.isFinite(r)) maxVarChange = Math.max(maxVarChange, Math.abs(r - 1));
    if (pad.maxMeanShift > th.paddingMeanShift || maxVarChange > th.paddingVarChange) {
      out.push({
        code: 'padding-in-batch-stats',
        severity: 'warning',
        message: `${pad.paddingTokens} of ${plural(plan.tokens, 'token')} ${pad.paddingTokens === 1 ? 'is' : 'are'} padding. BatchNorm over all tokens (what PyTorch's BatchNorm does, it has no mask) shifts feature means by up to ${fmt(pad.maxMeanShift)} std and variances by up to ${fmt(maxVarChange * 100)} % versus the real tokens only (features ${listText(pad.worstFeatures, pad.worstFeatures.length)}). Normalize only real tokens (masked statistics), or use LayerNorm, which is per token and ignores padding.`,
        details: { paddingTokens: pad.paddingTokens, maxMeanShift: pad.maxMeanShift, maxVarChange, features: pad.worstFeatures },
      });
    }
  }

  // small-batch
  let minCount = w.featureFindings?.minCount ?? Infinity;
  if (!w.featureFindings) for (let f = 0; f < F; f++) minCount = Math.min(minCount, stats.batchNorm.valid.count[f]!);
  if (minCount < th.smallBatchMinCount) {
    const relErr = minCount > 1 ? Math.sqrt(2 / (minCount - 1)) : Infinity;
    // Only a warning when this dump is about BatchNorm; otherwise context for the BN columns.
    const aboutBatchNorm = replay?.bestMatch === 'batchnorm' || plan.runningMean !== null || plan.runningVar !== null;
    out.push({
      code: 'small-batch',
      severity: aboutBatchNorm ? 'warning' : 'info',
      message:
        minCount <= 1
          ? `BatchNorm statistics here come from ${minCount} value per feature: the variance is 0 and training-mode BatchNorm fails ("Expected more than 1 value per channel when training"). Use a larger batch, LayerNorm/GroupNorm, or eval mode with running statistics.`
          : `BatchNorm statistics here come from only ${minCount} values per feature (below ${th.smallBatchMinCount}): the batch variance has a relative standard error of about ${fmt(relErr * 100)} %, so outputs and running statistics are noisy. Use larger batches, LayerNorm/GroupNorm, or SyncBatchNorm across devices.`,
      details: { minCount, threshold: th.smallBatchMinCount, batchSize: plan.batchSize },
    });
  }

  // batch-dependent-output
  // Not for eval-mode BatchNorm (running stats): its output does not depend on the batch.
  if (replay && replay.bestMatch === 'batchnorm' && replay.batchNormStatistics !== 'running') {
    const partial = w.subBatches.filter((s) => s.size < plan.batchSize && s.minCount > 1);
    const half = partial[partial.length - 1];
    if (!half || half.rmsShift > th.batchDependentShift) {
      out.push({
        code: 'batch-dependent-output',
        severity: 'warning',
        message: `The recorded output is BatchNorm with this batch's own statistics (training mode or track_running_stats=False), so every sample's output depends on the other samples${half ? `: with ${half.size} of ${plan.batchSize} batch elements the outputs move by ${fmt(half.rmsShift)} RMS (up to ${fmt(half.maxShift)}) in normalized units` : ''}. For inference call model.eval() so the running statistics are used; for sequence models prefer LayerNorm, whose output does not depend on the batch.`,
        details: { subBatchSize: half?.size ?? null, rmsShift: half?.rmsShift ?? null, maxShift: half?.maxShift ?? null, threshold: th.batchDependentShift },
      });
    }
  }

  // running-stats-mismatch: from the per-feature arrays, or from the feature blocks' findings.
  const rs = w.runningStats;
  const ff = w.featureFindings;
  let running: { features: number[]; count: number; maxMeanShift: number } | null = ff ? (ff.running && ff.running.count > 0 ? ff.running : null) : null;
  if (rs && !ff) {
    const features: number[] = [];
    for (let f = 0; f < F; f++) {
      const ratio = rs.varRatio[f]!;
      if (rs.meanShift[f]! > th.runningMeanShift || !(ratio <= th.runningVarRatio && ratio >= 1 / th.runningVarRatio)) features.push(f);
    }
    let worstMean = -Infinity;
    for (const v of rs.meanShift) if (Number.isFinite(v) && v > worstMean) worstMean = v;
    if (features.length > 0) running = { features, count: features.length, maxMeanShift: worstMean };
  }
  if (running) {
    // When the recorded output is eval-mode BatchNorm, the model did normalize this data with them.
    const evalMode = replay?.bestMatch === 'batchnorm' && replay.batchNormStatistics === 'running';
    const consequence = evalMode
      ? `The recorded output was produced with these running stats (the model is in eval mode), so it normalizes this data with stale statistics: its outputs are not zero-mean, unit-variance per channel.`
      : `In eval mode BatchNorm would normalize this data wrongly.`;
    out.push({
      code: 'running-stats-mismatch',
      severity: 'warning',
      message: `running_mean/running_var disagree with this batch's statistics in ${running.count} of ${plural(F, 'feature')} (${listText(running.features, running.count)}): means off by up to ${fmt(running.maxMeanShift)} batch std, variance ratios outside [${fmt(1 / th.runningVarRatio)}, ${fmt(th.runningVarRatio)}]. ${consequence} The running stats may be stale (few training steps, a different data distribution, a fine-tune with frozen BN): recalibrate them on representative data.`,
      details: { features: running.features.slice(0, 256), count: running.count, maxMeanShift: running.maxMeanShift, evalMode },
    });
  }

  // degenerate-token
  const degenerate: number[] = w.tokenFindings ? [...w.tokenFindings.degenerate] : [];
  let degenerateCount = w.tokenFindings?.degenerateCount ?? 0;
  for (let t = 0; t < (w.tokenFindings ? 0 : plan.tokens); t++) {
    if (!isValid(t) || p1.tokenCount[t]! === 0) continue;
    if (stats.layerNorm.var[t]! <= th.degenerateVarOverEps * eps) {
      degenerateCount++;
      if (degenerate.length < LIST_LIMIT) degenerate.push(t);
    }
  }
  if (degenerateCount > 0) {
    out.push({
      code: 'degenerate-token',
      severity: 'warning',
      message: `${plural(degenerateCount, 'real token')} (${listText(degenerate, degenerateCount)}) ${degenerateCount === 1 ? 'has' : 'have'} a variance at or below ${th.degenerateVarOverEps}·eps (${fmt(th.degenerateVarOverEps * eps)}): LayerNorm divides by √(var + eps), which eps dominates, so these tokens come out with std below 1 and their noise scaled by up to 1/√eps. Typical causes: constant or zeroed tokens (unmasked padding), dead activations, or an eps too large for the data's scale.`,
      details: { tokens: degenerate, count: degenerateCount, threshold: th.degenerateVarOverEps * eps },
    });
  }

  // outlier-feature
  const of = ff?.outlier;
  if (of && of.count > 0) {
    out.push({
      code: 'outlier-feature',
      severity: 'warning',
      message: `${plural(of.count, 'feature')} (${listText(of.features, of.count)}) ${of.count === 1 ? 'reaches' : 'reach'} |x| up to ${fmt(of.top)}, ${fmt(of.top / of.median)}× the median feature RMS (${fmt(of.median)}): massive activations. They dominate the variance of the tokens they occur in, so LayerNorm shrinks every other feature of those tokens, and they distort BatchNorm statistics and quantization ranges. Inspect these features (attention sinks, first tokens) before blaming the norm.`,
      details: { features: of.features.slice(0, 256), maxAbs: of.maxAbs.slice(0, 256), medianFeatureRms: of.median, factor: th.outlierFeatureFactor },
    });
  }
  const valid = stats.batchNorm.valid;
  const featureRms: number[] = [];
  for (let f = 0; f < F; f++) {
    const n = valid.count[f]!;
    if (n > 0) featureRms.push(Math.sqrt(valid.m2[f]! / n + valid.mean[f]! * valid.mean[f]!));
  }
  const typical = median(featureRms);
  if (typical > 0 && !ff) {
    const flagged: { f: number; v: number }[] = [];
    for (let f = 0; f < F; f++) {
      if (valid.count[f]! === 0) continue;
      const v = Math.max(Math.abs(valid.min[f]!), Math.abs(valid.max[f]!));
      if (v > th.outlierFeatureFactor * typical) flagged.push({ f, v });
    }
    if (flagged.length > 0) {
      const features = flagged.map((x) => x.f).slice(0, 256);
      let top = -Infinity;
      for (const x of flagged) if (x.v > top) top = x.v;
      out.push({
        code: 'outlier-feature',
        severity: 'warning',
        message: `${plural(flagged.length, 'feature')} (${listText(features, flagged.length)}) ${flagged.length === 1 ? 'reaches' : 'reach'} |x| up to ${fmt(top)}, ${fmt(top / typical)}× the median feature RMS (${fmt(typical)}): massive activations. They dominate the variance of the tokens they occur in, so LayerNorm shrinks every other feature of those tokens, and they distort BatchNorm statistics and quantization ranges. Inspect these features (attention sinks, first tokens) before blaming the norm.`,
        details: { features, maxAbs: flagged.map((x) => x.v).slice(0, 256), medianFeatureRms: typical, factor: th.outlierFeatureFactor },
      });
    }
  }
  const order = { error: 0, warning: 1, info: 2 } as const;
  return out.sort((a, b) => order[a.severity] - order[b.severity]);
}

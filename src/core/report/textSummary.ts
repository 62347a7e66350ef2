import { bestMatchText, NORMS } from '../analysis/norms';
import { plural, type NormLensHint } from '../errors';
import type { AnalysisReport, AnalysisWarning, SampleStatistics, SeriesSummary } from './analysisReport';
import { formatCount } from '../count';

function num(v: number): string {
  if (v === null || v === undefined || Number.isNaN(v)) return 'n/a';
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e5 || a < 1e-3 ? v.toExponential(3) : Number(v.toPrecision(5)).toString();
}

function shape(s: readonly number[]): string {
  return `(${s.join(', ')}${s.length === 1 ? ',' : ''})`;
}

function summary(s: SeriesSummary): string {
  const at = s.minToken !== undefined && s.maxToken !== undefined ? ` (min at token ${s.minToken}, max at token ${s.maxToken})` : '';
  return `mean ${num(s.mean)}, std ${num(s.std)}, range [${num(s.min)}, ${num(s.max)}]${at}`;
}

/** "1,234,567": counts people read. */
const count = formatCount;

/**
 * The line that says per-token arrays were reduced (null when they are full): "per-token series:
 * 16,777,216 tokens, shown as 2,048 min/max buckets of 8,192 tokens".
 */
export function reducedTokenNote(r: AnalysisReport): string | null {
  if (!r.layerNorm.perToken.reduced) return null;
  const s = r.layerNorm.series.mean;
  const tokens = (n: number): string => `${count(n)} ${n === 1 ? 'token' : 'tokens'}`;
  return `per-token series: ${tokens(s.length)}, shown as ${count(s.mean.length)} min/max buckets of ${tokens(s.bucketSize)} (over the cap of ${count(r.options.maxTokenSeries ?? 0)}; summaries exact)`;
}

/**
 * The line that says per-feature arrays were reduced (null when they are full): "per-feature series:
 * 16,777,216 features, shown as 2,048 min/max buckets of 8,192 features".
 */
export function reducedFeatureNote(r: AnalysisReport): string | null {
  if (!r.batchNorm.perFeature.reduced) return null;
  const s = r.batchNorm.series.mean;
  const features = (n: number): string => `${count(n)} ${n === 1 ? 'feature' : 'features'}`;
  return `per-feature series: ${features(s.length)}, shown as ${count(s.mean.length)} min/max buckets of ${features(s.bucketSize)} (over the cap of ${count(r.options.maxFeatureSeries ?? 0)}; summaries exact)`;
}

/** Hints attached to a warning (details.hints), when any. */
export function warningHints(w: AnalysisWarning): NormLensHint[] {
  const h = (w.details as { hints?: unknown } | null | undefined)?.hints;
  return Array.isArray(h) ? (h as NormLensHint[]) : [];
}

/** How the text summary says which rule chose the feature axis. */
const AXIS_RULE_TEXT: Readonly<Record<string, string>> = {
  given: ' (given)',
  parameters: ' (matches the parameters)',
  replay: ' (the one whose replay explains the output)',
  last: ' (last axis)',
};

/** Smallest and largest finite entry (no spread of unbounded arrays). */
export function finiteRange(values: readonly number[]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : [NaN, NaN];
}

function sampleRange(s: SampleStatistics): string {
  const [m0, m1] = finiteRange(s.mean);
  const [v0, v1] = finiteRange(s.var);
  return `mean range [${num(m0)}, ${num(m1)}], std range [${num(Math.sqrt(v0))}, ${num(Math.sqrt(v1))}]`;
}

/**
 * Renders the human-readable summary of a report (the default output of `normlens analyze`);
 * `renderHint` spells a warning's hints for the reader (the CLI: as flags), none by default.
 */
export function formatReportText(r: AnalysisReport, renderHint?: (h: NormLensHint) => string): string {
  const lines: string[] = [];
  const g = r.global;
  const L = r.layout;
  lines.push(`${r.source.description}: ${r.source.format}, input '${r.input.name}' ${r.input.dtype} ${shape(r.input.shape)}`);
  const roles = Object.entries(r.tensors)
    .filter(([, t]) => t !== null)
    .map(([role, t]) => `${role} '${t!.name}'${t!.used ? '' : ' (ignored)'}`);
  if (roles.length > 0) lines.push(`  with ${roles.join(', ')}`);
  lines.push(`layout: feature axis ${L.featureAxis}${AXIS_RULE_TEXT[L.featureAxisRule] ?? ''}, ${plural(L.tokens, 'token')} × ${plural(L.features, 'feature')}, batch ${L.batchSize}${L.paddingTokens > 0 ? `, ${plural(L.paddingTokens, 'padding token')}` : ''}; eps ${num(r.options.eps)}`);
  lines.push(`global: ${g.count} values, mean ${num(g.mean)}, std ${num(g.std)}, min ${num(g.min)}, max ${num(g.max)}${g.nan + g.posInf + g.negInf > 0 ? `, ${g.nan} NaN, ${g.posInf} +Inf, ${g.negInf} −Inf` : ''}`);
  lines.push('');
  lines.push('LayerNorm (per token, over features):');
  lines.push(`  token mean: ${summary(r.layerNorm.summary.mean)}`);
  lines.push(`  token std:  ${summary(r.layerNorm.summary.std)}`);
  const note = reducedTokenNote(r);
  if (note) lines.push(`  ${note}`);
  const top = r.layerNorm.perToken.top?.std.slice(0, 8);
  if (top && top.length > 0) lines.push(`  largest token std: ${top.map((x) => `token ${x.token} ${num(x.value)}`).join(', ')}`);
  lines.push('RMSNorm (per token):');
  lines.push(`  token rms:  ${summary(r.rmsNorm.summary.rms)}`);
  const bn = r.batchNorm.perFeature;
  const [meanLo, meanHi] = bn.summary ? [bn.summary.mean.min, bn.summary.mean.max] : finiteRange(bn.mean);
  const [varLo, varHi] = bn.summary ? [bn.summary.std.min ** 2, bn.summary.std.max ** 2] : finiteRange(bn.var);
  lines.push(`BatchNorm (per feature, over ${plural(bn.count, 'valid token')}):`);
  lines.push(`  feature mean: range [${num(meanLo)}, ${num(meanHi)}]`);
  lines.push(`  feature std:  range [${num(Math.sqrt(varLo))}, ${num(Math.sqrt(varHi))}]`);
  const featureNote = reducedFeatureNote(r);
  if (featureNote) lines.push(`  ${featureNote}`);
  const subs = r.batchDependence.subBatches.filter((s) => s.size < L.batchSize);
  if (subs.length > 0) {
    lines.push(`  batch dependence (RMS output shift vs full batch; LayerNorm: 0): ${subs.map((s) => `${s.size}: ${num(s.rmsShift)}`).join(', ')}`);
  }
  if (r.padding) lines.push(`  padding: ${plural(r.padding.paddingTokens, 'padding token')} shift feature means by up to ${num(r.padding.maxMeanShift)} std`);
  const absent: string[] = [];
  for (const d of NORMS.filter((n) => n.channelsFirstOnly)) {
    if (d.kind === 'groupnorm' && r.groupNorm) {
      const gn = r.groupNorm;
      lines.push(`${d.name} (${d.statistics}; G = ${gn.groups}, ${gn.groupsSource}):`);
      lines.push(`  per (sample, group): ${sampleRange(gn.perGroup)}`);
    } else if (d.kind === 'instancenorm' && r.instanceNorm) {
      lines.push(`${d.name} (${d.statistics}):`);
      lines.push(`  per (sample, channel): ${sampleRange(r.instanceNorm.perChannel)}`);
    } else {
      const reason = r.normAvailability?.[d.kind as 'groupnorm' | 'instancenorm'] ?? 'not available';
      if (absent.length > 0 && absent[absent.length - 1]!.endsWith(reason)) absent[absent.length - 1] = `${absent[absent.length - 1]!.split(':')[0]}, ${d.name}: ${reason}`;
      else absent.push(`${d.name}: ${reason}`);
    }
  }
  for (const a of absent) lines.push(`not computed — ${a}`);
  if (r.comparison) {
    const c = r.comparison;
    lines.push('');
    lines.push(`comparison with '${c.tensor}' (${c.dtype}): best match ${bestMatchText(c.bestMatch, c.batchNormStatistics)}${c.bestMatch === 'groupnorm' && c.groups !== undefined ? ` (G = ${c.groups})` : ''}, max |error| ${num(c.maxAbsError)} (tolerance ${num(c.tolerance)})${c.fittedEps !== undefined ? `, fitted eps ${num(c.fittedEps)}` : ''}`);
    for (const [kind, k] of Object.entries(c.candidates)) {
      lines.push(`  ${kind.padEnd(12)} max |error| ${num(k.maxAbsError)}, relative RMS ${num(k.relativeRmsError)}, shape residual ${num(k.shapeResidual)}${k.fittedEps !== null ? `, fitted eps ${num(k.fittedEps)}` : ''}`);
    }
  }
  lines.push('');
  if (r.warnings.length === 0) lines.push('no warnings');
  for (const w of r.warnings) {
    const hints = renderHint ? warningHints(w).map(renderHint) : [];
    lines.push(`${w.severity}: [${w.code}] ${w.message}${hints.length > 0 ? ` (try ${hints.join(', ')})` : ''}`);
  }
  return lines.join('\n') + '\n';
}

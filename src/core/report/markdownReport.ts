import { bestMatchText, NORMS } from '../analysis/norms';
import { plural } from '../errors';
import type { AnalysisReport, Histogram, SampleStatistics } from './analysisReport';
import { finiteRange, reducedFeatureNote, reducedTokenNote } from './textSummary';

/** Formats a number for a Markdown table: 4 significant digits, exponent for extremes. */
function num(v: number | null | undefined): string {
  if (v === null || v === undefined || Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v > 0 ? '+Inf' : '−Inf';
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e5 || a < 1e-3 ? v.toExponential(3) : String(Number(v.toPrecision(4)));
}

function shape(s: readonly number[]): string {
  return `(${s.join(', ')}${s.length === 1 ? ',' : ''})`;
}

function histMean(h: Histogram): number {
  let s = 0;
  let n = 0;
  h.counts.forEach((c, i) => {
    s += (c * (h.edges[i]! + h.edges[i + 1]!)) / 2;
    n += c;
  });
  return n ? s / n : NaN;
}

/** "mean in [a, b], std in [c, d]" of per-sample statistics. */
function sampleRange(s: SampleStatistics): string {
  const [m0, m1] = finiteRange(s.mean);
  const [v0, v1] = finiteRange(s.var);
  return `mean in [${num(m0)}, ${num(m1)}], std in [${num(Math.sqrt(v0))}, ${num(Math.sqrt(v1))}]`;
}

/** Escapes table-breaking characters in free text. */
function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/[\r\n]+/g, ' ');
}

/** A name from the file (tensor, file name) as inline code that cannot break out of its span or table. */
function code(s: string): string {
  const clean = cell(s);
  return clean.includes('`') ? `\`\` ${clean} \`\`` : `\`${clean}\``;
}

/** Renders the report as a Markdown document for pull requests, issues and notes. */
export function renderMarkdownReport(r: AnalysisReport): string {
  const out: string[] = [];
  const g = r.global;
  out.push(`# NormLens report: ${cell(r.source.description)}`, '');
  out.push(`Input ${code(r.input.name)} ${r.input.dtype} ${shape(r.input.shape)} from a ${r.source.format} dump; feature axis ${r.layout.featureAxis}: ${plural(r.layout.tokens, 'token')} × ${plural(r.layout.features, 'feature')}, batch ${r.layout.batchSize}, ${plural(r.layout.validTokens, 'valid token')}.`, '');
  out.push('## Warnings', '');
  if (r.warnings.length === 0) out.push('No warnings.', '');
  else {
    out.push('| severity | code | message |', '|---|---|---|');
    for (const w of r.warnings) out.push(`| ${w.severity} | \`${w.code}\` | ${cell(w.message)} |`);
    out.push('');
  }
  out.push('## Input', '', '| count | NaN | +Inf | −Inf | min | max | mean | std |', '|---|---|---|---|---|---|---|---|');
  out.push(`| ${g.count} | ${g.nan} | ${g.posInf} | ${g.negInf} | ${num(g.min)} | ${num(g.max)} | ${num(g.mean)} | ${num(g.std)} |`, '');
  out.push('## LayerNorm vs RMSNorm vs BatchNorm', '');
  out.push('| norm | eps | statistics | depends on the batch | token std after (mean) |', '|---|---|---|---|---|');
  out.push(`| LayerNorm | ${num(r.layerNorm.eps)} | per token over features | no | ${num(histMean(r.tokenDistributions.layerNorm.std))} |`);
  out.push(`| RMSNorm | ${num(r.rmsNorm.eps)} | per token over features, no centring | no | ${num(histMean(r.tokenDistributions.rmsNorm.std))} |`);
  out.push(`| BatchNorm | ${num(r.batchNorm.eps)} | per feature over ${plural(r.batchNorm.perFeature.count, 'token')} | yes | ${num(histMean(r.tokenDistributions.batchNorm.std))} |`, '');
  const ln = r.layerNorm.summary;
  out.push(`Per-token mean over valid tokens: ${num(ln.mean.mean)} ± ${num(ln.mean.std)} (min ${num(ln.mean.min)}, max ${num(ln.mean.max)}); per-token std: ${num(ln.std.mean)} ± ${num(ln.std.std)} (min ${num(ln.std.min)}, max ${num(ln.std.max)}).`, '');
  const note = reducedTokenNote(r);
  if (note) out.push(`${note.charAt(0).toUpperCase()}${note.slice(1)}.`, '');
  const featureNote = reducedFeatureNote(r);
  if (featureNote) out.push(`${featureNote.charAt(0).toUpperCase()}${featureNote.slice(1)}. ${r.batchNorm.perFeature.reduced!.how}`, '');
  if (r.batchDependence.subBatches.length) {
    out.push('### BatchNorm on sub-batches', '', '| sub-batch size | groups | RMS output shift | max output shift | LayerNorm shift |', '|---|---|---|---|---|');
    for (const s of r.batchDependence.subBatches) out.push(`| ${s.size} | ${s.groups} | ${num(s.rmsShift)} | ${num(s.maxShift)} | 0 |`);
    out.push('');
  }
  if (r.padding) out.push(`### Padding`, '', `${plural(r.padding.paddingTokens, 'padding token')} shift BatchNorm feature means by up to ${num(r.padding.maxMeanShift)} std (worst features: ${r.padding.worstFeatures.slice(0, 8).join(', ')}).`, '');
  out.push('### GroupNorm and InstanceNorm (per sample)', '');
  for (const d of NORMS.filter((n) => n.channelsFirstOnly)) {
    const gn = d.kind === 'groupnorm' ? r.groupNorm : null;
    const inn = d.kind === 'instancenorm' ? r.instanceNorm : null;
    if (gn) out.push(`- ${d.name} (${d.statistics}): G = ${gn.groups} (${gn.groupsSource}), ${gn.channelsPerGroup} channels per group over ${gn.samples} samples; per (sample, group) ${sampleRange(gn.perGroup)}.`);
    else if (inn) out.push(`- ${d.name} (${d.statistics}): per (sample, channel) ${sampleRange(inn.perChannel)}.`);
    else out.push(`- ${d.name}: not computed — ${cell(r.normAvailability?.[d.kind as 'groupnorm' | 'instancenorm'] ?? 'not available')}`);
  }
  out.push('');
  if (r.comparison) {
    const c = r.comparison;
    out.push('## Replay of the recorded output', '');
    out.push(`${code(c.tensor)} (${c.dtype}): best match **${bestMatchText(c.bestMatch, c.batchNormStatistics)}**${c.bestMatch === 'groupnorm' && c.groups !== undefined ? ` (G = ${c.groups})` : ''}, max |error| ${num(c.maxAbsError)} (tolerance ${num(c.tolerance)})${c.fittedEps !== undefined ? `, fitted eps ${num(c.fittedEps)}` : ''}.`, '');
    out.push('| candidate | max abs error | RMS error | fitted eps | within tolerance |', '|---|---|---|---|---|');
    for (const [k, v] of Object.entries(c.candidates)) out.push(`| ${k} | ${num(v.maxAbsError)} | ${num(v.rmsError)} | ${v.fittedEps === null ? '—' : num(v.fittedEps)} | ${v.withinTolerance ? 'yes' : 'no'} |`);
    out.push('');
  }
  out.push(`<sub>NormLens report schema ${r.schemaVersion}; analyzed in ${r.timing.totalMs} ms.</sub>`, '');
  return out.join('\n');
}

import type { SweepReport, SweepSite } from '../report/sweepReport';

const SEVERITY_RANK = { info: 0, warning: 1, error: 2 } as const;

/** True when a site has a warning at or above `failOn`; a site that could not be analyzed counts as an error. */
export function sweepFailOnTriggered(report: SweepReport, failOn: 'error' | 'warning' | 'never'): boolean {
  if (failOn === 'never') return false;
  const level = SEVERITY_RANK[failOn];
  return report.sites.some((s) => (s.error !== undefined && level <= SEVERITY_RANK.error) || s.warnings.some((w) => SEVERITY_RANK[w.severity] >= level));
}

/** A number in at most 4 significant digits (exponent form when very large or small). */
export function shortNumber(v: number | undefined): string {
  if (v === undefined || Number.isNaN(v)) return '-';
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(2);
  return String(Number(v.toPrecision(4)));
}

/** At most `max` items, then `+N more`. */
export function truncatedList(items: readonly string[], max: number): string {
  if (items.length === 0) return '-';
  if (items.length <= max) return items.join(',');
  return `${items.slice(0, max).join(',')} +${items.length - max} more`;
}

function shapeText(shape: readonly number[]): string {
  return shape.length === 0 ? '-' : `(${shape.join(', ')}${shape.length === 1 ? ',' : ''})`;
}

/** Warning codes of a site, each once, the most severe first (`outlier-feature×2` when repeated). */
function warningCodes(site: SweepSite): string[] {
  const counts = new Map<string, { n: number; rank: number }>();
  for (const w of site.warnings) {
    if (w.severity === 'info') continue;
    const c = counts.get(w.code) ?? { n: 0, rank: SEVERITY_RANK[w.severity] };
    c.n++;
    c.rank = Math.max(c.rank, SEVERITY_RANK[w.severity]);
    counts.set(w.code, c);
  }
  return [...counts.entries()].sort((a, b) => b[1].rank - a[1].rank).map(([code, c]) => (c.n > 1 ? `${code}×${c.n}` : code));
}

/** Truncates a cell to `max` characters with an ellipsis. */
function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** The cells of one site's line. */
function siteCells(site: SweepSite): string[] {
  if (site.error !== undefined) return [clip(site.name, 48), shapeText(site.shape), '-', '-', '-', '-', '-', `error: ${site.error}`];
  const s = site.summary;
  const match = s.bestMatch === undefined ? '-' : `${s.bestMatch}${s.batchNormStatistics === 'running' ? ' (running stats)' : ''}${s.bestMatch === 'groupnorm' && s.groups !== undefined ? `(G=${s.groups})` : ''} ${shortNumber(s.maxAbsError)}`;
  return [
    clip(site.name, 48),
    shapeText(site.shape),
    shortNumber(s.mean),
    shortNumber(s.std),
    shortNumber(s.maxAbs),
    truncatedList(
      s.outlierFeatures.map((f) => String(f)),
      4,
    ),
    match,
    truncatedList(warningCodes(site), 3),
  ];
}

const HEADER = ['site', 'shape', 'mean', 'std', 'max|x|', 'outlier features', 'best match, max error', 'warnings'];
const RIGHT = new Set([2, 3, 4]);

/**
 * The text of `normlens sweep`: one line per site (name, shape, mean/std, max |x|, outlier
 * features, best match and its max error, warning codes) in aligned columns, then a few lines on
 * where across depth things change (first outlier features, mismatching replays, failed sites).
 */
export function formatSweepText(report: SweepReport): string {
  const sites = report.sites;
  const lines: string[] = [`${report.source.path}: ${report.source.kind === 'folder' ? 'folder' : report.source.format}, ${sites.length} site${sites.length === 1 ? '' : 's'}`, ''];
  const rows = sites.map(siteCells);
  const widths = HEADER.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : RIGHT.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  lines.push(line(HEADER));
  for (const r of rows) lines.push(line(r));
  lines.push('');
  const firstOutlier = sites.find((s) => s.summary.outlierFeatures.length > 0);
  if (firstOutlier) lines.push(`outlier features first at '${firstOutlier.name}' (features ${truncatedList(firstOutlier.summary.outlierFeatures.map(String), 8)}).`);
  const mismatched = sites.filter((s) => s.warnings.some((w) => w.code === 'recorded-output-mismatch'));
  if (mismatched.length > 0) lines.push(`recorded output not explained by any norm at ${mismatched.length} site${mismatched.length === 1 ? '' : 's'}: ${truncatedList(mismatched.map((s) => `'${s.name}'`), 5)}.`);
  const failed = sites.filter((s) => s.error !== undefined);
  if (failed.length > 0) lines.push(`${failed.length} site${failed.length === 1 ? '' : 's'} could not be analyzed: ${truncatedList(failed.map((s) => `'${s.name}'`), 5)}.`);
  const axes = sites.filter((s) => s.error === undefined && s.layout.featureAxisRule !== undefined && s.layout.featureAxisRule !== 'last' && s.layout.featureAxis !== s.shape.length - 1);
  if (axes.length > 0) lines.push(`feature axis ${[...new Set(axes.map((s) => s.layout.featureAxis))].join('/')} (not the last) at ${axes.length} site${axes.length === 1 ? '' : 's'}, chosen by ${[...new Set(axes.map((s) => s.layout.featureAxisRule))].join('/')}; pass --feature-axis N to override.`);
  if (lines[lines.length - 1] === '') lines.pop();
  lines.push(`Full report of one site: normlens analyze ${report.source.kind === 'folder' ? 'FILE' : report.source.path} --site NAME`);
  return `${lines.join('\n')}\n`;
}

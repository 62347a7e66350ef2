/**
 * The Model view's rows: one per site of a whole-model dump, in natural order, merged from the
 * header listing (every site, known before the sweep) and the sweep's rows (as they finish).
 * Pure (no DOM), so unit tests run it in Node.
 */
import type { SweepReport, SweepSite } from '../../src/core/report/sweepReport';
import type { SiteEntry } from '../../src/protocol';

/** One row of the sites table (and one x position of the depth charts). */
export interface SiteRow {
  /** Position in natural order (the depth charts' x). */
  index: number;
  name: string;
  shape: number[];
  input: string;
  /** The sweep's row, once this site is done. */
  swept?: SweepSite;
}

/** Rows of every listed site, with the sweep's rows joined by name (sites the listing missed are appended). */
export function siteRows(sites: readonly SiteEntry[], sweep: SweepReport | undefined): SiteRow[] {
  const byName = new Map((sweep?.sites ?? []).map((s) => [s.name, s]));
  const rows: SiteRow[] = sites.map((s, index) => ({ index, name: s.name, shape: s.shape, input: s.input, ...(byName.has(s.name) ? { swept: byName.get(s.name)! } : {}) }));
  const listed = new Set(sites.map((s) => s.name));
  for (const s of sweep?.sites ?? []) {
    if (!listed.has(s.name)) rows.push({ index: rows.length, name: s.name, shape: s.shape ?? [], input: s.tensors.input, swept: s });
  }
  return rows;
}

/** Columns the sites table sorts by. */
export const SITE_COLUMNS = ['index', 'name', 'shape', 'mean', 'std', 'maxAbs', 'outliers', 'bestMatch', 'error', 'warnings'] as const;
export type SiteColumn = (typeof SITE_COLUMNS)[number];

/** Column headers, for people. */
export const SITE_COLUMN_TITLES: Record<SiteColumn, string> = {
  index: '#',
  name: 'Site',
  shape: 'Shape',
  mean: 'Mean',
  std: 'Std',
  maxAbs: 'Max |x|',
  outliers: 'Outlier features',
  bestMatch: 'Best match',
  error: 'Replay error',
  warnings: 'Warnings',
};

/** Sort order of the sites table. */
export interface SiteSort {
  column: SiteColumn;
  descending: boolean;
}

/** Warning severities, worst first (a row's "warnings" sort key). */
const SEVERITY_RANK: Record<string, number> = { error: 1000, warning: 10, info: 0.01 };

/** The value a row is sorted by in `column` (numbers; text columns sort as strings; absent values last). */
export function sortKey(row: SiteRow, column: SiteColumn): number | string | undefined {
  const s = row.swept;
  const num = (v: number | undefined): number | undefined => (v === undefined || !Number.isFinite(v) ? undefined : v);
  switch (column) {
    case 'index':
      return row.index;
    case 'name':
      return row.name;
    case 'shape':
      return row.shape.reduce((a, b) => a * b, 1);
    case 'mean':
      return num(s?.summary.mean);
    case 'std':
      return num(s?.summary.std);
    case 'maxAbs':
      return num(s?.summary.maxAbs);
    case 'outliers':
      return s ? s.summary.outlierFeatures.length : undefined;
    case 'bestMatch':
      return s?.summary.bestMatch;
    case 'error':
      return num(s?.summary.maxAbsError);
    case 'warnings':
      return s ? s.warnings.reduce((a, w) => a + (SEVERITY_RANK[w.severity] ?? 0), 0) + (s.error ? 1e6 : 0) : undefined;
  }
}

/** Rows sorted by `sort` (stable; ties keep depth order; rows without a value go last either way). */
export function sortSiteRows(rows: readonly SiteRow[], sort: SiteSort): SiteRow[] {
  const dir = sort.descending ? -1 : 1;
  return [...rows].sort((a, b) => {
    const ka = sortKey(a, sort.column);
    const kb = sortKey(b, sort.column);
    if (ka === undefined || kb === undefined) return ka === kb ? a.index - b.index : ka === undefined ? 1 : -1;
    const c = typeof ka === 'number' && typeof kb === 'number' ? ka - kb : naturalText(String(ka), String(kb));
    return c !== 0 ? c * dir : a.index - b.index;
  });
}

/** Natural order of text (`layer_2` before `layer_10`). */
function naturalText(a: string, b: string): number {
  return a.localeCompare(b, undefined, { numeric: true, sensitivity: 'base' });
}

/** The next sort after a click on `column`: the same column flips, another starts ascending (numbers: descending). */
export function nextSort(current: SiteSort, column: SiteColumn): SiteSort {
  if (current.column === column) return { column, descending: !current.descending };
  const startsHigh = column !== 'index' && column !== 'name' && column !== 'bestMatch';
  return { column, descending: startsHigh };
}

/** The row a key moves the focus to in the table (Up/Down/Home/End/PageUp/PageDown), or undefined. */
export function moveFocus(position: number, count: number, key: string): number | undefined {
  if (count === 0) return undefined;
  const to = key === 'ArrowDown' ? position + 1 : key === 'ArrowUp' ? position - 1 : key === 'Home' ? 0 : key === 'End' ? count - 1 : key === 'PageDown' ? position + 10 : key === 'PageUp' ? position - 10 : undefined;
  return to === undefined ? undefined : Math.max(0, Math.min(count - 1, to));
}

/** Per-site series of the depth charts (NaN where a site is not swept or has no value). */
export interface DepthSeries {
  names: string[];
  rmsMean: number[];
  rmsMin: number[];
  rmsMax: number[];
  maxAbs: number[];
  outliers: number[];
  error: number[];
  bestMatch: (string | undefined)[];
  bnShift: number[];
}

/** The depth charts' series over the rows in depth order. */
export function depthSeries(rows: readonly SiteRow[]): DepthSeries {
  const v = (x: number | undefined): number => (x === undefined || !Number.isFinite(x) ? NaN : x);
  return {
    names: rows.map((r) => r.name),
    rmsMean: rows.map((r) => v(r.swept?.summary.tokenRms.mean)),
    rmsMin: rows.map((r) => v(r.swept?.summary.tokenRms.min)),
    rmsMax: rows.map((r) => v(r.swept?.summary.tokenRms.max)),
    maxAbs: rows.map((r) => v(r.swept?.summary.maxAbs)),
    outliers: rows.map((r) => (r.swept && !r.swept.error ? r.swept.summary.outlierFeatures.length : NaN)),
    // A replay error of 0 cannot sit on a log axis: it is drawn at the axis floor by the chart.
    error: rows.map((r) => v(r.swept?.summary.maxAbsError)),
    bestMatch: rows.map((r) => r.swept?.summary.bestMatch),
    bnShift: rows.map((r) => v(r.swept?.summary.bnSubBatchShift)),
  };
}

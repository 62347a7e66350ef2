/**
 * The Model view: every site of a whole-model dump over depth (DESIGN.md "Whole-model dumps"):
 * depth charts (token RMS with its range, max |x|, outlier features, replay error with the best
 * match, BatchNorm sub-batch shift), each with a data table, and a sortable, keyboard-navigable
 * sites table. Choosing a site (a row, a chart point, the header's site picker) makes every other
 * view show that site.
 */
import { NORMS } from '../../src/core/analysis/norms';
import type { SweepReport } from '../../src/core/report/sweepReport';
import type { SiteEntry } from '../../src/protocol';
import { dataTable, type ChartRegistry } from '../shared/charts';
import { fmt, fmtShape, h } from '../shared/dom';
import { depthChart, type DepthLine } from './depthCharts';
import { depthSeries, moveFocus, nextSort, SITE_COLUMN_TITLES, SITE_COLUMNS, siteRows, sortSiteRows, type SiteRow, type SiteSort } from './siteRows';
import { COLOR } from './views';

/** What the host told about the dump's sites and its sweep. */
export interface ModelState {
  kind: 'file' | 'folder';
  sites: SiteEntry[];
  chosen: string;
  sweep?: SweepReport;
  done: boolean;
  fraction: number;
  error?: string;
}

/** What the Model view needs from the page. */
export interface ModelViewContext {
  model: ModelState;
  charts: ChartRegistry;
  sort: SiteSort;
  setSort(sort: SiteSort): void;
  /** Makes `site` the chosen site (every view follows). */
  select(site: string): void;
  /** Opens the A/B panel on two sites. */
  compare(a: string, b: string): void;
  /** Runs the sweep again (after a cancel or a failure). */
  resweep(): void;
}

/** Whether a dump gets the Model view: two or more sites, or any folder. */
export function hasModelView(m: ModelState | undefined): m is ModelState {
  return !!m && (m.sites.length >= 2 || m.kind === 'folder');
}

/** Short name of a best match (`layernorm` -> `LayerNorm`). */
function normName(kind: string | undefined): string {
  if (!kind) return '—';
  return NORMS.find((n) => n.kind === kind)?.name ?? kind;
}

/** The header's site picker. */
export function sitePicker(m: ModelState, select: (site: string) => void): HTMLElement {
  const sel = h(
    'vscode-single-select',
    { id: 'opt-site', 'aria-label': 'site', combobox: m.sites.length > 12 },
    ...m.sites.map((s) => h('vscode-option', { value: s.name, selected: s.name === m.chosen, description: fmtShape(s.shape) }, s.name)),
  ) as HTMLElement & { value: string };
  sel.addEventListener('change', () => {
    if (sel.value && sel.value !== m.chosen) select(sel.value);
  });
  return h('div', { class: 'site-picker' }, h('label', { for: 'opt-site' }, `Site (${m.sites.length})`), sel);
}

function chartBlock(ctx: ModelViewContext, id: string, title: string, headers: string[], rows: (string | number)[][], draw: (box: HTMLElement) => void): HTMLElement {
  const box = h('div', { class: 'chart', id: `chart-${id}`, tabindex: 0 });
  const block = h('div', { class: 'chart-block' }, box, dataTable(ctx.charts, id, title, headers, rows));
  queueMicrotask(() => draw(box));
  return block;
}

/** The five depth charts (a chart with nothing to draw is a note instead, in `notes`). */
function depthCharts(ctx: ModelViewContext, rows: SiteRow[], notes: HTMLElement[]): HTMLElement[] {
  const d = depthSeries(rows);
  const chosen = rows.findIndex((r) => r.name === ctx.model.chosen);
  const onPick = (i: number): void => {
    const name = d.names[i];
    if (name !== undefined) ctx.select(name);
  };
  const common = { onPick, chosen };
  const blocks: HTMLElement[] = [];
  blocks.push(
    chartBlock(ctx, 'depth-rms', 'Token RMS over depth (mean, min–max band)', ['site', 'mean', 'min', 'max'], d.names.map((n, i) => [n, d.rmsMean[i]!, d.rmsMin[i]!, d.rmsMax[i]!]), (box) =>
      depthChart(ctx.charts, box, 'depth-rms', 'Token RMS over depth (mean, min–max band)', 'token RMS', d.names, [{ label: 'token RMS mean', values: d.rmsMean, color: COLOR.input, band: { min: d.rmsMin, max: d.rmsMax, label: 'token RMS' } }], common),
    ),
  );
  blocks.push(
    chartBlock(ctx, 'depth-maxabs', 'Max |x| over depth (log axis)', ['site', 'max |x|'], d.names.map((n, i) => [n, d.maxAbs[i]!]), (box) =>
      depthChart(ctx.charts, box, 'depth-maxabs', 'Max |x| over depth (log axis)', 'max |x| (log)', d.names, [{ label: 'max |x|', values: d.maxAbs, color: COLOR.bad }], { ...common, logY: true }),
    ),
  );
  blocks.push(
    chartBlock(ctx, 'depth-outliers', 'Outlier features over depth', ['site', 'outlier features'], d.names.map((n, i) => [n, d.outliers[i]!]), (box) =>
      depthChart(ctx.charts, box, 'depth-outliers', 'Outlier features over depth', 'features', d.names, [{ label: 'outlier features', values: d.outliers, color: COLOR.extra }], { ...common, countY: true }),
    ),
  );
  // Replay error: one point series per best match, in that norm's colour, and a muted line through all.
  const matched = [...new Set(d.bestMatch.filter((k): k is string => !!k && k !== 'none'))];
  const hasError = d.error.some((v) => Number.isFinite(v));
  if (hasError) {
    const lines: DepthLine[] = [{ label: 'replay error', values: d.error, color: COLOR.input }];
    for (const kind of matched) {
      const norm = NORMS.find((n) => n.kind === kind);
      lines.push({ label: `best match ${normName(kind)}`, values: d.error.map((v, i) => (d.bestMatch[i] === kind ? v : NaN)), color: norm ? COLOR[norm.key] : COLOR.extra, pointsOnly: true });
    }
    blocks.push(
      chartBlock(ctx, 'depth-error', 'Replay error over depth (max |error| of the best match, log axis)', ['site', 'max |error|', 'best match'], d.names.map((n, i) => [n, d.error[i]!, normName(d.bestMatch[i])]), (box) =>
        depthChart(ctx.charts, box, 'depth-error', 'Replay error over depth (max |error| of the best match, log axis)', 'max |error| (log)', d.names, lines, { ...common, logY: true }),
      ),
    );
  } else {
    notes.push(h('p', { class: 'muted depth-note' }, 'Replay error: no site has a recorded output, so there is nothing to replay.'));
  }
  if (d.bnShift.some((v) => Number.isFinite(v))) {
    blocks.push(
      chartBlock(ctx, 'depth-bnshift', 'BatchNorm sub-batch shift over depth (RMS shift at half the batch)', ['site', 'RMS shift'], d.names.map((n, i) => [n, d.bnShift[i]!]), (box) =>
        depthChart(ctx.charts, box, 'depth-bnshift', 'BatchNorm sub-batch shift over depth (RMS shift at half the batch)', 'RMS shift (normalized units)', d.names, [{ label: 'BN sub-batch shift', values: d.bnShift, color: COLOR.batchNorm }], common),
      ),
    );
  } else {
    notes.push(h('p', { class: 'muted depth-note' }, 'BatchNorm sub-batch shift: no site has a batch large enough to split.'));
  }
  return blocks;
}

/** Warning badges of a row (one per code, worst severity first). */
function badges(r: SiteRow): HTMLElement {
  const s = r.swept;
  if (!s) return h('span', { class: 'muted' }, 'pending');
  if (s.error) return h('span', { class: 'badge severity-error', title: s.error }, 'failed');
  if (s.warnings.length === 0) return h('span', { class: 'muted' }, 'none');
  const order = { error: 0, warning: 1, info: 2 } as Record<string, number>;
  const sorted = [...s.warnings].sort((a, b) => (order[a.severity] ?? 3) - (order[b.severity] ?? 3));
  return h('span', { class: 'badges' }, ...sorted.map((w) => h('span', { class: `badge severity-${w.severity}`, title: w.message }, w.code)));
}

function cells(r: SiteRow): (string | HTMLElement)[] {
  const s = r.swept?.summary;
  const v = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '—' : fmt(x));
  return [
    String(r.index),
    r.name,
    fmtShape(r.shape),
    v(s?.mean),
    v(s?.std),
    v(s?.maxAbs),
    s ? String(r.swept!.error ? '—' : s.outlierFeatures.length) : '—',
    normName(s?.bestMatch),
    v(s?.maxAbsError),
    badges(r),
  ];
}

/** The sites table: sortable headers, one focusable row per site (Up/Down/Home/End move, Enter chooses). */
function sitesTable(ctx: ModelViewContext, rows: SiteRow[]): HTMLElement {
  const sorted = sortSiteRows(rows, ctx.sort);
  ctx.charts.noteTable('sites', sorted.length);
  const head = h(
    'tr',
    null,
    ...SITE_COLUMNS.map((c) =>
      h(
        'th',
        { scope: 'col', 'aria-sort': ctx.sort.column === c ? (ctx.sort.descending ? 'descending' : 'ascending') : 'none' },
        h('button', { class: 'sort', 'data-column': c, title: `Sort by ${SITE_COLUMN_TITLES[c]}`, onclick: () => ctx.setSort(nextSort(ctx.sort, c)) }, SITE_COLUMN_TITLES[c], ctx.sort.column === c ? (ctx.sort.descending ? ' ▼' : ' ▲') : ''),
      ),
    ),
  );
  const trs = sorted.map((r, pos) => {
    const chosen = r.name === ctx.model.chosen;
    const tr = h(
      'tr',
      { class: `site-row${chosen ? ' chosen' : ''}${r.swept?.error ? ' failed' : ''}`, tabindex: chosen || (pos === 0 && !sorted.some((x) => x.name === ctx.model.chosen)) ? 0 : -1, 'aria-selected': chosen ? 'true' : 'false', 'data-site': r.name },
      ...cells(r).map((c, i) => (i === 1 ? h('th', { scope: 'row' }, c) : h('td', null, c))),
    );
    tr.addEventListener('click', () => ctx.select(r.name));
    tr.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        ctx.select(r.name);
        return;
      }
      const to = moveFocus(pos, trs.length, e.key);
      if (to !== undefined) {
        e.preventDefault();
        tr.tabIndex = -1;
        trs[to]!.tabIndex = 0;
        trs[to]!.focus();
      }
    });
    return tr;
  });
  const table = h(
    'table',
    { class: 'data-table sites-table', id: 'table-sites', role: 'grid', 'aria-label': 'Sites of the model: Enter chooses a site' },
    h('caption', null, 'Sites in depth order. Click a row, or press Enter on it, to show that site in every view.'),
    h('thead', null, head),
    h('tbody', null, ...trs),
  );
  return h('div', { class: 'table-scroll' }, table);
}

/** The A/B toolbar: compare two sites of this dump in the A/B panel. */
function compareBar(ctx: ModelViewContext): HTMLElement {
  const names = ctx.model.sites.map((s) => s.name);
  const pick = (id: string, label: string, value: string) => {
    const sel = h('vscode-single-select', { id, 'aria-label': label, combobox: names.length > 12 }, ...names.map((n) => h('vscode-option', { value: n, selected: n === value }, n))) as HTMLElement & { value: string };
    return sel;
  };
  // The chosen values are kept here (the select's own value is empty until the element has upgraded).
  const chosen = { a: ctx.model.chosen, b: names.find((n) => n !== ctx.model.chosen && n === names[names.length - 1]) ?? names[0] ?? '' };
  const a = pick('ab-site-a', 'site A', chosen.a);
  const b = pick('ab-site-b', 'site B', chosen.b);
  a.addEventListener('change', () => (chosen.a = a.value || chosen.a));
  b.addEventListener('change', () => (chosen.b = b.value || chosen.b));
  return h(
    'div',
    { class: 'toolbar', role: 'toolbar', 'aria-label': 'compare two sites' },
    h('label', { for: 'ab-site-a' }, 'Compare'),
    a,
    h('label', { for: 'ab-site-b' }, 'with'),
    b,
    h('vscode-button', { id: 'ab-compare', secondary: true, title: 'Open the two sites side by side in the A/B panel', onclick: () => ctx.compare(chosen.a, chosen.b) }, 'Open A/B'),
  );
}

/** Draws the Model view. */
export function modelView(ctx: ModelViewContext): HTMLElement {
  const m = ctx.model;
  const rows = siteRows(m.sites, m.sweep);
  const notes: HTMLElement[] = [];
  const done = rows.filter((r) => r.swept).length;
  const failed = rows.filter((r) => r.swept?.error).length;
  const warned = rows.filter((r) => r.swept && r.swept.warnings.some((w) => w.severity !== 'info')).length;
  const status = m.error
    ? h('div', { class: 'toolbar', role: 'alert' }, h('span', { class: 'error-message' }, `The sweep stopped: ${m.error}`), h('vscode-button', { id: 'resweep', secondary: true, onclick: () => ctx.resweep() }, 'Sweep Again'))
    : !m.done
      ? h('div', { class: 'progress' }, h('vscode-progress-bar', null), h('span', { class: 'muted' }, `Sweeping site ${Math.min(done + 1, rows.length)} of ${rows.length} (${Math.round(m.fraction * 100)}%)`))
      : h('p', { class: 'muted' }, `${rows.length} sites${m.kind === 'folder' ? ' in this folder' : ''} · ${warned} with warnings${failed ? ` · ${failed} could not be analyzed` : ''} · ${m.sweep ? `${(m.sweep.timing?.totalMs ?? 0) / 1000} s` : ''}`);
  return h(
    'div',
    { class: 'view model-view' },
    h(
      'section',
      { class: 'card' },
      h('h2', null, 'Model over depth'),
      h('p', { class: 'explain' }, 'One point per normalization site, in depth order. Look for where statistics change: the first site that carries massive activations (max |x| and outlier features jump), where a recorded output stops matching its norm (replay error), and where BatchNorm depends on the batch. Click a point or a row to open that site in every view.'),
      status,
      h('div', { class: 'depth-grid' }, ...(rows.length > 0 ? depthCharts(ctx, rows, notes) : [])),
      ...notes,
    ),
    h('section', { class: 'card' }, h('h2', null, 'Sites'), compareBar(ctx), sitesTable(ctx, rows)),
  );
}

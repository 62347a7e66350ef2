import uPlot from 'uplot';
import type { RenderSummary } from '../../src/protocol';
import type { DownsampledSeries, Histogram } from '../../src/core/report/analysisReport';
import { fmt, h } from './dom';
import { readTheme, withAlpha, type ChartTheme } from './theme';

/** One distribution to draw in a histogram chart. */
export interface HistogramSeries {
  label: string;
  hist: Histogram;
  /** Index into the theme's series colours. */
  color: number;
}

/** One per-item series (per token or per feature), possibly downsampled with a min/max envelope. */
export interface LineSeries {
  label: string;
  series: DownsampledSeries;
  color: number;
  /** Draw the min/max band even when not downsampled (e.g. quantile ranges). */
  envelope?: boolean;
  /** Label of the band (default "min–max"). */
  envelopeLabel?: string;
}

/** A chart the registry knows about: what it drew and how to redraw it for a new theme or size. */
interface ChartEntry {
  id: string;
  title: string;
  series: number;
  points: number;
  plot: uPlot;
  rebuild: () => void;
}

/**
 * Owns the charts and tables of the visible view: builds them, resizes them with their container,
 * redraws them on theme changes, and summarizes what was drawn for the host.
 */
export class ChartRegistry {
  private charts = new Map<string, ChartEntry>();
  private tables = new Map<string, number>();
  private heatmap: { rows: number; cols: number } | undefined;
  private readonly resize = new ResizeObserver(() => this.fitAll());
  logScale = true;

  /** Destroys every chart (before a view is redrawn). */
  clear(): void {
    for (const c of this.charts.values()) c.plot.destroy();
    this.charts.clear();
    this.tables.clear();
    this.heatmap = undefined;
    this.resize.disconnect();
  }

  /** Re-creates every chart with the current theme colours. */
  retheme(): void {
    for (const c of [...this.charts.values()]) c.rebuild();
  }

  /** What is drawn now, for the `rendered` message. */
  summary(view: string, warnings: string[], error?: string): RenderSummary {
    return {
      view,
      charts: [...this.charts.values()].map(({ id, title, series, points }) => ({ id, series, points, ...(title ? { title } : {}) })),
      tables: [...this.tables.entries()].map(([id, rows]) => ({ id, rows })),
      warnings,
      ...(error ? { error } : {}),
      ...(this.heatmap ? { heatmap: this.heatmap } : {}),
    };
  }

  /** The PNG of a chart's canvas as a data URL, or undefined when there is no such chart. */
  chartPng(id: string): string | undefined {
    return this.charts.get(id)?.plot.ctx.canvas.toDataURL('image/png');
  }

  /** Ids of the charts drawn now. */
  chartIds(): string[] {
    return [...this.charts.keys()];
  }

  /** Records the heatmap grid drawn (a canvas outside uPlot). */
  noteHeatmap(rows: number, cols: number): void {
    this.heatmap = { rows, cols };
  }

  /** Records a data table (screen-reader alternative of a chart). */
  noteTable(id: string, rows: number): void {
    this.tables.set(id, rows);
  }

  private fitAll(): void {
    for (const c of this.charts.values()) {
      const host = c.plot.root.parentElement;
      if (!host) continue;
      const w = Math.max(240, host.clientWidth);
      if (Math.abs(w - c.plot.width) > 2) c.plot.setSize({ width: w, height: c.plot.height });
    }
  }

  /** Creates (or re-creates) a chart in `container` from a builder that uses the current theme. */
  add(id: string, container: HTMLElement, build: (theme: ChartTheme, width: number) => { opts: uPlot.Options; data: uPlot.AlignedData; series: number; points: number }): void {
    const make = () => {
      const old = this.charts.get(id);
      old?.plot.destroy();
      container.replaceChildren();
      const width = Math.max(240, container.clientWidth || 600);
      const b = build(readTheme(), width);
      const plot = new uPlot(b.opts, b.data, container);
      this.charts.set(id, { id, title: b.opts.title ?? '', series: b.series, points: b.points, plot, rebuild: make });
    };
    make();
    this.resize.observe(container);
  }
}

/** Tick steps for axes over item indices (tokens, features): whole numbers only. */
const INTEGER_INCRS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7];

/** Powers of ten between min and max: the only labelled ticks of a log axis. */
function decadeSplits(_u: uPlot, _axis: number, min: number, max: number): number[] {
  const out: number[] = [];
  const lo = Math.floor(Math.log10(Math.max(min, 1e-300)));
  const hi = Math.ceil(Math.log10(Math.max(max, 1e-300)));
  for (let p = lo; p <= hi; p++) {
    const v = 10 ** p;
    if (v >= min * (1 - 1e-9) && v <= max * (1 + 1e-9)) out.push(v);
  }
  return out;
}

/** Axis definitions: themed, integer ticks for index axes, decades only on log axes. */
function axes(theme: ChartTheme, xLabel: string, yLabel: string, opts: { integerX?: boolean; logY?: boolean; logX?: boolean } = {}): uPlot.Axis[] {
  const common = { stroke: theme.muted, grid: { stroke: withAlpha(theme.grid, 0.5), width: 1 }, ticks: { stroke: withAlpha(theme.grid, 0.8), width: 1 }, font: theme.font, labelFont: theme.font };
  const label = (vals: number[]) => vals.map((v) => (v === null || v === undefined ? '' : fmt(v, 3)));
  return [
    { ...common, label: xLabel, values: (_u, vals) => label(vals), ...(opts.integerX ? { incrs: INTEGER_INCRS } : {}), ...(opts.logX ? { splits: decadeSplits } : {}) },
    { ...common, label: yLabel, size: 64, values: (_u, vals) => label(vals), ...(opts.logY ? { splits: decadeSplits } : {}) },
  ];
}

/** Legend value: a formatted number, or a dash where the cursor is not over data. */
function legendValue(_u: uPlot, v: number | null | undefined): string {
  return v === null || v === undefined ? '—' : fmt(v);
}

/** Same bin edges (within float tolerance)? Then distributions can share one x axis. */
function sameEdges(a: number[], b: number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (Math.abs(a[i]! - b[i]!) > 1e-9 * Math.max(1, Math.abs(a[i]!))) return false;
  return true;
}

/**
 * A histogram chart: each distribution as a filled step line over shared edges; counts on a log
 * axis when `registry.logScale` (zero counts are gaps, as they cannot be drawn on a log axis).
 */
export function histogramChart(registry: ChartRegistry, container: HTMLElement, id: string, title: string, xLabel: string, hists: HistogramSeries[], chartOpts: { logX?: boolean } = {}): void {
  const usable = hists.filter((s) => s.hist.counts.length > 0 && sameEdges(s.hist.edges, hists[0]!.hist.edges));
  container.setAttribute('role', 'img');
  container.setAttribute('aria-label', `${title}: histogram of ${usable.map((s) => s.label).join(', ')}`);
  registry.add(id, container, (theme, width) => {
    // A log x axis cannot show 0: the first edge of a log-binned histogram moves to a tenth of the second.
    const raw = usable[0]?.hist.edges ?? [0, 1];
    const edges = chartOpts.logX && raw.length > 1 && !(raw[0]! > 0) ? [raw[1]! / 10, ...raw.slice(1)] : raw;
    const log = registry.logScale;
    const ys = usable.map((s) => {
      const c = s.hist.counts.map((v) => (log && v === 0 ? null : v));
      return [...c, c[c.length - 1] ?? null];
    });
    const opts: uPlot.Options = {
      title,
      width,
      height: 220,
      scales: { x: chartOpts.logX ? { time: false, distr: 3, log: 10 } : { time: false }, y: log ? { distr: 3, log: 10 } : { range: (_u, _min, max) => [0, max * 1.05 || 1] } },
      axes: axes(theme, xLabel, log ? 'count (log)' : 'count', { logY: log, ...(chartOpts.logX ? { logX: true } : {}) }),
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
      series: [
        { label: xLabel, value: legendValue },
        ...usable.map((s) => ({
          label: s.label,
          stroke: theme.series[s.color % theme.series.length],
          fill: withAlpha(theme.series[s.color % theme.series.length]!, usable.length > 1 ? 0.08 : 0.3),
          width: usable.length > 1 ? 2 : 1.5,
          points: { show: false },
          paths: uPlot.paths.stepped!({ align: 1 }),
          value: (u: uPlot, v: number | null) => (u.cursor.idx === null || u.cursor.idx === undefined ? '—' : v === null || v === undefined ? '0' : String(v)),
        })),
      ],
    };
    return { opts, data: [edges, ...ys] as uPlot.AlignedData, series: usable.length, points: edges.length - 1 };
  });
}

/** A per-item line chart (per token or per feature): the mean line with a min/max band when downsampled. */
export function seriesChart(registry: ChartRegistry, container: HTMLElement, id: string, title: string, xLabel: string, yLabel: string, lines: LineSeries[]): void {
  container.setAttribute('role', 'img');
  container.setAttribute('aria-label', `${title}: ${lines.map((l) => l.label).join(', ')} along ${xLabel}`);
  registry.add(id, container, (theme, width) => {
    const first = lines[0]!.series;
    const x = first.mean.map((_, k) => k * first.bucketSize);
    const data: (number | null)[][] = [x];
    const series: uPlot.Series[] = [{ label: xLabel, value: (_u, v) => (v === null || v === undefined ? '—' : fmtRange(v, first.bucketSize, first.length)) }];
    const bands: uPlot.Band[] = [];
    for (const l of lines) {
      const color = theme.series[l.color % theme.series.length]!;
      data.push(l.series.mean.map(nullIfNaN));
      series.push({ label: l.label, stroke: color, width: 1.5, value: legendValue });
      if (l.envelope || l.series.bucketSize > 1) {
        const [lo, hi] = (l.envelopeLabel ?? 'min–max').split('–');
        const maxIdx = data.push(l.series.max.map(nullIfNaN)) - 1;
        series.push({ label: `${l.label} ${hi ?? 'max'}`, stroke: withAlpha(color, 0.35), width: 1, value: legendValue });
        const minIdx = data.push(l.series.min.map(nullIfNaN)) - 1;
        series.push({ label: `${l.label} ${lo ?? 'min'}`, stroke: withAlpha(color, 0.35), width: 1, value: legendValue });
        bands.push({ series: [maxIdx, minIdx], fill: withAlpha(color, 0.12) });
      }
    }
    const opts: uPlot.Options = {
      title,
      width,
      height: 220,
      scales: { x: { time: false } },
      axes: axes(theme, xLabel, yLabel, { integerX: true }),
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
      series,
      bands,
    };
    return { opts, data: data as uPlot.AlignedData, series: lines.length, points: x.length };
  });
}

/** A small bar-like chart over categories (e.g. sub-batch sizes) drawn as points joined by lines. */
export function categoryChart(registry: ChartRegistry, container: HTMLElement, id: string, title: string, xLabel: string, yLabel: string, x: number[], lines: { label: string; values: number[]; color: number }[], logX = false): void {
  container.setAttribute('role', 'img');
  container.setAttribute('aria-label', `${title}: ${lines.map((l) => l.label).join(', ')} by ${xLabel}`);
  registry.add(id, container, (theme, width) => {
    const opts: uPlot.Options = {
      title,
      width,
      height: 220,
      scales: { x: logX ? { time: false, distr: 3, log: 2 } : { time: false } },
      axes: axes(theme, xLabel, yLabel, { integerX: !logX, logX }),
      legend: { live: true },
      series: [
        { label: xLabel, value: legendValue },
        ...lines.map((l) => ({
          label: l.label,
          stroke: theme.series[l.color % theme.series.length],
          width: 2,
          points: { show: true, size: 7, fill: theme.series[l.color % theme.series.length] },
          value: legendValue,
        })),
      ],
    };
    return { opts, data: [x, ...lines.map((l) => l.values.map(nullIfNaN))] as uPlot.AlignedData, series: lines.length, points: x.length };
  });
}

function nullIfNaN(v: number | null): number | null {
  return v === null || !Number.isFinite(v) ? null : v;
}

function fmtRange(start: number, bucket: number, length: number): string {
  return bucket <= 1 ? String(start) : `${start}–${Math.min(length, start + bucket) - 1}`;
}

/**
 * A data table for screen readers and keyboard users, inside a <details> so it does not crowd
 * the chart. Long tables are cut at `maxRows` with a note.
 */
export function dataTable(registry: ChartRegistry, id: string, caption: string, headers: string[], rows: (string | number)[][], maxRows = 200): HTMLElement {
  const shown = rows.slice(0, maxRows);
  registry.noteTable(id, shown.length);
  const table = h(
    'table',
    { class: 'data-table', id: `table-${id}` },
    h('caption', null, caption),
    h('thead', null, h('tr', null, ...headers.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', null, ...shown.map((r) => h('tr', null, ...r.map((c, i) => (i === 0 ? h('th', { scope: 'row' }, String(c)) : h('td', null, typeof c === 'number' ? fmt(c) : c)))))),
  );
  return h('details', { class: 'table-details' }, h('summary', null, `Data table: ${caption}${rows.length > maxRows ? ` (first ${maxRows} of ${rows.length} rows)` : ''}`), table);
}

/** Rows of a histogram table: bin range and the count of each series. */
export function histogramRows(hists: HistogramSeries[]): (string | number)[][] {
  const first = hists[0]?.hist;
  if (!first) return [];
  return first.counts.map((_, i) => [`${fmt(first.edges[i]!)} … ${fmt(first.edges[i + 1]!)}`, ...hists.map((s) => String(s.hist.counts[i] ?? 0))]);
}

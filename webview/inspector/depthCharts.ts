import uPlot from 'uplot';
import type { ChartRegistry } from '../shared/charts';
import { fmt } from '../shared/dom';
import { withAlpha, type ChartTheme } from '../shared/theme';

/** One line of a depth chart: a value per site (NaN: none), optionally with a min–max band. */
export interface DepthLine {
  label: string;
  values: number[];
  color: number;
  band?: { min: number[]; max: number[]; label: string };
  /** Points only (e.g. the replay error coloured by best match). */
  pointsOnly?: boolean;
}

/** Longest site label on the x axis (the full name is in the legend and the data table). */
const MAX_LABEL = 22;

/** `layers.10.norm2` stays whole; longer names keep their tail, which tells sites apart. */
export function shortSiteLabel(name: string): string {
  return name.length <= MAX_LABEL ? name : `…${name.slice(name.length - MAX_LABEL + 1)}`;
}

/**
 * Ticks of a log axis: powers of ten; when the range holds fewer than two, 1-2-5 steps; when those
 * are still fewer than three, every whole mantissa (a range inside one decade still gets labels).
 */
function decades(_u: uPlot, _axis: number, min: number, max: number): number[] {
  const pick = (mantissas: number[]): number[] => {
    const out: number[] = [];
    for (let p = Math.floor(Math.log10(Math.max(min, 1e-300))); p <= Math.ceil(Math.log10(Math.max(max, 1e-300))); p++) {
      for (const m of mantissas) {
        const v = m * 10 ** p;
        if (v >= min * (1 - 1e-9) && v <= max * (1 + 1e-9)) out.push(v);
      }
    }
    return out;
  };
  const tens = pick([1]);
  if (tens.length >= 2) return tens;
  const steps = pick([1, 2, 5]);
  return steps.length >= 3 ? steps : pick([1, 2, 3, 4, 5, 6, 7, 8, 9]);
}

/** Tick steps of a count axis: whole numbers only. */
const COUNT_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 1e4, 1e5, 1e6];

function finiteOrNull(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}

/**
 * A chart over depth: x is the site index in natural order, labelled with site names; clicking a
 * point (or anywhere above a site) calls `onPick` with that site's index.
 */
export function depthChart(
  registry: ChartRegistry,
  container: HTMLElement,
  id: string,
  title: string,
  yLabel: string,
  names: readonly string[],
  lines: DepthLine[],
  opts: { logY?: boolean; countY?: boolean; onPick?: (index: number) => void; chosen?: number } = {},
): void {
  container.setAttribute('role', 'img');
  container.setAttribute('aria-label', `${title}: ${lines.map((l) => l.label).join(', ')} over ${names.length} sites`);
  const x = names.map((_, i) => i);
  registry.add(id, container, (theme: ChartTheme, width: number) => {
    const data: (number | null)[][] = [x];
    const series: uPlot.Series[] = [{ label: 'site', value: (_u, v) => (v === null || v === undefined ? '—' : (names[Math.round(v)] ?? '')) }];
    const bands: uPlot.Band[] = [];
    for (const l of lines) {
      const color = theme.series[l.color % theme.series.length]!;
      const values = l.values.map((v) => (opts.logY && !(v > 0) ? null : finiteOrNull(v)));
      data.push(values);
      series.push({
        label: l.label,
        stroke: color,
        width: l.pointsOnly ? 0 : 2,
        points: { show: true, size: l.pointsOnly ? 9 : 6, fill: color, stroke: color },
        ...(l.pointsOnly ? { paths: () => null } : {}),
        spanGaps: false,
        value: (_u: uPlot, v: number | null) => (v === null || v === undefined ? '—' : fmt(v)),
      });
      if (l.band) {
        const maxIdx = data.push(l.band.max.map(finiteOrNull)) - 1;
        series.push({ label: `${l.band.label} max`, stroke: withAlpha(color, 0.35), width: 1, points: { show: false }, value: (_u, v) => (v === null || v === undefined ? '—' : fmt(v)) });
        const minIdx = data.push(l.band.min.map(finiteOrNull)) - 1;
        series.push({ label: `${l.band.label} min`, stroke: withAlpha(color, 0.35), width: 1, points: { show: false }, value: (_u, v) => (v === null || v === undefined ? '—' : fmt(v)) });
        bands.push({ series: [maxIdx, minIdx], fill: withAlpha(color, 0.15) });
      }
    }
    const rotate = names.length > 4;
    const common = { stroke: theme.muted, grid: { stroke: withAlpha(theme.grid, 0.5), width: 1 }, ticks: { stroke: withAlpha(theme.grid, 0.8), width: 1 }, font: theme.font, labelFont: theme.font };
    const longest = Math.max(4, ...names.map((n) => shortSiteLabel(n).length));
    const plotOpts: uPlot.Options = {
      title,
      width,
      height: 240,
      scales: {
        x: { time: false, range: [-0.5, Math.max(0.5, names.length - 0.5)] },
        y: opts.logY ? { distr: 3, log: 10 } : opts.countY ? { range: (_u, _min, max) => [0, Math.max(1, Math.ceil(max * 1.1))] } : {},
      },
      axes: [
        {
          ...common,
          label: 'site (depth order)',
          incrs: [1, 2, 3, 4, 5, 10, 20, 50, 100, 200, 500, 1000],
          values: (_u, vals) => vals.map((v) => (Number.isInteger(v) && names[v] !== undefined ? shortSiteLabel(names[v]!) : '')),
          ...(rotate ? { rotate: -35, size: Math.min(150, 16 + longest * 5.2) } : {}),
        },
        {
          ...common,
          label: yLabel,
          size: 64,
          values: (_u, vals) => vals.map((v) => (v === null || v === undefined ? '' : fmt(v, 3))),
          ...(opts.logY ? { splits: decades } : {}),
          ...(opts.countY ? { incrs: COUNT_INCRS } : {}),
        },
      ],
      legend: { live: true },
      cursor: { drag: { x: false, y: false }, points: { size: 10 } },
      series,
      bands,
      hooks: {
        draw: [
          (u) => {
            // The chosen site: a vertical rule in the focus colour.
            if (opts.chosen === undefined || opts.chosen < 0) return;
            const cx = Math.round(u.valToPos(opts.chosen, 'x', true));
            const ctx = u.ctx;
            ctx.save();
            ctx.strokeStyle = withAlpha(theme.foreground, 0.45);
            ctx.setLineDash([4, 4]);
            ctx.lineWidth = 1;
            ctx.beginPath();
            ctx.moveTo(cx, u.bbox.top);
            ctx.lineTo(cx, u.bbox.top + u.bbox.height);
            ctx.stroke();
            ctx.restore();
          },
        ],
        ready: [
          (u) => {
            if (!opts.onPick) return;
            u.over.addEventListener('click', () => {
              const left = u.cursor.left;
              if (left === undefined || left < 0) return;
              const i = Math.round(u.posToVal(left, 'x'));
              if (i >= 0 && i < names.length) opts.onPick!(i);
            });
            u.over.classList.add('pickable');
          },
        ],
      },
    };
    return { opts: plotOpts, data: data as uPlot.AlignedData, series: lines.length, points: names.length };
  });
}

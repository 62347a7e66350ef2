import type { Heatmap, HeatmapAggregate, HeatmapRequest, HeatmapValues } from '../../src/protocol';
import { dataTable, type ChartRegistry } from '../shared/charts';
import { fmt, fmtInt, h } from '../shared/dom';
import { readTheme } from '../shared/theme';

/** The region and mode the Tokens view shows; saved in webview state. */
export type HeatmapState = Omit<HeatmapRequest, 'maxRows' | 'maxCols'>;

/** What the Tokens view needs from the page. */
export interface HeatmapHost {
  tokens: number;
  features: number;
  tokenLabels?: readonly string[];
  outlierFeatures: number[];
  state: HeatmapState | undefined;
  saveState(s: HeatmapState): void;
  request(params: HeatmapRequest): Promise<Heatmap>;
  charts: ChartRegistry;
  onRendered(): void;
}

const MAX_ROWS = 256;
const MAX_COLS = 512;

function parseColor(c: string): [number, number, number] {
  const probe = document.createElement('canvas').getContext('2d')!;
  probe.fillStyle = c;
  const s = probe.fillStyle;
  if (s.startsWith('#')) {
    const n = parseInt(s.slice(1), 16);
    return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  }
  const m = /rgba?\(([^)]+)\)/.exec(s);
  const p = (m?.[1] ?? '0,0,0').split(',').map((x) => parseFloat(x));
  return [p[0] ?? 0, p[1] ?? 0, p[2] ?? 0];
}

/** 99th percentile of |v| over finite cells: the colour limit, so one massive activation does not wash out the rest. */
function robustLimit(values: (number | null)[]): number {
  const a = values.filter((v): v is number => v !== null).map((v) => Math.abs(v));
  if (a.length === 0) return 1;
  a.sort((x, y) => x - y);
  return a[Math.min(a.length - 1, Math.floor(a.length * 0.99))] || a[a.length - 1] || 1;
}

/**
 * The Tokens view: a tokens × features heatmap reduced by the host to ≤ 256 × 512 cells, zoomable
 * with the mouse (drag a box), the keyboard (+/−, arrows, 0) or the buttons, with token labels.
 */
export function tokensView(host: HeatmapHost): HTMLElement {
  const st: HeatmapState = host.state ?? { values: 'input', aggregate: 'maxAbs', tokenStart: 0, tokenEnd: host.tokens, featureStart: 0, featureEnd: host.features };
  const canvas = h('canvas', { class: 'heatmap', tabindex: 0, role: 'img', 'aria-label': 'tokens by features heatmap; plus and minus zoom, arrows pan, 0 resets' }) as HTMLCanvasElement;
  const status = h('div', { class: 'heatmap-status', 'aria-live': 'polite' }, 'Loading…');
  const legend = h('div', { class: 'heatmap-legend' });
  const labels = h('div', { class: 'heatmap-labels' });
  const table = h('div', { class: 'heatmap-table' });
  const valuesSel = h('vscode-single-select', { id: 'hm-values', 'aria-label': 'values' }, h('vscode-option', { value: 'input', selected: st.values === 'input' }, 'input values'), h('vscode-option', { value: 'layernorm', selected: st.values === 'layernorm' }, 'after LayerNorm'), h('vscode-option', { value: 'batchnorm', selected: st.values === 'batchnorm' }, 'after BatchNorm')) as HTMLElement & { value: string };
  const aggSel = h('vscode-single-select', { id: 'hm-agg', 'aria-label': 'cell value' }, h('vscode-option', { value: 'maxAbs', selected: st.aggregate === 'maxAbs' }, 'largest |value| in cell'), h('vscode-option', { value: 'mean', selected: st.aggregate === 'mean' }, 'mean of cell')) as HTMLElement & { value: string };
  let current: Heatmap | undefined;
  let seq = 0;

  const load = async () => {
    host.saveState({ ...st });
    status.textContent = 'Loading…';
    const my = ++seq;
    try {
      const hm = await host.request({ ...st, maxRows: MAX_ROWS, maxCols: MAX_COLS });
      if (my !== seq) return;
      current = hm;
      draw();
      host.onRendered();
    } catch (e) {
      if (my !== seq) return;
      status.textContent = `Could not compute the heatmap: ${(e as Error).message}`;
    }
  };

  const draw = () => {
    const hm = current;
    if (!hm) return;
    const theme = readTheme();
    const neg = parseColor(theme.series[1]!);
    const pos = parseColor(theme.series[5]!);
    const bg = parseColor(theme.background);
    canvas.width = hm.cols;
    canvas.height = hm.rows;
    const ctx = canvas.getContext('2d')!;
    const img = ctx.createImageData(Math.max(1, hm.cols), Math.max(1, hm.rows));
    const lim = robustLimit(hm.values);
    for (let k = 0; k < hm.values.length; k++) {
      const v = hm.values[k];
      const o = k * 4;
      if (v === null || v === undefined) {
        img.data[o + 3] = 0;
        continue;
      }
      const t = Math.max(-1, Math.min(1, v / lim));
      const c = t < 0 ? neg : pos;
      const a = Math.sqrt(Math.abs(t));
      img.data[o] = bg[0] + (c[0] - bg[0]) * a;
      img.data[o + 1] = bg[1] + (c[1] - bg[1]) * a;
      img.data[o + 2] = bg[2] + (c[2] - bg[2]) * a;
      img.data[o + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
    host.charts.noteHeatmap(hm.rows, hm.cols);
    // A readable table of the cells once the grid is small enough to read (zoom in to get one).
    if (hm.rows <= 64 && hm.cols <= 32) {
      const rowsData = Array.from({ length: hm.rows }, (_, i) => {
        const t = hm.request.tokenStart + i * hm.rowStep;
        const label = host.tokenLabels && hm.rowStep === 1 ? ` ${host.tokenLabels[t % host.tokenLabels.length]}` : '';
        return [`token ${t}${hm.rowStep > 1 ? `–${t + hm.rowStep - 1}` : ''}${label}`, ...hm.values.slice(i * hm.cols, (i + 1) * hm.cols).map((v) => (v === null ? '—' : v))];
      });
      const headers = ['token', ...Array.from({ length: hm.cols }, (_, j) => `f${hm.request.featureStart + j * hm.colStep}`)];
      table.replaceChildren(dataTable(host.charts, 'tokens-heatmap', 'Heatmap cells', headers, rowsData, 64));
    } else {
      table.replaceChildren(h('p', { class: 'muted' }, `Zoom in to 64 × 32 cells or fewer for a table of the values (now ${hm.rows} × ${hm.cols}).`));
    }
    const { request: r } = hm;
    status.textContent = `tokens ${fmtInt(r.tokenStart)}–${fmtInt(r.tokenEnd - 1)} (${hm.rowStep} per row) × features ${fmtInt(r.featureStart)}–${fmtInt(r.featureEnd - 1)} (${hm.colStep} per column); values ${fmt(hm.min)} … ${fmt(hm.max)}`;
    legend.replaceChildren(h('span', { class: 'swatch neg' }), `−${fmt(lim)}`, h('span', { class: 'swatch zero' }), '0', h('span', { class: 'swatch pos' }), `+${fmt(lim)}`, h('span', { class: 'muted' }, ' (colour limit: 99th percentile of |cell|)'));
    labels.replaceChildren();
    if (host.tokenLabels && hm.rowStep === 1 && hm.rows <= 64) {
      for (let i = 0; i < hm.rows; i++) {
        const t = r.tokenStart + i;
        const per = host.tokenLabels.length;
        labels.append(h('div', { class: 'token-label' }, `${t}: ${host.tokenLabels[t % per] ?? ''}`));
      }
    }
  };

  const zoom = (factor: number, cx = 0.5, cy = 0.5) => {
    const tSpan = st.tokenEnd - st.tokenStart;
    const fSpan = st.featureEnd - st.featureStart;
    const nt = Math.max(1, Math.min(host.tokens, Math.round(tSpan * factor)));
    const nf = Math.max(1, Math.min(host.features, Math.round(fSpan * factor)));
    const tc = st.tokenStart + tSpan * cy;
    const fc = st.featureStart + fSpan * cx;
    st.tokenStart = Math.max(0, Math.min(host.tokens - nt, Math.round(tc - nt / 2)));
    st.tokenEnd = st.tokenStart + nt;
    st.featureStart = Math.max(0, Math.min(host.features - nf, Math.round(fc - nf / 2)));
    st.featureEnd = st.featureStart + nf;
    void load();
  };
  const pan = (dt: number, df: number) => {
    const tSpan = st.tokenEnd - st.tokenStart;
    const fSpan = st.featureEnd - st.featureStart;
    st.tokenStart = Math.max(0, Math.min(host.tokens - tSpan, st.tokenStart + Math.round(dt * tSpan)));
    st.tokenEnd = st.tokenStart + tSpan;
    st.featureStart = Math.max(0, Math.min(host.features - fSpan, st.featureStart + Math.round(df * fSpan)));
    st.featureEnd = st.featureStart + fSpan;
    void load();
  };
  const reset = () => {
    Object.assign(st, { tokenStart: 0, tokenEnd: host.tokens, featureStart: 0, featureEnd: host.features });
    void load();
  };

  canvas.addEventListener('keydown', (e) => {
    const keys: Record<string, () => void> = {
      '+': () => zoom(0.5),
      '=': () => zoom(0.5),
      '-': () => zoom(2),
      '0': reset,
      ArrowUp: () => pan(-0.25, 0),
      ArrowDown: () => pan(0.25, 0),
      ArrowLeft: () => pan(0, -0.25),
      ArrowRight: () => pan(0, 0.25),
    };
    const act = keys[e.key];
    if (act) {
      e.preventDefault();
      act();
    }
  });
  let dragFrom: [number, number] | undefined;
  const rel = (e: MouseEvent): [number, number] => {
    const b = canvas.getBoundingClientRect();
    return [Math.min(1, Math.max(0, (e.clientX - b.left) / b.width)), Math.min(1, Math.max(0, (e.clientY - b.top) / b.height))];
  };
  canvas.addEventListener('mousedown', (e) => (dragFrom = rel(e)));
  canvas.addEventListener('mouseup', (e) => {
    if (!dragFrom) return;
    const to = rel(e);
    const [x0, x1] = [Math.min(dragFrom[0], to[0]), Math.max(dragFrom[0], to[0])];
    const [y0, y1] = [Math.min(dragFrom[1], to[1]), Math.max(dragFrom[1], to[1])];
    dragFrom = undefined;
    if (x1 - x0 < 0.01 && y1 - y0 < 0.01) return;
    const tSpan = st.tokenEnd - st.tokenStart;
    const fSpan = st.featureEnd - st.featureStart;
    const nt0 = st.tokenStart + Math.floor(y0 * tSpan);
    const nt1 = Math.max(nt0 + 1, st.tokenStart + Math.ceil(y1 * tSpan));
    const nf0 = st.featureStart + Math.floor(x0 * fSpan);
    const nf1 = Math.max(nf0 + 1, st.featureStart + Math.ceil(x1 * fSpan));
    Object.assign(st, { tokenStart: nt0, tokenEnd: nt1, featureStart: nf0, featureEnd: nf1 });
    void load();
  });
  canvas.addEventListener('mousemove', (e) => {
    const hm = current;
    if (!hm) return;
    const [x, y] = rel(e);
    const row = Math.min(hm.rows - 1, Math.floor(y * hm.rows));
    const col = Math.min(hm.cols - 1, Math.floor(x * hm.cols));
    const t = hm.request.tokenStart + row * hm.rowStep;
    const f = hm.request.featureStart + col * hm.colStep;
    const v = hm.values[row * hm.cols + col];
    const label = host.tokenLabels && hm.rowStep === 1 ? ` “${host.tokenLabels[t % host.tokenLabels.length]}”` : '';
    canvas.title = `token ${t}${hm.rowStep > 1 ? `–${t + hm.rowStep - 1}` : ''}${label}, feature ${f}${hm.colStep > 1 ? `–${f + hm.colStep - 1}` : ''}: ${v === null || v === undefined ? 'no finite value' : fmt(v)}`;
  });
  valuesSel.addEventListener('change', () => {
    st.values = valuesSel.value as HeatmapValues;
    void load();
  });
  aggSel.addEventListener('change', () => {
    st.aggregate = aggSel.value as HeatmapAggregate;
    void load();
  });

  const outliers = host.outlierFeatures.length
    ? h(
        'p',
        { class: 'explain' },
        'Massive-activation features: ',
        ...host.outlierFeatures.slice(0, 16).flatMap((f) => [
          h('vscode-button', {
            secondary: true,
            class: 'link',
            onclick: () => {
              const span = Math.min(host.features, 64);
              Object.assign(st, { featureStart: Math.max(0, Math.min(host.features - span, f - span / 2)), featureEnd: 0 });
              st.featureEnd = st.featureStart + span;
              void load();
            },
          }, `feature ${f}`),
          ' ',
        ]),
      )
    : null;

  void load();
  return h(
    'div',
    { class: 'view' },
    h(
      'section',
      { class: 'card' },
      h('h2', null, 'Tokens × features'),
      h('p', { class: 'explain' }, 'Rows are tokens (batch-major), columns are features. Drag a box to zoom; with the heatmap focused, + and − zoom, arrow keys pan, 0 resets.'),
      h(
        'div',
        { class: 'toolbar' },
        h('label', { for: 'hm-values' }, 'Show'),
        valuesSel,
        h('label', { for: 'hm-agg' }, 'Cell'),
        aggSel,
        h('vscode-button', { secondary: true, onclick: () => zoom(0.5) }, 'Zoom in'),
        h('vscode-button', { secondary: true, onclick: () => zoom(2) }, 'Zoom out'),
        h('vscode-button', { secondary: true, onclick: reset }, 'Reset'),
      ),
      outliers,
      h('div', { class: 'heatmap-wrap' }, labels, canvas),
      legend,
      status,
      table,
    ),
  );
}

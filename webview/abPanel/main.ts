// The webview components first: defined before this page creates any.
import '../shared/elements';
import type { AnalysisReport } from '../../src/core/report/analysisReport';
import type { HostToWebview } from '../../src/protocol';
import { ChartRegistry, dataTable, histogramChart, histogramRows, type HistogramSeries } from '../shared/charts';
import { fmt, fmtInt, fmtShape, h } from '../shared/dom';
import { onHostMessage, postToHost, reportRendered, saveState, setRenderContext } from '../shared/host';
import { onThemeChange } from '../shared/theme';

const app = document.getElementById('app')!;
const charts = new ChartRegistry();

type Side = { title: string; uri: string; report: AnalysisReport };

/** Rows of the A/B statistics table: label, value for A, value for B. */
function statRows(a: AnalysisReport, b: AnalysisReport): [string, string, string][] {
  const maxShift = (r: AnalysisReport) => fmt(r.batchDependence.subBatches.reduce((m, s) => Math.max(m, s.rmsShift), 0));
  const row = (label: string, f: (r: AnalysisReport) => string): [string, string, string] => [label, f(a), f(b)];
  return [
    row('input', (r) => `${r.input.name} ${r.input.dtype} ${fmtShape(r.input.shape)}`),
    row('tokens × features', (r) => `${fmtInt(r.layout.tokens)} × ${fmtInt(r.layout.features)}`),
    row('valid tokens', (r) => fmtInt(r.layout.validTokens)),
    row('mean', (r) => fmt(r.global.mean)),
    row('std', (r) => fmt(r.global.std)),
    row('min', (r) => fmt(r.global.min)),
    row('max', (r) => fmt(r.global.max)),
    row('NaN / Inf', (r) => `${r.global.nan} / ${r.global.posInf + r.global.negInf}`),
    row('token std (mean)', (r) => fmt(r.layerNorm.summary.std.mean)),
    row('BatchNorm sub-batch RMS shift (max)', maxShift),
    row('padding mean shift (max)', (r) => (r.padding ? fmt(r.padding.maxMeanShift) : '—')),
    row('recorded output', (r) => (r.comparison ? `${r.comparison.bestMatch}, max |err| ${fmt(r.comparison.maxAbsError)}` : '—')),
    row('warnings', (r) => (r.warnings.length ? r.warnings.map((w) => w.code).join(', ') : 'none')),
  ];
}

/** Histograms of A and B: overlaid when their bins line up, else next to each other. */
function pairBlock(id: string, title: string, a: Side, b: Side, pick: (r: AnalysisReport) => HistogramSeries['hist']): HTMLElement {
  const ha = { label: `A ${a.title}`, hist: pick(a.report), color: 1 };
  const hb = { label: `B ${b.title}`, hist: pick(b.report), color: 3 };
  const boxA = h('div', { class: 'chart', id: `chart-${id}-a` });
  const boxB = h('div', { class: 'chart', id: `chart-${id}-b` });
  queueMicrotask(() => {
    histogramChart(charts, boxA, `${id}-a`, `${title}: A`, 'value', [ha]);
    histogramChart(charts, boxB, `${id}-b`, `${title}: B`, 'value', [hb]);
  });
  return h('section', { class: 'card' }, h('h2', null, title), h('div', { class: 'ab' }, boxA, boxB), dataTable(charts, `${id}-a`, `${title}: A`, ['bin', ha.label], histogramRows([ha])), dataTable(charts, `${id}-b`, `${title}: B`, ['bin', hb.label], histogramRows([hb])));
}

function render(a: Side, b: Side): void {
  charts.clear();
  const rows = statRows(a.report, b.report);
  charts.noteTable('ab-stats', rows.length);
  app.replaceChildren(
    h('h1', null, `A/B: ${a.title} ↔ ${b.title}`),
    h('p', { class: 'muted' }, 'Two dumps side by side: statistics, and the distributions before and after each norm.'),
    h(
      'section',
      { class: 'card' },
      h(
        'table',
        { class: 'data-table', id: 'table-ab-stats' },
        h('caption', null, 'Statistics'),
        h('thead', null, h('tr', null, h('th', { scope: 'col' }, ''), h('th', { scope: 'col' }, `A: ${a.title}`), h('th', { scope: 'col' }, `B: ${b.title}`))),
        h('tbody', null, ...rows.map(([k, va, vb]) => h('tr', null, h('th', { scope: 'row' }, k), h('td', null, va), h('td', null, vb)))),
      ),
    ),
    pairBlock('ab-input', 'Input values', a, b, (r) => r.histograms.input),
    pairBlock('ab-ln', 'After LayerNorm', a, b, (r) => r.histograms.layerNorm),
    pairBlock('ab-bn', 'After BatchNorm', a, b, (r) => r.histograms.batchNorm),
  );
  app.setAttribute('aria-busy', 'false');
  setTimeout(() => reportRendered(charts.summary('abPanel', [...a.report.warnings, ...b.report.warnings].map((w) => w.code))), 0);
}

onHostMessage((m: HostToWebview) => {
  switch (m.type) {
    case 'init':
      app.replaceChildren(h('div', { class: 'loading' }, h('vscode-progress-ring', null), h('span', null, `Analyzing ${m.title}…`)));
      break;
    case 'abReports':
      setRenderContext({ input: `${m.a.report.input.name} ↔ ${m.b.report.input.name}` });
      saveState({ a: m.a.uri, b: m.b.uri, ...(m.a.site !== undefined ? { siteA: m.a.site } : {}), ...(m.b.site !== undefined ? { siteB: m.b.site } : {}) });
      render(m.a, m.b);
      break;
    case 'error':
      charts.clear();
      app.replaceChildren(h('section', { class: 'card error-card', role: 'alert' }, h('h2', null, 'The A/B panel could not analyze both dumps'), h('p', { class: 'error-message' }, m.message)));
      reportRendered(charts.summary('error', [], m.message));
      break;
    default:
      break;
  }
});
onThemeChange(() => charts.retheme());
postToHost({ type: 'ready' });

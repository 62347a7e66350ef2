// The webview components first: defined before this page creates any.
import '../shared/elements';
import type { AnalysisReport } from '../../src/core/report/analysisReport';
import { unpackReport } from '../../src/core/report/packReport';
import { COMMAND, type HostToWebview } from '../../src/protocol';
import { ChartRegistry, dataTable, histogramChart, histogramRows, categoryChart } from '../shared/charts';
import { fmt, fmtInt, fmtShape, h } from '../shared/dom';
import { onHostMessage, postToHost, reportRendered, setRenderContext } from '../shared/host';
import { onThemeChange } from '../shared/theme';
import { WARNING_VIEW } from '../shared/warningViews';

const app = document.getElementById('app')!;
const charts = new ChartRegistry();
let title = 'NormLens';

function kv(pairs: [string, string][]): HTMLElement {
  return h('dl', { class: 'kv' }, ...pairs.flatMap(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
}

/** Draws the panel for a report: key numbers, warnings, LayerNorm vs BatchNorm. */
function render(r: AnalysisReport): void {
  charts.clear();
  const histBox = h('div', { class: 'chart', id: 'chart-side-hist' });
  const shiftBox = h('div', { class: 'chart', id: 'chart-side-shift' });
  const sub = r.batchDependence.subBatches;
  const hists = [
    { label: 'LayerNorm', hist: r.histograms.layerNorm, color: 1 },
    { label: 'BatchNorm', hist: r.histograms.batchNorm, color: 3 },
  ];
  app.replaceChildren(
    h('h1', null, title),
    h('p', { class: 'muted' }, `${r.input.name} ${r.input.dtype} ${fmtShape(r.input.shape)}`),
    h(
      'section',
      { class: 'card' },
      h('h2', null, 'Key numbers'),
      kv([
        ['tokens × features', `${fmtInt(r.layout.tokens)} × ${fmtInt(r.layout.features)}`],
        ['valid tokens', fmtInt(r.layout.validTokens)],
        ['mean ± std', `${fmt(r.global.mean)} ± ${fmt(r.global.std)}`],
        ['min … max', `${fmt(r.global.min)} … ${fmt(r.global.max)}`],
        ['NaN / Inf', `${fmtInt(r.global.nan)} / ${fmtInt(r.global.posInf + r.global.negInf)}`],
        ...(r.comparison ? ([['recorded output', `${r.comparison.bestMatch} (max |err| ${fmt(r.comparison.maxAbsError)})`]] as [string, string][]) : []),
      ]),
    ),
    h(
      'section',
      { class: 'card' },
      h('h2', null, `Warnings (${r.warnings.length})`),
      r.warnings.length
        ? h(
            'ul',
            { class: 'warnings' },
            ...r.warnings.map((w) =>
              h(
                'li',
                { class: `warning severity-${w.severity}`, 'data-code': w.code },
                h('span', { class: 'severity' }, w.severity),
                h('button', { class: 'reveal', title: 'Show in the inspector', onclick: () => postToHost({ type: 'command', command: COMMAND.showView, args: [WARNING_VIEW[w.code]] }) }, w.code),
                h('span', { class: 'message' }, w.message),
              ),
            ),
          )
        : h('p', { class: 'ok' }, 'No warnings.'),
    ),
    h(
      'section',
      { class: 'card' },
      h('h2', null, 'LayerNorm vs BatchNorm'),
      h('p', { class: 'explain' }, `LayerNorm: per token, batch independent. BatchNorm: per feature over ${fmtInt(r.batchNorm.perFeature.count)} tokens${sub.length ? `; its outputs move by up to ${fmt(sub.reduce((m, s) => Math.max(m, s.rmsShift), -Infinity))} (RMS) on smaller sub-batches` : ''}.`),
      histBox,
      dataTable(charts, 'side-hist', 'Output values after each norm', ['bin', 'LayerNorm', 'BatchNorm'], histogramRows(hists)),
      sub.length ? shiftBox : null,
    ),
  );
  app.setAttribute('aria-busy', 'false');
  histogramChart(charts, histBox, 'side-hist', 'Outputs', 'value', hists);
  if (sub.length)
    categoryChart(charts, shiftBox, 'side-shift', 'Output shift vs sub-batch size', 'size', 'RMS shift', sub.map((s) => s.size), [
      { label: 'BatchNorm', values: sub.map((s) => s.rmsShift), color: 3 },
      { label: 'LayerNorm', values: sub.map(() => 0), color: 1 },
    ], true);
  reportRendered(charts.summary('sidePanel', r.warnings.map((w) => w.code)));
}

function renderEmpty(message: string): void {
  charts.clear();
  app.replaceChildren(
    h('h1', null, 'NormLens'),
    h('p', { class: 'muted' }, message),
    h('vscode-button', { onclick: () => postToHost({ type: 'command', command: COMMAND.openSample }) }, 'Open the sample dump'),
  );
  app.setAttribute('aria-busy', 'false');
  reportRendered(charts.summary('empty', [], undefined));
}

onHostMessage((m: HostToWebview) => {
  switch (m.type) {
    case 'init':
      title = m.title;
      break;
    case 'report': {
      const report = unpackReport({ report: m.report, arrays: m.arrays ?? [] });
      setRenderContext({ input: report.input.name });
      render(report);
      break;
    }
    case 'error':
      renderEmpty(m.message);
      break;
    default:
      break;
  }
});
onThemeChange(() => charts.retheme());
postToHost({ type: 'ready' });

import { BATCHNORM_RUNNING_NAME, NORMS, type NormDescription } from '../../src/core/analysis/norms';
import type { AnalysisReport, AnalysisWarning, DownsampledSeries, Histogram, ReplayCandidateKind } from '../../src/core/report/analysisReport';
import { ChartRegistry, categoryChart, dataTable, histogramChart, histogramRows, seriesChart, type HistogramSeries } from '../shared/charts';
import { fmt, fmtInt, fmtShape, h } from '../shared/dom';
import { layerNormTokenSeries, toSeries, type TokenSeries } from '../../src/core/report/chartSeries';
import { VIEW, type ViewOptions } from '../../src/protocol';
import { WARNING_VIEW, hintButtons } from '../shared/warningViews';

/** The inspector's views, in tab order. */
export const VIEWS = [VIEW.overview, VIEW.layerNorm, VIEW.batchNorm, VIEW.compare, VIEW.tokens, VIEW.replay] as const;
export type ViewId = (typeof VIEWS)[number];

/** Tab titles. */
export const VIEW_TITLES: Record<ViewId, string> = {
  [VIEW.overview]: 'Overview',
  [VIEW.layerNorm]: 'LayerNorm',
  [VIEW.batchNorm]: 'BatchNorm',
  [VIEW.compare]: 'Compare',
  [VIEW.tokens]: 'Tokens',
  [VIEW.replay]: 'Replay',
};

/** Series colour indices (theme order): input, then each norm by its norms.ts `key`, extras. */
export const COLOR = { input: 0, layerNorm: 1, rmsNorm: 2, batchNorm: 3, extra: 4, bad: 5, groupNorm: 6, instanceNorm: 7 } as const;

/** A norm's chart colour, from the norm table's key. */
function normColor(kind: ReplayCandidateKind): number {
  const d = NORMS.find((n) => n.kind === kind);
  return d ? COLOR[d.key] : COLOR.extra;
}

/** Why a per-sample norm is absent on this input (null when it is present). */
function absentReason(r: AnalysisReport, d: NormDescription): string | null {
  if (d.kind === 'groupnorm') return r.groupNorm ? null : (r.normAvailability?.groupnorm ?? 'not in this report');
  if (d.kind === 'instancenorm') return r.instanceNorm ? null : (r.normAvailability?.instancenorm ?? 'not in this report');
  return null;
}

/**
 * The axis-choice figure (Wu & He 2018, figure 2, with LayerNorm per token as in Transformers): for
 * each norm, an (N = 2 samples × 4 positions) by (C = 6 channels) grid with the values one of its
 * statistics is taken over filled in its colour. Drawn from the norm table's `reducesOver`.
 */
function normFamilyFigure(r: AnalysisReport): HTMLElement {
  const samples = 2;
  const positions = 4;
  const channels = 6;
  const groupSize = 2;
  const card = (d: NormDescription): HTMLElement => {
    const over = new Set(d.reducesOver);
    const cells: HTMLElement[] = [];
    for (let c = 0; c < channels; c++) {
      for (let n = 0; n < samples; n++) {
        for (let p = 0; p < positions; p++) {
          const inChannel = over.has('channel') ? !d.channelGroups || c < groupSize : c === 0;
          const on = inChannel && (over.has('batch') || n === 0) && (over.has('position') || p === 0);
          cells.push(h('div', { class: `axis-cell${on ? ` on norm-${d.key}` : ''}${p === 0 && n > 0 ? ' sample-start' : ''}` }));
        }
      }
    }
    const reason = absentReason(r, d);
    return h(
      'figure',
      { class: `norm-figure${reason ? ' absent' : ''}`, 'data-norm': d.kind },
      h('div', { class: 'axis-grid', role: 'img', 'aria-label': `${d.name}: one statistic over ${d.statistics}` }, ...cells),
      h('figcaption', null, h('strong', null, d.name), h('span', { class: 'muted' }, d.statistics), h('span', { class: 'muted' }, reason ? 'not on this input' : d.channelsFirstOnly ? 'on this input' : '')),
    );
  };
  return h(
    'div',
    { class: 'norm-family' },
    h('div', { class: 'norm-figures' }, ...NORMS.map(card)),
    h('p', { class: 'explain' }, `Each grid is a batch of 2 samples × 4 positions (columns) by 6 channels (rows); the filled cells are the values one statistic is taken over (GroupNorm drawn with 2 channels per group). LayerNorm and RMSNorm normalize each token over its features, BatchNorm each feature over the batch; GroupNorm and InstanceNorm stay inside one sample, so, like LayerNorm, they do not depend on the batch.`),
  );
}

/** What a view needs to draw itself. */
export interface ViewContext {
  report: AnalysisReport;
  charts: ChartRegistry;
  /** Switches to another view (warning links). */
  show(view: ViewId): void;
  /** Current selection of the per-batch-element charts (an index of the report's batch elements). */
  batchElement: number;
  setBatchElement(b: number): void;
  /** The dump's number of the report's batch element `b` (a preview may keep only some elements). */
  batchLabel?(b: number): number;
  /** True while the page shows a preview: warnings are not judged from it. */
  preview?: boolean;
  /** Re-runs the analysis with changed options (a warning's "Use axis 1" button). */
  setOptions?(change: ViewOptions): void;
  /** LayerNorm's per-token series of batch element `b` (null: all tokens), asked of the host. */
  tokenSeries?(b: number | null): Promise<TokenSeries>;
  /** Work the view's summary waits for (a chart drawn when the host's data comes). */
  defer?(p: Promise<unknown>): void;
}

function section(title: string, ...children: (Node | string | null | false)[]): HTMLElement {
  return h('section', { class: 'card' }, h('h2', null, title), ...children);
}

function chartBox(id: string): HTMLElement {
  return h('div', { class: 'chart', id: `chart-${id}`, tabindex: 0 });
}

function stat(label: string, value: string, hint?: string): HTMLElement {
  return h('div', { class: 'stat', title: hint ?? '' }, h('div', { class: 'stat-value' }, value), h('div', { class: 'stat-label' }, label));
}

/** Draws a histogram chart with its data table; returns the block. */
function histogramBlock(ctx: ViewContext, id: string, title: string, xLabel: string, hists: HistogramSeries[], opts: { logX?: boolean } = {}): HTMLElement {
  const box = chartBox(id);
  const block = h('div', { class: 'chart-block' }, box, dataTable(ctx.charts, id, title, ['bin', ...hists.map((s) => s.label)], histogramRows(hists)));
  queueMicrotask(() => histogramChart(ctx.charts, box, id, title, xLabel, hists, opts));
  return block;
}

function seriesBlock(ctx: ViewContext, id: string, title: string, xLabel: string, yLabel: string, lines: Parameters<typeof seriesChart>[6]): HTMLElement {
  const box = chartBox(id);
  const first = lines[0]!.series;
  const rows = first.mean.map((_, k) => [
    first.bucketSize > 1 ? `${k * first.bucketSize}–${Math.min(first.length, (k + 1) * first.bucketSize) - 1}` : String(k),
    ...lines.map((l) => l.series.mean[k] ?? NaN),
  ]);
  const block = h('div', { class: 'chart-block' }, box, dataTable(ctx.charts, id, title, [xLabel, ...lines.map((l) => l.label)], rows));
  queueMicrotask(() => seriesChart(ctx.charts, box, id, title, xLabel, yLabel, lines));
  return block;
}

function severityLabel(w: AnalysisWarning): string {
  return w.severity === 'error' ? 'Error' : w.severity === 'warning' ? 'Warning' : 'Info';
}

/** The warnings list; each links to the view that shows the evidence. */
export function warningList(ctx: ViewContext, warnings: AnalysisWarning[], filter?: (w: AnalysisWarning) => boolean, here: ViewId = VIEW.overview): HTMLElement {
  if (ctx.preview) return h('p', { class: 'muted preview-note' }, 'Warnings come with the exact analysis: a preview judges nothing.');
  const shown = filter ? warnings.filter(filter) : warnings;
  if (shown.length === 0) return h('p', { class: 'ok' }, 'No warnings: nothing here looks off.');
  return h(
    'ul',
    { class: 'warnings' },
    ...shown.map((w) =>
      h(
        'li',
        { class: `warning severity-${w.severity}`, 'data-code': w.code },
        h('span', { class: 'severity' }, severityLabel(w)),
        h('code', { class: 'code' }, w.code),
        h('span', { class: 'message' }, w.message),
        ...(ctx.setOptions ? hintButtons(w, ctx.setOptions) : []),
        WARNING_VIEW[w.code] && WARNING_VIEW[w.code] !== here
          ? h('vscode-button', { secondary: true, class: 'link', onclick: () => ctx.show(WARNING_VIEW[w.code]!) }, `Show in ${VIEW_TITLES[WARNING_VIEW[w.code]!]}`)
          : null,
      ),
    ),
  );
}

/** Overview: tensors and roles, global statistics, warnings, the input distribution. */
export function overviewView(ctx: ViewContext): HTMLElement {
  const r = ctx.report;
  const g = r.global;
  const roles: [string, { name: string; dtype: string; shape: number[]; used: boolean } | null][] = [
    ['input', { ...r.input, used: true }],
    ['mask', r.tensors.mask],
    ['output', r.tensors.output],
    ['weight', r.tensors.weight],
    ['bias', r.tensors.bias],
    ['running_mean', r.tensors.runningMean],
    ['running_var', r.tensors.runningVar],
  ];
  const present = roles.filter(([, t]) => t);
  const tensorTable = h(
    'table',
    { class: 'data-table tensors', id: 'table-tensors' },
    h('caption', null, 'Tensors and the role each plays'),
    h('thead', null, h('tr', null, ...['role', 'name', 'dtype', 'shape', 'used'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', null, ...present.map(([role, t]) => h('tr', null, h('th', { scope: 'row' }, role), h('td', null, t!.name), h('td', null, t!.dtype), h('td', null, fmtShape(t!.shape)), h('td', null, t!.used ? 'yes' : 'no (see warnings)')))),
  );
  ctx.charts.noteTable('tensors', present.length);
  return h(
    'div',
    { class: 'view' },
    section(
      'At a glance',
      h(
        'div',
        { class: 'stats' },
        stat('tokens', fmtInt(r.layout.tokens), 'positions of the non-feature axes'),
        stat('features', fmtInt(r.layout.features), `size of axis ${r.layout.featureAxis}`),
        stat('batch', fmtInt(r.layout.batchSize), 'elements along the batch axis'),
        stat('valid tokens', fmtInt(r.layout.validTokens), r.tensors.mask ? 'mask = 1' : 'no mask: every token counts'),
        stat('mean', fmt(g.mean)),
        stat('std', fmt(g.std)),
        stat('min', fmt(g.min)),
        stat('max', fmt(g.max)),
        stat('NaN', fmtInt(g.nan)),
        stat('±Inf', fmtInt(g.posInf + g.negInf)),
      ),
    ),
    section(ctx.preview ? 'Warnings' : `Warnings (${r.warnings.length})`, warningList(ctx, r.warnings)),
    section('Tensors', tensorTable),
    section('Input distribution', histogramBlock(ctx, 'overview-input', `Values of ${r.input.name}`, 'value', [{ label: r.input.name, hist: r.histograms.input, color: COLOR.input }])),
  );
}

/** The "Values before and after" section: input histogram beside one norm's output histogram. */
function beforeAfterSection(ctx: ViewContext, prefix: string, label: string, after: Histogram, color: number): HTMLElement {
  const r = ctx.report;
  return section(
    'Values before and after',
    h(
      'div',
      { class: 'grid2' },
      histogramBlock(ctx, `${prefix}-hist-before`, 'Before: input values', 'value', [{ label: 'input', hist: r.histograms.input, color: COLOR.input }]),
      histogramBlock(ctx, `${prefix}-hist-after`, `After: ${label} output`, 'value', [{ label, hist: after, color }]),
    ),
  );
}

/**
 * The chart of LayerNorm's token mean and std along the positions of batch element `b` (null: all
 * tokens): from the report's per-token arrays when it has them, else asked of the host (the page's
 * report leaves them there), drawn when they come.
 */
function tokenStatsBlock(ctx: ViewContext, b: number | null): HTMLElement {
  const title = b !== null ? `Batch element ${b}: token mean and std` : 'Token mean and std';
  const draw = (s: TokenSeries) =>
    seriesBlock(ctx, 'ln-token-stats', title, 'position', 'value', [
      { label: 'mean', series: s.mean, color: COLOR.extra },
      { label: 'std', series: s.std, color: COLOR.layerNorm },
    ]);
  const local = layerNormTokenSeries(ctx.report, b);
  if (local) return draw(local);
  const slot = h('div', { class: 'chart-block chart-pending', 'aria-busy': 'true' }, h('p', { class: 'muted' }, `${title}: loading…`));
  if (!ctx.tokenSeries) {
    slot.replaceChildren(h('p', { class: 'muted' }, `${title}: not available in this view.`));
    return slot;
  }
  // A view replaced before the answer came (another batch element, another tab) draws nothing.
  ctx.defer?.(
    ctx.tokenSeries(b).then(
      (s) => slot.isConnected && slot.replaceWith(draw(s)),
      (e: Error) => {
        slot.setAttribute('aria-busy', 'false');
        slot.replaceChildren(h('p', { class: 'muted' }, `${title}: ${e.message}.`));
      },
    ),
  );
  return slot;
}

function batchPicker(ctx: ViewContext, id: string): HTMLElement {
  const r = ctx.report;
  const select = h('vscode-single-select', { id, 'aria-label': 'batch element' }) as HTMLElement & { value: string };
  for (let b = 0; b < r.layout.batchSize; b++) select.append(h('vscode-option', { value: String(b), selected: b === ctx.batchElement }, `batch element ${ctx.batchLabel?.(b) ?? b}`));
  select.addEventListener('change', () => ctx.setBatchElement(Number(select.value)));
  return h('div', { class: 'inline-control' }, h('label', { for: id }, 'Show '), select);
}

/** LayerNorm: per-token mean/std along positions, before/after histograms, degenerate tokens. */
export function layerNormView(ctx: ViewContext): HTMLElement {
  const r = ctx.report;
  const ln = r.layerNorm;
  const b = Math.min(ctx.batchElement, Math.max(0, r.layout.batchSize - 1));
  const degenerate = r.warnings.filter((w) => w.code === 'degenerate-token');
  const perBatch = r.layout.batchSize > 1 && r.layout.tokensPerBatchElement > 1;
  return h(
    'div',
    { class: 'view' },
    h('p', { class: 'explain' }, `LayerNorm normalizes each token over its ${fmtInt(r.layout.features)} features: every output token has mean 0 and std 1 (before weight/bias), whatever the rest of the batch holds. eps = ${fmt(ln.eps)}${ln.affine.weight ? ', with weight' : ''}${ln.affine.bias ? ' and bias' : ''}.`),
    section(
      'Per-token statistics along positions',
      perBatch ? batchPicker(ctx, 'ln-batch') : null,
      ln.perToken.reduced
        ? h('p', { class: 'explain reduced-note' }, `Per-token series: ${fmtInt(ln.series.std.length)} tokens, shown as ${fmtInt(ln.series.std.mean.length)} min/max buckets of ${fmtInt(ln.series.std.bucketSize)} tokens (over the cap of ${fmtInt(r.options.maxTokenSeries ?? 0)}, setting normlens.limits.maxTokenSeries); the statistics above the charts are exact.`)
        : tokenStatsBlock(ctx, perBatch ? b : null),
      seriesBlock(ctx, 'ln-token-std-all', 'Token std over all tokens (batch-major)', 'token', 'std', [{ label: 'std before', series: ln.series.std, color: COLOR.input }, { label: 'std after LayerNorm', series: ln.series.outputStd, color: COLOR.layerNorm }]),
    ),
    beforeAfterSection(ctx, 'ln', 'LayerNorm', r.histograms.layerNorm, COLOR.layerNorm),
    section(
      'Token std before and after',
      h(
        'div',
        { class: 'grid2' },
        histogramBlock(ctx, 'ln-tokstd-before', 'Token std before', 'std', [{ label: 'input', hist: r.tokenDistributions.input.std, color: COLOR.input }]),
        histogramBlock(ctx, 'ln-tokstd-after', 'Token std after LayerNorm', 'std', [{ label: 'LayerNorm', hist: r.tokenDistributions.layerNorm.std, color: COLOR.layerNorm }]),
      ),
    ),
    section('Degenerate tokens', degenerate.length ? warningList(ctx, degenerate, undefined, VIEW.layerNorm) : h('p', { class: 'ok' }, 'No token has a variance small enough for eps to dominate.')),
  );
}

/** BatchNorm: per-feature statistics, before/after, padding and batch-size sensitivity, per batch element. */
export function batchNormView(ctx: ViewContext): HTMLElement {
  const r = ctx.report;
  const bn = r.batchNorm;
  const pf = bn.perFeature;
  const sub = r.batchDependence.subBatches;
  const related = r.warnings.filter((w) => ['padding-in-batch-stats', 'small-batch', 'batch-dependent-output', 'running-stats-mismatch'].includes(w.code));
  const q = r.perBatch;
  const mid = Math.floor(q.probabilities.length / 2);
  const quantileSeries = (pick: (e: (typeof q.entries)[number]) => number[]): DownsampledSeries => ({
    length: q.entries.length,
    bucketSize: 1,
    mean: q.entries.map((e) => pick(e)[mid] ?? NaN),
    min: q.entries.map((e) => pick(e)[0] ?? NaN),
    max: q.entries.map((e) => pick(e)[pick(e).length - 1] ?? NaN),
  });
  const qLabel = `p${Math.round((q.probabilities[0] ?? 0) * 100)}–p${Math.round((q.probabilities[q.probabilities.length - 1] ?? 1) * 100)}`;
  return h(
    'div',
    { class: 'view' },
    h('p', { class: 'explain' }, `BatchNorm normalizes each feature over the batch: ${fmtInt(pf.count)} valid tokens here. Its statistics change with batch size, batch composition and padding, so the same token gets a different output in a different batch. eps = ${fmt(bn.eps)}.`),
    related.length ? section('Findings', warningList(ctx, related, undefined, VIEW.batchNorm)) : null,
    section(
      'Per-feature statistics',
      pf.reduced
        ? h('p', { class: 'explain reduced-note' }, `Per-feature series: ${fmtInt(bn.series.mean.length)} features, shown as ${fmtInt(bn.series.mean.mean.length)} min/max buckets of ${fmtInt(bn.series.mean.bucketSize)} features (over the cap of ${fmtInt(r.options.maxFeatureSeries ?? 0)}, setting normlens.limits.maxFeatureSeries); summaries, histograms and checks are exact.`)
        : null,
      seriesBlock(ctx, 'bn-feature-stats', 'Feature mean and std over valid tokens', 'feature', 'value', [
        { label: 'mean', series: pf.reduced ? bn.series.mean : toSeries(pf.mean), color: COLOR.extra },
        { label: 'std', series: pf.reduced ? bn.series.std : toSeries(pf.var.map((v) => Math.sqrt(v))), color: COLOR.batchNorm },
      ]),
    ),
    beforeAfterSection(ctx, 'bn', 'BatchNorm', r.histograms.batchNorm, COLOR.batchNorm),
    section(
      'Batch-size sensitivity',
      h('p', { class: 'explain' }, 'BatchNorm statistics recomputed on consecutive sub-batches: how far each token’s output moves from its full-batch output (normalized units). LayerNorm’s output does not move at any batch size.'),
      sub.length
        ? (() => {
            const box = chartBox('bn-subbatch');
            queueMicrotask(() =>
              categoryChart(ctx.charts, box, 'bn-subbatch', 'Output shift vs sub-batch size', 'sub-batch size', 'shift', sub.map((s) => s.size), [
                { label: 'BatchNorm RMS shift', values: sub.map((s) => s.rmsShift), color: COLOR.batchNorm },
                { label: 'BatchNorm max shift', values: sub.map((s) => s.maxShift), color: COLOR.bad },
                { label: 'LayerNorm shift', values: sub.map(() => 0), color: COLOR.layerNorm },
              ], true),
            );
            return h(
              'div',
              { class: 'chart-block' },
              box,
              dataTable(ctx.charts, 'bn-subbatch', 'Sub-batch BatchNorm statistics', ['size', 'groups', 'min tokens', 'RMS shift', 'max shift', 'max |Δmean|/std', 'median var ratio'], sub.map((s) => [s.size, String(s.groups), String(s.minCount), s.rmsShift, s.maxShift, s.maxMeanDeviation, s.medianVarRatio])),
            );
          })()
        : h('p', { class: 'muted' }, 'The batch has a single element: no sub-batches to compare.'),
    ),
    section(
      'Padding sensitivity',
      r.padding
        ? h(
            'div',
            null,
            h('p', { class: 'explain' }, `${fmtInt(r.padding.paddingTokens)} padding tokens. PyTorch’s BatchNorm has no mask, so they enter its statistics; shift of each feature’s mean, in units of its std over real tokens (largest ${fmt(r.padding.maxMeanShift)}).`),
            seriesBlock(ctx, 'bn-padding', 'Mean shift from padding per feature (|Δmean| / std)', 'feature', '|Δmean| / std', [{ label: 'mean shift', series: toSeries(r.padding.meanShift), color: COLOR.bad }]),
          )
        : h('p', { class: 'muted' }, 'No mask in this dump: every token counts as real.'),
    ),
    r.runningStats
      ? section(
          'Running statistics vs this batch',
          seriesBlock(ctx, 'bn-running', 'running_mean shift (|Δ| / std) and running_var ratio per feature', 'feature', 'value', [
            { label: 'mean shift', series: toSeries(r.runningStats.meanShift), color: COLOR.bad },
            { label: 'var ratio', series: toSeries(r.runningStats.varRatio), color: COLOR.extra },
          ]),
        )
      : null,
    groupNormSection(ctx),
    q.entries.length
      ? section(
          'Per batch element',
          h('p', { class: 'explain' }, `Median and ${qLabel} of each batch element’s values before and after each norm${q.elementsPerEntry > 1 ? ` (${q.elementsPerEntry} elements per point)` : ''}.`),
          seriesBlock(ctx, 'bn-per-batch', 'Quantiles per batch element', 'batch element', 'value', [
            { label: 'input', series: quantileSeries((e) => e.input), color: COLOR.input, envelope: true, envelopeLabel: qLabel },
            { label: 'LayerNorm', series: quantileSeries((e) => e.layerNorm), color: COLOR.layerNorm, envelope: true, envelopeLabel: qLabel },
            { label: 'BatchNorm', series: quantileSeries((e) => e.batchNorm), color: COLOR.batchNorm, envelope: true, envelopeLabel: qLabel },
          ]),
        )
      : null,
  );
}

/**
 * GroupNorm per (sample, group): where BatchNorm pools each channel over the batch, GroupNorm keeps
 * each sample to itself; its statistics per (sample, group) and the spread across samples.
 */
function groupNormSection(ctx: ViewContext): HTMLElement {
  const r = ctx.report;
  const gn = r.groupNorm;
  if (!gn) {
    return section('GroupNorm per (sample, group)', h('p', { class: 'muted', id: 'groupnorm-absent' }, `GroupNorm is not computed for this input: ${r.normAvailability?.groupnorm ?? 'not in this report'}`));
  }
  const G = gn.groups;
  const rows = gn.perGroup.mean.map((m, i) => [`${Math.floor(i / G)}, ${i % G}`, m, Math.sqrt(gn.perGroup.var[i]!), String(gn.perGroup.count[i])] as (string | number)[]);
  const box = chartBox('gn-groups');
  const index = gn.perGroup.mean.map((_, i) => i);
  queueMicrotask(() =>
    categoryChart(ctx.charts, box, 'gn-groups', `Mean and std per (sample, group), index sample·${G} + group`, 'sample·G + group', 'value', index, [
      { label: 'mean', values: gn.perGroup.mean, color: COLOR.extra },
      { label: 'std', values: gn.perGroup.var.map((v) => Math.sqrt(v)), color: COLOR.groupNorm },
    ]),
  );
  return section(
    'GroupNorm per (sample, group)',
    h('p', { class: 'explain' }, `GroupNorm (${G} groups of ${gn.channelsPerGroup} channels, G ${gn.groupsSource === 'fitted' ? 'fitted to the recorded output' : gn.groupsSource === 'option' ? 'from the groups option' : 'by default (32)'}) normalizes each sample over a group of channels and all positions: ${fmtInt(gn.samples)} samples × ${G} groups, each over ${fmtInt(gn.perGroup.count[0] ?? 0)} values. Unlike BatchNorm, no statistic mixes samples.`),
    h('div', { class: 'chart-block' }, box, dataTable(ctx.charts, 'gn-groups', 'GroupNorm statistics per (sample, group)', ['sample, group', 'mean', 'std', 'values'], rows)),
  );
}

/** Compare: LayerNorm vs RMSNorm vs BatchNorm side by side, and the whole norm family. */
export function compareView(ctx: ViewContext): HTMLElement {
  const r = ctx.report;
  const td = r.tokenDistributions;
  const summaryRows: [string, Histogram, string, string][] = [
    ['LayerNorm', td.layerNorm.std, 'no', 'per token, over features'],
    ['RMSNorm', td.rmsNorm.std, 'no', 'per token, over features (no centring)'],
    ['BatchNorm', td.batchNorm.std, 'yes', 'per feature, over the batch'],
  ];
  const maxShift = Math.max(0, ...r.batchDependence.subBatches.map((s) => s.rmsShift));
  const table = h(
    'table',
    { class: 'data-table', id: 'table-compare-summary' },
    h('caption', null, 'The three normalizations on this input'),
    h('thead', null, h('tr', null, ...['norm', 'statistics', 'depends on the batch', 'token std after (mean)', 'largest sub-batch RMS shift'].map((c) => h('th', { scope: 'col' }, c)))),
    h(
      'tbody',
      null,
      ...summaryRows.map(([name, hist, dep, stats]) =>
        h('tr', null, h('th', { scope: 'row' }, name), h('td', null, stats), h('td', null, dep), h('td', null, fmt(histMean(hist))), h('td', null, name === 'BatchNorm' ? fmt(maxShift) : '0')),
      ),
    ),
  );
  ctx.charts.noteTable('compare-summary', 3);
  const familyTable = h(
    'table',
    { class: 'data-table', id: 'table-norm-family' },
    h('caption', null, 'The norm family: which axes each normalizes over'),
    h('thead', null, h('tr', null, ...['norm', 'statistics', 'centred', 'affine', 'depends on the batch', 'on this input'].map((c) => h('th', { scope: 'col' }, c)))),
    h(
      'tbody',
      null,
      ...NORMS.map((d) => {
        const reason = absentReason(r, d);
        const here = reason ?? (d.kind === 'groupnorm' && r.groupNorm ? `yes, G = ${r.groupNorm.groups} (${r.groupNorm.groupsSource})` : 'yes');
        return h('tr', { 'data-norm': d.kind }, h('th', { scope: 'row' }, d.name), h('td', null, d.statistics), h('td', null, d.centred ? 'yes' : 'no'), h('td', null, d.affine), h('td', null, d.batchDependent ? 'yes' : 'no'), h('td', null, here));
      }),
    ),
  );
  ctx.charts.noteTable('norm-family', NORMS.length);
  const perSample = [
    ...(r.groupNorm ? [{ label: `GroupNorm (G = ${r.groupNorm.groups})`, hist: r.groupNorm.histogram, color: COLOR.groupNorm }] : []),
    ...(r.instanceNorm ? [{ label: 'InstanceNorm', hist: r.instanceNorm.histogram, color: COLOR.instanceNorm }] : []),
  ];
  return h(
    'div',
    { class: 'view' },
    section('Side by side', table),
    section('The norm family', normFamilyFigure(r), familyTable),
    section(
      'GroupNorm and InstanceNorm',
      perSample.length
        ? h(
            'div',
            null,
            h('p', { class: 'explain' }, 'Per-sample norms of this (N, C, ...) input: statistics per (sample, group of channels) and per (sample, channel) over all positions, padding included as in PyTorch.'),
            histogramBlock(ctx, 'cmp-sample-hist', 'Output values of the per-sample norms', 'value', perSample),
          )
        : h('p', { class: 'muted' }, r.normAvailability?.groupnorm ?? 'GroupNorm and InstanceNorm do not apply to this input.'),
    ),
    section(
      'Distribution after each norm',
      histogramBlock(ctx, 'cmp-hist', 'Output values', 'value', [
        { label: 'LayerNorm', hist: r.histograms.layerNorm, color: COLOR.layerNorm },
        { label: 'RMSNorm', hist: r.histograms.rmsNorm, color: COLOR.rmsNorm },
        { label: 'BatchNorm', hist: r.histograms.batchNorm, color: COLOR.batchNorm },
      ]),
    ),
    section(
      'Per-token std after each norm',
      seriesBlock(ctx, 'cmp-token-std', 'Token std after each norm (batch-major tokens)', 'token', 'std', [
        { label: 'LayerNorm', series: r.layerNorm.series.outputStd, color: COLOR.layerNorm },
        { label: 'RMSNorm', series: r.rmsNorm.series.outputStd, color: COLOR.rmsNorm },
        { label: 'BatchNorm', series: r.batchNorm.series.outputStd, color: COLOR.batchNorm },
      ]),
    ),
    section(
      'Token mean after each norm',
      h(
        'div',
        { class: 'grid3' },
        histogramBlock(ctx, 'cmp-tokmean-ln', 'LayerNorm', 'token mean', [{ label: 'LayerNorm', hist: td.layerNorm.mean, color: COLOR.layerNorm }]),
        histogramBlock(ctx, 'cmp-tokmean-rms', 'RMSNorm', 'token mean', [{ label: 'RMSNorm', hist: td.rmsNorm.mean, color: COLOR.rmsNorm }]),
        histogramBlock(ctx, 'cmp-tokmean-bn', 'BatchNorm', 'token mean', [{ label: 'BatchNorm', hist: td.batchNorm.mean, color: COLOR.batchNorm }]),
      ),
    ),
  );
}

/** Mean of a histogram's distribution from bin centres. */
function histMean(hist: Histogram): number {
  let s = 0;
  let n = 0;
  hist.counts.forEach((c, i) => {
    s += c * (hist.edges[i]! + hist.edges[i + 1]!) / 2;
    n += c;
  });
  return n ? s / n : NaN;
}

/** Replay: recorded vs recomputed output, best match, fitted eps. */
export function replayView(ctx: ViewContext): HTMLElement {
  const r = ctx.report;
  const c = r.comparison;
  if (!c) {
    return h(
      'div',
      { class: 'view' },
      section('No recorded output', h('p', null, 'This dump has no output tensor (named output, normalized or y). Dump the norm’s output next to its input, or pick one with the output option, to check it against LayerNorm, RMSNorm and BatchNorm of the input (and GroupNorm / InstanceNorm for (N, C, ...) activations).')),
    );
  }
  // The five norms, then eval-mode BatchNorm (running stats) when the dump had them.
  const kinds: ReplayCandidateKind[] = [...NORMS.map((d) => d.kind), 'batchnorm-running' as const].filter((k) => c.candidates[k] !== undefined);
  const names = { ...Object.fromEntries(NORMS.map((d) => [d.kind, d.kind === 'groupnorm' && c.groups !== undefined ? `GroupNorm (G = ${c.groups})` : d.name])), 'batchnorm-running': BATCHNORM_RUNNING_NAME } as Record<ReplayCandidateKind, string>;
  // The candidate behind bestMatch: eval-mode BatchNorm is bestMatch 'batchnorm' with running statistics.
  const evalMode = c.bestMatch === 'batchnorm' && c.batchNormStatistics === 'running';
  const best: ReplayCandidateKind | 'none' = evalMode ? 'batchnorm-running' : c.bestMatch;
  const mismatch = r.warnings.filter((w) => w.code === 'recorded-output-mismatch');
  const verdict =
    best === 'none'
      ? `No normalization of ${r.input.name} explains ${c.tensor}: the smallest max |error| is ${fmt(c.maxAbsError)} (tolerance ${fmt(c.tolerance)}).`
      : `${c.tensor} is ${names[best]} of ${r.input.name}: max |error| ${fmt(c.maxAbsError)} within the ${c.dtype} tolerance ${fmt(c.tolerance)}${c.fittedEps !== undefined ? `, fitted eps ${fmt(c.fittedEps)}` : ''}.${evalMode ? ' The model is in eval mode: BatchNorm normalizes with running_mean/running_var, not this batch’s statistics, so the output does not depend on the batch.' : ''}`;
  const table = h(
    'table',
    { class: 'data-table', id: 'table-replay' },
    h('caption', null, `Recorded ${c.tensor} vs each normalization recomputed from ${r.input.name}`),
    h('thead', null, h('tr', null, ...['norm', 'max |error|', 'RMS error', 'relative RMS', 'shape residual', 'fitted eps', 'within tolerance'].map((x) => h('th', { scope: 'col' }, x)))),
    h(
      'tbody',
      null,
      ...kinds.map((k) => {
        const cand = c.candidates[k]!;
        return h('tr', { class: k === best ? 'best' : '', 'data-norm': k }, h('th', { scope: 'row' }, names[k] + (k === best ? ' (best)' : '')), h('td', null, fmt(cand.maxAbsError)), h('td', null, fmt(cand.rmsError)), h('td', null, fmt(cand.relativeRmsError)), h('td', null, fmt(cand.shapeResidual)), h('td', null, cand.fittedEps === null ? '—' : fmt(cand.fittedEps)), h('td', null, cand.withinTolerance ? 'yes' : 'no'));
      }),
    ),
  );
  ctx.charts.noteTable('replay', kinds.length);
  return h(
    'div',
    { class: 'view' },
    section('Verdict', h('p', { class: c.bestMatch === 'none' ? 'verdict bad' : 'verdict good' }, verdict), mismatch.length ? warningList(ctx, mismatch, undefined, VIEW.replay) : null),
    section('Candidates', table),
    c.recordedHistogram && c.bestMatch !== 'groupnorm' && c.bestMatch !== 'instancenorm' && !evalMode
      ? section(
          'Recorded vs recomputed',
          histogramBlock(ctx, 'replay-hist', 'Recorded output vs recomputed', 'value', [
            { label: `recorded ${c.tensor}`, hist: c.recordedHistogram, color: COLOR.input },
            { label: c.bestMatch === 'none' ? 'LayerNorm' : names[c.bestMatch], hist: c.bestMatch === 'rmsnorm' ? r.histograms.rmsNorm : c.bestMatch === 'batchnorm' ? r.histograms.batchNorm : r.histograms.layerNorm, color: COLOR.layerNorm },
          ]),
        )
      : null,
    c.recordedSampleChannelHistogram && (r.groupNorm || r.instanceNorm)
      ? section(
          r.batchNormRunning ? 'Recorded vs GroupNorm / InstanceNorm / eval-mode BatchNorm' : 'Recorded vs GroupNorm / InstanceNorm',
          h('p', { class: 'explain' }, r.batchNormRunning ? 'The recorded output beside the per-sample norms and BatchNorm with the running statistics, recomputed from the input (shared edges).' : 'The recorded output beside the per-sample norms recomputed from the input (shared edges).'),
          histogramBlock(ctx, 'replay-sample-hist', 'Recorded output vs per-sample norms', 'value', [
            { label: `recorded ${c.tensor}`, hist: c.recordedSampleChannelHistogram, color: COLOR.input },
            ...(r.groupNorm ? [{ label: names.groupnorm, hist: r.groupNorm.histogram, color: COLOR.groupNorm }] : []),
            ...(r.instanceNorm ? [{ label: 'InstanceNorm', hist: r.instanceNorm.histogram, color: COLOR.instanceNorm }] : []),
            ...(r.batchNormRunning ? [{ label: BATCHNORM_RUNNING_NAME, hist: r.batchNormRunning.histogram, color: COLOR.batchNorm }] : []),
          ]),
        )
      : null,
    c.errorHistograms
      ? section(
          'Error distribution',
          h('p', { class: 'explain' }, `|recorded − recomputed| per element, on a log scale; the tolerance for ${c.dtype} is ${fmt(c.tolerance)}.`),
          histogramBlock(
            ctx,
            'replay-err-hist',
            '|error| per element',
            '|error| (log)',
            kinds.filter((k) => c.errorHistograms[k]).map((k) => ({ label: names[k], hist: c.errorHistograms[k]!, color: normColor(k) })),
            { logX: true },
          ),
        )
      : null,
  );
}

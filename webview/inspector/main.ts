// The webview components first: defined before this page creates any.
import '../shared/elements';
import type { AnalysisReport } from '../../src/core/report/analysisReport';
import type { TokenSeries } from '../../src/core/report/chartSeries';
import { unpackReport } from '../../src/core/report/packReport';
import { MAX_BINS, MIN_BINS } from '../../src/core/analysis/plan';
import { COMMAND, VIEW, type HeatmapRequest, type HostToWebview, type PreviewInfo, type RenderSummary, type TensorSummary, type TimelineMark, type ViewOptions } from '../../src/protocol';
import { ChartRegistry } from '../shared/charts';
import { fmtShape, h } from '../shared/dom';
import { getSavedState, hostRequests, onHostMessage, postToHost, reportRendered, saveState, setRenderContext } from '../shared/host';
import { onThemeChange } from '../shared/theme';
import { tokensView, type HeatmapState } from './heatmapView';
import { VIEWS, VIEW_TITLES, batchNormView, compareView, layerNormView, overviewView, replayView, type ViewContext, type ViewId } from './views';
import { hasModelView, modelView, sitePicker, type ModelState } from './modelView';
import type { SiteSort } from './siteRows';

/** A tab: the Model view (whole-model dumps) or one of the per-site views. */
type TabId = ViewId | typeof VIEW.model;

/** UI state kept across reloads (webview getState/setState). */
interface InspectorState {
  view: TabId;
  /** Whole-model dumps: the chosen site, the document (panel restore) and the sites table's order. */
  site?: string;
  uri?: string;
  siteSort?: SiteSort;
  logScale: boolean;
  batchElement: number;
  heatmap?: HeatmapState;
  /** Scroll position of the page. */
  scrollY?: number;
}

/** This page's open → first chart timeline (epoch ms), sent with every render summary. */
const marks: TimelineMark[] = [...frameMarks(), { name: 'script', at: performance.timeOrigin + performance.now() }];

/** How this page came to run: when its frame started loading and when each of its files was fetched (epoch ms). */
function frameMarks(): TimelineMark[] {
  const out: TimelineMark[] = [{ name: 'frame', at: performance.timeOrigin }];
  for (const e of performance.getEntriesByType('resource') as PerformanceResourceTiming[]) {
    const file = e.name.split('?')[0]!.split('/').pop();
    out.push({ name: `load:${file}`, at: performance.timeOrigin + e.startTime }, { name: `loaded:${file}`, at: performance.timeOrigin + e.responseEnd });
  }
  return out;
}

function mark(name: string): void {
  marks.push({ name, at: performance.timeOrigin + performance.now() });
}

/** Tells the host what is drawn, with the timeline and whether this is a preview. */
function rendered(summary: RenderSummary): void {
  mark(`drawn:${summary.view}`);
  const notes = [...app.querySelectorAll('.reduced-note')].map((e) => e.textContent ?? '');
  reportRendered({ ...summary, ...(preview ? { preview } : {}), ...(notes.length ? { notes } : {}), exportsEnabled: exportsEnabled(), marks: marks.slice(-MAX_MARKS) });
}

/** Marks kept in a summary (a long session would otherwise grow them without end). */
const MAX_MARKS = 48;

const app = document.getElementById('app')!;
const charts = new ChartRegistry();
const saved = getSavedState<InspectorState>();
const state: InspectorState = { view: VIEW.overview, logScale: true, batchElement: 0, ...saved };
charts.logScale = state.logScale;

let title = '';
let report: AnalysisReport | undefined;
let tensors: TensorSummary[] = [];
let tokenLabels: string[] | undefined;
let options: ViewOptions = {};
let progressEl: HTMLElement | undefined;
/** The dump's sites and sweep (whole-model dumps only). */
let model: ModelState | undefined;

/** Tabs in order: the Model view first when the dump has several sites. */
function tabViews(): readonly TabId[] {
  return hasModelView(model) ? [VIEW.model, ...VIEWS] : VIEWS;
}

/** Makes `site` the chosen site: the host re-runs the per-site views on it. */
function selectSite(site: string): void {
  if (!model || site === model.chosen) return;
  model.chosen = site;
  state.site = site;
  persist();
  postToHost({ type: 'selectSite', site });
}
/** Set while the page shows a preview: what it was computed from. */
let preview: PreviewInfo | undefined;

function persist(): void {
  saveState<InspectorState>({ ...state, scrollY: window.scrollY });
}

function setOptions(change: ViewOptions): void {
  options = { ...options, ...change };
  postToHost({ type: 'setOptions', options: change });
}

/** The controls row: tensor, mask, feature axis, eps, bins, log counts, exports. */
function controls(r: AnalysisReport): HTMLElement {
  const floating = tensors.filter((t) => /float|bfloat/.test(t.dtype) && t.shape.length >= 1);
  const tensorSel = h('vscode-single-select', { id: 'opt-tensor', 'aria-label': 'input tensor' }, ...floating.map((t) => h('vscode-option', { value: t.name, selected: t.name === r.input.name }, `${t.name} ${fmtShape(t.shape)}`))) as HTMLElement & { value: string };
  tensorSel.addEventListener('change', () => {
    // In a whole-model dump, a site's input chooses that site (with its output and parameters).
    const site = hasModelView(model) ? model.sites.find((s) => s.input === tensorSel.value) : undefined;
    if (site) selectSite(site.name);
    else setOptions({ tensor: tensorSel.value });
  });

  const axisSel = h('vscode-single-select', { id: 'opt-axis', 'aria-label': 'feature axis' }, ...r.input.shape.map((n, i) => h('vscode-option', { value: String(i), selected: i === r.layout.featureAxis }, `axis ${i} (${n})${i === r.input.shape.length - 1 ? ' last' : ''}`))) as HTMLElement & { value: string };
  axisSel.addEventListener('change', () => setOptions({ featureAxis: Number(axisSel.value) }));

  const eps = h('vscode-textfield', { id: 'opt-eps', value: String(r.options.eps), size: 8, 'aria-label': 'eps' }) as HTMLElement & { value: string };
  eps.addEventListener('change', () => {
    const v = Number(eps.value);
    if (Number.isFinite(v) && v >= 0) setOptions({ eps: v });
  });
  // One limit with the core's (--bins), stated on the control.
  const binsRange = `${MIN_BINS} to ${MAX_BINS}`;
  const bins = h('vscode-textfield', { id: 'opt-bins', type: 'number', min: MIN_BINS, max: MAX_BINS, value: String(r.options.bins), size: 4, title: `Histogram bins: ${binsRange}`, 'aria-label': `histogram bins, ${binsRange}` }) as HTMLElement & { value: string };
  bins.addEventListener('change', () => {
    const v = Math.round(Number(bins.value));
    if (Number.isFinite(v) && v >= MIN_BINS && v <= MAX_BINS) setOptions({ bins: v });
    else bins.value = String(options.bins ?? r.options.bins);
  });

  // Unchecked: the dump's mask is ignored; the box stays enabled then so it can be checked again.
  const maskIgnored = options.useMask === false;
  const maskBox = h('vscode-checkbox', { id: 'opt-mask', checked: !!r.tensors.mask, disabled: !r.tensors.mask && !maskIgnored, label: 'use mask' }) as HTMLElement & { checked: boolean };
  maskBox.addEventListener('change', () => setOptions({ useMask: maskBox.checked }));

  const logBox = h('vscode-checkbox', { id: 'opt-log', checked: state.logScale, label: 'log counts' }) as HTMLElement & { checked: boolean };
  logBox.addEventListener('change', () => {
    state.logScale = logBox.checked;
    charts.logScale = state.logScale;
    persist();
    renderView();
  });

  return h(
    'div',
    { class: 'toolbar controls', role: 'toolbar', 'aria-label': 'analysis options' },
    h('label', { for: 'opt-tensor' }, 'Input'),
    tensorSel,
    h('label', { for: 'opt-axis' }, 'Features'),
    axisSel,
    h('label', { for: 'opt-eps' }, 'eps'),
    eps,
    h('label', { for: 'opt-bins' }, `bins (${binsRange})`),
    bins,
    maskBox,
    logBox,
  );
}

/** Export actions, at the right of the page header; disabled while a preview shows (they wait for the exact report). */
function exportButtons(): HTMLElement {
  const off = preview !== undefined;
  const why = (title: string) => (off ? 'Exports wait for the exact report (this is a preview)' : title);
  return h(
    'div',
    { class: 'header-actions', role: 'toolbar', 'aria-label': 'export' },
    h('vscode-button', { secondary: true, disabled: off, class: 'export', title: why('Save the full report as JSON'), onclick: () => !preview && postToHost({ type: 'command', command: COMMAND.exportReport, args: ['json'] }) }, 'Export JSON'),
    h('vscode-button', { secondary: true, disabled: off, class: 'export', title: why('Save a Markdown summary'), onclick: () => !preview && postToHost({ type: 'command', command: COMMAND.exportReport, args: ['markdown'] }) }, 'Export Markdown'),
    h('vscode-button', { secondary: true, disabled: off, class: 'export', title: why('Save the first chart of this view as PNG'), onclick: () => void exportCharts() }, 'Save chart PNG'),
  );
}

/** Whether the export buttons on the page can be used (what render summaries report). */
function exportsEnabled(): boolean {
  const buttons = [...document.querySelectorAll<HTMLElement & { disabled: boolean }>('vscode-button.export')];
  return buttons.length > 0 && buttons.every((b) => !b.disabled);
}

/**
 * A determinate progress bar at `fraction`: the platform's <progress>, themed, which repaints only
 * when it moves. Not a spinner, nor vscode-progress-bar (whose width eases over 100 ms at every
 * update): animations repainted for the whole run took a third to half a core from the analysis in
 * a software-rendered webview (2 GiB, builds alternated: 4.3–6.3 s to the exact report with them,
 * 4.0–4.6 s without).
 */
function progressBar(fraction: number, label: string): HTMLElement {
  return h('progress', { class: 'run-progress', value: Math.round(fraction * 1000) / 10, max: 100, 'aria-label': label });
}

/** Moves the progress bars inside `root` to `fraction`. */
function setProgressBars(root: ParentNode, fraction: number): void {
  for (const bar of root.querySelectorAll<HTMLProgressElement>('progress.run-progress')) bar.value = Math.round(fraction * 1000) / 10;
}

/** Moves a bar-and-label progress line in place (its `span` says `text`); false when `root` has none yet. */
function moveProgressLine(root: Element | null | undefined, text: string, fraction: number): boolean {
  const label = root?.querySelector('span');
  if (!root || !label || !root.querySelector('progress.run-progress')) return false;
  label.textContent = text;
  setProgressBars(root, fraction);
  return true;
}

/** The preview banner: what the numbers are from, and the exact run's progress. */
function previewBanner(p: PreviewInfo, fraction: number): HTMLElement {
  return h(
    'div',
    { class: 'preview-banner', role: 'status', 'aria-live': 'polite' },
    h(
      'div',
      null,
      // The percentage moves several times a second: outside what the status region announces (the
      // progress bar carries it for assistive technology).
      h('strong', null, `${p.label} — exact analysis `, h('span', { class: 'preview-percent', 'aria-hidden': 'true' }, `${Math.round(fraction * 100)}%…`)),
      progressBar(fraction, 'Exact analysis progress'),
      h('div', { class: 'muted' }, 'Every number below (shapes included) describes that subset only. Warnings, exports and the Tokens heatmap wait for the exact report, which replaces this page.'),
    ),
    cancelButton(),
  );
}

/** Stops the running analysis (the host keeps the page usable: "Run again"). */
function cancelButton(): HTMLElement {
  return h('vscode-button', { secondary: true, id: 'cancel-analysis', onclick: () => postToHost({ type: 'cancelAnalysis' }) }, 'Cancel');
}

/** Saves the first chart of the current view (or the heatmap) as PNG through the host. */
async function exportCharts(): Promise<void> {
  if (preview) return;
  const id = charts.chartIds()[0];
  const canvas = document.querySelector<HTMLCanvasElement>('canvas.heatmap');
  const dataUrl = id ? charts.chartPng(id) : canvas?.toDataURL('image/png');
  if (!dataUrl) return;
  await hostRequests.request('saveChartPng', { name: `${title.replace(/\.[^.]+$/, '')}-${id ?? 'heatmap'}.png`, dataUrl }).catch(() => undefined);
}

function header(r: AnalysisReport | undefined): HTMLElement {
  const sub = preview
    ? preview.label
    : r
    ? `${r.source.format} · ${r.input.name} ${r.input.dtype} ${fmtShape(r.input.shape)} · feature axis ${r.layout.featureAxis} · ${r.warnings.length} warning${r.warnings.length === 1 ? '' : 's'}`
    : '';
  return h('header', { class: 'page-header' }, h('div', { class: 'titles' }, h('h1', null, title), h('div', { class: 'subtitle' }, sub)), hasModelView(model) ? sitePicker(model, selectSite) : null, r ? exportButtons() : null);
}

/** Counts renders of the view: a late answer for a view since replaced reports nothing. */
let renderGeneration = 0;

/** The id the host gave the report shown (its per-token series are asked for by it), and those already had. */
let reportId: number | undefined;
const tokenSeriesCache = new Map<string, Promise<TokenSeries>>();

/** LayerNorm's per-token series of batch element `b` (null: all tokens) of the report shown, from the host once. */
function tokenSeries(b: number | null): Promise<TokenSeries> {
  const id = reportId;
  if (id === undefined) return Promise.reject(new Error('the host did not name this report, so its per-token series cannot be asked for'));
  const key = `${id}:${b}`;
  let p = tokenSeriesCache.get(key);
  if (!p) {
    p = hostRequests.request('tokenSeries', { report: id, batchElement: b });
    p.catch(() => tokenSeriesCache.delete(key));
    tokenSeriesCache.set(key, p);
  }
  return p;
}

/** A new report to show: its id names it in requests; the series of the previous one are dropped. */
function setReportId(id: number | undefined): void {
  reportId = id;
  tokenSeriesCache.clear();
}

/** The report's index of the dump's batch element `e`: itself, or in a preview that kept some elements, the last kept at or before it. */
function reportBatchElement(e: number): number {
  const kept = preview?.batchElements;
  if (!kept) return e;
  let i = 0;
  while (i + 1 < kept.length && kept[i + 1]! <= e) i++;
  return i;
}

function viewContext(r: AnalysisReport, pending: Promise<unknown>[]): ViewContext {
  return {
    report: r,
    charts,
    tokenSeries,
    defer: (p) => pending.push(p),
    show: (v) => selectView(v),
    preview: preview !== undefined,
    // The state keeps the dump's batch element; a preview that kept only some shows the nearest kept one.
    batchElement: reportBatchElement(state.batchElement),
    batchLabel: (b) => preview?.batchElements?.[b] ?? b,
    setBatchElement: (b) => {
      state.batchElement = preview?.batchElements?.[b] ?? b;
      persist();
      renderView();
    },
    setOptions,
  };
}

let viewHost: HTMLElement | undefined;
let tabs: (HTMLElement & { selectedIndex: number }) | undefined;

/** Draws the whole page for a report. */
function renderReport(): void {
  const r = report!;
  charts.clear();
  viewHost = h('div', { class: 'view-host' });
  tabs = h(
    'vscode-tabs',
    { 'selected-index': Math.max(0, tabViews().indexOf(state.view)), 'aria-label': 'NormLens views' },
    ...tabViews().map((v) => h('vscode-tab-header', { slot: 'header', 'data-view': v }, v === VIEW.model ? 'Model' : VIEW_TITLES[v])),
  ) as HTMLElement & { selectedIndex: number };
  tabs.addEventListener('vsc-tabs-select', (e) => {
    const idx = (e as CustomEvent<{ selectedIndex: number }>).detail.selectedIndex;
    const v = tabViews()[idx];
    if (v && v !== state.view) {
      state.view = v;
      persist();
      renderView();
    }
  });
  progressEl = h('div', { class: 'progress', hidden: true });
  // A preview has no option controls (a change would re-run anyway) and says what it is first.
  app.classList.toggle('is-preview', preview !== undefined);
  app.replaceChildren(header(r), preview ? previewBanner(preview, previewFraction) : controls(r), progressEl, tabs, viewHost);
  app.setAttribute('aria-busy', 'false');
  renderView();
}

function selectView(v: TabId): void {
  if (!tabViews().includes(v)) return;
  state.view = v;
  persist();
  if (tabs) tabs.selectedIndex = tabViews().indexOf(v);
  renderView();
  window.scrollTo({ top: 0 });
}

/** Draws the selected view and reports what was drawn once charts exist. */
function renderView(): void {
  const r = report;
  if (!r || !viewHost) return;
  charts.clear();
  const generation = ++renderGeneration;
  const pending: Promise<unknown>[] = [];
  const ctx = viewContext(r, pending);
  let el: HTMLElement;
  let asyncRender = false;
  if (!tabViews().includes(state.view)) state.view = VIEW.overview;
  switch (state.view) {
    case VIEW.model:
      el = modelView({
        model: model!,
        charts,
        sort: state.siteSort ?? { column: 'index', descending: false },
        setSort: (sort) => {
          state.siteSort = sort;
          persist();
          renderView();
          document.querySelector<HTMLElement>(`button.sort[data-column="${sort.column}"]`)?.focus();
        },
        select: selectSite,
        compare: (a, b) => postToHost({ type: 'command', command: COMMAND.compareSites, args: [a, b] }),
        resweep: () => postToHost({ type: 'resweep' }),
      });
      break;
    case VIEW.overview:
      el = overviewView(ctx);
      break;
    case VIEW.layerNorm:
      el = layerNormView(ctx);
      break;
    case VIEW.batchNorm:
      el = batchNormView(ctx);
      break;
    case VIEW.compare:
      el = compareView(ctx);
      break;
    case VIEW.replay:
      el = replayView(ctx);
      break;
    case VIEW.tokens:
      if (preview) {
        // The heatmap reads the whole input: it comes with the exact report.
        el = h('div', { class: 'view' }, h('section', { class: 'card' }, h('h2', null, 'Tokens × features'), h('p', { class: 'muted preview-note' }, 'The heatmap is drawn from the whole dump once the exact analysis is done.')));
        break;
      }
      asyncRender = true;
      el = tokensView({
        tokens: r.layout.tokens,
        features: r.layout.features,
        ...(tokenLabels ? { tokenLabels } : {}),
        outlierFeatures: outlierFeatures(r),
        state: state.heatmap,
        saveState: (s) => {
          state.heatmap = s;
          persist();
        },
        request: (params: HeatmapRequest) => hostRequests.request('heatmap', params),
        charts,
        onRendered: () => rendered(charts.summary(VIEW.tokens, r.warnings.map((w) => w.code))),
      });
      break;
  }
  viewHost.replaceChildren(el);
  if (!asyncRender) {
    // Charts are created in microtasks after the view is in the DOM (they need its width); a view
    // waiting for data from the host (per-token series) reports once that is drawn too.
    const summarize = () => setTimeout(() => generation === renderGeneration && rendered(charts.summary(state.view, r.warnings.map((w) => w.code))), 0);
    if (pending.length) void Promise.allSettled(pending).then(summarize);
    else summarize();
  }
}

function outlierFeatures(r: AnalysisReport): number[] {
  const w = r.warnings.find((x) => x.code === 'outlier-feature');
  const f = w?.details['features'];
  return Array.isArray(f) ? f.filter((x): x is number => typeof x === 'number') : [];
}

function renderError(message: string): void {
  renderGeneration++;
  charts.clear();
  app.replaceChildren(
    header(undefined),
    h(
      'section',
      { class: 'card error-card', role: 'alert' },
      h('h2', null, 'NormLens could not analyze this file'),
      h('p', { class: 'error-message' }, message),
      h('p', { class: 'muted' }, 'If an option you chose caused this, reset the options; otherwise check the file. Details are in the NormLens log.'),
      h(
        'div',
        { class: 'toolbar' },
        h('vscode-button', { onclick: () => postToHost({ type: 'resetOptions' }) }, 'Reset Options'),
        h('vscode-button', { secondary: true, onclick: () => postToHost({ type: 'command', command: COMMAND.showLog }) }, 'Show Log'),
      ),
    ),
  );
  app.setAttribute('aria-busy', 'false');
  rendered(charts.summary('error', [], message));
}

/** After a cancel: what happened and a way to run the analysis again. */
function renderCancelled(message: string): void {
  renderGeneration++;
  charts.clear();
  report = undefined;
  preview = undefined;
  app.classList.remove('is-preview');
  app.replaceChildren(
    header(undefined),
    h(
      'section',
      { class: 'card', role: 'status' },
      h('h2', null, 'Analysis cancelled'),
      h('p', null, message),
      h('div', { class: 'toolbar' }, h('vscode-button', { id: 'run-again', onclick: () => postToHost({ type: 'runAgain' }) }, 'Run again'), h('vscode-button', { secondary: true, onclick: () => postToHost({ type: 'command', command: COMMAND.showLog }) }, 'Show Log')),
    ),
  );
  app.setAttribute('aria-busy', 'false');
  rendered(charts.summary('cancelled', []));
}

/** Whether an `init` came (the host sends one as the page loads and another on `ready`). */
let initialized = false;

/** A preview received and not drawn yet (a report, error or cancel coming first replaces it). */
let pendingPreview: Extract<HostToWebview, { type: 'preview' }> | undefined;

function showPreview(m: Extract<HostToWebview, { type: 'preview' }>): void {
  pendingPreview = undefined;
  preview = m.preview;
  setReportId(m.id);
  report = unpackReport({ report: m.report, arrays: m.arrays ?? [] });
  setRenderContext({ ...(model ? { sites: model.sites.length, site: model.chosen } : {}), input: report.input.name });
  tensors = m.tensors;
  tokenLabels = m.tokens;
  renderReport();
}

/** Progress of the exact run shown with a preview. */
let previewFraction = 0;

function renderProgress(fraction: number, message: string): void {
  if (preview || pendingPreview) previewFraction = fraction;
  if (preview) {
    const banner = app.querySelector('.preview-banner');
    const percent = banner?.querySelector('.preview-percent');
    if (percent) percent.textContent = `${Math.round(fraction * 100)}%…`;
    if (banner) setProgressBars(banner, fraction);
    return;
  }
  const text = `${message} ${Math.round(fraction * 100)}%`;
  if (!report) {
    // Before the first number: a spinner until the run reports progress, then a bar moved in place.
    if (fraction > 0 && moveProgressLine(app.querySelector('.loading'), text, fraction)) return;
    const indicator = fraction > 0 ? progressBar(fraction, 'Analysis progress') : h('vscode-progress-ring', null);
    app.replaceChildren(header(undefined), h('div', { class: 'loading' }, indicator, h('span', null, text), fraction > 0 ? cancelButton() : null));
    return;
  }
  if (progressEl) {
    progressEl.hidden = fraction >= 1;
    if (!moveProgressLine(progressEl, text, fraction)) progressEl.replaceChildren(progressBar(fraction, 'Analysis progress'), h('span', { class: 'muted' }, text));
  }
}

onHostMessage((m: HostToWebview) => {
  switch (m.type) {
    case 'init':
      mark('init');
      title = m.title;
      if (m.uri) {
        state.uri = m.uri;
        persist();
      }
      options = m.options;
      if (m.view && ([VIEW.model, ...VIEWS] as readonly string[]).includes(m.view)) {
        state.view = m.view as TabId;
        persist();
      }
      // The host sends `init` as the page loads and again on `ready`: only the first draws the loading
      // state (whatever came between, a preview, a report, an error or progress, stays).
      if (!initialized && !report && !pendingPreview) renderProgress(0, 'Analyzing');
      initialized = true;
      break;
    case 'sites':
      model = { kind: m.kind, sites: m.sites, chosen: m.site, done: false, fraction: 0, ...(model?.sweep ? { sweep: model.sweep, done: model.done, fraction: model.fraction } : {}), ...(model?.error ? { error: model.error } : {}) };
      // A dump with several sites opens on the Model view, unless the user was elsewhere before a reload.
      if (hasModelView(model) && !saved?.view) state.view = VIEW.model;
      state.site = m.site;
      persist();
      setRenderContext({ sites: m.sites.length, site: m.site, ...(report ? { input: report.input.name } : {}) });
      if (report) renderReport();
      break;
    case 'sweep':
      if (!model) break;
      model = { kind: model.kind, sites: model.sites, chosen: model.chosen, sweep: m.sweep, done: m.done, fraction: m.fraction, ...(m.error ? { error: m.error } : {}) };
      setRenderContext({ swept: m.sweep.sites.length, sweepDone: m.done });
      if (report && state.view === VIEW.model) renderView();
      break;
    case 'preview':
      // Sent as the page loads and again on `ready`: the one already drawn is not drawn twice.
      if ((preview && m.id === reportId) || pendingPreview?.id === m.id) break;
      mark('preview');
      // Drawn after the messages already waiting: a page that loads late gets the preview and the
      // exact report together, and then draws only the report.
      pendingPreview = m;
      setTimeout(() => {
        if (pendingPreview === m) showPreview(m);
      }, 0);
      break;
    case 'cancelled':
      pendingPreview = undefined;
      renderCancelled(m.message);
      break;
    case 'report':
      pendingPreview = undefined;
      if (!preview && report && m.id === reportId) break;
      mark('report');
      preview = undefined;
      previewFraction = 0;
      setReportId(m.id);
      report = unpackReport({ report: m.report, arrays: m.arrays ?? [] });
      setRenderContext({ ...(model ? { sites: model.sites.length, site: model.chosen } : {}), input: report.input.name });
      tensors = m.tensors;
      tokenLabels = m.tokens;
      options = m.options;
      renderReport();
      if (saved?.scrollY) window.scrollTo({ top: saved.scrollY });
      break;
    case 'progress':
      renderProgress(m.fraction, m.message);
      break;
    case 'error':
      pendingPreview = undefined;
      preview = undefined;
      app.classList.remove('is-preview');
      renderError(m.message);
      break;
    case 'exportChart':
      void exportCharts();
      break;
    case 'showView':
      if ((tabViews() as readonly string[]).includes(m.view)) selectView(m.view as TabId);
      break;
    default:
      break;
  }
});

onThemeChange(() => {
  charts.retheme();
  if (state.view === VIEW.tokens) renderView();
});
window.addEventListener('scroll', () => persist(), { passive: true });
postToHost({ type: 'ready', ...(saved?.site !== undefined ? { site: saved.site } : {}) });

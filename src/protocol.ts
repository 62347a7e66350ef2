/**
 * The one message protocol between the extension host and NormLens webviews. Both sides import
 * these types; every message is a plain object with a string `type` (readable in devtools).
 *
 * Startup is a handshake: the webview posts `ready` once its script runs, the host answers with
 * `init` (never data inlined into HTML), then sends `report` / `progress` / `error` as they come.
 */
import type { AnalysisReport } from './core/report/analysisReport';
import type { SweepReport } from './core/report/sweepReport';
import type { PackedArray } from './core/report/packReport';
import type { TokenSeries } from './core/report/chartSeries';
import type { Heatmap, HeatmapAggregate, HeatmapRequest, HeatmapValues } from './core/heatmap/tokenHeatmap';
import type { RpcClientMessage, RpcServerMessage } from './rpc';

export type { Heatmap, HeatmapAggregate, HeatmapRequest, HeatmapValues };

/** The inspector's views by name (tab order is `VIEWS` in webview/inspector/views.ts). */
export const VIEW = {
  overview: 'overview',
  layerNorm: 'layernorm',
  batchNorm: 'batchnorm',
  /** The Compare view: the norms side by side on one input. */
  compare: 'compare',
  tokens: 'tokens',
  /** The Replay view: a recorded output against each norm recomputed from the input. */
  replay: 'replay',
  /** The Model view: every site of a whole-model dump over depth (first tab when a dump has two or more sites). */
  model: 'model',
} as const;

/** An inspector view id. */
export type InspectorViewId = (typeof VIEW)[keyof typeof VIEW];

/** Whether `v` names an inspector view. */
export function isInspectorViewId(v: unknown): v is InspectorViewId {
  return typeof v === 'string' && (Object.values(VIEW) as string[]).includes(v);
}

/** NormLens command ids (package.json `contributes.commands`), by name. */
export const COMMAND = {
  analyze: 'normlens.analyze',
  openInspector: 'normlens.openInspector',
  /** Fills the side panel (LayerNorm vs BatchNorm) with a dump. */
  compareNorms: 'normlens.compareNorms',
  /** Opens the A/B panel on two dumps. */
  compareDumps: 'normlens.compareDumps',
  openSample: 'normlens.openSample',
  exportReport: 'normlens.exportReport',
  exportChart: 'normlens.exportChart',
  showLog: 'normlens.showLog',
  /** Sweeps every site of a dump or folder; returns the SweepReport. */
  sweep: 'normlens.sweep',
  /** Opens the Model view of a folder of dumps (explorer context menu). */
  sweepFolder: 'normlens.sweepFolder',
  /** Opens the A/B panel on two sites of one dump. */
  compareSites: 'normlens.compareSites',
  showView: 'normlens.internal.showView',
  /** Chooses a site of the active inspector's whole-model dump (as a click in the sites table does). */
  selectSite: 'normlens.internal.selectSite',
  lastRender: 'normlens.internal.lastRender',
  renderCount: 'normlens.internal.renderCount',
  /** `'cancel'` or `'runAgain'` the active inspector's analysis (what its page's buttons do). */
  analysisControl: 'normlens.internal.analysisControl',
} as const;

/**
 * Commands a webview may ask the host to run, and their arguments. The host checks every one
 * against this list (src/extension/webviewCommands.ts): nothing else a page asks for runs.
 */
export type WebviewCommand =
  | { command: typeof COMMAND.showLog; args?: [] }
  | { command: typeof COMMAND.openSample; args?: [] }
  /** Export this webview's report, always asking where to save. */
  | { command: typeof COMMAND.exportReport; args: ['json' | 'markdown'] }
  /** Show this webview's dump in the inspector, on a view (side panel warning links). */
  | { command: typeof COMMAND.showView; args: [InspectorViewId] }
  /** Compare two sites of this webview's dump in the A/B panel (the Model view's sites table). */
  | { command: typeof COMMAND.compareSites; args: [string, string] };

/** Ids of the commands a webview may ask for. */
export type WebviewCommandId = WebviewCommand['command'];

/** Requests a webview sends the host (through `src/rpc.ts`), with the result each gets. */
export type WebviewMethods = {
  /** A downsampled tokens × features grid of the analyzed input. */
  heatmap: { params: HeatmapRequest; result: Heatmap };
  /**
   * LayerNorm's per-token mean and std of one batch element (null: all tokens) of the report the page
   * was sent as `id` (its per-token arrays stay with the host: a big dump's are megabytes).
   */
  tokenSeries: { params: { report: number; batchElement: number | null }; result: TokenSeries };
  /** Save a chart as PNG (the host decides where: the user picks, or the exportChart command's target) → the saved URI, or null. */
  saveChartPng: { params: { name: string; dataUrl: string }; result: string | null };
};

/** A tensor of the open dump, as listed in pickers. */
export interface TensorSummary {
  name: string;
  dtype: string;
  shape: number[];
  role: string;
}

/** One site of a whole-model dump as the site picker lists it (headers only, before the sweep). */
export interface SiteEntry {
  name: string;
  /** Shape of the site's input. */
  shape: number[];
  /** Input tensor name (a folder site: `file: tensor`). */
  input: string;
}

/** One side of the A/B panel: a dump, or one site of a whole-model dump. */
export interface AbSide {
  title: string;
  uri: string;
  /** The site shown, for a whole-model dump. */
  site?: string;
  report: AnalysisReport;
}

/** Which webview a message belongs to. */
export type WebviewKind = 'inspector' | 'sidePanel' | 'abPanel';

/** Options the user can change from the webview; a change re-runs the analysis. */
export interface ViewOptions {
  /** Site of a whole-model dump to analyze (DESIGN.md "Whole-model dumps"); undefined: the whole dump as one. */
  site?: string;
  /** Name of the tensor analyzed as input (undefined: guessed). */
  tensor?: string;
  /** Mask tensor name (default: found by role). */
  mask?: string;
  /** False: treat every token as real even though the dump has a mask. */
  useMask?: boolean;
  /** Feature axis (negative counts from the end). */
  featureAxis?: number;
  /** LayerNorm/BatchNorm epsilon. */
  eps?: number;
  /** Histogram bin count. */
  bins?: number;
}

/** First message from the host: what this webview shows. */
export interface InitMessage {
  type: 'init';
  kind: WebviewKind;
  /** Display name of the document (file name). */
  title: string;
  /** The document URI as a string, for state restore. */
  uri?: string;
  options: ViewOptions;
  /** Open on this inspector view (a side panel warning link opened the inspector). */
  view?: InspectorViewId;
}

/** Host → webview messages. */
export type HostToWebview =
  | InitMessage
  /**
   * A finished analysis report for the current options, with the dump's tensors for the pickers; its
   * long number arrays come as binary `arrays` (src/core/report/packReport.ts), put back by the page.
   */
  | { type: 'report'; report: AnalysisReport; options: ViewOptions; tensors: TensorSummary[]; tokens?: string[]; arrays?: PackedArray[]; id?: number }
  /**
   * A first look while the exact analysis runs: the report of an evenly spread token subset, its
   * warnings left out. Shown labelled as a preview, without exports, until `report` replaces it.
   */
  | { type: 'preview'; report: AnalysisReport; options: ViewOptions; tensors: TensorSummary[]; preview: PreviewInfo; tokens?: string[]; arrays?: PackedArray[]; id?: number }
  /** Analysis progress, 0..1. */
  | { type: 'progress'; fraction: number; message: string }
  /** The analysis was cancelled by the user; the page offers to run it again. */
  | { type: 'cancelled'; message: string }
  /** The document could not be analyzed; `message` says what to do. */
  | { type: 'error'; message: string }
  /** Two reports side by side (the A/B panel). */
  | { type: 'abReports'; a: AbSide; b: AbSide }
  /** Ask the webview for its current chart as PNG (it answers with a `saveChartPng` request). */
  | { type: 'exportChart' }
  /** Ask the webview to switch to a view (e.g. a warning link from the side panel). */
  | { type: 'showView'; view: InspectorViewId }
  /** The dump's sites (two or more: the Model view and the site picker appear) and the chosen one. */
  | { type: 'sites'; kind: 'file' | 'folder'; sites: SiteEntry[]; site: string }
  /** Sweep rows so far (`done` false while it runs, with `fraction`), or why it failed. */
  | { type: 'sweep'; sweep: SweepReport; done: boolean; fraction: number; error?: string }
  /** A reply to (or progress of) a webview request. */
  | RpcServerMessage;

/** What a webview drew, reported after each render (used by tests and logs). */
export interface RenderSummary {
  /** The view now visible. */
  view: string;
  /** The charts drawn: id, title, lines (series) and points (or bins) of the first line. */
  charts: { id: string; series: number; points: number; title?: string }[];
  /** Tables drawn (screen-reader alternatives): id and row count. */
  tables: { id: string; rows: number }[];
  /** Warning codes listed. */
  warnings: string[];
  /** The tokens × features heatmap's grid, when one is drawn. */
  heatmap?: { rows: number; cols: number };
  /** Visible error text, if any. */
  error?: string;
  /** Notes that say a series was reduced (over a per-token or per-feature cap), as shown. */
  notes?: string[];
  /** Whole-model dumps: number of sites, the chosen site and the input tensor its views show. */
  sites?: number;
  /** Sites the sweep has finished so far, and whether it is over. */
  swept?: number;
  sweepDone?: boolean;
  site?: string;
  input?: string;
  /** Set while the page shows a preview (a token subset), not the exact report. */
  preview?: PreviewInfo;
  /** Whether the export buttons (JSON, Markdown, chart PNG) can be used now. */
  exportsEnabled?: boolean;
  /** Timeline of this page, epoch ms (`script`, `init`, `preview`, `report`, `drawn`...); the host adds its own marks. */
  marks?: TimelineMark[];
}

/** One named moment of the open → first chart timeline, in epoch milliseconds. */
export interface TimelineMark {
  name: string;
  at: number;
}

/** What a preview was computed from: an evenly spread subset of the input's tokens. */
export interface PreviewInfo {
  /** Tokens the preview analyzed. */
  sampledTokens: number;
  /** Tokens of the whole input. */
  totalTokens: number;
  /** "Preview from 2,048 of 16,384 tokens". */
  label: string;
  /** The dump's batch element of each of the preview report's, when it kept only some of them. */
  batchElements?: number[];
}

/** Webview → host messages. */
export type WebviewToHost =
  /** The webview script runs and can receive `init`; `site` is the site its saved state had chosen. */
  | { type: 'ready'; site?: string }
  /** The user chose a site (Model view table, site picker): every view shows it. */
  | { type: 'selectSite'; site: string }
  /** Run the sweep again (after it was cancelled or failed). */
  | { type: 'resweep' }
  /** The webview finished drawing. */
  | { type: 'rendered'; summary: RenderSummary }
  /** The user changed options; the host re-runs the analysis. */
  | { type: 'setOptions'; options: ViewOptions }
  /** Back to the options of the settings (e.g. from an error caused by an option). */
  | { type: 'resetOptions' }
  /** Run the analysis again with the current options (after a cancel). */
  | { type: 'runAgain' }
  /** Cancel the running analysis (the page's Cancel button). */
  | { type: 'cancelAnalysis' }
  /** The user asked for an action the host performs (export, reveal, open log); checked against the allow-list. */
  | ({ type: 'command' } & WebviewCommand)
  /** A request the host answers with a `reply` carrying the same id (or its cancellation). */
  | RpcClientMessage<WebviewMethods>;

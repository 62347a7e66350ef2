import type { Pass1Partial } from '../core/analysis/pass1';
import type { Pass2Context, Pass2Partial } from '../core/analysis/pass2';
import type { AnalysisPlan } from '../core/analysis/plan';
import type { TokenRange } from '../core/analysis/tiles';
import type { NormLensErrorKind } from '../core/errors';
import type { OpenDumpOptions } from '../core/formats/options';

/** Data a worker starts with: the dump it opens itself, with the host's open options. */
export interface AnalysisWorkerData {
  readonly path: string;
  readonly open?: OpenDumpOptions;
}

/** Host → worker: run one pass over a token range. */
export type WorkerRequest =
  | { readonly type: 'pass1'; readonly id: number; readonly plan: AnalysisPlan; readonly range: TokenRange }
  | { readonly type: 'pass2'; readonly id: number; readonly plan: AnalysisPlan; readonly context: Pass2Context; readonly range: TokenRange };

/** Worker → host: progress, a finished pass (partial state), or a failure. */
export type WorkerReply =
  | { readonly type: 'progress'; readonly id: number; readonly elements: number }
  | { readonly type: 'pass1-done'; readonly id: number; readonly partial: Pass1Partial }
  | { readonly type: 'pass2-done'; readonly id: number; readonly partial: Pass2Partial }
  | { readonly type: 'error'; readonly id: number; readonly kind: NormLensErrorKind | null; readonly message: string };

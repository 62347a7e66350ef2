import type { Pass1Partial } from '../core/analysis/pass1';
import type { Pass2Context, Pass2Partial } from '../core/analysis/pass2';
import type { AnalysisPlan } from '../core/analysis/plan';
import type { TokenRange } from '../core/analysis/tiles';
import type { OpenDumpOptions } from '../core/formats/options';

/** Data a worker starts with: the dump it opens itself, with the same open options (limits) as the host. */
export interface AnalysisWorkerData {
  readonly path: string;
  readonly open?: OpenDumpOptions;
}

/**
 * Host → worker requests (through `src/rpc.ts`): one pass over a token range of the host's
 * already-made plan. Progress is the number of elements visited since the last progress message.
 */
export type WorkerMethods = {
  pass1: { params: { plan: AnalysisPlan; range: TokenRange }; result: Pass1Partial; progress: number };
  pass2: { params: { plan: AnalysisPlan; context: Pass2Context; range: TokenRange }; result: Pass2Partial; progress: number };
};

import type { Pass1Partial } from '../core/analysis/pass1';
import type { Pass2Context, Pass2Partial } from '../core/analysis/pass2';
import type { AnalysisPlan } from '../core/analysis/plan';
import type { TokenRange } from '../core/analysis/tiles';
import type { SiteSlice } from '../core/dump/sites';
import type { OpenDumpOptions } from '../core/formats/options';

/** Data a worker starts with: the open options (limits) it opens every dump with, the same as the host's. */
export interface AnalysisWorkerData {
  readonly open?: OpenDumpOptions;
}

/**
 * Which dump (and, for a `--layer-axis` site, which slice of it) a pass reads. Workers keep the
 * dump of the last path open across requests, so the sites of one file are opened once per worker.
 */
export interface PassTarget {
  /** The dump file on disk. */
  readonly path: string;
  /** A `--layer-axis` site: the plan's input is `slice.name`, index `slice.index` of `slice.tensor` along `slice.axis`. */
  readonly slice?: SiteSlice & { readonly name: string };
}

/**
 * Host → worker requests (through `src/rpc.ts`): one pass over a token range of the host's
 * already-made plan. Progress is the number of elements visited since
 * the last progress message.
 */
export type WorkerMethods = {
  pass1: { params: { target: PassTarget; plan: AnalysisPlan; range: TokenRange }; result: Pass1Partial; progress: number };
  pass2: { params: { target: PassTarget; plan: AnalysisPlan; context: Pass2Context; range: TokenRange }; result: Pass2Partial; progress: number };
  /** Closes the dump the worker holds open (an idle shared pool keeps no file open). */
  close: { params: Record<string, never>; result: void; progress: number };
};

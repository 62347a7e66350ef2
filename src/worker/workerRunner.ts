import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { executeAnalysis, inProcessExecutor, type AnalysisRunHooks, type PassExecutor } from '../core/analysis/analyze';
import type { Pass1Partial } from '../core/analysis/pass1';
import type { Pass2Context, Pass2Partial } from '../core/analysis/pass2';
import { usesReducedTokens } from '../core/analysis/memoryBudget';
import { planAnalysis, type AnalysisOptions, type AnalysisPlan } from '../core/analysis/plan';
import type { TokenRange } from '../core/analysis/tiles';
import { previewOfPlan, type PreviewResult } from '../core/analysis/preview';
import { guessRoles } from '../core/dump/roles';
import { findSite, siteAnalysis, sitesOfDump } from '../core/dump/sites';
import { siteAnalysisOptions } from '../core/sweep/siteOptions';
import { NormLensError, type NormLensErrorKind } from '../core/errors';
import { openDump } from '../core/formats/openDump';
import type { OpenDumpOptions } from '../core/formats/options';
import type { Dump, TensorInfo, TensorRole } from '../core/formats/types';
import type { ByteSource } from '../core/io/byteSource';
import type { AnalysisReport } from '../core/report/analysisReport';
import { NodeFileByteSource } from '../platform/nodeFileSource';
import { RpcClient, RpcError } from '../rpc';
import type { AnalysisWorkerData, PassTarget, WorkerMethods } from './workerProtocol';

/** What `analyzeFile` does and how: the analysis, how to open the dump, and where the passes run. */
export interface AnalyzeFileOptions extends AnalysisRunHooks {
  /** What to analyze and how (tensor names, eps, feature axis, bins, thresholds). */
  readonly analysis?: AnalysisOptions;
  /** How to open the dump (bf16-as-uint16, size limits); used by this thread and by every worker. */
  readonly open?: OpenDumpOptions;
  /** Worker threads (default: min(2, available cores)); 0 runs in process. ByteSources always run in process. */
  readonly workers?: number;
  /** Path of the built worker (default: `worker.js` next to this bundle, i.e. dist/worker.js). */
  readonly workerScript?: string;
  /** Dumps with fewer input elements run in process (worker start-up costs more). Default 1,048,576. */
  readonly minElementsForWorkers?: number;
  /** Keep the dump open and return it as `opened` (for later reads such as heatmaps). */
  readonly keepOpen?: boolean;
  /**
   * Analyze one site of a whole-model dump (`analyze --site NAME`, a site chosen in the Model view):
   * its input with its own output/weight/bias/running stats/mask. Unknown names throw
   * NormLensError('usage') listing some site names. The tensor names of `analysis` are then ignored.
   */
  readonly site?: string;
  /** `--layer-axis N` for `site`: sites `NAME[i]` are slices of one tensor along axis N. */
  readonly layerAxis?: number;
  /** The tensor `layerAxis` splits (default: the input of the dump's only site). */
  readonly layerTensor?: string;
  /**
   * Workers to use instead of starting new ones (a long-lived pool whose threads are already
   * running and whose code is already optimized: the extension keeps one between analyses). It is
   * neither limited nor stopped here; cancellation cancels this run's requests only.
   */
  readonly pool?: WorkerPool;
  /**
   * A first look before the exact report: the preview of an evenly spread token subset (see
   * core/analysis/preview.ts), given to `onPreview` unless the exact run ends first. With workers
   * it is computed on this thread while every worker starts the passes (a preview of ~1M values takes
   * ~20 ms of warm code here; on a worker it held that worker back, and a new worker's code is cold);
   * in process, before the passes.
   */
  readonly preview?: { readonly description: string; onPreview(preview: PreviewResult): void; onFailure?(e: Error): void };
}

/**
 * The worker script: explicit path, else `worker.js` beside the running bundle (dist/), else the
 * TypeScript source beside this file when running from sources (tests, tsx).
 */
export function resolveWorkerScript(explicit?: string): string {
  if (explicit !== undefined) return explicit;
  const built = join(__dirname, 'worker.js');
  if (existsSync(built)) return built;
  const source = join(__dirname, 'analysisWorker.ts');
  if (existsSync(source)) return source;
  return built;
}

/**
 * A pool of analysis workers, started once and reused for many plans (a sweep runs every site on
 * one pool). Each request names its target dump; a worker keeps the last dump it opened, so the
 * sites of one file are opened once per worker. `executorFor` gives the PassExecutor of one run.
 */
export class WorkerPool {
  private readonly pool: { worker: Worker; rpc: RpcClient<WorkerMethods> }[] = [];
  private failure: Error | null = null;
  private poll: ReturnType<typeof setInterval> | null = null;

  /**
   * Starts `workers` threads of `script`, each opening dumps with `open`. A `cancellation` flag
   * that becomes aborted stops every worker at once (a running chunk loop is cut off).
   */
  constructor(workers: number, script: string, open: OpenDumpOptions | undefined, cancellation?: AnalysisRunHooks['cancellation']) {
    const data: AnalysisWorkerData = open !== undefined ? { open } : {};
    const execArgv = script.endsWith('.ts') ? ['--require', 'tsx/cjs'] : undefined;
    for (let k = 0; k < Math.max(1, workers); k++) {
      const worker = new Worker(script, { workerData: data, ...(execArgv ? { execArgv } : {}) });
      const rpc = new RpcClient<WorkerMethods>((message, transfer) => worker.postMessage(message, transfer ?? []));
      worker.on('message', (m: unknown) => rpc.handle(m));
      worker.on('error', (e) => this.fail(new NormLensError('io', `analysis worker failed: ${e.message}`)));
      // A worker that exits on its own (out of memory, killed) fails the run instead of leaving it waiting.
      worker.on('exit', (code) => {
        if (this.pool.some((p) => p.worker === worker)) this.fail(new NormLensError('io', `analysis worker exited with code ${code}`));
      });
      this.pool.push({ worker, rpc });
    }
    if (cancellation) {
      this.poll = setInterval(() => {
        if (cancellation.aborted) this.fail(new NormLensError('cancelled', 'the analysis was cancelled.'));
      }, 25);
    }
  }

  /** Why the pool stopped (a worker died, cancellation), or null while it runs. */
  get failed(): Error | null {
    return this.failure;
  }

  /** Worker threads running. */
  get size(): number {
    return this.pool.length;
  }

  private fail(e: Error): void {
    if (this.failure) return;
    this.failure = e;
    for (const { rpc } of this.pool) rpc.rejectAll(e);
    void this.dispose();
  }

  /** One request to one worker; its failures come back as the NormLensError the worker threw. */
  private async call<K extends keyof WorkerMethods>(rpc: RpcClient<WorkerMethods>, method: K, params: WorkerMethods[K]['params'], onElements: (n: number) => void, signal?: AbortSignal): Promise<WorkerMethods[K]['result']> {
    if (this.failure) throw this.failure;
    try {
      return await rpc.request(method, params, { onProgress: onElements, ...(signal ? { signal } : {}) });
    } catch (e) {
      if (e instanceof RpcError) throw e.kind ? new NormLensError(e.kind as NormLensErrorKind, e.message) : new Error(e.message);
      throw e;
    }
  }

  /**
   * Runs `count` jobs on the first `width` workers, each taking the next job when it finishes one: a
   * worker that gets less CPU (a busy machine) takes fewer ranges instead of holding up the pass.
   */
  private async schedule<T>(width: number, count: number, job: (rpc: RpcClient<WorkerMethods>, k: number) => Promise<T>): Promise<T[]> {
    const results = new Array<T>(count);
    let next = 0;
    await Promise.all(
      this.pool.slice(0, Math.max(1, width)).map(async (entry) => {
        const { rpc } = entry;
        while (next < count) {
          if (this.failure) throw this.failure;
          const k = next++;
          results[k] = await job(rpc, k);
        }
      }),
    );
    return results;
  }

  /**
   * The PassExecutor of one run on `target`, using at most `width` workers (1 for front-to-back
   * reads). `signal` cancels this run's requests only (a shared pool keeps serving other runs).
   */
  executorFor(target: PassTarget, width = this.pool.length, signal?: AbortSignal): PassExecutor {
    const n = Math.max(1, Math.min(width, this.pool.length));
    return {
      workers: n,
      parallelism: n,
      runPass1: (plan: AnalysisPlan, ranges: readonly TokenRange[], onElements: (n: number) => void): Promise<Pass1Partial[]> =>
        this.schedule(n, ranges.length, (rpc, k) => this.call(rpc, 'pass1', { target, plan, range: ranges[k]! }, onElements, signal)),
      runPass2: (plan: AnalysisPlan, ranges: readonly TokenRange[], contexts: readonly Pass2Context[], onElements: (n: number) => void): Promise<Pass2Partial[]> =>
        this.schedule(n, ranges.length, (rpc, k) => this.call(rpc, 'pass2', { target, plan, context: contexts[k]!, range: ranges[k]! }, onElements, signal)),
    };
  }

  /**
   * Closes the dump each worker holds open (a shared pool between runs: no file stays open while
   * nothing is analyzed). Workers that fail to answer are left to `dispose`.
   */
  async closeDumps(): Promise<void> {
    await Promise.all(this.pool.map(({ rpc }) => this.call(rpc, 'close', {}, () => undefined).catch(() => undefined)));
  }

  /** Keeps at most `n` workers (≥ 1), stopping the others (they have not been given work yet). */
  limit(n: number): void {
    const extra = this.pool.splice(Math.max(1, n));
    for (const { worker } of extra) void worker.terminate();
  }

  /** Stops every worker (also on cancellation: a running chunk loop is cut off at once). */
  async dispose(): Promise<void> {
    if (this.poll) clearInterval(this.poll);
    this.poll = null;
    const stopped = this.pool.splice(0);
    for (const { rpc } of stopped) rpc.rejectAll(this.failure ?? new NormLensError('cancelled', 'the analysis workers were stopped.'));
    await Promise.all(stopped.map(({ worker }) => worker.terminate()));
  }
}

/**
 * An AbortSignal that follows a cancellation flag (polled, like the pools' own flag) until `stop`,
 * which also aborts it: a run on a shared pool cancels its own requests with it, and any request
 * still open when the run ends (one that failed first leaves the others running) is cancelled too.
 */
export function abortOnFlag(flag: AnalysisRunHooks['cancellation']): { readonly signal: AbortSignal; stop(): void } {
  const controller = new AbortController();
  const poll = flag ? setInterval(() => flag.aborted && controller.abort(), 25) : null;
  return {
    signal: controller.signal,
    stop: () => {
      if (poll) clearInterval(poll);
      controller.abort();
    },
  };
}

/** A dump kept open after its analysis (heatmaps read from it); `close` releases the file. */
export interface OpenedDump {
  readonly dump: Dump;
  close(): Promise<void>;
}

/** Everything one analysis of a dump yields: the report and what the dump holds besides it. */
export interface FileAnalysis {
  readonly report: AnalysisReport;
  /** Every tensor of the dump, in file order. */
  readonly tensors: readonly TensorInfo[];
  /** The role of each tensor, as the analysis used them (with the options' tensor names applied). */
  readonly roles: ReadonlyMap<string, TensorRole>;
  /** Per-position token strings (JSON `tokens`), when the dump has them. */
  readonly tokens?: readonly string[];
  /** The dump, still open, when `keepOpen` was asked for; the caller closes it. */
  readonly opened?: OpenedDump;
}

/**
 * Analyzes a dump once: opens it (a path on disk, or any ByteSource such as a file read through
 * `workspace.fs`), plans in this thread, then runs both passes on worker threads, each opening the
 * file itself with the same open options and taking a token range of the host's plan (one worker,
 * front to back, for compressed npz members). Small dumps, ByteSources and `workers: 0` run in
 * process. Same report either way.
 */
export async function analyzeFile(file: string | ByteSource, options: AnalyzeFileOptions = {}): Promise<FileAnalysis> {
  const path = typeof file === 'string' ? file : null;
  const source: ByteSource = path !== null ? await NodeFileByteSource.open(path) : (file as ByteSource);
  const wanted = path === null ? 0 : (options.workers ?? Math.min(2, availableParallelism()));
  const minElements = options.minElementsForWorkers ?? 1 << 20;
  const script = resolveWorkerScript(options.workerScript);
  // Workers take tens of milliseconds to start: start them while this thread parses the header and
  // plans, when the file is big enough to need them (a file of fewer bytes has fewer elements).
  // They only open the file when given work; unneeded ones are stopped below.
  const shared = path !== null && options.pool && !options.pool.failed && options.pool.size > 0 ? options.pool : null;
  let pool: WorkerPool | null = shared ?? (path !== null && wanted > 0 && source.size >= minElements ? new WorkerPool(wanted, script, options.open, options.cancellation) : null);
  // A shared pool's requests of this run are cancelled by this signal (its workers keep running).
  const abort = abortOnFlag(shared ? options.cancellation : undefined);
  let keep = false;
  // Set once the run has its report or has failed: a preview coming later is not delivered.
  let finished = false;
  try {
    const whole = await openDump(source, options.open);
    options.onMark?.('opened');
    const infos = whole.tensors.map((t) => t.info);
    let dump = whole;
    let a: AnalysisOptions = options.analysis ?? {};
    let target: PassTarget | null = path !== null ? { path } : null;
    if (options.site !== undefined) {
      const grouping = { ...(options.layerAxis !== undefined ? { layerAxis: options.layerAxis } : {}), ...(options.layerTensor !== undefined ? { layerTensor: options.layerTensor } : {}) };
      const site = findSite(sitesOfDump(whole, grouping), options.site);
      const chosen = siteAnalysis(whole, site);
      dump = chosen.dump;
      const { tensor: _t, mask: _m, output: _o, weight: _w, bias: _b, runningMean: _rm, runningVar: _rv, roles: _r, ...user } = a;
      a = siteAnalysisOptions(user, chosen.options, site.norm);
      if (path !== null && site.slice) target = { path, slice: { ...site.slice, name: chosen.options.tensor } };
    }
    const roles =
      a.roles ?? guessRoles(infos, { tensor: a.tensor, mask: a.mask, output: a.output, weight: a.weight, bias: a.bias, runningMean: a.runningMean, runningVar: a.runningVar });
    const plan = await planAnalysis(dump, { ...a, roles });
    options.onMark?.('planned');
    const elements = plan.tokens * plan.features;
    const useWorkers = path !== null && (shared !== null || wanted > 0) && elements >= minElements;
    if (options.preview) {
      const { onPreview, onFailure, description } = options.preview;
      const deliver = (p: PreviewResult | null): void => {
        if (p && !finished && !options.cancellation?.aborted) onPreview(p);
      };
      const failed = (e: Error): void => {
        if (!finished) onFailure?.(e);
      };
      // Stops at its next chunk once the run is cancelled or over (its result would not be delivered).
      const cancellation = { get aborted(): boolean { return finished || options.cancellation?.aborted === true; } };
      const preview = previewOfPlan(dump, plan, a, { cancellation }, description).then(deliver, failed);
      // With workers, on this thread while they run the passes (not awaited: the run goes on; a preview
      // still reading when the run ends stops or fails quietly, after `finished`). In process, first.
      if (!useWorkers) await preview;
    }
    const described = { description: source.description, format: dump.format };
    let report: AnalysisReport;
    if (!useWorkers) {
      if (pool && pool !== shared) await pool.dispose();
      pool = null;
      // Chunks read for the passes go back to the source once visited (fewer page faults and less GC).
      const recycle = source instanceof NodeFileByteSource ? source : null;
      const hooks: AnalysisRunHooks = recycle ? { ...options, release: (values) => recycle.recycle(values.buffer) } : options;
      report = await executeAnalysis(plan, inProcessExecutor(dump, hooks), described, options);
    } else {
      // The reduced per-token path is bound by this thread's reductions: one worker reads and computes
      // alongside it, and a second would only add its memory.
      const width = shared ? shared.size : wanted;
      const count = plan.randomAccess && !usesReducedTokens(plan) ? Math.max(1, Math.min(width, plan.tokens)) : 1;
      pool ??= new WorkerPool(count, script, options.open, options.cancellation);
      if (pool !== shared) pool.limit(count);
      report = await executeAnalysis(plan, pool.executorFor(target ?? { path }, count, shared ? abort.signal : undefined), described, options);
    }
    finished = true;
    options.onMark?.('passes-done');
    keep = options.keepOpen === true;
    return {
      report,
      tensors: infos,
      roles,
      ...(dump.tokens ? { tokens: dump.tokens } : {}),
      ...(keep ? { opened: { dump, close: async () => source.close?.() } } : {}),
    };
  } finally {
    // A failed run takes no late preview either (nor the failure of one reading a closed file).
    finished = true;
    abort.stop();
    // Workers of this run stop in the background, after the caller has taken the report (stopping
    // them takes about 10 ms of this thread): nothing waits for them.
    if (pool && pool !== shared) {
      const stopping = pool;
      setImmediate(() => void stopping.dispose().catch(() => undefined));
    }
    if (!keep) await source.close?.();
  }
}

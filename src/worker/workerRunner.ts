import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { executeAnalysis, inProcessExecutor, type AnalysisRunHooks, type PassExecutor } from '../core/analysis/analyze';
import type { Pass1Partial } from '../core/analysis/pass1';
import type { Pass2Partial } from '../core/analysis/pass2';
import { planAnalysis, type AnalysisOptions } from '../core/analysis/plan';
import { NormLensError } from '../core/errors';
import { openDump } from '../core/formats/openDump';
import type { OpenDumpOptions } from '../core/formats/options';
import type { AnalysisReport } from '../core/report/analysisReport';
import { NodeFileByteSource } from '../platform/nodeFileSource';
import type { AnalysisWorkerData, WorkerReply, WorkerRequest } from './workerProtocol';

/** How `analyzeFile` runs: worker count, script location, and when workers are worth starting. */
export interface WorkerRunOptions extends AnalysisRunHooks {
  /** Worker threads (default: min(2, available cores)); 0 runs in process. */
  readonly workers?: number;
  /** Path of the built worker (default: `worker.js` next to this bundle, i.e. dist/worker.js). */
  readonly workerScript?: string;
  /** Dumps with fewer input elements run in process (worker start-up costs more). Default 1,048,576. */
  readonly minElementsForWorkers?: number;
  /** How to open the dump (bf16-as-uint16, limits); used by this thread and by every worker. */
  readonly open?: OpenDumpOptions;
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

/** A pool of analysis workers that each open `path` themselves and run passes on token ranges. */
class WorkerPassExecutor implements PassExecutor {
  parallelism: number;
  private readonly pool: Worker[] = [];
  private nextId = 1;
  private failure: Error | null = null;
  private readonly rejecters = new Set<(e: Error) => void>();
  private poll: ReturnType<typeof setInterval> | null = null;

  constructor(
    public workers: number,
    script: string,
    path: string,
    hooks: AnalysisRunHooks,
    open: OpenDumpOptions | undefined,
  ) {
    this.parallelism = workers;
    const data: AnalysisWorkerData = open !== undefined ? { path, open } : { path };
    const execArgv = script.endsWith('.ts') ? ['--require', 'tsx/cjs'] : undefined;
    for (let k = 0; k < workers; k++) {
      const w = new Worker(script, { workerData: data, ...(execArgv ? { execArgv } : {}) });
      w.on('error', (e) => this.fail(new NormLensError('io', `analysis worker failed: ${e.message}`)));
      this.pool.push(w);
    }
    if (hooks.cancellation) {
      this.poll = setInterval(() => {
        if (hooks.cancellation?.aborted) this.fail(new NormLensError('cancelled', 'the analysis was cancelled.'));
      }, 25);
    }
  }

  private fail(e: Error): void {
    if (this.failure) return;
    this.failure = e;
    for (const reject of this.rejecters) reject(e);
    void this.dispose();
  }

  private run<T extends Pass1Partial | Pass2Partial>(worker: Worker, request: (id: number) => WorkerRequest, doneType: 'pass1-done' | 'pass2-done', onElements: (n: number) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      const id = this.nextId++;
      const finish = (): void => {
        worker.off('message', listener);
        this.rejecters.delete(reject);
      };
      const listener = (msg: WorkerReply): void => {
        if (msg.id !== id) return;
        if (msg.type === 'progress') onElements(msg.elements);
        else if (msg.type === 'error') {
          finish();
          reject(msg.kind ? new NormLensError(msg.kind, msg.message) : new Error(msg.message));
        } else if (msg.type === doneType) {
          finish();
          resolve(msg.partial as T);
        }
      };
      this.rejecters.add(reject);
      worker.on('message', listener);
      worker.postMessage(request(id));
    });
  }

  /**
   * Runs `count` jobs on the pool, each worker taking the next job when it finishes one: a worker
   * that gets less CPU (a busy machine) takes fewer ranges instead of holding up the pass.
   */
  private async schedule<T>(count: number, job: (worker: Worker, k: number) => Promise<T>): Promise<T[]> {
    const results = new Array<T>(count);
    let next = 0;
    await Promise.all(
      this.pool.map(async (worker) => {
        while (next < count) {
          if (this.failure) throw this.failure;
          const k = next++;
          results[k] = await job(worker, k);
        }
      }),
    );
    return results;
  }

  runPass1(plan: Parameters<PassExecutor['runPass1']>[0], ranges: Parameters<PassExecutor['runPass1']>[1], onElements: (n: number) => void): Promise<Pass1Partial[]> {
    return this.schedule(ranges.length, (worker, k) => this.run<Pass1Partial>(worker, (id) => ({ type: 'pass1', id, plan, range: ranges[k]! }), 'pass1-done', onElements));
  }

  runPass2(plan: Parameters<PassExecutor['runPass2']>[0], ranges: Parameters<PassExecutor['runPass2']>[1], contexts: Parameters<PassExecutor['runPass2']>[2], onElements: (n: number) => void): Promise<Pass2Partial[]> {
    return this.schedule(ranges.length, (worker, k) => this.run<Pass2Partial>(worker, (id) => ({ type: 'pass2', id, plan, context: contexts[k]!, range: ranges[k]! }), 'pass2-done', onElements));
  }

  /** Keeps at most `n` workers (≥ 1), stopping the others (they have not been given work yet). */
  limit(n: number): void {
    const extra = this.pool.splice(Math.max(1, n));
    for (const w of extra) void w.terminate();
    this.workers = this.pool.length;
    this.parallelism = this.pool.length;
  }

  /** Stops every worker (also on cancellation: a running chunk loop is cut off at once). */
  async dispose(): Promise<void> {
    if (this.poll) clearInterval(this.poll);
    this.poll = null;
    await Promise.all(this.pool.splice(0).map((w) => w.terminate()));
  }
}

/**
 * Analyzes the dump at `path` (Node only): plans in this thread, then runs both passes on worker
 * threads, each opening the file itself and taking a token range (one worker, front to back, for
 * compressed npz members). Small dumps and `workers: 0` run in process. Same report either way.
 */
export async function analyzeFile(path: string, options: AnalysisOptions = {}, run: WorkerRunOptions = {}): Promise<AnalysisReport> {
  const source = await NodeFileByteSource.open(path);
  const wanted = run.workers ?? Math.min(2, availableParallelism());
  const minElements = run.minElementsForWorkers ?? 1 << 20;
  // Workers take tens of milliseconds to start: start them while this thread parses the header and
  // plans, when the file is big enough to need them (a file of fewer bytes has fewer elements).
  // They only open the file when given work; unneeded ones are stopped below.
  let executor: WorkerPassExecutor | null = wanted > 0 && source.size >= minElements ? new WorkerPassExecutor(wanted, resolveWorkerScript(run.workerScript), path, run, run.open) : null;
  try {
    const dump = await openDump(source, run.open);
    const plan = await planAnalysis(dump, options);
    const elements = plan.tokens * plan.features;
    const useWorkers = wanted > 0 && elements >= minElements;
    const described = { description: source.description, format: dump.format };
    if (!useWorkers) {
      if (executor) await executor.dispose();
      executor = null;
      // Chunks read for the passes go back to the source once visited (fewer page faults and less GC).
      const hooks: AnalysisRunHooks = { ...run, release: (values) => source.recycle(values.buffer) };
      return await executeAnalysis(plan, inProcessExecutor(dump, hooks), described, run);
    }
    const count = plan.randomAccess ? Math.max(1, Math.min(wanted, plan.tokens)) : 1;
    executor ??= new WorkerPassExecutor(count, resolveWorkerScript(run.workerScript), path, run, run.open);
    executor.limit(count);

    return await executeAnalysis(plan, executor, described, run);
  } finally {
    if (executor) await executor.dispose();
    await source.close();
  }
}

import { parentPort, workerData } from 'node:worker_threads';
import { runPass1, type Pass1Partial } from '../core/analysis/pass1';
import { runPass2, type Pass2Partial } from '../core/analysis/pass2';
import { resolvePlanTensors } from '../core/analysis/plan';
import { isNormLensError } from '../core/errors';
import { openDump } from '../core/formats/openDump';
import type { DecodedValues, Dump } from '../core/formats/types';
import { NodeFileByteSource } from '../platform/nodeFileSource';
import type { AnalysisWorkerData, WorkerReply, WorkerRequest } from './workerProtocol';

/** Transferable buffers of a partial (its typed arrays), so replies move instead of copy. */
function buffersOf(partial: Pass1Partial | Pass2Partial): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  const visit = (v: unknown): void => {
    if (ArrayBuffer.isView(v) && v.buffer instanceof ArrayBuffer) out.add(v.buffer);
    else if (v && typeof v === 'object') for (const x of Object.values(v)) visit(x);
  };
  visit(partial);
  return [...out];
}

let dumpPromise: Promise<{ source: NodeFileByteSource; dump: Dump }> | null = null;

/** Opens the worker's own view of the dump once (positional reads; nothing shared with the host). */
function opened(): Promise<{ source: NodeFileByteSource; dump: Dump }> {
  if (!dumpPromise) {
    const { path, open } = workerData as AnalysisWorkerData;
    dumpPromise = NodeFileByteSource.open(path).then(async (source) => ({ source, dump: await openDump(source, open) }));
  }
  return dumpPromise;
}

async function handle(req: WorkerRequest): Promise<void> {
  const port = parentPort!;
  try {
    const { source, dump } = await opened();
    const hooks = {
      onElements: (elements: number): void => port.postMessage({ type: 'progress', id: req.id, elements } satisfies WorkerReply),
      // Chunks are done with once visited: their read buffers serve the next reads.
      release: (values: DecodedValues): void => source.recycle(values.buffer),
    };
    const tensors = resolvePlanTensors(dump, req.plan);
    if (req.type === 'pass1') {
      const partial = await runPass1(tensors, req.plan, req.range, hooks);
      port.postMessage({ type: 'pass1-done', id: req.id, partial } satisfies WorkerReply, buffersOf(partial));
    } else {
      const partial = await runPass2(tensors, req.plan, req.context, req.range, hooks);
      port.postMessage({ type: 'pass2-done', id: req.id, partial } satisfies WorkerReply, buffersOf(partial));
    }
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    port.postMessage({ type: 'error', id: req.id, kind: isNormLensError(e) ? e.kind : null, message } satisfies WorkerReply);
  }
}

parentPort?.on('message', (req: WorkerRequest) => void handle(req));

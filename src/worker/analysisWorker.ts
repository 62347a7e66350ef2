import { parentPort, workerData } from 'node:worker_threads';
import { runPass1, type Pass1Partial } from '../core/analysis/pass1';
import { runPass2, type Pass2Partial } from '../core/analysis/pass2';
import { resolvePlanTensors } from '../core/analysis/plan';
import { isNormLensError } from '../core/errors';
import { openDump } from '../core/formats/openDump';
import type { DecodedValues, Dump } from '../core/formats/types';
import { NodeFileByteSource } from '../platform/nodeFileSource';
import { RpcServer, type RpcHandlerContext } from '../rpc';
import type { AnalysisWorkerData, WorkerMethods } from './workerProtocol';

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

/** Pass hooks of one request: progress to the host, cancellation from it, chunk buffers recycled. */
function hooksFor(source: NodeFileByteSource, context: RpcHandlerContext<number>) {
  const cancellation = { aborted: false };
  context.signal.addEventListener('abort', () => (cancellation.aborted = true));
  return {
    cancellation,
    onElements: (elements: number): void => context.progress(elements),
    // Chunks are done with once visited: their read buffers serve the next reads.
    release: (values: DecodedValues): void => source.recycle(values.buffer),
  };
}

const port = parentPort;
if (port) {
  const server = new RpcServer<WorkerMethods>(
    (message, transfer) => port.postMessage(message, transfer ?? []),
    {
      async pass1({ plan, range }, context) {
        const { source, dump } = await opened();
        const partial = await runPass1(resolvePlanTensors(dump, plan), plan, range, hooksFor(source, context));
        for (const b of buffersOf(partial)) context.transfer.push(b);
        return partial;
      },
      async pass2({ plan, context: pass2Context, range }, context) {
        const { source, dump } = await opened();
        const partial = await runPass2(resolvePlanTensors(dump, plan), plan, pass2Context, range, hooksFor(source, context));
        for (const b of buffersOf(partial)) context.transfer.push(b);
        return partial;
      },
    },
    (e) => ({ message: e instanceof Error ? e.message : String(e), ...(isNormLensError(e) ? { kind: e.kind } : {}) }),
  );
  port.on('message', (m: unknown) => void server.handle(m));
}

import { parentPort, workerData } from 'node:worker_threads';
import { runPass1, type Pass1Partial } from '../core/analysis/pass1';
import { runPass2, type Pass2Partial } from '../core/analysis/pass2';
import { resolvePlanTensors } from '../core/analysis/plan';
import { sliceTensor } from '../core/dump/tensorSlice';
import { isNormLensError, NormLensError } from '../core/errors';
import { openDump } from '../core/formats/openDump';
import type { DecodedValues, Dump } from '../core/formats/types';
import { NodeFileByteSource } from '../platform/nodeFileSource';
import { RpcServer, type RpcHandlerContext } from '../rpc';
import type { AnalysisWorkerData, PassTarget, WorkerMethods } from './workerProtocol';

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

/** The dump this worker has open: the last path asked for (a sweep reads the sites of one file in a row). */
let current: { path: string; opened: Promise<{ source: NodeFileByteSource; dump: Dump }>; slices: Map<string, Dump> } | null = null;

/** Opens the worker's own view of a dump (positional reads; nothing shared with the host), closing the previous one. */
function openedDump(path: string): Promise<{ source: NodeFileByteSource; dump: Dump }> {
  if (current?.path !== path) {
    const previous = current;
    if (previous) void previous.opened.then(({ source }) => source.close()).catch(() => undefined);
    const { open } = workerData as AnalysisWorkerData;
    const opened = NodeFileByteSource.open(path).then(async (source) => {
      try {
        return { source, dump: await openDump(source, open) };
      } catch (e) {
        await source.close();
        throw e;
      }
    });
    current = { path, opened, slices: new Map() };
    // A dump that fails to open is not kept: the next request tries again.
    opened.catch(() => {
      if (current?.opened === opened) current = null;
    });
  }
  return current!.opened;
}

/** The dump a request reads: the file's dump, or for a `--layer-axis` site a view holding the sliced input (made once per slice). */
async function opened(target: PassTarget): Promise<{ source: NodeFileByteSource; dump: Dump }> {
  const { source, dump } = await openedDump(target.path);
  const slice = target.slice;
  if (!slice) return { source, dump };
  const slices = current!.slices;
  let view = slices.get(slice.name);
  if (!view) {
    const whole = dump.tensors.find((h) => h.info.name === slice.tensor);
    if (!whole) throw new NormLensError('usage', `site '${slice.name}': tensor '${slice.tensor}' is not in the dump.`);
    view = { ...dump, tensors: [sliceTensor(whole, slice.axis, slice.index, { name: slice.name }), ...dump.tensors] };
    slices.set(slice.name, view);
  }
  return { source, dump: view };
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
      async pass1({ target, plan, range }, context) {
        const { source, dump } = await opened(target);
        const partial = await runPass1(resolvePlanTensors(dump, plan), plan, range, hooksFor(source, context));
        for (const b of buffersOf(partial)) context.transfer.push(b);
        return partial;
      },
      async pass2({ target, plan, context: pass2Context, range }, context) {
        const { source, dump } = await opened(target);
        const partial = await runPass2(resolvePlanTensors(dump, plan), plan, pass2Context, range, hooksFor(source, context));
        for (const b of buffersOf(partial)) context.transfer.push(b);
        return partial;
      },
      async close() {
        const previous = current;
        current = null;
        if (previous) await previous.opened.then(({ source }) => source.close()).catch(() => undefined);
      },
    },
    (e) => ({ message: e instanceof Error ? e.message : String(e), ...(isNormLensError(e) ? { kind: e.kind } : {}) }),
  );
  port.on('message', (m: unknown) => void server.handle(m));
}

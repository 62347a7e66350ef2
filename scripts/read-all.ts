/**
 * Opens a dump with NodeFileByteSource + openDump and reads every tensor front to back in chunks,
 * printing a checksum (sum of finite values, in float64) and the time. Used to measure peak memory:
 *
 *     /usr/bin/time -v npx tsx scripts/read-all.ts FILE [chunkElements]
 */
import { openDump } from '../src/core/formats/openDump';
import { NodeFileByteSource } from '../src/platform/nodeFileSource';

async function readAll(path: string, chunkElements: number): Promise<void> {
  const source = await NodeFileByteSource.open(path);
  const started = performance.now();
  try {
    const dump = await openDump(source);
    for (const tensor of dump.tensors) {
      let sum = 0;
      let nonFinite = 0;
      for (let start = 0; start < tensor.info.size; start += chunkElements) {
        const values = await tensor.read(start, Math.min(chunkElements, tensor.info.size - start));
        for (let i = 0; i < values.length; i++) {
          const v = values[i]!;
          if (Number.isFinite(v)) sum += v;
          else nonFinite++;
        }
      }
      console.log(`${tensor.info.name} ${tensor.info.dtype} (${tensor.info.shape.join(', ')}): sum ${sum} non-finite ${nonFinite}`);
    }
  } finally {
    await source.close();
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(`read ${source.size} bytes in ${seconds.toFixed(2)} s (${(source.size / 2 ** 20 / seconds).toFixed(0)} MiB/s)`);
  const m = process.memoryUsage();
  console.log(`memory at end: rss ${(m.rss / 2 ** 20).toFixed(0)} MiB, heap ${(m.heapUsed / 2 ** 20).toFixed(0)} MiB, array buffers ${(m.arrayBuffers / 2 ** 20).toFixed(0)} MiB`);
}

const [path, chunk] = process.argv.slice(2);
if (!path) {
  console.error('usage: npx tsx scripts/read-all.ts FILE [chunkElements]');
  process.exit(2);
}
readAll(path, Number(chunk ?? 1 << 20)).catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(2);
});

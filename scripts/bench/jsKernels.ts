// Micro-benchmark of the JavaScript kernels (the fallback of the WebAssembly ones): in-process
// analyses of in-memory float32 dumps that take the JS paths — feature-last with an affine weight
// (the WebAssembly pass 2 needs no affine) and channels-first (N, C, H, W) with a recorded output.
// Prints the median CPU time of each. Run: node --import tsx scripts/bench/jsKernels.ts [rounds]
import { analyzeDump } from '../../src/core/analysis/analyze';
import type { DecodedValues, Dump, TensorHandle } from '../../src/core/formats/types';

function tensor(name: string, shape: number[], values: Float32Array): TensorHandle {
  return {
    info: { name, dtype: 'float32', shape, size: values.length, byteOffset: 0, byteLength: values.length * 4 },
    randomAccess: true,
    read: (start: number, count: number): Promise<DecodedValues> => Promise.resolve(values.slice(start, start + count)),
  } as unknown as TensorHandle;
}

function dumpOf(tensors: TensorHandle[]): Dump {
  return { format: 'npz', tensors, eps: undefined, tokens: undefined, metadata: {} } as unknown as Dump;
}

function normal(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const u = (): number => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()) * (1 + (i % 7));
  return a;
}

async function time(label: string, rounds: number, run: () => Promise<{ timing: { pass1Ms: number; pass2Ms: number } }>): Promise<void> {
  const t: number[] = [];
  const p1: number[] = [];
  const p2: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const c0 = process.cpuUsage();
    const report = await run();
    const c = process.cpuUsage(c0);
    t.push((c.user + c.system) / 1e6);
    p1.push(report.timing.pass1Ms);
    p2.push(report.timing.pass2Ms);
  }
  const med = (a: number[]): number => a.sort((x, y) => x - y)[a.length >> 1]!;
  console.log(`${label}: median cpu ${med(t).toFixed(3)} s over ${rounds} (min ${Math.min(...t).toFixed(3)}); pass 1 ${med(p1)} ms, pass 2 ${med(p2)} ms`);
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? '5');
  const fl = normal(8 * 512 * 1024, 1);
  const w = new Float32Array(1024).map((_, i) => 1 + (i % 3) * 0.1);
  const featureLast = dumpOf([tensor('x', [8, 512, 1024], fl), tensor('weight', [1024], w)]);
  await time('feature-last JS (8x512x1024, affine)', rounds, () => analyzeDump(featureLast, { tensor: 'x', weight: 'weight' }));
  if (process.argv[3] === 'feature-last') return;
  const cf = normal(8 * 64 * 64 * 64, 2);
  const out = cf.slice();
  const channelsFirst = dumpOf([tensor('x', [8, 64, 64, 64], cf), tensor('output', [8, 64, 64, 64], out)]);
  await time('channels-first JS (8x64x64x64, output)', rounds, () => analyzeDump(channelsFirst, { tensor: 'x', output: 'output', featureAxis: 1 }));
  await time('channels-first JS (8x64x64x64, no output)', rounds, () => analyzeDump(channelsFirst, { tensor: 'x', featureAxis: 1 }));
}

void main();

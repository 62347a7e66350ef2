// WebAssembly SIMD kernels for the hot loops of pass 1 and pass 2 (feature-last layout, float32
// input, no weight/bias), and for what runs once per analysis on the thread that merges and reports
// (the merge between the passes, the report's reductions: see reductionKernels); everything else
// stays in JavaScript. Their results equal the JavaScript's bit for bit (see
// src/core/analysis/kernels/assembly/kernels.ts). The module is compiled synchronously on first use,
// once per thread; where WebAssembly or SIMD is unavailable `wasmKernels()` and `reductionKernels()`
// are null and everything runs in JavaScript.
import { KERNELS_WASM_BASE64 } from './kernelsWasmBinary';

/** The part of the WebAssembly JS API used here (the project's TypeScript libs do not declare it). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: object };
};

/** Exports of src/core/analysis/kernels/assembly/kernels.ts (pointers are byte offsets into `memory`). */
interface KernelExports {
  readonly memory: WasmMemory;
  pass2PlainSetup(F: number, scale: number, off: number, inE: number, outE: number, bins: number, inTol: number, outTol: number, X: number, consts: number): number;
  pass2Plain(x: number, n: number, F: number, tok: number, scale: number, off: number, hist: number, joint: number, sums: number, inE: number, outE: number, bins: number, inTol: number, outTol: number, kBn: number, X: number, consts: number, guess: number): void;
  pass1Begin(F: number, colSum: number): void;
  pass1Sweep1(x: number, n: number, F: number, tok: number, colSum: number): number;
  pass1Middle(F: number, runLength: number, colSum: number, col: number, colMinMax: number): void;
  pass1Sweep2(x: number, n: number, F: number, tok: number, col: number, colMinMax: number): void;
  pass1End(F: number, col: number, colMinMax: number): void;
  seriesSummary(v: number, n: number, valid: number, out: number): void;
  seriesRange(v: number, n: number, valid: number, out: number): void;
  seriesHistogram(v: number, n: number, valid: number, edges: number, bins: number, counts: number): number;
  seriesDownsample(v: number, n: number, bucketSize: number, points: number, mean: number, min: number, max: number): void;
  seriesMedian(v: number, n: number, scratch: number): number;
  subBatchSize(cells: number, U: number, F: number, g: number, eps: number, full: number, ratios: number, acc: number, group: number): void;
  momentsMerge(aN: number, aMean: number, aM2: number, bN: number, bMean: number, bM2: number, count: number): void;
  minMaxMerge(aMin: number, aMax: number, bMin: number, bMax: number, count: number): void;
  unitTrees(n: number, mean: number, m2: number, min: number, max: number, U: number, F: number, outN: number, outMean: number, outM2: number, outMin: number, outMax: number, stack: number): void;
  indexTree(n: number, mean: number, m2: number, indices: number, count: number, stack: number): void;
  normalizedBounds(tok: number, n: number, mask: number, b: number): void;
  outputMoments(sum: number, sq: number, count: number, T: number, shift: number, a: number, b: number, outMean: number, outStd: number): void;
  tokenStats(count: number, mean: number, m2: number, sumSq: number, tmin: number, tmax: number, T: number, eps: number, out: number, indices: number, minMax: number): number;
}

function decodeBase64(text: string): Uint8Array {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const value = new Uint8Array(128);
  for (let i = 0; i < 64; i++) value[alphabet.charCodeAt(i)] = i;
  let n = text.length;
  while (n > 0 && text.charCodeAt(n - 1) === 61) n--; // '=' padding
  const out = new Uint8Array(Math.floor((n * 3) / 4));
  let acc = 0;
  let bits = 0;
  let j = 0;
  for (let i = 0; i < n; i++) {
    acc = ((acc << 6) | value[text.charCodeAt(i) & 127]!) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[j++] = (acc >> bits) & 0xff;
    }
  }
  return out;
}

/** Byte offsets, each aligned to 16, of consecutive regions of the given sizes. */
export function layout(sizes: readonly number[]): { offsets: number[]; total: number } {
  const offsets: number[] = [];
  let at = 0;
  for (const s of sizes) {
    offsets.push(at);
    at += Math.ceil(s / 16) * 16;
  }
  return { offsets, total: at };
}

/** Largest kernel memory (a chunk's values and scratch; chunks are 8 MiB by default). */
const MAX_KERNEL_BYTES = 1 << 30;

/** One thread's kernel instance and typed views of its memory (refreshed when the memory grows). */
export class WasmKernels {
  readonly exports: KernelExports;
  f32: Float32Array;
  f64: Float64Array;
  i32: Int32Array;
  /** While read slots are out (readSlots): the bytes below them, the most `reserve` may give. */
  private scratchLimit = Infinity;

  constructor(module: object) {
    const instance = new WebAssembly.Instance(module, {});
    this.exports = instance.exports as unknown as KernelExports;
    this.f32 = new Float32Array(this.exports.memory.buffer);
    this.f64 = new Float64Array(this.exports.memory.buffer);
    this.i32 = new Int32Array(this.exports.memory.buffer);
  }

  /**
   * `count` regions of `bytes` each, after `scratch` bytes kept for the kernels, for a pass to read
   * its chunks into (the kernels then read them in place instead of copying each block in). Until
   * `releaseSlots`, `reserve` gives at most `scratch` bytes and never grows the memory, so the
   * views stay valid. Null when the memory cannot grow that far or slots are already out.
   */
  readSlots(scratch: number, bytes: number, count: number): Uint8Array[] | null {
    if (this.scratchLimit !== Infinity) return null;
    const base = Math.ceil(scratch / 16) * 16;
    const size = Math.ceil(bytes / 16) * 16;
    if (!this.reserve(base + count * size)) return null;
    this.scratchLimit = base;
    const buffer = this.exports.memory.buffer;
    return Array.from({ length: count }, (_, i) => new Uint8Array(buffer, base + i * size, bytes));
  }

  /** Ends readSlots: the slots' views must no longer be used. */
  releaseSlots(): void {
    this.scratchLimit = Infinity;
  }

  /** Bytes of memory (never shrinks: drop the instance to give a large memory back). */
  get byteLength(): number {
    return this.exports.memory.buffer.byteLength;
  }

  /**
   * Makes the memory at least `bytes` long (the views are valid until the next call); false when it
   * cannot grow that far (beyond MAX_KERNEL_BYTES or refused), and the caller uses JavaScript.
   */
  reserve(bytes: number): boolean {
    // Growing the memory would detach the read slots' views: beyond them, the caller uses JavaScript.
    if (bytes > this.scratchLimit) return false;
    const memory = this.exports.memory;
    if (memory.buffer.byteLength < bytes) {
      if (bytes > MAX_KERNEL_BYTES) return false;
      try {
        memory.grow(Math.ceil((bytes - memory.buffer.byteLength) / 65536));
      } catch {
        return false;
      }
    }
    if (this.f64.buffer !== memory.buffer) {
      this.f32 = new Float32Array(memory.buffer);
      this.f64 = new Float64Array(memory.buffer);
      this.i32 = new Int32Array(memory.buffer);
    }
    return true;
  }
}

let compiled: object | null | undefined;
let instance: WasmKernels | null | undefined;
let reductions: WasmKernels | null | undefined;
let enabled = true;

/** The compiled module (once per thread), or null where WebAssembly SIMD is unavailable. */
function kernelModule(): object | null {
  if (compiled === undefined) {
    try {
      compiled = typeof WebAssembly === 'object' ? new WebAssembly.Module(decodeBase64(KERNELS_WASM_BASE64)) : null;
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

function instantiate(): WasmKernels | null {
  const module = kernelModule();
  if (module === null) return null;
  try {
    return new WasmKernels(module);
  } catch {
    return null;
  }
}

/** This thread's kernels of the passes, or null when disabled or when WebAssembly SIMD is unavailable. */
export function wasmKernels(): WasmKernels | null {
  if (!enabled) return null;
  if (instance === undefined) instance = instantiate();
  return instance;
}

/**
 * This thread's instance for the report reductions (histogram.ts, batchDependence.ts): a memory of
 * its own, so that building a report never touches the memory of a pass kernel. Null when disabled
 * or unavailable.
 */
export function reductionKernels(): WasmKernels | null {
  if (!enabled) return null;
  if (reductions === undefined) reductions = instantiate();
  return reductions;
}

/**
 * Most memory the reductions stage at once: a copy of what they reduce costs memory on top of the
 * arrays themselves, so beyond this (a million tokens, half a million cells) the JavaScript runs
 * (element-wise merges go by blocks and always fit).
 */
export const MAX_REDUCTION_BYTES = 16 << 20;

/**
 * Room in the reductions' memory for regions of the given byte sizes: the kernels and each region's
 * byte offset (16-byte aligned; none at 0, which the kernels read as "no array"), or null when
 * WebAssembly is unavailable, the regions exceed MAX_REDUCTION_BYTES or the memory cannot grow
 * (then the caller runs its JavaScript).
 * Valid until the next call.
 */
export function reductionSpace(sizes: readonly number[]): { k: WasmKernels; at: number[] } | null {
  const k = reductionKernels();
  if (k === null) return null;
  const { offsets, total } = layout([16, ...sizes]);
  if (total > MAX_REDUCTION_BYTES || !k.reserve(total)) return null;
  return { k, at: offsets.slice(1) };
}

/** Memory of the reductions' instance kept between reports; a larger one is dropped by releaseReductionMemory. */
const KEEP_REDUCTION_BYTES = 4 << 20;

/**
 * Drops the reductions' instance when its memory grew large (a report of a million tokens): WebAssembly
 * memory never shrinks, and the extension host lives long. The next report makes a new instance.
 */
export function releaseReductionMemory(): void {
  if (reductions && reductions.byteLength > KEEP_REDUCTION_BYTES) reductions = undefined;
}

/** Turns the WebAssembly kernels on or off in this thread (tests compare them with the JavaScript ones). */
export function setWasmKernelsEnabled(on: boolean): void {
  enabled = on;
}

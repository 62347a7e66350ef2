import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { MemoryByteSource } from '../../../src/core/io/byteSource';
import { openDump } from '../../../src/core/formats/openDump';
import type { DType, DecodedValues, Dump, TensorHandle, TensorInfo } from '../../../src/core/formats/types';
import { groupFolderSites, isDumpFileName, sitesOfDump, type Site } from '../../../src/core/dump/sites';

/** Root of the committed sites fixtures (see scripts/fixtures/generate_sites.py). */
export const SITES_FIXTURES = join(__dirname, '..', '..', 'fixtures', 'sites');

/** Numbers of one site's input, as numpy computed them in float64. */
export interface ExpectedSummary {
  mean: number;
  std: number;
  min: number;
  max: number;
  maxAbs: number;
  nan: number;
  inf: number;
  tokenRms: { mean: number; min: number; max: number };
  outlierFeatures: number[];
  maskedTokenRms?: { mean: number; min: number; max: number; validTokens: number };
}

/** One site of expected.json. */
export interface ExpectedSite {
  name: string;
  tensors: Record<string, string>;
  shape: number[];
  dtype: string;
  slice?: { tensor: string; axis: number; index: number };
  normClass?: string;
  bestMatch?: string;
  eps?: number;
  groups?: number;
  training?: boolean;
  featureAxis: number;
  file?: string;
  summary: ExpectedSummary;
}

/** One fixture of expected.json. */
export interface ExpectedFixture {
  path: string;
  kind: 'file' | 'folder';
  layerAxis?: number;
  firstOutlierSite?: string;
  siteNames: string[];
  sites: ExpectedSite[];
}

/** expected.json, parsed. */
export function expectedFixtures(): Record<string, ExpectedFixture> {
  return (JSON.parse(readFileSync(join(SITES_FIXTURES, 'expected.json'), 'utf8')) as { fixtures: Record<string, ExpectedFixture> }).fixtures;
}

/** Opens a fixture file (headers only; data on demand). */
export async function openFixture(relative: string): Promise<Dump> {
  return openDump(new MemoryByteSource(new Uint8Array(readFileSync(join(SITES_FIXTURES, relative))), basename(relative)));
}

/** The sites of a fixture (a file or a folder) and the dump each site reads from. */
export async function fixtureSites(fixture: ExpectedFixture): Promise<{ sites: Site[]; dumpOf: (site: Site) => Dump }> {
  if (fixture.kind === 'file') {
    const dump = await openFixture(fixture.path);
    const sites = sitesOfDump(dump, fixture.layerAxis !== undefined ? { layerAxis: fixture.layerAxis } : {});
    return { sites, dumpOf: () => dump };
  }
  const names = readdirSync(join(SITES_FIXTURES, fixture.path)).filter(isDumpFileName);
  const dumps = new Map<string, Dump>();
  for (const n of names) dumps.set(n, await openFixture(join(fixture.path, n)));
  const sites = groupFolderSites(names.map((fileName) => ({ fileName, tensors: dumps.get(fileName)!.tensors.map((h) => h.info), metadata: dumps.get(fileName)!.metadata })));
  return { sites, dumpOf: (site) => dumps.get(site.file!)! };
}

/** Reads a whole handle in chunks of `chunk` elements into one Float64Array. */
export async function readAllFloat64(handle: TensorHandle, chunk = 1000): Promise<Float64Array> {
  const out = new Float64Array(handle.info.size);
  for (let start = 0; start < out.length; start += chunk) out.set(await handle.read(start, Math.min(chunk, out.length - start)), start);
  return out;
}

/** float64 statistics with the definitions of generate_sites.py (`summary`). */
export function summarize(values: Float64Array, shape: readonly number[], featureAxis: number): ExpectedSummary {
  let n = 0;
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  let nan = 0;
  let inf = 0;
  for (const v of values) {
    if (Number.isNaN(v)) nan++;
    else if (!Number.isFinite(v)) inf++;
    else {
      n++;
      sum += v;
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  const mean = sum / n;
  let m2 = 0;
  for (const v of values) if (Number.isFinite(v)) m2 += (v - mean) ** 2;
  const features = shape[featureAxis]!;
  const inner = shape.slice(featureAxis + 1).reduce((p, d) => p * d, 1);
  const outer = values.length / features / inner;
  const tokenSq = new Float64Array(outer * inner);
  const featureSq = new Float64Array(features);
  const featureMax = new Float64Array(features);
  for (let o = 0; o < outer; o++)
    for (let f = 0; f < features; f++)
      for (let i = 0; i < inner; i++) {
        const raw = values[(o * features + f) * inner + i]!;
        const v = Number.isFinite(raw) ? raw : 0;
        tokenSq[o * inner + i] += v * v;
        featureSq[f] += v * v;
        featureMax[f] = Math.max(featureMax[f]!, Math.abs(v));
      }
  const rms = [...tokenSq].map((s) => Math.sqrt(s / features));
  const featureRms = [...featureSq].map((s) => Math.sqrt(s / tokenSq.length)).sort((a, b) => a - b);
  const mid = featureRms.length >> 1;
  const median = featureRms.length % 2 ? featureRms[mid]! : (featureRms[mid - 1]! + featureRms[mid]!) / 2;
  const outlierFeatures: number[] = [];
  featureMax.forEach((m, f) => {
    if (m > 20 * median) outlierFeatures.push(f);
  });
  return {
    mean,
    std: Math.sqrt(m2 / n),
    min,
    max,
    maxAbs: Math.max(Math.abs(min), Math.abs(max)),
    nan,
    inf,
    tokenRms: { mean: rms.reduce((a, b) => a + b, 0) / rms.length, min: Math.min(...rms), max: Math.max(...rms) },
    outlierFeatures,
  };
}

/** A TensorInfo for grouping tests (no data). */
export function info(name: string, shape: number[], dtype: DType = 'float32'): TensorInfo {
  const size = shape.reduce((a, b) => a * b, 1);
  return { name, dtype, shape, size, byteLength: size * 4 };
}

/** An in-memory float64 tensor whose reads are logged (start, count). */
export function memoryTensor(name: string, shape: number[], values?: Float64Array): TensorHandle & { reads: [number, number][] } {
  const size = shape.reduce((a, b) => a * b, 1);
  const data = values ?? Float64Array.from({ length: size }, (_, i) => i);
  const reads: [number, number][] = [];
  return {
    info: { name, dtype: 'float64', shape, size, byteLength: size * 8 },
    randomAccess: true,
    reads,
    read: async (start: number, count: number): Promise<DecodedValues> => {
      if (start < 0 || start + count > size) throw new RangeError(`read ${start}+${count} outside ${size}`);
      reads.push([start, count]);
      return data.slice(start, start + count);
    },
  };
}

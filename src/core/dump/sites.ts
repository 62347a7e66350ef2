import { NormLensError } from '../errors';
import { isFloatingDType } from '../formats/dtypes';
import type { Dump, TensorHandle, TensorInfo, TensorRole } from '../formats/types';
import { sliceTensor } from './tensorSlice';

/** Tensor names of one site, by role (DESIGN.md, "Whole-model dumps"). */
export interface SiteTensors {
  readonly input: string;
  readonly output?: string;
  readonly weight?: string;
  readonly bias?: string;
  readonly runningMean?: string;
  readonly runningVar?: string;
  /** The site's own mask (`P.attention_mask`) or the dump's shared mask when its token shape fits. */
  readonly mask?: string;
  /** A tokens tensor (`tokens`, `input_ids`) shared like the mask. */
  readonly tokens?: string;
}

/** A site made by `--layer-axis`: index `index` of tensor `tensor` along `axis`. */
export interface SiteSlice {
  readonly tensor: string;
  readonly axis: number;
  readonly index: number;
}

/** What the capture helper (python/normlens_capture.py) recorded about the module of a site. */
export interface SiteNorm {
  /** Module class name (`LayerNorm`, `BatchNorm2d`, `LlamaRMSNorm`, ...). */
  readonly normClass?: string;
  readonly eps?: number;
  /** GroupNorm's number of groups. */
  readonly groups?: number;
  readonly normalizedShape?: readonly number[];
  readonly numFeatures?: number;
  /** Whether the module was in training mode when called. */
  readonly training?: boolean;
  /** Module path in the model (without the `.callN` suffix). */
  readonly module?: string;
  /** Call index of the module (0 for the first call). */
  readonly call?: number;
}

/** One normalization call of a model: its input and what was recorded with it. */
export interface Site {
  /** Unique within the dump (or folder); `NAME[i]` for slices, `file/site` in folders. */
  readonly name: string;
  readonly tensors: SiteTensors;
  /** Shape of the site's input (of the slice for `--layer-axis`). */
  readonly shape: readonly number[];
  readonly slice?: SiteSlice;
  /** Capture-helper metadata of the module, when the dump has it. */
  readonly norm?: SiteNorm;
  /** File name inside a folder (folders only). */
  readonly file?: string;
}

/** Options of {@link groupSites}. */
export interface GroupSitesOptions {
  /** `--layer-axis N`: split one tensor along axis N into sites `NAME[0]`, `NAME[1]`, ... */
  readonly layerAxis?: number;
  /** The tensor `--layer-axis` splits; default: the input of the dump's only site. */
  readonly layerTensor?: string;
  /** safetensors `__metadata__` (reads the capture helper's `normlens.capture` entry). */
  readonly metadata?: Readonly<Record<string, string>>;
}

/** Role suffixes after `.`, `/` or `:` that make `P<sep>ROLE` part of site `P`. */
const SUFFIX_ROLES: Readonly<Record<string, keyof SiteTensors>> = {
  input: 'input',
  in: 'input',
  x: 'input',
  output: 'output',
  out: 'output',
  y: 'output',
  weight: 'weight',
  gamma: 'weight',
  scale: 'weight',
  bias: 'bias',
  beta: 'bias',
  running_mean: 'runningMean',
  running_var: 'runningVar',
  attention_mask: 'mask',
  mask: 'mask',
  padding_mask: 'mask',
};
/** Input suffixes, most specific first (a site with `P.input` and `P.x` takes `P.input`). */
const INPUT_SUFFIXES = ['input', 'in', 'x'];
/** Whole names of an input in a classic one-site dump, most specific first. */
const BARE_INPUTS = ['hidden_states', 'activations', 'input', 'x', 'in'];
/** Whole names of the companions of a classic one-site dump (DESIGN.md, "Roles are found by name"). */
const BARE_COMPANIONS: Readonly<Record<string, keyof SiteTensors>> = {
  output: 'output',
  normalized: 'output',
  out: 'output',
  y: 'output',
  weight: 'weight',
  gamma: 'weight',
  scale: 'weight',
  bias: 'bias',
  beta: 'bias',
  running_mean: 'runningMean',
  running_var: 'runningVar',
};
/** Whole names of a shared mask / tokens tensor. */
const SHARED_MASKS = ['attention_mask', 'mask', 'padding_mask'];
const SHARED_TOKENS = ['tokens', 'input_ids', 'token_ids'];
/** Suffix roles of parameters: `P.weight` of any rank without a `P.input` is not a site. */
const PARAMETER_ROLES: ReadonlySet<keyof SiteTensors> = new Set<keyof SiteTensors>(['weight', 'bias', 'runningMean', 'runningVar', 'mask']);
/** Key of the capture helper's JSON in the metadata. */
export const CAPTURE_METADATA_KEY = 'normlens.capture';

const SUFFIX_PATTERN = /^(.*)[./:]([A-Za-z_]+)$/;

/** Site prefix and role of `P<sep>ROLE`, or undefined (also for an empty prefix such as `.input`). */
export function parseSiteName(name: string): { prefix: string; role: keyof SiteTensors; suffix: string } | undefined {
  const m = SUFFIX_PATTERN.exec(name);
  if (!m) return undefined;
  const suffix = m[2]!.toLowerCase();
  const role = Object.prototype.hasOwnProperty.call(SUFFIX_ROLES, suffix) ? SUFFIX_ROLES[suffix] : undefined;
  if (!role || m[1]!.length === 0) return undefined;
  return { prefix: m[1]!, role, suffix };
}

/** `layer_10.x` -> ['layer_', '10', '.x']: text at even indices, digit runs at odd ones. */
function naturalChunks(name: string): string[] {
  return name.split(/(\d+)/);
}

function compareChunks(a: readonly string[], b: readonly string[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a[i]!;
    let y = b[i]!;
    if (x === y) continue;
    if (i % 2 === 1) {
      x = x.replace(/^0+(?=\d)/, '');
      y = y.replace(/^0+(?=\d)/, '');
      if (x.length !== y.length) return x.length - y.length;
      if (x === y) continue;
    }
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

/**
 * Natural order of names: digit runs compare as numbers (`layer_2` < `layer_10`,
 * `hidden_states.9` < `hidden_states.10`), everything else by code unit; ties by plain comparison.
 */
export function naturalCompare(a: string, b: string): number {
  return compareChunks(naturalChunks(a), naturalChunks(b)) || (a < b ? -1 : a > b ? 1 : 0);
}

/** True when a mask (or tokens tensor) of `maskShape` has one entry per token of an input of `inputShape`. */
export function tokenShapeFits(maskShape: readonly number[], inputShape: readonly number[]): boolean {
  const maskSize = maskShape.reduce((p, d) => p * d, 1);
  for (let axis = inputShape.length - 1; axis >= 0; axis--) {
    const rest = inputShape.filter((_, i) => i !== axis);
    if (rest.reduce((p, d) => p * d, 1) !== maskSize) continue;
    if (maskShape.length <= 1 || (rest.length === maskShape.length && rest.every((d, i) => d === maskShape[i]))) return true;
  }
  return false;
}

function siteNorm(entry: unknown): SiteNorm | undefined {
  if (typeof entry !== 'object' || entry === null) return undefined;
  const e = entry as Record<string, unknown>;
  const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const norm: { -readonly [K in keyof SiteNorm]: SiteNorm[K] } = {};
  if (typeof e.class === 'string') norm.normClass = e.class;
  if (num(e.eps) !== undefined) norm.eps = num(e.eps);
  if (num(e.groups) !== undefined) norm.groups = num(e.groups);
  if (num(e.num_features) !== undefined) norm.numFeatures = num(e.num_features);
  if (Array.isArray(e.normalized_shape) && e.normalized_shape.every((d) => typeof d === 'number')) norm.normalizedShape = e.normalized_shape as number[];
  if (typeof e.training === 'boolean') norm.training = e.training;
  if (typeof e.module === 'string') norm.module = e.module;
  if (num(e.call) !== undefined) norm.call = num(e.call);
  return Object.keys(norm).length > 0 ? norm : undefined;
}

/** The capture helper's per-site metadata, by site name (empty when absent or unreadable). */
export function captureMetadata(metadata: Readonly<Record<string, string>> | undefined): ReadonlyMap<string, SiteNorm> {
  const out = new Map<string, SiteNorm>();
  const text = metadata?.[CAPTURE_METADATA_KEY];
  if (text === undefined) return out;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return out;
  }
  const sites = (parsed as { sites?: unknown } | null)?.sites;
  if (typeof sites !== 'object' || sites === null) return out;
  for (const [name, entry] of Object.entries(sites)) {
    const norm = siteNorm(entry);
    if (norm) out.set(name, norm);
  }
  return out;
}

type MutableTensors = { -readonly [K in keyof SiteTensors]?: string };

/**
 * Groups a dump's tensors into sites as DESIGN.md says, reading no data (O(tensors) plus the sort):
 * - `P<sep>ROLE` (sep `.` `/` `:`; ROLE input|in|x|output|out|y|weight|gamma|scale|bias|beta|
 *   running_mean|running_var, or a mask name) forms site `P` when it has a floating input;
 *   a group without input (a state dict's `P.weight`) is parameters, not a site;
 * - a classic dump's whole-name tensors (`hidden_states` or `input` with `output`, `weight`, ...)
 *   form one site named after its input;
 * - every other floating tensor of two or more dimensions is one site named after the tensor;
 *   a dump with one tensor is one site; a dump with no site otherwise falls back on its largest
 *   floating tensor;
 * - an unprefixed mask (`attention_mask|mask|padding_mask`) or tokens tensor (`tokens|input_ids`)
 *   joins every site whose token shape fits;
 * - `layerAxis` splits one tensor into sites `NAME[0]`, `NAME[1]`, ...
 * Sites come in natural order of their names. Names are unique (a later duplicate gets `#2`, ...).
 */
export function groupSites(tensors: readonly TensorInfo[], options: GroupSitesOptions = {}): Site[] {
  const byName = new Map<string, TensorInfo>();
  for (const t of tensors) if (!byName.has(t.name)) byName.set(t.name, t);
  const groups = new Map<string, { tensors: MutableTensors; inputRank: number; members: string[] }>();
  const claimed = new Set<string>();
  const floating = (t: TensorInfo): boolean => isFloatingDType(t.dtype);

  // 1. P<sep>ROLE groups.
  for (const t of byName.values()) {
    const parsed = parseSiteName(t.name);
    if (!parsed) continue;
    let group = groups.get(parsed.prefix);
    if (!group) groups.set(parsed.prefix, (group = { tensors: {}, inputRank: Infinity, members: [] }));
    group.members.push(t.name);
    if (parsed.role === 'input') {
      if (!floating(t) || t.shape.length === 0) continue;
      const rank = INPUT_SUFFIXES.indexOf(parsed.suffix);
      if (rank < group.inputRank) {
        group.inputRank = rank;
        group.tensors.input = t.name;
      }
    } else if (group.tensors[parsed.role] === undefined) {
      group.tensors[parsed.role] = t.name;
    }
  }
  const sites: { name: string; tensors: MutableTensors; shape: readonly number[]; slice?: SiteSlice }[] = [];
  for (const [prefix, group] of groups) {
    if (group.tensors.input === undefined) continue;
    for (const m of group.members) claimed.add(m);
    sites.push({ name: prefix, tensors: group.tensors, shape: byName.get(group.tensors.input)!.shape });
  }

  // 2. Shared mask / tokens (whole names only).
  // Whole-name lookups (case-insensitive), built once: O(tensors).
  const byLowerName = new Map<string, TensorInfo>();
  for (const t of byName.values()) {
    const lower = t.name.toLowerCase();
    if (!byLowerName.has(lower)) byLowerName.set(lower, t);
  }
  const wholeName = (n: string): TensorInfo | undefined => {
    const t = byLowerName.get(n);
    return t && !claimed.has(t.name) ? t : undefined;
  };
  const shared = (names: readonly string[]): TensorInfo | undefined => {
    for (const n of names) {
      const t = wholeName(n);
      if (t) return t;
    }
    return undefined;
  };
  const sharedMask = shared(SHARED_MASKS);
  if (sharedMask) claimed.add(sharedMask.name);
  const sharedTokens = shared(SHARED_TOKENS);
  if (sharedTokens) claimed.add(sharedTokens.name);

  // 3. A classic one-site dump: a whole-name input with whole-name companions.
  const unclaimed = (): TensorInfo[] => [...byName.values()].filter((t) => !claimed.has(t.name));
  const companions = Object.keys(BARE_COMPANIONS)
    .map(wholeName)
    .filter((t): t is TensorInfo => t !== undefined);
  let rootInput: TensorInfo | undefined;
  for (const n of BARE_INPUTS) {
    const t = wholeName(n);
    if (t && floating(t) && t.shape.length > 0) {
      rootInput = t;
      break;
    }
  }
  if (!rootInput && companions.length > 0) {
    const candidates = unclaimed().filter((t) => !companions.includes(t) && floating(t) && t.shape.length >= 2);
    if (candidates.length === 1) rootInput = candidates[0];
  }
  if (rootInput) {
    const root: MutableTensors = { input: rootInput.name };
    claimed.add(rootInput.name);
    for (const c of companions) {
      const role = BARE_COMPANIONS[c.name.toLowerCase()]!;
      if (root[role] === undefined) {
        root[role] = c.name;
        claimed.add(c.name);
      }
    }
    sites.push({ name: rootInput.name, tensors: root, shape: rootInput.shape });
  }

  // 4. Every other floating tensor of two or more dimensions (parameters by name excepted).
  for (const t of unclaimed()) {
    if (floating(t) && t.shape.length >= 2 && !PARAMETER_ROLES.has(parseSiteName(t.name)?.role ?? 'input')) {
      claimed.add(t.name);
      sites.push({ name: t.name, tensors: { input: t.name }, shape: t.shape });
    }
  }
  // 5. Nothing found: a single tensor (any rank) or the largest floating tensor is the site.
  if (sites.length === 0) {
    let fallback: TensorInfo | undefined = byName.size === 1 ? [...byName.values()][0] : undefined;
    if (!fallback) {
      for (const t of byName.values()) {
        if (floating(t) && t.shape.length > 0 && (!fallback || t.size > fallback.size)) fallback = t;
      }
    }
    if (fallback) sites.push({ name: fallback.name, tensors: { input: fallback.name }, shape: fallback.shape });
  }

  // 6. --layer-axis: split one tensor.
  let result = sites;
  if (options.layerAxis !== undefined) {
    result = splitAlongLayerAxis(sites, byName, options.layerAxis, options.layerTensor);
  }

  // 7. Shared mask and tokens join sites whose token shape fits.
  for (const s of result) {
    if (sharedMask && s.tensors.mask === undefined && tokenShapeFits(sharedMask.shape, s.shape)) s.tensors.mask = sharedMask.name;
    if (sharedTokens && s.tensors.tokens === undefined && tokenShapeFits(sharedTokens.shape, s.shape)) s.tensors.tokens = sharedTokens.name;
  }

  const norms = captureMetadata(options.metadata);
  const named = uniqueNames(result.map((s) => s.name));
  return sortSites(
    result.map((s, i): Site => {
      const norm = norms.get(s.name);
      return { name: named[i]!, tensors: s.tensors as SiteTensors, shape: s.shape, ...(s.slice ? { slice: s.slice } : {}), ...(norm ? { norm } : {}) };
    }),
  );
}

/** {@link groupSites} of an opened dump, with its metadata (the capture helper's per-site norms). */
export function sitesOfDump(dump: Dump, options: Omit<GroupSitesOptions, 'metadata'> = {}): Site[] {
  return groupSites(
    dump.tensors.map((h) => h.info),
    { ...options, metadata: dump.metadata },
  );
}

function splitAlongLayerAxis(
  sites: { name: string; tensors: MutableTensors; shape: readonly number[] }[],
  byName: ReadonlyMap<string, TensorInfo>,
  axis: number,
  layerTensor: string | undefined,
): { name: string; tensors: MutableTensors; shape: readonly number[]; slice?: SiteSlice }[] {
  let target: TensorInfo | undefined;
  if (layerTensor !== undefined) {
    target = byName.get(layerTensor);
    if (!target) {
      throw new NormLensError('usage', `--layer-axis: no tensor '${layerTensor}' in the dump. Available tensors: ${[...byName.keys()].slice(0, 20).map((n) => `'${n}'`).join(', ')}.`);
    }
  } else if (sites.length === 1) {
    target = byName.get(sites[0]!.tensors.input!);
  } else {
    const some = sites.map((s) => `'${s.name}'`);
    const list = some.length > 5 ? `${some.slice(0, 5).join(', ')}, ...` : some.join(', ');
    throw new NormLensError('usage', `--layer-axis splits one tensor, but the dump has ${sites.length} sites (${list}). Name the tensor to split with --tensor NAME.`);
  }
  const shape = target!.shape;
  const rank = shape.length;
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank || rank < 2) {
    throw new NormLensError('usage', `--layer-axis ${axis} is out of range for '${target!.name}' of shape (${shape.join(', ')}): use 0..${rank - 1} on a tensor of two or more dimensions.`);
  }
  const a = axis < 0 ? axis + rank : axis;
  const sliceShape = shape.filter((_, i) => i !== a);
  const kept = sites.filter((s) => s.tensors.input !== target!.name);
  const slices = Array.from({ length: shape[a]! }, (_, index) => ({
    name: `${target!.name}[${index}]`,
    tensors: { input: target!.name } as MutableTensors,
    shape: sliceShape,
    slice: { tensor: target!.name, axis: a, index },
  }));
  return [...kept, ...slices];
}

/** Makes names unique: a later duplicate `n` becomes `n#2`, `n#3`, ... */
function uniqueNames(names: readonly string[]): string[] {
  const seen = new Set(names);
  const used = new Set<string>();
  return names.map((n) => {
    if (!used.has(n)) {
      used.add(n);
      return n;
    }
    let k = 2;
    while (used.has(`${n}#${k}`) || seen.has(`${n}#${k}`)) k++;
    used.add(`${n}#${k}`);
    return `${n}#${k}`;
  });
}

/** Sorts in natural order, splitting each name once (10,000 sites sort in milliseconds). */
function sortSites(sites: Site[]): Site[] {
  const keyed = sites.map((site) => ({ site, chunks: naturalChunks(site.name) }));
  keyed.sort((x, y) => compareChunks(x.chunks, y.chunks) || (x.site.name < y.site.name ? -1 : x.site.name > y.site.name ? 1 : 0));
  return keyed.map((k) => k.site);
}

/** One file of a folder, as listed by the caller (only headers: no data is read). */
export interface FolderEntry {
  /** File name inside the folder (`layer_2.npy`). */
  readonly fileName: string;
  readonly tensors: readonly TensorInfo[];
  readonly metadata?: Readonly<Record<string, string>>;
}

/** File extensions of dumps NormLens reads in a folder. */
export const DUMP_EXTENSIONS: readonly string[] = ['.npy', '.npz', '.safetensors', '.json'];

/** True for file names a folder sweep reads. */
export function isDumpFileName(fileName: string): boolean {
  const lower = fileName.toLowerCase();
  return DUMP_EXTENSIONS.some((e) => lower.endsWith(e) && lower.length > e.length);
}

/** `layer_2.npy` -> `layer_2`. */
export function fileStem(fileName: string): string {
  const dot = fileName.lastIndexOf('.');
  return dot > 0 ? fileName.slice(0, dot) : fileName;
}

/**
 * Sites of a folder: each file's sites (see {@link groupSites}); a file with one site is named by
 * its stem, a file with several gives `stem/site`. Two files with the same stem (`a.npy`, `a.npz`)
 * are named by their full file names. Natural order over the whole folder.
 */
export function groupFolderSites(files: readonly FolderEntry[], options: Omit<GroupSitesOptions, 'metadata'> = {}): Site[] {
  const stems = new Map<string, number>();
  for (const f of files) stems.set(fileStem(f.fileName), (stems.get(fileStem(f.fileName)) ?? 0) + 1);
  const all: Site[] = [];
  for (const f of files) {
    const stem = stems.get(fileStem(f.fileName))! > 1 ? f.fileName : fileStem(f.fileName);
    const sites = groupSites(f.tensors, { ...options, metadata: f.metadata });
    for (const s of sites) all.push({ ...s, name: sites.length === 1 ? stem : `${stem}/${s.name}`, file: f.fileName });
  }
  const named = uniqueNames(all.map((s) => s.name));
  return sortSites(all.map((s, i) => ({ ...s, name: named[i]! })));
}

/** The tensor-picking part of AnalysisOptions (src/core/analysis/plan.ts) for one site. */
export interface SiteAnalysisOptions {
  readonly tensor: string;
  readonly mask?: string;
  readonly output?: string;
  readonly weight?: string;
  readonly bias?: string;
  readonly runningMean?: string;
  readonly runningVar?: string;
  /** eps the capture helper recorded for the module, when known. */
  readonly eps?: number;
  /** Roles of every tensor of the analyzed dump: only the site's own tensors have one. */
  readonly roles: ReadonlyMap<string, TensorRole>;
}

/**
 * The dump and options to analyze one site with the analysis as it is today: the site's own
 * tensors by name, and a roles map in which every other tensor is `other` (so that another site's
 * `*.output` is never taken by name). For a `--layer-axis` slice the dump is a wrapper exposing
 * the sliced handle under the site's name (plus the site's mask), reading only that slice.
 */
export function siteAnalysis(dump: Dump, site: Site): { dump: Dump; options: SiteAnalysisOptions } {
  const t = site.tensors;
  let target = dump;
  let input = t.input;
  if (site.slice) {
    const source = dump.tensors.find((h) => h.info.name === site.slice!.tensor);
    if (!source) throw new NormLensError('usage', `site '${site.name}': tensor '${site.slice.tensor}' is not in the dump.`);
    const handles: TensorHandle[] = [sliceTensor(source, site.slice.axis, site.slice.index, { name: site.name })];
    const extra = [t.mask, t.tokens].filter((n): n is string => n !== undefined && n !== site.name);
    for (const h of dump.tensors) if (extra.includes(h.info.name)) handles.push(h);
    target = { ...dump, tensors: handles };
    input = site.name;
  }
  const roles = new Map<string, TensorRole>(target.tensors.map((h) => [h.info.name, 'other']));
  const assign: [string | undefined, TensorRole][] = [
    [input, 'input'],
    [t.mask, 'mask'],
    [t.output, 'output'],
    [t.weight, 'weight'],
    [t.bias, 'bias'],
    [t.runningMean, 'running_mean'],
    [t.runningVar, 'running_var'],
  ];
  for (const [name, role] of assign) if (name !== undefined && roles.has(name)) roles.set(name, role);
  const has = (n: string | undefined): string | undefined => (n !== undefined && roles.has(n) ? n : undefined);
  const options: SiteAnalysisOptions = {
    tensor: input,
    roles,
    ...(has(t.mask) ? { mask: t.mask } : {}),
    ...(has(t.output) ? { output: t.output } : {}),
    ...(has(t.weight) ? { weight: t.weight } : {}),
    ...(has(t.bias) ? { bias: t.bias } : {}),
    ...(has(t.runningMean) ? { runningMean: t.runningMean } : {}),
    ...(has(t.runningVar) ? { runningVar: t.runningVar } : {}),
    ...(site.norm?.eps !== undefined ? { eps: site.norm.eps } : {}),
  };
  return { dump: target, options };
}

/** Finds a site by name (`analyze --site NAME`); throws NormLensError('usage') listing some names otherwise. */
export function findSite(sites: readonly Site[], name: string): Site {
  const site = sites.find((s) => s.name === name);
  if (site) return site;
  if (sites.length === 0) throw new NormLensError('usage', `--site ${name}: the dump has no sites (no floating-point tensor to analyze).`);
  const list = sites.slice(0, 10).map((s) => `'${s.name}'`).join(', ') + (sites.length > 10 ? ', ...' : '');
  throw new NormLensError('usage', `--site ${name}: no such site. The dump has ${sites.length} site${sites.length === 1 ? '' : 's'}: ${list}.`);
}

import { featureBlockView } from './featureBlockView';
import { NormLensError } from '../errors';
import { isFloatingDType } from '../formats/dtypes';
import { describeMissingInput, guessRoles, tensorWithRole } from '../dump/roles';
import type { DType, Dump, TensorHandle, TensorRole } from '../formats/types';
import type { AnalysisWarning, TensorReference } from '../report/analysisReport';
import { inferFeatureAxis, type FeatureAxisRule } from './featureAxis';
import { resolveThresholds, type AnalysisThresholds, type ThresholdOverrides } from './thresholds';

/** What the caller may choose; everything is optional and defaults follow DESIGN.md. */
export interface AnalysisOptions {
  /** Input tensor name (`--tensor`); default: by role, else the largest floating tensor. */
  readonly tensor?: string;
  /** Mask tensor name (`--mask`): 1 = real token, 0 = padding. */
  readonly mask?: string;
  /** Recorded normalization output (`--output`), replayed against every norm of norms.ts. */
  readonly output?: string;
  /** Affine weight (`--weight`), one value per feature. */
  readonly weight?: string;
  /** Affine bias (`--bias`), one value per feature. */
  readonly bias?: string;
  /** Treat every token as real even when the dump has a mask (the inspector's "use mask" switch). */
  readonly ignoreMask?: boolean;
  /** BatchNorm running mean to check against the batch statistics. */
  readonly runningMean?: string;
  /** BatchNorm running variance to check against the batch statistics. */
  readonly runningVar?: string;
  /** eps inside the square root of every norm (`--eps`); default: the dump's eps, else 1e-5. */
  readonly eps?: number;
  /** Feature axis (`--feature-axis`), negative counts from the end; default: inferred (featureAxis.ts). */
  readonly featureAxis?: number;
  /**
   * GroupNorm's number of groups G (`--groups`), a divisor of the channels C of an (N, C, ...) input;
   * default: fitted to a recorded output, else 32 when C is a multiple of 32.
   */
  readonly groups?: number;
  /** Histogram bins (`--bins`), 2..1024; default 64. */
  readonly bins?: number;
  /** Overrides of DEFAULT_THRESHOLDS. */
  readonly thresholds?: ThresholdOverrides;
  /** Bytes of decoded values per chunk (memory bound of a pass); default 8 MiB. */
  readonly chunkBytes?: number;
  /** Longest series in `series` fields before downsampling; default 2048. */
  readonly maxSeriesPoints?: number;
  /**
   * False leaves out BatchNorm on sub-batches (`batchDependence.subBatches` empty): a preview,
   * whose subset holds a few tokens per batch element, gives them to the exact run. Default true.
   */
  readonly subBatches?: boolean;
  /**
   * Most tokens whose per-token arrays are kept and reported in full (`--max-token-series`); above
   * it they are reduced on the fly (see tokenBlocks.ts); default DEFAULT_MAX_TOKEN_SERIES.
   */
  readonly maxTokenSeries?: number;
  /**
   * Most features whose per-feature arrays are kept and reported in full (`--max-feature-series`);
   * above it the input is analyzed by feature blocks (featureBlocks.ts); default DEFAULT_MAX_FEATURE_SERIES.
   */
  readonly maxFeatureSeries?: number;
  /** Memory budget of one analysis in MiB (`--max-memory-mb`); default DEFAULT_MAX_MEMORY_MB. */
  readonly maxMemoryMB?: number;
  /** Most per-(batch element) accumulators; larger batches are grouped; default 1024. */
  readonly maxBatchEntries?: number;
  /** Roles by tensor name (default: `guessRoles` of the dump model with the names above as overrides). */
  readonly roles?: ReadonlyMap<string, TensorRole>;
}

/** Default eps of PyTorch's LayerNorm and BatchNorm. */
export const DEFAULT_EPS = 1e-5;
/** Default number of histogram bins. */
export const DEFAULT_BINS = 64;
/** Fewest histogram bins accepted (`--bins`, the `normlens.bins` setting, the inspector's control). */
export const MIN_BINS = 2;
/** Most histogram bins accepted (`--bins`, the `normlens.bins` setting, the inspector's control). */
export const MAX_BINS = 1024;
/** Default chunk size of a pass, in bytes of decoded values. */
export const DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024;
/** Default length above which per-token / per-feature series are downsampled for charts. */
export const DEFAULT_MAX_SERIES_POINTS = 2048;
/** Default most tokens with per-token arrays in full (above: reduced series, see tokenBlocks.ts). */
export const DEFAULT_MAX_TOKEN_SERIES = 1 << 20;
/** Default most features with per-feature arrays in full (above: feature blocks, see featureBlocks.ts). */
export const DEFAULT_MAX_FEATURE_SERIES = 1 << 20;
/** Tokens per block of the reduced per-token path (bounds its per-token scratch). */
export const REDUCED_TOKEN_BLOCK = 1 << 16;
/** Default memory budget of one analysis, MiB (the estimate of memoryBudget.ts must fit). */
export const DEFAULT_MAX_MEMORY_MB = 1024;
/**
 * Most per-(batch unit, feature) cells of the accumulators (units × features): 2^20 cells, so one
 * pass-1 partial's cell arrays (≤ 8 Float64 per cell) stay ≤ 64 MiB; larger batches are grouped.
 */
export const MAX_UNIT_FEATURE_CELLS = 1 << 20;
/** Probabilities of the per-batch-element quantiles. */
export const QUANTILE_PROBABILITIES: readonly number[] = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99];

/**
 * Everything a pass needs, as structured-clone-able data (sent to worker threads as is).
 * Tokens are the positions of the non-feature axes in C order; the input is viewed as
 * (outer, features, inner) with token = o·inner + i.
 */
export interface AnalysisPlan {
  readonly inputName: string;
  readonly inputDtype: DType;
  readonly shape: readonly number[];
  readonly featureAxis: number;
  /** Which rule chose the feature axis (featureAxis.ts). */
  readonly featureAxisRule: FeatureAxisRule;
  readonly outer: number;
  readonly features: number;
  readonly inner: number;
  readonly tokens: number;
  readonly batchAxis: number | null;
  readonly batchSize: number;
  readonly tokensPerBatchElement: number;
  /** Batch elements per accumulator unit (1 unless the batch exceeds maxBatchEntries). */
  readonly batchElementsPerUnit: number;
  readonly tokensPerUnit: number;
  readonly units: number;
  readonly eps: number;
  readonly bins: number;
  /** GroupNorm's G from `--groups` (validated against C), null to fit or default it. */
  readonly groups: number | null;
  /** Elements decoded per read. */
  readonly chunkElements: number;
  readonly chunkBytes: number;
  readonly maxSeriesPoints: number;
  /** BatchNorm on sub-batches is computed (AnalysisOptions.subBatches). */
  readonly subBatches: boolean;
  /** Tokens above which per-token arrays are reduced on the fly (token blocks, see tokenBlocks.ts). */
  readonly maxTokenSeries: number;
  /** Features above which the input is analyzed by feature blocks (featureBlocks.ts). */
  readonly maxFeatureSeries: number;
  /**
   * Set on the plan of one feature block (featureBlockPlan): the plan describes the virtual tensor
   * of features [f0, f1) of an input with `features` features; resolvePlanTensors reads through it.
   */
  readonly featureBlock?: { readonly f0: number; readonly f1: number; readonly features: number };
  /** Memory budget in MiB checked against estimateAnalysisMemory before any pass runs. */
  readonly maxMemoryMB: number;
  readonly thresholds: AnalysisThresholds;
  /** The recorded output, when present and shaped like the input. */
  readonly outputName: string | null;
  readonly outputDtype: DType | null;
  /** 1 = valid token, 0 = padding; null when there is no usable mask. */
  readonly mask: Uint8Array | null;
  readonly validTokens: number;
  readonly weight: Float64Array | null;
  readonly bias: Float64Array | null;
  readonly runningMean: Float64Array | null;
  readonly runningVar: Float64Array | null;
  /** False when the input (or output) must be read front to back (compressed npz member). */
  readonly randomAccess: boolean;
  readonly tensors: {
    readonly mask: TensorReference | null;
    readonly output: TensorReference | null;
    readonly weight: TensorReference | null;
    readonly bias: TensorReference | null;
    readonly runningMean: TensorReference | null;
    readonly runningVar: TensorReference | null;
  };
  /** Warnings found while planning (`shape-mismatch`). */
  readonly planWarnings: readonly AnalysisWarning[];
}

function findTensor(dump: Dump, name: string, flag: string): TensorHandle {
  const t = dump.tensors.find((h) => h.info.name === name);
  if (!t) {
    const names = dump.tensors.map((h) => `'${h.info.name}'`).join(', ') || 'none';
    throw new NormLensError('usage', `${flag} ${name}: no tensor of that name in the dump. Available tensors: ${names}.`);
  }
  return t;
}

function reference(h: TensorHandle, used: boolean): TensorReference {
  return { name: h.info.name, dtype: h.info.dtype, shape: [...h.info.shape], used };
}

async function readAll(h: TensorHandle): Promise<Float64Array> {
  const values = await h.read(0, h.info.size);
  return values instanceof Float64Array ? values : Float64Array.from(values);
}

function shapeText(shape: readonly number[]): string {
  return `(${shape.join(', ')}${shape.length === 1 ? ',' : ''})`;
}

function shapeMismatch(message: string, details: AnalysisWarning['details']): AnalysisWarning {
  return { code: 'shape-mismatch', severity: 'error', message, details };
}

/**
 * Picks the tensors, checks their shapes against the input, reads the small ones (mask, weight,
 * bias, running stats) and fixes the layout. Throws NormLensError('usage') for an unusable input.
 */
export async function planAnalysis(dump: Dump, options: AnalysisOptions = {}): Promise<AnalysisPlan> {
  const roles =
    options.roles ??
    guessRoles(
      dump.tensors.map((h) => h.info),
      { tensor: options.tensor, mask: options.mask, output: options.output, weight: options.weight, bias: options.bias, runningMean: options.runningMean, runningVar: options.runningVar },
    );
  const byRole = (role: Exclude<TensorRole, 'other'>): TensorHandle | null => {
    const name = tensorWithRole(roles, role);
    return name === undefined ? null : (dump.tensors.find((h) => h.info.name === name) ?? null);
  };
  const used = new Set<TensorHandle>();
  const input = options.tensor !== undefined ? findTensor(dump, options.tensor, '--tensor') : byRole('input');
  if (!input) {
    const missing = describeMissingInput(dump.tensors.map((h) => h.info));
    throw new NormLensError('usage', missing.message, missing.hints);
  }
  used.add(input);
  const shape = [...input.info.shape];
  if (shape.length === 0 || input.info.size === 0) {
    throw new NormLensError('usage', `tensor '${input.info.name}' has shape ${shapeText(shape)}: nothing to normalize. Pick an activation tensor with --tensor NAME.`);
  }
  const rank = shape.length;
  // No --feature-axis: parameters' lengths, else a bounded replay against the output, else the last axis.
  const lookup = (name: string | undefined, role: Exclude<TensorRole, 'other'>): TensorHandle | null =>
    name !== undefined ? (dump.tensors.find((h) => h.info.name === name) ?? null) : byRole(role);
  const axisChoice =
    options.featureAxis !== undefined
      ? { axis: options.featureAxis, rule: 'given' as const }
      : await inferFeatureAxis(input, {
          parameters: [lookup(options.weight, 'weight'), lookup(options.bias, 'bias'), lookup(options.runningMean, 'running_mean'), lookup(options.runningVar, 'running_var')],
          output: lookup(options.output, 'output'),
        });
  const requestedAxis = axisChoice.axis;
  if (!Number.isInteger(requestedAxis) || requestedAxis < -rank || requestedAxis >= rank) {
    throw new NormLensError('usage', `--feature-axis ${requestedAxis} is out of range for '${input.info.name}' of shape ${shapeText(shape)}: use 0..${rank - 1} (or -1 for the last axis).`);
  }
  const featureAxis = requestedAxis < 0 ? requestedAxis + rank : requestedAxis;
  const outer = shape.slice(0, featureAxis).reduce((a, b) => a * b, 1);
  const features = shape[featureAxis]!;
  const inner = shape.slice(featureAxis + 1).reduce((a, b) => a * b, 1);
  const tokens = outer * inner;
  const batchAxis = rank === 1 ? null : featureAxis === 0 ? 1 : 0;
  const batchSize = batchAxis === null ? 1 : shape[batchAxis]!;
  const tokensPerBatchElement = tokens / batchSize;
  const maxEntries = Math.max(1, Math.min(options.maxBatchEntries ?? 1024, Math.floor(MAX_UNIT_FEATURE_CELLS / features)));
  const batchElementsPerUnit = Math.ceil(batchSize / maxEntries);
  const units = Math.ceil(batchSize / batchElementsPerUnit);
  const eps = options.eps ?? dump.eps ?? DEFAULT_EPS;
  if (!(eps >= 0) || !Number.isFinite(eps)) throw new NormLensError('usage', `--eps ${eps}: eps must be a finite number ≥ 0 (PyTorch's default is 1e-5).`);
  const bins = options.bins ?? DEFAULT_BINS;
  if (!Number.isInteger(bins) || bins < 2 || bins > 1024) throw new NormLensError('usage', `--bins ${bins}: use an integer from 2 to 1024.`);
  const groups = options.groups ?? null;
  if (groups !== null) {
    if (!Number.isInteger(groups) || groups < 1) throw new NormLensError('usage', `--groups ${groups}: GroupNorm's G must be a positive integer that divides the channels (C = ${shape[1] ?? features}).`);
    if (rank >= 3 && featureAxis === 1 && features % groups !== 0) {
      const divisors = Array.from({ length: features }, (_, i) => i + 1).filter((d) => features % d === 0);
      throw new NormLensError('usage', `--groups ${groups} does not divide the ${features} channels on axis 1 of '${input.info.name}' ${shapeText(shape)}: use one of ${divisors.join(', ')}.`);
    }
  }
  const chunkBytes = Math.max(64 * 1024, options.chunkBytes ?? DEFAULT_CHUNK_BYTES);
  const maxTokenSeries = options.maxTokenSeries ?? DEFAULT_MAX_TOKEN_SERIES;
  if (!Number.isInteger(maxTokenSeries) || maxTokenSeries < 1) {
    throw new NormLensError('usage', `max token series ${maxTokenSeries}: use a positive integer (default ${DEFAULT_MAX_TOKEN_SERIES}).`, [{ kind: 'limit', setting: 'normlens.limits.maxTokenSeries', flag: '--max-token-series', value: DEFAULT_MAX_TOKEN_SERIES }]);
  }
  const maxFeatureSeries = options.maxFeatureSeries ?? DEFAULT_MAX_FEATURE_SERIES;
  if (!Number.isInteger(maxFeatureSeries) || maxFeatureSeries < 1) {
    throw new NormLensError('usage', `max feature series ${maxFeatureSeries}: use a positive integer (default ${DEFAULT_MAX_FEATURE_SERIES}).`, [{ kind: 'limit', setting: 'normlens.limits.maxFeatureSeries', flag: '--max-feature-series', value: DEFAULT_MAX_FEATURE_SERIES }]);
  }
  const maxMemoryMB = options.maxMemoryMB ?? DEFAULT_MAX_MEMORY_MB;
  if (!(maxMemoryMB > 0) || !Number.isFinite(maxMemoryMB)) {
    throw new NormLensError('usage', `memory budget ${maxMemoryMB} MiB: use a positive number (default ${DEFAULT_MAX_MEMORY_MB}).`, [{ kind: 'limit', setting: 'normlens.limits.maxMemoryMB', flag: '--max-memory-mb', value: DEFAULT_MAX_MEMORY_MB }]);
  }
  const decodedItemSize = input.info.dtype === 'float64' || !isFloatingDType(input.info.dtype) ? 8 : 4;
  const chunkElements = Math.max(features, Math.floor(chunkBytes / decodedItemSize));

  const warnings: AnalysisWarning[] = [];
  const axisOf = (size: number): number => shape.findIndex((s, i) => s === size && i !== featureAxis);
  const axisHint = (size: number): string => {
    const axis = axisOf(size);
    return axis >= 0 ? ` Its size matches axis ${axis} of the input: if that axis holds the features, pick feature axis ${axis}.` : '';
  };
  const pick = (name: string | undefined, role: Exclude<TensorRole, 'other'>, flag: string): TensorHandle | null => {
    const h = name !== undefined ? findTensor(dump, name, flag) : byRole(role);
    if (!h || used.has(h)) return null;
    used.add(h);
    return h;
  };

  // Per-feature vectors: weight, bias, running stats.
  const perFeature = async (h: TensorHandle | null, what: string): Promise<{ values: Float64Array | null; ref: TensorReference | null }> => {
    if (!h) return { values: null, ref: null };
    if (h.info.size !== features) {
      warnings.push(
        shapeMismatch(
          `${what} '${h.info.name}' has shape ${shapeText(h.info.shape)} but the input has ${features} features on axis ${featureAxis}; it was ignored.${axisHint(h.info.size)}`,
          { tensor: h.info.name, shape: [...h.info.shape], expected: [features], featureAxis, ...(axisOf(h.info.size) >= 0 ? { hints: [{ kind: 'featureAxis', value: axisOf(h.info.size) }] } : {}) },
        ),
      );
      return { values: null, ref: reference(h, false) };
    }
    return { values: await readAll(h), ref: reference(h, true) };
  };
  const weight = await perFeature(pick(options.weight, 'weight', '--weight'), 'weight');
  const bias = await perFeature(pick(options.bias, 'bias', '--bias'), 'bias');
  const runningMean = await perFeature(pick(options.runningMean, 'running_mean', '--running-mean'), 'running_mean');
  const runningVar = await perFeature(pick(options.runningVar, 'running_var', '--running-var'), 'running_var');

  // Mask: tokens-shaped (any shape with one entry per token).
  const maskHandle = options.ignoreMask ? null : pick(options.mask, 'mask', '--mask');
  let mask: Uint8Array | null = null;
  let maskRef: TensorReference | null = null;
  let validTokens = tokens;
  if (maskHandle) {
    if (maskHandle.info.size !== tokens) {
      const nonFeature = shape.filter((_, i) => i !== featureAxis);
      warnings.push(
        shapeMismatch(
          `mask '${maskHandle.info.name}' has shape ${shapeText(maskHandle.info.shape)} but the input has ${tokens} tokens ${shapeText(nonFeature)}; it was ignored and every token counts as real. Save the mask with one entry per token (e.g. (B, T)), or check --feature-axis.`,
          { tensor: maskHandle.info.name, shape: [...maskHandle.info.shape], expected: nonFeature },
        ),
      );
      maskRef = reference(maskHandle, false);
    } else {
      const raw = await maskHandle.read(0, tokens);
      mask = new Uint8Array(tokens);
      validTokens = 0;
      for (let t = 0; t < tokens; t++) {
        const v = raw[t]!;
        const real = v !== 0 && v === v ? 1 : 0;
        mask[t] = real;
        validTokens += real;
      }
      if (validTokens === 0) {
        throw new NormLensError('usage', `mask '${maskHandle.info.name}' marks every token as padding (no 1s): nothing to analyze. Check the mask (1 = real token, 0 = padding) or name another with --mask.`);
      }
      maskRef = reference(maskHandle, true);
      if (validTokens === tokens) mask = null;
    }
  }

  // Recorded output: same shape as the input (or same size with the features last in both).
  const outputHandle = pick(options.output, 'output', '--output');
  let outputRef: TensorReference | null = null;
  let outputUsable = false;
  if (outputHandle) {
    const os = outputHandle.info.shape;
    const sameShape = os.length === shape.length && os.every((s, i) => s === shape[i]);
    const sameRows = outputHandle.info.size === input.info.size && featureAxis === rank - 1 && os[os.length - 1] === features;
    outputUsable = sameShape || sameRows;
    if (!outputUsable) {
      warnings.push(
        shapeMismatch(
          `output '${outputHandle.info.name}' has shape ${shapeText(os)} but the input '${input.info.name}' has ${shapeText(shape)}; the norm replay was skipped. Record the norm's output for the same tensor (not transposed), or name the right one with --output.`,
          { tensor: outputHandle.info.name, shape: [...os], expected: shape },
        ),
      );
    }
    outputRef = reference(outputHandle, outputUsable);
  }

  return {
    inputName: input.info.name,
    inputDtype: input.info.dtype,
    shape,
    featureAxis,
    featureAxisRule: axisChoice.rule,
    outer,
    features,
    inner,
    tokens,
    batchAxis,
    batchSize,
    tokensPerBatchElement,
    batchElementsPerUnit,
    tokensPerUnit: tokensPerBatchElement * batchElementsPerUnit,
    units,
    eps,
    bins,
    groups,
    chunkElements,
    chunkBytes,
    maxSeriesPoints: Math.max(16, options.maxSeriesPoints ?? DEFAULT_MAX_SERIES_POINTS),
    subBatches: options.subBatches ?? true,
    maxTokenSeries,
    maxFeatureSeries,
    maxMemoryMB,
    thresholds: resolveThresholds(options.thresholds),
    outputName: outputUsable && outputHandle ? outputHandle.info.name : null,
    outputDtype: outputUsable && outputHandle ? outputHandle.info.dtype : null,
    mask,
    validTokens,
    weight: weight.values,
    bias: bias.values,
    runningMean: runningMean.values,
    runningVar: runningVar.values,
    randomAccess: input.randomAccess && (!outputUsable || !outputHandle || outputHandle.randomAccess),
    tensors: { mask: maskRef, output: outputRef, weight: weight.ref, bias: bias.ref, runningMean: runningMean.ref, runningVar: runningVar.ref },
    planWarnings: warnings,
  };
}

/** The input (and, when replayed, output) tensor handles a pass reads, found by the plan's names. */
export interface AnalysisTensors {
  readonly input: TensorHandle;
  readonly output: TensorHandle | null;
}

/** Looks up the plan's tensors in `dump` (a worker opens its own dump and calls this). */
export function resolvePlanTensors(dump: Dump, plan: AnalysisPlan): AnalysisTensors {
  const input = findTensor(dump, plan.inputName, '--tensor');
  const output = plan.outputName !== null ? findTensor(dump, plan.outputName, '--output') : null;
  const b = plan.featureBlock;
  if (b === undefined) return { input, output };
  const view = (h: TensorHandle): TensorHandle => featureBlockView(h, plan.outer, b.features, plan.inner, b.f0, b.f1);
  return { input: view(input), output: output === null ? null : view(output) };
}

/**
 * The norm family as data: LayerNorm, RMSNorm, BatchNorm, GroupNorm and InstanceNorm differ only in
 * the axes their statistics reduce over, whether they centre, and where the affine applies
 * (Wu & He 2018, figure 2; DESIGN.md "The norm family"). Every consumer reads this table: the
 * passes (replay error slots, which kernel recomputes the output), the replay (candidates, bestMatch
 * order), the report builder and the text / Markdown summaries (names, descriptions), the heatmap
 * modes and the webview views (display names, colour keys, the axis-choice figure).
 *
 * Every output is y = x·scale + offset, where scale and offset vary per token (LayerNorm, RMSNorm),
 * per feature (BatchNorm) or per (sample, channel) (GroupNorm, InstanceNorm): `recompute` names that
 * shape, and with it the kernel that recomputes the norm.
 *
 * What a sixth norm touches today:
 *  - always: one entry here, its kind in `NormKind` (src/core/report/analysisReport.ts), its report
 *    section (buildReport.ts, analysisReport.ts) and its view (webview/inspector/views.ts, with a
 *    colour in webview/shared/theme.ts and webview/styles.css);
 *  - per (sample, channel) like GroupNorm/InstanceNorm: its statistics and scale/offset in
 *    sampleChannelNorms.ts (buildSampleChannelSetup). The channels-first pass-2 kernel, the replay
 *    (candidates, error slots and histograms, eps fit, recorded overlay), warnings and summaries are
 *    generic over these norms;
 *  - per token or per feature like LayerNorm/BatchNorm: its pass-1 moments if new ones are needed
 *    (pass1.ts, statistics.ts), its output in both pass-2 kernels (pass2FeatureLast.ts,
 *    pass2ChannelsFirst.ts; and kernels/assembly/kernels.ts to keep the WebAssembly fast path), its
 *    replay sums (pass2Partial.ts, replay.ts);
 *  - as a heatmap mode: `HeatmapValues` in src/core/heatmap/tokenHeatmap.ts (and the host's request).
 *
 * A variant of a norm the replay tries is not a sixth norm: eval-mode BatchNorm (running stats,
 * candidate `batchnorm-running`, BATCHNORM_RUNNING_SLOT) is a per-(sample, channel) scale/offset in
 * sampleChannelNorms.ts (same for every sample) with its own replay slot after the five; it is never
 * a bestMatch (BatchNorm is, with `batchNormStatistics: 'running'`), and the axis-choice figure, family
 * table and colours stay about the five norms. It touched: analysisReport.ts (candidate key, report
 * field), sampleChannelNorms.ts, pass2Partial.ts (slot count), replay.ts, warnings.ts, the summaries.
 * Replay slots, candidate order, bestMatch, warning texts, summary names, colours keys and the
 * Compare view's axis-choice figure and family table follow from the table.
 */
import type { NormKind, ReplayCandidateKind } from '../report/analysisReport';

/** The axes of an (N, C, positions...) activation a norm's statistics can span. */
export type NormAxis = 'batch' | 'channel' | 'position';

/** How the scale and offset of y = x·scale + offset vary: this picks the kernel that recomputes the output. */
export type NormRecompute = 'per-token' | 'per-feature' | 'per-sample-channel';

/** One normalization, described once. */
export interface NormDescription {
  readonly kind: NormKind;
  /** Display name ("LayerNorm"). */
  readonly name: string;
  /** Short label for legends ("LN"). */
  readonly short: string;
  /** Key of the report section and of the theme colour (`layerNorm` → `--nl-layerNorm` colour). */
  readonly key: 'layerNorm' | 'rmsNorm' | 'batchNorm' | 'groupNorm' | 'instanceNorm';
  /** Axes of an (N, C, positions) tensor one statistic is taken over (the shaded cells of the figure). */
  readonly reducesOver: readonly NormAxis[];
  /** True when only a group of C/G channels is reduced over (GroupNorm). */
  readonly channelGroups: boolean;
  /** Plain-words statistics axes ("per token over the features"). */
  readonly statistics: string;
  /** Subtracts the mean (RMSNorm does not). */
  readonly centred: boolean;
  /** Where the affine applies: per feature / channel in every case; RMSNorm has no bias. */
  readonly affine: 'weight and bias' | 'weight';
  /** eps is inside the square root for all five (PyTorch). */
  readonly eps: 'inside the square root';
  /** The formula of the output (for people). */
  readonly formula: string;
  readonly recompute: NormRecompute;
  /** The output of one sample depends on the other samples of the batch. */
  readonly batchDependent: boolean;
  /** Only for (N, C, ...) inputs with the channels on axis 1. */
  readonly channelsFirstOnly: boolean;
}

/** The five norms, in the order of replay slots, candidates and legends. */
export const NORMS: readonly NormDescription[] = [
  {
    kind: 'layernorm',
    name: 'LayerNorm',
    short: 'LN',
    key: 'layerNorm',
    reducesOver: ['channel'],
    channelGroups: false,
    statistics: 'per token over the features',
    centred: true,
    affine: 'weight and bias',
    eps: 'inside the square root',
    formula: 'y = (x − mean_t) / √(var_t + eps) · w + b',
    recompute: 'per-token',
    batchDependent: false,
    channelsFirstOnly: false,
  },
  {
    kind: 'rmsnorm',
    name: 'RMSNorm',
    short: 'RMS',
    key: 'rmsNorm',
    reducesOver: ['channel'],
    channelGroups: false,
    statistics: 'per token over the features, no centring',
    centred: false,
    affine: 'weight',
    eps: 'inside the square root',
    formula: 'y = x / √(mean_t(x²) + eps) · w',
    recompute: 'per-token',
    batchDependent: false,
    channelsFirstOnly: false,
  },
  {
    kind: 'batchnorm',
    name: 'BatchNorm',
    short: 'BN',
    key: 'batchNorm',
    reducesOver: ['batch', 'position'],
    channelGroups: false,
    statistics: 'per feature over every token of the batch',
    centred: true,
    affine: 'weight and bias',
    eps: 'inside the square root',
    formula: 'y = (x − mean_f) / √(var_f + eps) · w + b',
    recompute: 'per-feature',
    batchDependent: true,
    channelsFirstOnly: false,
  },
  {
    kind: 'groupnorm',
    name: 'GroupNorm',
    short: 'GN',
    key: 'groupNorm',
    reducesOver: ['channel', 'position'],
    channelGroups: true,
    statistics: 'per sample over a group of C/G channels and all positions',
    centred: true,
    affine: 'weight and bias',
    eps: 'inside the square root',
    formula: 'y = (x − mean_(n,g)) / √(var_(n,g) + eps) · w_c + b_c',
    recompute: 'per-sample-channel',
    batchDependent: false,
    channelsFirstOnly: true,
  },
  {
    kind: 'instancenorm',
    name: 'InstanceNorm',
    short: 'IN',
    key: 'instanceNorm',
    reducesOver: ['position'],
    channelGroups: false,
    statistics: 'per sample and channel over all positions (GroupNorm with G = C)',
    centred: true,
    affine: 'weight and bias',
    eps: 'inside the square root',
    formula: 'y = (x − mean_(n,c)) / √(var_(n,c) + eps) · w_c + b_c',
    recompute: 'per-sample-channel',
    batchDependent: false,
    channelsFirstOnly: true,
  },
];

/** Every norm kind, in table order. */
export const NORM_KINDS: readonly NormKind[] = NORMS.map((n) => n.kind);

/** The description of `kind`. */
export function normDescription(kind: NormKind): NormDescription {
  const d = NORMS.find((n) => n.kind === kind);
  if (!d) throw new Error(`unknown norm kind ${kind}`);
  return d;
}

/** Replay slot of the eval-mode BatchNorm candidate (`batchnorm-running`): after the five norms. */
export const BATCHNORM_RUNNING_SLOT = NORMS.length;
/** Replay error slots (and error histograms): the five norms, then eval-mode BatchNorm. */
export const REPLAY_CANDIDATE_SLOTS = NORMS.length + 1;

/** Display name of the eval-mode BatchNorm replay candidate. */
export const BATCHNORM_RUNNING_NAME = 'BatchNorm (eval, running stats)';

/** Display name of a replay candidate: the norm's name, or BATCHNORM_RUNNING_NAME. */
export function candidateName(kind: ReplayCandidateKind): string {
  return kind === 'batchnorm-running' ? BATCHNORM_RUNNING_NAME : normDescription(kind).name;
}

/** The best match as text: the norm kind, with " (running stats)" for eval-mode BatchNorm. */
export function bestMatchText(bestMatch: NormKind | 'none', batchNormStatistics: 'all-tokens' | 'running' | undefined): string {
  return bestMatch === 'batchnorm' && batchNormStatistics === 'running' ? 'batchnorm (running stats)' : bestMatch;
}

/** Position of `kind` in NORMS: its replay error slots are 2·index (max) and 2·index + 1 (sum of squares). */
export function normIndex(kind: NormKind): number {
  return NORM_KINDS.indexOf(kind);
}

/** The norms recomputed per (sample, channel): GroupNorm and InstanceNorm. */
export const SAMPLE_CHANNEL_NORMS: readonly NormDescription[] = NORMS.filter((n) => n.recompute === 'per-sample-channel');

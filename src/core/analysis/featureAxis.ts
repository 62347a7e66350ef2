import type { TensorHandle } from '../formats/types';

/** Which rule chose the feature axis (DESIGN.md "Feature axis when none is given"). */
export type FeatureAxisRule = 'given' | 'parameters' | 'replay' | 'last';

/** The feature axis of an input and the rule that chose it. */
export interface FeatureAxisChoice {
  /** Non-negative axis of the input. */
  readonly axis: number;
  readonly rule: FeatureAxisRule;
}

/** The companions of an input that can tell its feature axis. */
export interface FeatureAxisEvidence {
  /** weight / bias / running_mean / running_var, when the dump has them (any may be null). */
  readonly parameters: readonly (TensorHandle | null)[];
  /** The recorded output, when the dump has one. */
  readonly output: TensorHandle | null;
}

/** Most elements the replay rule reads from the input (and as many from the output). */
const REPLAY_MAX_ELEMENTS = 1 << 16;
/** Largest share of the recorded output's variance an axis may leave unexplained and still win by replay. */
const REPLAY_MAX_RESIDUAL = 1e-3;

async function readFloat64(h: TensorHandle, start: number, count: number): Promise<Float64Array> {
  const v = await h.read(start, count);
  return v instanceof Float64Array ? v : Float64Array.from(v);
}

/**
 * Least-squares residual of `y ≈ a·x + b` over groups of elements: every normalization is, on its
 * reduction group, an affine map of its input. Accumulates, over closed groups, the unexplained sum
 * of squares and the total sum of squares about each group's mean (co-moments by Welford updates).
 */
class AffineFit {
  residual = 0;
  total = 0;
  private n = 0;
  private mx = 0;
  private my = 0;
  private cxx = 0;
  private cxy = 0;
  private cyy = 0;

  add(x: number, y: number): void {
    if (!Number.isFinite(x) || !Number.isFinite(y)) return;
    this.n++;
    const dx = x - this.mx;
    const dy = y - this.my;
    this.mx += dx / this.n;
    this.my += dy / this.n;
    this.cxx += dx * (x - this.mx);
    this.cxy += dx * (y - this.my);
    this.cyy += dy * (y - this.my);
  }

  /** Closes one group. */
  close(): void {
    if (this.n >= 2) {
      const explained = this.cxx > 0 ? (this.cxy * this.cxy) / this.cxx : 0;
      this.residual += Math.max(0, this.cyy - explained);
      this.total += Math.max(0, this.cyy);
    }
    this.n = this.mx = this.my = this.cxx = this.cxy = this.cyy = 0;
  }

  /** Unexplained share of the output's variance (Infinity when there was nothing to explain). */
  get share(): number {
    return this.total > 0 ? this.residual / this.total : Infinity;
  }
}

/**
 * Replay residual of "the last axis holds the features": per feature one affine map (weight, bias)
 * shared by all tokens must explain the output from each token standardized over its features
 * (LayerNorm: centred; RMSNorm: not) or from the input itself (BatchNorm). The best norm counts.
 */
async function lastAxisResidual(input: TensorHandle, output: TensorHandle): Promise<number> {
  const shape = input.info.shape;
  const features = shape[shape.length - 1]!;
  const available = input.info.size / features;
  const tokens = Math.max(Math.min(2, available), Math.min(available, Math.floor(REPLAY_MAX_ELEMENTS / Math.max(1, features))));
  const count = tokens * features;
  const [x, y] = await Promise.all([readFloat64(input, 0, count), readFloat64(output, 0, count)]);
  const centred = new Float64Array(count);
  const scaled = new Float64Array(count);
  for (let t = 0; t < tokens; t++) {
    let mean = 0;
    for (let f = 0; f < features; f++) mean += x[t * features + f]!;
    mean /= features;
    let v = 0;
    let sq = 0;
    for (let f = 0; f < features; f++) {
      const d = x[t * features + f]! - mean;
      v += d * d;
      sq += x[t * features + f]! ** 2;
    }
    const std = Math.sqrt(v / features) || 1;
    const rms = Math.sqrt(sq / features) || 1;
    for (let f = 0; f < features; f++) {
      centred[t * features + f] = (x[t * features + f]! - mean) / std;
      scaled[t * features + f] = x[t * features + f]! / rms;
    }
  }
  const layerNorm = new AffineFit();
  const rmsNorm = new AffineFit();
  const batchNorm = new AffineFit();
  for (let f = 0; f < features; f++) {
    for (let t = 0; t < tokens; t++) {
      layerNorm.add(centred[t * features + f]!, y[t * features + f]!);
      rmsNorm.add(scaled[t * features + f]!, y[t * features + f]!);
      batchNorm.add(x[t * features + f]!, y[t * features + f]!);
    }
    layerNorm.close();
    rmsNorm.close();
    batchNorm.close();
  }
  return Math.min(layerNorm.share, rmsNorm.share, batchNorm.share);
}

/**
 * Replay residual of "axis 1 holds the channels" for (N, C, ...): per channel over a few samples'
 * positions (BatchNorm), or per sample and channel (GroupNorm / InstanceNorm), whichever explains more.
 */
async function channelAxisResidual(input: TensorHandle, output: TensorHandle): Promise<number> {
  const shape = input.info.shape;
  const samples = shape[0]!;
  const channels = shape[1]!;
  const inner = shape.slice(2).reduce((p, d) => p * d, 1);
  const perChannel = Math.max(2, Math.floor(REPLAY_MAX_ELEMENTS / Math.max(1, channels)));
  const usedSamples = Math.max(1, Math.min(samples, Math.floor(perChannel / Math.min(inner, perChannel)), 8));
  const positions = Math.max(1, Math.min(inner, Math.floor(perChannel / usedSamples)));
  const byChannel = new AffineFit();
  const bySample = new AffineFit();
  const channelsRead = Math.min(channels, Math.max(1, Math.floor(REPLAY_MAX_ELEMENTS / (usedSamples * positions))));
  for (let c = 0; c < channelsRead; c++) {
    for (let n = 0; n < usedSamples; n++) {
      // Samples spread over the batch: BatchNorm's per-channel map is the same for all of them.
      const sample = usedSamples === 1 ? 0 : Math.round((n * (samples - 1)) / (usedSamples - 1));
      const start = (sample * channels + c) * inner;
      const [x, y] = await Promise.all([readFloat64(input, start, positions), readFloat64(output, start, positions)]);
      for (let i = 0; i < positions; i++) {
        byChannel.add(x[i]!, y[i]!);
        bySample.add(x[i]!, y[i]!);
      }
      bySample.close();
    }
    byChannel.close();
  }
  // Per sample and channel over positions is InstanceNorm/GroupNorm; over a single axis of positions
  // (rank 3) it cannot be told from an unaffine norm over the last axis, which the tie rule keeps.
  return shape.length >= 4 ? Math.min(byChannel.share, bySample.share) : byChannel.share;
}

/**
 * The feature axis of `input` when the user gave none (DESIGN.md "Feature axis when none is
 * given"): 1. a weight / bias / running_mean / running_var of length F that matches exactly one
 * axis of the input (the last axis wins a tie); 2. else, with a recorded output of the input's
 * shape, the axis whose replay explains it best — the last axis against axis 1 of an (N, C, ...)
 * input of rank ≥ 3, on at most 65,536 elements; 3. else the last axis.
 */
export async function inferFeatureAxis(input: TensorHandle, evidence: FeatureAxisEvidence): Promise<FeatureAxisChoice> {
  const shape = input.info.shape;
  const rank = shape.length;
  const last = rank - 1;
  if (rank <= 1) return { axis: Math.max(0, last), rule: 'last' };
  // 1. Parameters: the first one whose length matches an axis decides; ties go to the last axis.
  for (const p of evidence.parameters) {
    if (!p || p.info.size <= 1) continue;
    const matching = shape.map((d, i) => (d === p.info.size ? i : -1)).filter((i) => i >= 0);
    if (matching.includes(last)) return { axis: last, rule: 'parameters' };
    if (matching.length === 1) return { axis: matching[0]!, rule: 'parameters' };
  }
  // 2. Replay against a recorded output of the same shape: last axis vs channels on axis 1.
  const output = evidence.output;
  const sameShape = output !== null && output.info.shape.length === rank && output.info.shape.every((d, i) => d === shape[i]);
  if (sameShape && rank >= 3 && input.info.size > 0 && input.randomAccess && output.randomAccess) {
    const lastShare = await lastAxisResidual(input, output);
    const channelShare = await channelAxisResidual(input, output);
    const best = Math.min(lastShare, channelShare);
    if (best <= REPLAY_MAX_RESIDUAL) {
      // A tie (both explain it, e.g. an unaffine norm over L of (N, C, L)) goes to the last axis.
      const axis = channelShare < lastShare && lastShare > REPLAY_MAX_RESIDUAL ? 1 : last;
      return { axis, rule: 'replay' };
    }
  }
  return { axis: last, rule: 'last' };
}

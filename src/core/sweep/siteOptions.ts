import type { AnalysisOptions } from '../analysis/plan';
import type { Site, SiteAnalysisOptions, SiteNorm } from '../dump/sites';
import type { SiteTensors } from '../report/sweepReport';

/** What the user chooses for every site of a sweep (`--eps`, `--feature-axis`, `--bins`, `--groups`, thresholds). */
export type SweepAnalysisOptions = Omit<AnalysisOptions, 'tensor' | 'mask' | 'output' | 'weight' | 'bias' | 'runningMean' | 'runningVar' | 'roles'>;

/**
 * The AnalysisOptions of one site: the site's own tensors and roles (siteAnalysis), the user's
 * options for everything else; a user's `--eps` / `--groups` win over the eps and GroupNorm groups
 * the capture helper recorded for the module (`norm`).
 */
export function siteAnalysisOptions(user: SweepAnalysisOptions, site: SiteAnalysisOptions, norm?: SiteNorm): AnalysisOptions {
  const eps = user.eps ?? site.eps;
  const groups = user.groups ?? norm?.groups;
  return { ...user, ...site, ...(eps !== undefined ? { eps } : {}), ...(groups !== undefined ? { groups } : {}) };
}

/** The SweepReport tensor names of a site (its tokens tensor is not part of the row). */
export function sweepTensorsOf(site: Site): SiteTensors {
  const t = site.tensors;
  // A --layer-axis site reads a slice of `t.input`; its row names the tensor (site.slice says which index).
  const out: SiteTensors = { input: t.input };
  if (t.output !== undefined) out.output = t.output;
  if (t.weight !== undefined) out.weight = t.weight;
  if (t.bias !== undefined) out.bias = t.bias;
  if (t.runningMean !== undefined) out.runningMean = t.runningMean;
  if (t.runningVar !== undefined) out.runningVar = t.runningVar;
  if (t.mask !== undefined) out.mask = t.mask;
  return out;
}

/** Elements of a site's input (the weight of its share of the sweep's progress). */
export function siteElements(site: Site): number {
  return site.shape.reduce((p, d) => p * d, 1);
}

/**
 * Overall progress of a sweep: sites weighted by their element counts, so a fraction moves
 * evenly over a dump whose sites differ in size.
 */
export class SweepProgress {
  private readonly total: number;
  private done = 0;

  constructor(private readonly elements: readonly number[]) {
    let total = 0;
    for (const e of elements) total += Math.max(1, e);
    this.total = total;
  }

  /** Fraction after site `index` has done `fraction` of its own work. */
  at(index: number, fraction: number): number {
    return Math.min(1, (this.done + Math.max(1, this.elements[index] ?? 1) * fraction) / this.total);
  }

  /** Marks site `index` as done; returns the overall fraction. */
  finish(index: number): number {
    this.done += Math.max(1, this.elements[index] ?? 1);
    return Math.min(1, this.done / this.total);
  }
}

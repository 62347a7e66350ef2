import { VIEW, type InspectorViewId } from '../../src/protocol';

/** The inspector view that shows the evidence behind each warning code. */
export const WARNING_VIEW = {
  'non-finite': VIEW.overview,
  'recorded-output-mismatch': VIEW.replay,
  'padding-in-batch-stats': VIEW.batchNorm,
  'small-batch': VIEW.batchNorm,
  'batch-dependent-output': VIEW.batchNorm,
  'running-stats-mismatch': VIEW.batchNorm,
  'degenerate-token': VIEW.layerNorm,
  'outlier-feature': VIEW.tokens,
  'shape-mismatch': VIEW.overview,
} as const satisfies Record<string, InspectorViewId>;

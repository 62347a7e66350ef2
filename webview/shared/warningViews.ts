/** The inspector view that shows the evidence behind each warning code. */
export const WARNING_VIEW = {
  'non-finite': 'overview',
  'recorded-output-mismatch': 'replay',
  'padding-in-batch-stats': 'batchnorm',
  'small-batch': 'batchnorm',
  'batch-dependent-output': 'batchnorm',
  'running-stats-mismatch': 'batchnorm',
  'degenerate-token': 'layernorm',
  'outlier-feature': 'tokens',
  'shape-mismatch': 'overview',
} as const satisfies Record<string, 'overview' | 'layernorm' | 'batchnorm' | 'compare' | 'tokens' | 'replay'>;

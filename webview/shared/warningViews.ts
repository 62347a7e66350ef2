import type { NormLensHint } from '../../src/core/errors';
import type { AnalysisWarning } from '../../src/core/report/analysisReport';
import { VIEW, type InspectorViewId, type ViewOptions } from '../../src/protocol';
import { h } from './dom';

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

/**
 * A warning's hints (details.hints) as the inspector's own controls: "Use axis 1", "Use eps 1e-6",
 * each re-running the analysis with that option (never a CLI flag in the GUI).
 */
export function hintButtons(w: AnalysisWarning, setOptions: (change: ViewOptions) => void): HTMLElement[] {
  const hints = (w.details as { hints?: NormLensHint[] } | null | undefined)?.hints;
  if (!Array.isArray(hints)) return [];
  const out: HTMLElement[] = [];
  for (const hint of hints) {
    if (hint.kind === 'featureAxis') out.push(h('vscode-button', { class: 'hint', 'data-hint': 'featureAxis', onclick: () => setOptions({ featureAxis: hint.value }) }, `Use axis ${hint.value}`));
    else if (hint.kind === 'eps') out.push(h('vscode-button', { class: 'hint', 'data-hint': 'eps', onclick: () => setOptions({ eps: hint.value }) }, `Use eps ${hint.value}`));
  }
  return out;
}

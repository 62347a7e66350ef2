/** Colours charts draw with, read from the active VS Code theme's CSS variables. */
export interface ChartTheme {
  foreground: string;
  muted: string;
  grid: string;
  background: string;
  /**
   * Series colours in a fixed order: input, LayerNorm, RMSNorm, BatchNorm, extra, bad, GroupNorm,
   * InstanceNorm (the norms' indices are COLOR in webview/inspector/views.ts, keyed by norms.ts `key`).
   */
  series: string[];
  error: string;
  font: string;
  highContrast: boolean;
}

function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.body).getPropertyValue(name).trim();
  return v || fallback;
}

/** Reads the current theme's colours. */
export function readTheme(): ChartTheme {
  const fg = cssVar('--vscode-editor-foreground', cssVar('--vscode-foreground', '#cccccc'));
  return {
    foreground: fg,
    muted: cssVar('--vscode-descriptionForeground', fg),
    grid: cssVar('--vscode-editorWidget-border', cssVar('--vscode-panel-border', 'rgba(128,128,128,0.35)')),
    background: cssVar('--vscode-editor-background', '#1e1e1e'),
    series: [
      cssVar('--vscode-charts-foreground', fg),
      cssVar('--vscode-charts-blue', '#3794ff'),
      cssVar('--vscode-charts-green', '#89d185'),
      cssVar('--vscode-charts-orange', '#d18616'),
      cssVar('--vscode-charts-purple', '#b180d7'),
      cssVar('--vscode-charts-red', '#f14c4c'),
      cssVar('--vscode-charts-yellow', '#cca700'),
      cssVar('--vscode-terminal-ansiCyan', '#29b8db'),
    ],
    error: cssVar('--vscode-errorForeground', '#f14c4c'),
    font: `${cssVar('--vscode-font-size', '13px')} ${cssVar('--vscode-font-family', 'sans-serif')}`,
    highContrast: document.body.classList.contains('vscode-high-contrast') || document.body.classList.contains('vscode-high-contrast-light'),
  };
}

/** Calls `onChange` whenever VS Code switches theme (it rewrites body classes and the html style). */
export function onThemeChange(onChange: () => void): void {
  let last = document.body.className + document.documentElement.getAttribute('style');
  const observer = new MutationObserver(() => {
    const now = document.body.className + document.documentElement.getAttribute('style');
    if (now !== last) {
      last = now;
      onChange();
    }
  });
  observer.observe(document.body, { attributes: true, attributeFilter: ['class'] });
  observer.observe(document.documentElement, { attributes: true, attributeFilter: ['style'] });
}

/** A colour with alpha, for fills (works with #rgb, #rrggbb and rgb()/rgba() inputs). */
export function withAlpha(color: string, alpha: number): string {
  const c = color.trim();
  if (c.startsWith('#')) {
    let hex = c.slice(1);
    if (hex.length === 3 || hex.length === 4) hex = [...hex.slice(0, 3)].map((x) => x + x).join('');
    const n = parseInt(hex.slice(0, 6), 16);
    return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
  }
  const m = /rgba?\(([^)]+)\)/.exec(c);
  if (m) {
    const [r, g, b] = m[1]!.split(',').map((s) => s.trim());
    return `rgba(${r}, ${g}, ${b}, ${alpha})`;
  }
  return c;
}

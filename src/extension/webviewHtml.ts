import * as vscode from 'vscode';
import { randomBytes } from 'node:crypto';
import type { WebviewKind } from '../protocol';

/** The folder (inside the extension) that webviews may load resources from. */
export function webviewRoot(extensionUri: vscode.Uri): vscode.Uri {
  return vscode.Uri.joinPath(extensionUri, 'dist', 'webview');
}

/** Webview options every NormLens webview uses: scripts on, resources only from dist/webview. */
export function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewOptions {
  return { enableScripts: true, localResourceRoots: [webviewRoot(extensionUri)] };
}

/**
 * Builds the HTML of a NormLens webview: a strict CSP (no inline styles or scripts, scripts only
 * with a fresh nonce, resources only from the webview's own origin), the shared stylesheet and
 * the bundle for `kind`. No data is inlined: the page asks for it with `ready`.
 */
export function renderWebviewHtml(webview: vscode.Webview, extensionUri: vscode.Uri, kind: WebviewKind, title: string): string {
  const nonce = randomBytes(18).toString('base64');
  const root = webviewRoot(extensionUri);
  const asset = (name: string) => webview.asWebviewUri(vscode.Uri.joinPath(root, name)).toString();
  const csp = [
    "default-src 'none'",
    `img-src ${webview.cspSource} data: blob:`,
    `style-src ${webview.cspSource}`,
    `font-src ${webview.cspSource}`,
    `script-src 'nonce-${nonce}'`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${asset('styles.css')}">
<title>${escapeHtml(title)}</title>
</head>
<body class="normlens normlens-${kind}">
<div id="app" role="main" aria-busy="true"><p class="loading">Loading NormLens…</p></div>
<script nonce="${nonce}" src="${asset(`${kind}.js`)}"></script>
</body>
</html>`;
}

/** Escapes text for an HTML text or attribute context. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

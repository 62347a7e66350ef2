import type { HostToWebview, RenderSummary, WebviewToHost } from '../../src/protocol';

/** The VS Code webview API, acquired once per page. */
const vscodeApi = acquireVsCodeApi<unknown>();

/** Posts a typed message to the extension host. */
export function postToHost(message: WebviewToHost): void {
  vscodeApi.postMessage(message);
}

/** Subscribes to typed messages from the host. */
export function onHostMessage(handler: (m: HostToWebview) => void): void {
  window.addEventListener('message', (e: MessageEvent<HostToWebview>) => handler(e.data));
}

/** Saved UI state (restored after reload). */
export function getSavedState<T>(): T | undefined {
  return vscodeApi.getState() as T | undefined;
}

/** Saves UI state for restore after reload or when the panel is hidden. */
export function saveState<T>(state: T): void {
  vscodeApi.setState(state);
}

/** Tells the host what was drawn. */
export function reportRendered(summary: RenderSummary): void {
  postToHost({ type: 'rendered', summary });
}

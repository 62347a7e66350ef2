import type { HostToWebview, RenderSummary, WebviewMethods, WebviewToHost } from '../../src/protocol';
import { RpcClient } from '../../src/rpc';

/** The VS Code webview API, acquired once per page. */
const vscodeApi = acquireVsCodeApi<unknown>();

/** Posts a typed message to the extension host. */
export function postToHost(message: WebviewToHost): void {
  vscodeApi.postMessage(message);
}

/** Typed requests to the host (`hostRequests.request('heatmap', params)`); replies are routed here. */
export const hostRequests = new RpcClient<WebviewMethods>((m) => postToHost(m));

/** Subscribes to typed messages from the host (replies to requests are answered through `hostRequests`). */
export function onHostMessage(handler: (m: HostToWebview) => void): void {
  window.addEventListener('message', (e: MessageEvent<HostToWebview>) => {
    if (!hostRequests.handle(e.data)) handler(e.data);
  });
}

/** Saved UI state (restored after reload). */
export function getSavedState<T>(): T | undefined {
  return vscodeApi.getState() as T | undefined;
}

/** Saves UI state for restore after reload or when the panel is hidden. */
export function saveState<T>(state: T): void {
  vscodeApi.setState(state);
}

/** What every render summary of this page also says (whole-model dumps: sites, chosen site, input). */
let renderContext: Pick<RenderSummary, 'sites' | 'swept' | 'sweepDone' | 'site' | 'input'> = {};

/** Sets what every later render summary carries besides the drawing. */
export function setRenderContext(context: Pick<RenderSummary, 'sites' | 'swept' | 'sweepDone' | 'site' | 'input'>): void {
  renderContext = { ...renderContext, ...context };
}

/** Tells the host what was drawn. */
export function reportRendered(summary: RenderSummary): void {
  postToHost({ type: 'rendered', summary: { ...summary, ...renderContext } });
}

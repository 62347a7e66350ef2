import type { HostToWebview } from '../../src/protocol';
import { onHostMessage, postToHost, reportRendered } from '../shared/host';

/** Root element the inspector draws into. */
const app = document.getElementById('app')!;

/** Replaces the page content with a heading and a status line. */
function renderStatus(title: string, text: string): void {
  app.replaceChildren();
  const h = document.createElement('h1');
  h.textContent = title;
  const p = document.createElement('p');
  p.className = 'status';
  p.textContent = text;
  app.append(h, p);
  app.setAttribute('aria-busy', 'false');
}

onHostMessage((m: HostToWebview) => {
  switch (m.type) {
    case 'init':
      renderStatus(m.title, 'Dump opened. The analysis appears here.');
      reportRendered({ view: 'overview', charts: [], tables: [], warnings: [] });
      break;
    case 'error':
      renderStatus('NormLens could not open this file', m.message);
      reportRendered({ view: 'error', charts: [], tables: [], warnings: [], error: m.message });
      break;
    default:
      break;
  }
});

postToHost({ type: 'ready' });

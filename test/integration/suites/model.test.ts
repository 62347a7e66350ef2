import { strict as assert } from 'node:assert';
import * as vscode from 'vscode';
import type { AnalysisReport } from '../../../src/core/report/analysisReport';
import type { SweepReport } from '../../../src/core/report/sweepReport';
import { COMMAND, VIEW, type RenderSummary } from '../../../src/protocol';
import { canDriveUi, closeAll, renderAfter, renderMatching, screenshot, settle, showView, ui, waitFor, workspaceUri } from '../support';

const ENCODER = ['layers.0.norm1', 'layers.0.norm2', 'layers.1.norm1', 'layers.1.norm2', 'layers.2.norm1', 'layers.2.norm2', 'norm'];
const LAYER_FILES = Array.from({ length: 12 }, (_, i) => `layer_${i}`);
/** The per-site views, which show the chosen site's full report. */
const SITE_VIEWS = [VIEW.overview, VIEW.layerNorm, VIEW.batchNorm, VIEW.compare, VIEW.tokens, VIEW.replay];

const encoder = () => workspaceUri('sites', 'transformer_encoder.safetensors');
const massive = () => workspaceUri('sites', 'massive_activations.safetensors');
const layerFolder = () => workspaceUri('sites', 'layer_files');

/** The Model view of the active inspector once every one of `count` sites is swept. */
function modelRendered(count: number): Promise<RenderSummary> {
  return renderMatching('inspector', `the Model view with ${count} swept sites`, (s) => s.view === VIEW.model && s.sites === count && s.swept === count && s.sweepDone === true, 60000);
}

describe('Whole-model dumps: the Model view', () => {
  after(closeAll);

  it('normlens.sweep returns the SweepReport of a file, sites in natural order', async () => {
    const r = await vscode.commands.executeCommand<SweepReport>(COMMAND.sweep, encoder(), { progress: false });
    assert.equal(r.schemaVersion, 1);
    assert.equal(r.source.kind, 'file');
    assert.deepEqual(
      r.sites.map((s) => s.name),
      ENCODER,
    );
    assert.equal(r.sites[0]!.summary.bestMatch, 'layernorm');
    assert.equal(r.sites[6]!.summary.bestMatch, 'rmsnorm');
  });

  it('normlens.sweep of a folder: one site per file, layer_2 before layer_10; options apply', async () => {
    const r = await vscode.commands.executeCommand<SweepReport>(COMMAND.sweep, layerFolder(), { progress: false, bins: 16 });
    assert.equal(r.source.kind, 'folder');
    assert.deepEqual(
      r.sites.map((s) => s.name),
      LAYER_FILES,
    );
  });

  it('normlens.analyze takes { site }: the full report of that site, in a file and in a folder', async () => {
    const r = await vscode.commands.executeCommand<AnalysisReport>(COMMAND.analyze, encoder(), { site: 'layers.2.norm1', progress: false });
    assert.equal(r.input.name, 'layers.2.norm1.input');
    assert.equal(r.comparison?.tensor, 'layers.2.norm1.output');
    const f = await vscode.commands.executeCommand<AnalysisReport>(COMMAND.analyze, layerFolder(), { site: 'layer_10', progress: false });
    assert.deepEqual(f.input.shape, [2, 3, 16]);
    assert.match(f.source.description ?? '', /layer_10\.npy/);
  });

  it('a dump with several sites opens on the Model view: depth charts, data tables and the sites table', async () => {
    await closeAll();
    await vscode.commands.executeCommand('vscode.openWith', encoder(), 'normlens.inspectorOptIn');
    const s = await modelRendered(ENCODER.length);
    const ids = s.charts.map((c) => c.id);
    for (const id of ['depth-rms', 'depth-maxabs', 'depth-outliers', 'depth-error']) assert.ok(ids.includes(id), `chart ${id} in ${ids.join(', ')}`);
    assert.ok(s.charts.every((c) => c.points === ENCODER.length), 'one point per site');
    assert.deepEqual(
      s.tables.find((t) => t.id === 'sites'),
      { id: 'sites', rows: ENCODER.length },
    );
    for (const id of ids) assert.ok(s.tables.some((t) => t.id === id), `data table of ${id}`);
    assert.equal(s.site, ENCODER[0]);
    assert.equal(s.input, 'layers.0.norm1.input');
    if (canDriveUi()) {
      // The replay-error chart (points coloured by best match: LayerNorm, then RMSNorm for the final norm).
      await ui({ kind: 'focus', selector: '#chart-depth-error' });
      await settle(800);
      await screenshot('model-encoder-replay');
    }
  });

  it('choosing a site drives every per-site view and the side panel', async () => {
    const chosen = await renderAfter(() => vscode.commands.executeCommand(COMMAND.selectSite, 'layers.2.norm1'));
    assert.equal(chosen.site, 'layers.2.norm1');
    await renderMatching('inspector', 'the report of layers.2.norm1', (s) => s.input === 'layers.2.norm1.input');
    for (const view of SITE_VIEWS) {
      const s = await showView(view);
      assert.equal(s.view, view);
      assert.equal(s.input, 'layers.2.norm1.input', `${view} shows the chosen site`);
      assert.equal(s.error, undefined);
    }
    await vscode.commands.executeCommand(COMMAND.compareNorms);
    const side = await renderMatching('sidePanel', 'the side panel to follow the chosen site', (p) => p.input === 'layers.2.norm1.input');
    assert.ok(side.charts.length > 0);
    await vscode.commands.executeCommand('workbench.action.closeSidebar');
  });

  it('clicking a row of the sites table chooses that site (UI)', async function () {
    if (!canDriveUi()) this.skip();
    await showView(VIEW.model);
    await ui({ kind: 'click', selector: 'tr.site-row[data-site="layers.1.norm2"]' });
    const s = await renderMatching('inspector', 'the report of layers.1.norm2', (r) => r.input === 'layers.1.norm2.input' && r.view === VIEW.model);
    assert.equal(s.site, 'layers.1.norm2');
  });

  it('the chosen site and the view survive a reload of the webview', async () => {
    const before = await showView(VIEW.layerNorm);
    const s = await renderAfter(() => vscode.commands.executeCommand('workbench.action.webview.reloadWebviewAction'));
    assert.equal(s.view, VIEW.layerNorm);
    assert.equal(s.site, before.site);
    assert.equal(s.input, before.input);
  });

  it('the A/B panel compares two sites of one dump', async () => {
    const picked = await vscode.commands.executeCommand<string[]>(COMMAND.compareSites, encoder(), 'layers.0.norm1', 'norm');
    assert.deepEqual(picked, ['layers.0.norm1', 'norm']);
    const s = await renderMatching('abPanel', 'the A/B panel on two sites', (r) => r.input === 'layers.0.norm1.input ↔ norm.input');
    assert.ok(s.charts.length > 0);
  });

  it('a folder opens in the Model panel ("Sweep Folder"), and its sites drive the views', async () => {
    await closeAll();
    await vscode.commands.executeCommand(COMMAND.sweepFolder, layerFolder());
    const s = await modelRendered(LAYER_FILES.length);
    assert.ok(s.charts.some((c) => c.id === 'depth-rms' && c.points === 12));
    assert.equal(s.site, 'layer_0');
    await renderAfter(() => vscode.commands.executeCommand(COMMAND.selectSite, 'layer_10'));
    const overview = await showView(VIEW.overview);
    assert.equal(overview.site, 'layer_10');
    assert.deepEqual(overview.charts.length > 0, true);
    await showView(VIEW.model);
    await settle(800);
    await screenshot('model-folder');
  });

  for (const [name, theme] of [
    ['dark', 'Default Dark Modern'],
    ['light', 'Default Light Modern'],
  ] as const) {
    it(`screenshot of the Model view (${name} theme)`, async () => {
      await vscode.workspace.getConfiguration('workbench').update('colorTheme', theme, vscode.ConfigurationTarget.Global);
      await closeAll();
      await vscode.commands.executeCommand('workbench.action.closeSidebar');
      await vscode.commands.executeCommand('workbench.action.closePanel');
      await vscode.commands.executeCommand('workbench.action.closeAuxiliaryBar');
      await vscode.commands.executeCommand('vscode.openWith', massive(), 'normlens.inspectorOptIn');
      const s = await modelRendered(9);
      assert.ok(s.charts.length >= 3);
      await settle(1200);
      await screenshot(`${name}-model`);
      if (canDriveUi()) {
        // The lower half: the last depth charts and the sites table, as a keyboard user reaches it.
        await ui({ kind: 'focus', selector: 'tr.site-row.chosen' });
        await ui({ kind: 'press', keys: ['End'] });
        await settle(800);
        await screenshot(`${name}-model-table`);
      }
    });
  }

  it('"Open A/B" in the sites table compares the chosen site with another (UI, through the allow-list)', async function () {
    if (!canDriveUi()) this.skip();
    // The massive-activations dump is open on the Model view (the screenshot tests): A = layers.0, B = layers.8.
    await renderMatching('inspector', 'the Model view at rest', (r) => r.view === VIEW.model && r.sweepDone === true);
    const wanted = (r: RenderSummary | undefined) => r?.input === 'layers.0.input ↔ layers.8.input';
    let s: RenderSummary | undefined;
    // A click that lands while the page redraws is lost, as it would be for a user: click again then.
    for (let attempt = 0; attempt < 3 && !wanted(s); attempt++) {
      await ui({ kind: 'focus', selector: '#ab-compare' });
      await ui({ kind: 'click', selector: '#ab-compare' });
      s = await waitFor('the A/B panel on layers.0 and layers.8', async () => {
        const r = await vscode.commands.executeCommand<RenderSummary | undefined>(COMMAND.lastRender, 'abPanel', 2000);
        return wanted(r) ? r : undefined;
      }, 15000).catch(() => undefined);
    }
    assert.ok(s && s.charts.length > 0, 'the A/B panel drew both sites');
  });

  after(async () => {
    await vscode.workspace.getConfiguration('workbench').update('colorTheme', undefined, vscode.ConfigurationTarget.Global);
  });
});

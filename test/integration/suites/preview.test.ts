import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { COMMAND, VIEW } from '../../../src/protocol';
import type { RenderSummary } from '../../../src/protocol';
import { closeAll, openAndRender, renderAfter, renderMatching, screenshot, showView } from '../support';
import { assertExact, writeLargeNpy } from './largeFile.test';

describe('The preview of a large dump, and cancelling its analysis', () => {
  const dir = mkdtempSync(join(tmpdir(), 'normlens-preview-'));
  const file = join(dir, 'preview-512mib.npy');
  const settings = () => vscode.workspace.getConfiguration('normlens');
  before(async function () {
    this.timeout(120000);
    // 512 MiB: long enough an exact run (one worker) that the preview is on screen for its screenshot.
    writeLargeNpy(file, 32);
    // One analysis worker, started for this suite: the exact run of 512 MiB takes it seconds while
    // the preview (computed on the extension host beside it) takes tens of milliseconds, so the page
    // shows the preview first (with the extension's usual warm workers the exact report of 256 MiB
    // can be ready before the page is, and no preview is shown).
    await settings().update('workers', 1, vscode.ConfigurationTarget.Global);
  });
  after(async () => {
    await settings().update('workers', undefined, vscode.ConfigurationTarget.Global);
    await settings().update('bins', undefined, vscode.ConfigurationTarget.Global);
    await closeAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is labelled, has no warnings and no exports, switches views, and is replaced by the exact report', async function () {
    this.timeout(180000);
    await closeAll();
    const first = await openAndRender(vscode.Uri.file(file));
    assert.ok(first.preview, `the first render is a preview: ${JSON.stringify({ view: first.view, preview: first.preview, error: first.error, marks: (first.marks ?? []).map((m) => m.name) })}`);
    assert.equal(first.preview.totalTokens, 32768);
    assert.match(first.preview.label, /^Preview from [\d,]+ of 32,768 tokens$/);
    assert.equal(first.exportsEnabled, false);
    // Right away: the exact report replaces the preview within a second or two.
    await screenshot('preview-overview', 150);
    // The page stays usable while the exact analysis runs: another view draws from the preview.
    const ln = await showView(VIEW.layerNorm);
    if (ln.preview) {
      assert.ok(ln.charts.length > 0, 'the LayerNorm view draws from the preview');
      assert.equal(ln.exportsEnabled, false);
      assert.deepEqual(ln.warnings, []);
    }
    // An export asked for now waits for the exact report: never the preview's.
    const target = vscode.Uri.file(join(dir, 'exported.json'));
    const exported = await vscode.commands.executeCommand<string>(COMMAND.exportReport, 'json', vscode.Uri.file(file), target);
    assert.equal(exported, target.toString());
    const saved = JSON.parse(Buffer.from(await vscode.workspace.fs.readFile(target)).toString('utf8')) as { layout: { tokens: number }; warnings: { code: string }[] };
    assert.equal(saved.layout.tokens, 32768, 'the exported report is the exact one');
    assert.ok(saved.warnings.some((w) => w.code === 'outlier-feature'));
    const exact = await renderMatching('inspector', 'the exact report', (s) => !s.preview && s.error === undefined && s.view !== 'cancelled', 120000);
    assert.equal(exact.exportsEnabled, true);
    assertExact(await showView(VIEW.overview));
  });

  it('cancel during the analysis leaves the inspector usable: "Run again" gives the exact report', async function () {
    this.timeout(180000);
    // A setting that changes the analysis re-runs it (a new cache key): preview, then cancel. On a
    // fast machine the exact analysis may finish before the cancel arrives: then try once more.
    let cancelled: RenderSummary | undefined;
    for (let attempt = 0; attempt < 4 && !cancelled; attempt++) {
      const preview = await renderAfter(() => settings().update('bins', 48 + attempt, vscode.ConfigurationTarget.Global), 120000);
      if (!preview.preview) continue;
      const after = await renderAfter(() => vscode.commands.executeCommand(COMMAND.analysisControl, 'cancel'), 60000);
      const settled = after.view === 'cancelled' || !after.preview ? after : await renderMatching('inspector', 'the cancelled run', (s) => s.view === 'cancelled' || !s.preview, 60000);
      if (settled.view === 'cancelled') cancelled = settled;
    }
    assert.ok(cancelled, 'a run cancelled during its preview shows the cancelled state');
    assert.equal(cancelled.exportsEnabled, false);
    await screenshot('preview-cancelled');
    const again = await renderAfter(() => vscode.commands.executeCommand(COMMAND.analysisControl, 'runAgain'), 120000);
    const exact = again.preview ? await renderMatching('inspector', 'the exact report after Run again', (s) => !s.preview && s.view === 'overview', 120000) : again;
    assertExact(exact);
  });
});

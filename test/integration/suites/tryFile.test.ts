import { strict as assert } from 'node:assert';
import * as vscode from 'vscode';
import { VIEW } from '../../../src/protocol';
import { closeAll, renderAfter, renderMatching, screenshot, showView } from '../support';

/**
 * Only when asked for (NORMLENS_TRY_FILE=/path/to/dump): opens a dump that is not one of the
 * fixtures, as a user would, and takes screenshots (try-*.png) of what the inspector shows — the
 * Model view of a whole-model dump once swept, then the per-site views. For trying a build on
 * captures of real models; nothing about the file is assumed beyond its being readable.
 */
(process.env.NORMLENS_TRY_FILE ? describe : describe.skip)('Trying a dump of your own (NORMLENS_TRY_FILE)', () => {
  after(closeAll);

  it('opens it and shows every view (screenshots try-*.png)', async function () {
    this.timeout(300000);
    await closeAll();
    const uri = vscode.Uri.file(process.env.NORMLENS_TRY_FILE!);
    const first = await renderAfter(() => vscode.commands.executeCommand('vscode.openWith', uri, 'normlens.inspectorOptIn'), 120000);
    assert.equal(first.error, undefined, `the inspector shows an error: ${first.error}`);
    const settled = await renderMatching('inspector', 'the exact report (and a finished sweep, for a whole model)', (s) => !s.preview && (s.sites === undefined || s.sites < 2 || s.sweepDone === true), 240000);
    console.log(`[normlens-test] try ${uri.fsPath}: view ${settled.view}, sites ${settled.sites ?? 1}, warnings ${JSON.stringify(settled.warnings)}`);
    if (settled.view === VIEW.model) await screenshot('try-model', 800);
    for (const view of [VIEW.overview, VIEW.layerNorm, VIEW.batchNorm, VIEW.compare, VIEW.replay]) {
      const s = await showView(view);
      assert.equal(s.error, undefined);
      await screenshot(`try-${view}`, 500);
    }
  });
});

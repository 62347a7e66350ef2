import { strict as assert } from 'node:assert';
import * as vscode from 'vscode';
import type { AnalysisReport } from '../../../src/core/report/analysisReport';
import type { RenderSummary } from '../../../src/protocol';
import { closeAll, openAndRender, screenshot, settle, showView, workspaceUri } from '../support';

/** A UNet-style (N, C, H, W) dump with a recorded GroupNorm(32, 64) output, channels on axis 1. */
const UNET = (): vscode.Uri => workspaceUri('integration', 'unet_groupnorm.npz');
const THEMES: [string, string][] = [
  ['dark', 'Default Dark Modern'],
  ['light', 'Default Light Modern'],
];

const chart = (s: RenderSummary, id: string) => s.charts.find((c) => c.id === id);
const table = (s: RenderSummary, id: string) => s.tables.find((t) => t.id === id);

describe('GroupNorm and InstanceNorm in the inspector (UNet-style dump)', () => {
  const normlens = () => vscode.workspace.getConfiguration('normlens');
  const workbench = () => vscode.workspace.getConfiguration('workbench');
  before(async () => {
    await normlens().update('featureAxis', 1, vscode.ConfigurationTarget.Global);
  });
  after(async () => {
    await normlens().update('featureAxis', undefined, vscode.ConfigurationTarget.Global);
    await workbench().update('colorTheme', undefined, vscode.ConfigurationTarget.Global);
    await closeAll();
  });

  it('the analyze command replays the recorded output as GroupNorm with G = 32 fitted', async () => {
    const r = await vscode.commands.executeCommand<AnalysisReport>('normlens.analyze', UNET(), { featureAxis: 1, progress: false });
    assert.equal(r.comparison?.bestMatch, 'groupnorm');
    assert.equal(r.comparison?.groups, 32);
    assert.equal(r.groupNorm?.groups, 32);
    assert.equal(r.groupNorm?.groupsSource, 'fitted');
    assert.ok(r.instanceNorm, 'InstanceNorm applies to (N, C, H, W)');
    assert.ok(r.comparison!.candidates.instancenorm && !r.comparison!.candidates.instancenorm.withinTolerance, 'InstanceNorm is a candidate that does not match');
  });

  for (const [name, theme] of THEMES) {
    it(`${name} theme: Compare, Replay and BatchNorm views show GroupNorm and InstanceNorm`, async () => {
      await workbench().update('colorTheme', theme, vscode.ConfigurationTarget.Global);
      await closeAll();
      const first = await openAndRender(UNET());
      assert.equal(first.view, 'overview');
      assert.equal(first.error, undefined);
      await vscode.commands.executeCommand('workbench.action.closeSidebar');

      const compare = await showView('compare');
      assert.equal(compare.view, 'compare');
      assert.equal(table(compare, 'norm-family')?.rows, 5, 'the five norms on the axis-choice figure and its table');
      assert.equal(table(compare, 'compare-summary')?.rows, 3, 'LayerNorm vs RMSNorm vs BatchNorm stays the centre');
      assert.equal(chart(compare, 'cmp-sample-hist')?.series, 2, 'GroupNorm and InstanceNorm output histograms overlaid');
      assert.equal(chart(compare, 'cmp-hist')?.series, 3);
      await settle(800);
      await screenshot(`groupnorm-${name}-compare`);

      const replay = await showView('replay');
      assert.equal(replay.view, 'replay');
      assert.equal(table(replay, 'replay')?.rows, 5, 'a row per candidate, GroupNorm and InstanceNorm included');
      assert.equal(chart(replay, 'replay-err-hist')?.series, 5, 'an error distribution per candidate');
      assert.equal(chart(replay, 'replay-sample-hist')?.series, 3, 'recorded vs GroupNorm vs InstanceNorm');
      assert.deepEqual(replay.warnings, [], 'the recorded GroupNorm output matches: no mismatch warning');
      await settle(800);
      await screenshot(`groupnorm-${name}-replay`);

      const bn = await showView('batchnorm');
      assert.equal(chart(bn, 'gn-groups')?.series, 2, 'GroupNorm mean and std per (sample, group)');
      assert.equal(chart(bn, 'gn-groups')?.points, 64, '2 samples × 32 groups');
      assert.equal(table(bn, 'gn-groups')?.rows, 64);
      await settle(800);
      await screenshot(`groupnorm-${name}-batchnorm`);
    });
  }
});

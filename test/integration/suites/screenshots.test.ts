import { strict as assert } from 'node:assert';
import * as vscode from 'vscode';
import { VIEW } from '../../../src/protocol';
import { closeAll, renderAfter, renderMatching, screenshot, settle, showView } from '../support';

/** The per-site views of the inspector, each photographed in a light and a dark theme (the Model view: model.test.ts). */
const VIEWS = Object.values(VIEW).filter((v) => v !== VIEW.model);
const THEMES: [string, string][] = [
  ['dark', 'Default Dark Modern'],
  ['light', 'Default Light Modern'],
];

describe('Screenshots of every view in light and dark themes', () => {
  const workbench = () => vscode.workspace.getConfiguration('workbench');
  before(async () => {
    await vscode.commands.executeCommand('workbench.action.closePanel');
    await vscode.commands.executeCommand('workbench.action.closeAuxiliaryBar');
  });
  after(async () => {
    await workbench().update('colorTheme', undefined, vscode.ConfigurationTarget.Global);
    await closeAll();
  });

  for (const [name, theme] of THEMES) {
    it(`${name} theme: the inspector's views and the side panel`, async () => {
      await workbench().update('colorTheme', theme, vscode.ConfigurationTarget.Global);
      await closeAll();
      await renderAfter(() => vscode.commands.executeCommand('normlens.openSample'));
      await vscode.commands.executeCommand('workbench.action.closeSidebar');
      for (const view of VIEWS) {
        const s = await showView(view);
        assert.equal(s.view, view);
        assert.equal(s.error, undefined);
        assert.ok(view === VIEW.tokens || s.charts.length > 0, `${view} drew charts`);
        await settle(view === VIEW.tokens ? 1200 : 800);
        await screenshot(`${name}-${view}`);
      }
      await vscode.commands.executeCommand('normlens.compareNorms');
      // The panel may still hold the empty state it showed while no inspector was open.
      await renderMatching('sidePanel', 'the side panel to draw the sample', (side) => side.charts.length > 0);
      await settle(1000);
      await screenshot(`${name}-side-panel`);
      await vscode.commands.executeCommand('workbench.action.closeSidebar');
    });
  }
});

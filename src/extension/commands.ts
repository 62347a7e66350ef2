import * as vscode from 'vscode';
import type { AnalysisReport } from '../core/report/analysisReport';
import type { SweepReport } from '../core/report/sweepReport';
import { renderMarkdownReport } from '../core/report/markdownReport';
import { isNormLensError, NormLensError } from '../core/errors';
import { COMMAND, isInspectorViewId, type ViewOptions } from '../protocol';
import { AnalysisService, fileName } from './analysisService';
import { AbPanel } from './abPanel';
import { InspectorEditorProvider } from './inspectorEditor';
import { log } from './log';
import { ModelPanel } from './modelPanel';
import type { SidePanelProvider } from './sidePanel';
import { siteEntries, type SweepCommandOptions, type SweepService } from './sweepService';

/** Dump file extensions NormLens opens. */
const DUMP_FILTERS = { 'Activation dumps': ['npy', 'npz', 'safetensors', 'json'] };

/** Everything the commands act on. */
export interface CommandContext {
  context: vscode.ExtensionContext;
  service: AnalysisService;
  inspector: InspectorEditorProvider;
  sidePanel: SidePanelProvider;
  sweeps: SweepService;
}

/** Options of `normlens.sweep` besides the URI. */
export interface SweepCommandArgs extends SweepCommandOptions {
  /** Show a progress notification with Cancel (default true). */
  progress?: boolean;
}

/** Numbers a caller may pass to `normlens.sweep`, checked (other extensions call it). */
function sweepOptionsOf(raw: unknown): SweepCommandArgs {
  const o = raw && typeof raw === 'object' ? (raw as Record<string, unknown>) : {};
  const out: SweepCommandArgs = {};
  for (const k of ['layerAxis', 'featureAxis', 'eps', 'groups', 'bins'] as const) {
    const v = o[k];
    if (typeof v === 'number' && Number.isFinite(v)) out[k] = v;
  }
  if (o['progress'] === false) out.progress = false;
  return out;
}

/** Turns a command argument (Uri, string path/URI, explorer item) into a Uri. */
function toUri(arg: unknown): vscode.Uri | undefined {
  if (arg instanceof vscode.Uri) return arg;
  if (typeof arg === 'string' && arg) return /^[a-z][\w+.-]*:/i.test(arg) && !/^[a-z]:[\\/]/i.test(arg) ? vscode.Uri.parse(arg) : vscode.Uri.file(arg);
  if (arg && typeof arg === 'object' && 'resourceUri' in arg) return toUri((arg as { resourceUri: unknown }).resourceUri);
  return undefined;
}

/** Dump files NormLens opens, by extension. */
const DUMP_PATH = /\.(npy|npz|safetensors|json)$/i;

/**
 * The URI of the active editor tab, whatever editor shows it: a text editor, a custom editor, or
 * VS Code's "binary file" notice (which has no text editor, so `activeTextEditor` is undefined).
 */
function activeTabUri(): vscode.Uri | undefined {
  const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
  if (input instanceof vscode.TabInputText || input instanceof vscode.TabInputCustom || input instanceof vscode.TabInputNotebook) return input.uri;
  if (input && typeof input === 'object' && 'uri' in input && (input as { uri: unknown }).uri instanceof vscode.Uri) return (input as { uri: vscode.Uri }).uri;
  return undefined;
}

/** The dump a command applies to: the argument, the active inspector, the active tab's file, or a picker. */
async function targetUri(ctx: CommandContext, arg: unknown, pick = true): Promise<vscode.Uri | undefined> {
  const given = toUri(arg);
  if (given) return given;
  const focused = ctx.inspector.focused?.document.uri;
  if (focused) return focused;
  const tab = activeTabUri() ?? vscode.window.activeTextEditor?.document.uri;
  if (tab && DUMP_PATH.test(tab.path)) return tab;
  if (!pick) return undefined;
  const picked = await vscode.window.showOpenDialog({ canSelectMany: false, filters: DUMP_FILTERS, openLabel: 'Analyze' });
  return picked?.[0];
}

/** Options a caller may pass to `normlens.analyze` besides the URI. */
export interface AnalyzeCommandOptions extends ViewOptions {
  /** Show a progress notification (default true). */
  progress?: boolean;
}

/** Shows a NormLens error to the user with a "Show Log" action. */
function showError(e: unknown): void {
  const msg = isNormLensError(e) ? e.message : `NormLens: ${(e as Error).message}`;
  void vscode.window.showErrorMessage(msg, 'Show Log').then((a) => a && log().show());
}

/** Registers every NormLens command. */
export function registerCommands(ctx: CommandContext): vscode.Disposable[] {
  const { service, inspector, sidePanel, context, sweeps } = ctx;

  const analyze = async (arg?: unknown, options: AnalyzeCommandOptions = {}): Promise<AnalysisReport | undefined> => {
    const uri = await targetUri(ctx, arg);
    if (!uri) return undefined;
    const { progress = true, ...view } = options;
    const run = (report?: (f: number) => void, token?: vscode.CancellationToken) => service.analyze(uri, view, { ...(token ? { token } : {}), ...(report ? { onProgress: report } : {}) });
    const result = progress
      ? await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `NormLens: analyzing ${fileName(uri)}`, cancellable: true }, (p, token) => {
          let last = 0;
          return run((f) => {
            p.report({ increment: (f - last) * 100 });
            last = f;
          }, token);
        })
      : await run();
    return result.report;
  };

  const openInspector = async (arg?: unknown): Promise<vscode.Uri | undefined> => {
    const uri = await targetUri(ctx, arg);
    if (!uri) return undefined;
    const viewType = /\.(npy|npz)$/i.test(uri.path) ? InspectorEditorProvider.viewType : InspectorEditorProvider.optInViewType;
    await vscode.commands.executeCommand('vscode.openWith', uri, viewType);
    return uri;
  };

  const compareNorms = async (arg?: unknown): Promise<AnalysisReport | undefined> => {
    const uri = await targetUri(ctx, arg);
    await vscode.commands.executeCommand('normlens.sidePanel.focus');
    if (!uri) {
      sidePanel.show(undefined);
      return undefined;
    }
    // The inspector's own result when it shows this file (with the user's options there).
    const report = inspector.sessionFor(uri)?.result?.report ?? (await analyze(uri));
    if (report) sidePanel.show({ uri, title: fileName(uri), report });
    return report;
  };

  const compareDumps = async (first?: unknown, second?: unknown): Promise<void> => {
    // From the explorer with two files selected, VS Code passes (clicked, [all selected]).
    let a = toUri(first);
    let b = toUri(second);
    if (Array.isArray(second) && second.length === 2) [a, b] = [toUri(second[0]), toUri(second[1])];
    a ??= (await vscode.window.showOpenDialog({ filters: DUMP_FILTERS, openLabel: 'Use as A' }))?.[0];
    if (!a) return;
    b ??= (await vscode.window.showOpenDialog({ filters: DUMP_FILTERS, openLabel: 'Use as B' }))?.[0];
    if (!b) return;
    AbPanel.open(a, b, service, context.extensionUri);
  };

  const sweep = async (arg?: unknown, raw?: unknown): Promise<SweepReport | undefined> => {
    const uri = toUri(arg) ?? ctx.inspector.focused?.document.uri ?? (await vscode.window.showOpenDialog({ canSelectFiles: true, canSelectFolders: true, canSelectMany: false, openLabel: 'Sweep' }))?.[0];
    if (!uri) return undefined;
    const { progress = true, ...options } = sweepOptionsOf(raw);
    if (!progress) return sweeps.sweep(uri, options);
    return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `NormLens: sweeping ${fileName(uri)}`, cancellable: true }, (p, token) => {
      let last = 0;
      return sweeps.sweep(uri, options, {
        token,
        onProgress: (f) => {
          p.report({ increment: (f - last) * 100, message: `${Math.round(f * 100)}%` });
          last = f;
        },
      });
    });
  };

  /** Opens the Model view of a folder (explorer context menu), or of a whole-model dump file. */
  const sweepFolder = async (arg?: unknown): Promise<vscode.Uri | undefined> => {
    const uri = toUri(arg) ?? (await vscode.window.showOpenDialog({ canSelectFiles: false, canSelectFolders: true, canSelectMany: false, openLabel: 'Sweep Folder' }))?.[0];
    if (!uri) return undefined;
    const stat = await vscode.workspace.fs.stat(uri);
    if (stat.type & vscode.FileType.Directory) ModelPanel.open(uri, inspector, context.extensionUri);
    else await openInspector(uri);
    return uri;
  };

  /** Compares two sites of one dump in the A/B panel; asks for what is not given. */
  const compareSites = async (arg?: unknown, first?: unknown, second?: unknown): Promise<string[] | undefined> => {
    const uri = await targetUri(ctx, arg);
    if (!uri) return undefined;
    const names = siteEntries(await sweeps.list(uri)).map((s) => s);
    if (names.length < 2) {
      void vscode.window.showInformationMessage(`${fileName(uri)} has ${names.length} site: there is nothing to compare. Compare two dumps with "NormLens: Compare Two Dumps (A/B)".`);
      return undefined;
    }
    const known = (v: unknown): string | undefined => (typeof v === 'string' && names.some((s) => s.name === v) ? v : undefined);
    if ((first !== undefined && !known(first)) || (second !== undefined && !known(second))) {
      throw new NormLensError('usage', `no site '${String(known(first) ? second : first)}' in ${fileName(uri)}. Sites: ${names.slice(0, 6).map((s) => `'${s.name}'`).join(', ')}${names.length > 6 ? ', ...' : ''}.`);
    }
    const pick = async (placeHolder: string, except?: string) =>
      (await vscode.window.showQuickPick(names.filter((s) => s.name !== except).map((s) => ({ label: s.name, description: `${s.input} (${s.shape.join(', ')})` })), { placeHolder, matchOnDescription: true }))?.label;
    const current = inspector.sessionFor(uri)?.options.site;
    const a = known(first) ?? (await pick(`Site A of ${fileName(uri)}${current ? ` (shown now: ${current})` : ''}`));
    if (!a) return undefined;
    const b = known(second) ?? (await pick(`Site B, compared with ${a}`, a));
    if (!b) return undefined;
    AbPanel.open({ uri, site: a }, { uri, site: b }, service, context.extensionUri);
    return [a, b];
  };

  const exportReport = async (format?: unknown, arg?: unknown, target?: unknown): Promise<string | undefined> => {
    const uri = await targetUri(ctx, arg);
    if (!uri) return undefined;
    let kind = format === 'json' || format === 'markdown' ? format : undefined;
    kind ??= (await vscode.window.showQuickPick([{ label: 'JSON', value: 'json' as const, description: 'the full AnalysisReport' }, { label: 'Markdown', value: 'markdown' as const, description: 'a summary for PRs and notes' }], { placeHolder: 'Export the NormLens report as' }))?.value;
    if (!kind) return undefined;
    const session = inspector.sessionFor(uri);
    // Never a preview, never a stale report: while the inspector's analysis runs, wait for its exact result.
    const report = (session?.busy ? (await session.whenAnalyzed())?.report : session?.result?.report) ?? (await analyze(uri));
    if (!report) return undefined;
    const ext = kind === 'json' ? 'json' : 'md';
    const base = fileName(uri).replace(/\.[^.]+$/, '');
    const dest = toUri(target) ?? (await vscode.window.showSaveDialog({ defaultUri: vscode.Uri.joinPath(uri, '..', `${base}.normlens.${ext}`), filters: kind === 'json' ? { JSON: ['json'] } : { Markdown: ['md'] } }));
    if (!dest) return undefined;
    const text = kind === 'json' ? JSON.stringify(report, null, 2) : renderMarkdownReport(report);
    await vscode.workspace.fs.writeFile(dest, new TextEncoder().encode(text));
    log().info(`exported ${kind} report to ${dest.toString()}`);
    if (!target) void vscode.window.showInformationMessage(`NormLens report saved to ${fileName(dest)}.`, 'Open').then((a) => a && vscode.commands.executeCommand('vscode.open', dest));
    return dest.toString();
  };

  const exportChart = async (target?: unknown): Promise<string | null | undefined> => {
    const session = inspector.focused ?? inspector.active;
    if (!session) {
      void vscode.window.showInformationMessage('Open a dump in the NormLens inspector first: the chart of its current view is exported.');
      return undefined;
    }
    return session.exportChart(toUri(target));
  };

  const openSample = async (name?: unknown): Promise<vscode.Uri> => {
    const file = typeof name === 'string' && /^[\w.-]+$/.test(name) ? name : 'transformer-block.npz';
    const uri = vscode.Uri.joinPath(context.extensionUri, 'media', 'samples', file);
    await vscode.commands.executeCommand('vscode.openWith', uri, InspectorEditorProvider.viewType);
    return uri;
  };

  const guard =
    <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R | undefined> => {
      try {
        return await fn(...args);
      } catch (e) {
        showError(e);
        if (isNormLensError(e)) throw e;
        log().error((e as Error).stack ?? String(e));
        throw e;
      }
    };

  return [
    vscode.commands.registerCommand(COMMAND.analyze, guard(analyze)),
    vscode.commands.registerCommand(COMMAND.openInspector, guard(openInspector)),
    vscode.commands.registerCommand(COMMAND.compareNorms, guard(compareNorms)),
    vscode.commands.registerCommand(COMMAND.compareDumps, guard(compareDumps)),
    vscode.commands.registerCommand(COMMAND.exportReport, guard(exportReport)),
    vscode.commands.registerCommand(COMMAND.exportChart, guard(exportChart)),
    vscode.commands.registerCommand(COMMAND.openSample, guard(openSample)),
    vscode.commands.registerCommand(COMMAND.showLog, () => log().show()),
    vscode.commands.registerCommand(COMMAND.sweep, guard(sweep)),
    vscode.commands.registerCommand(COMMAND.sweepFolder, guard(sweepFolder)),
    vscode.commands.registerCommand(COMMAND.compareSites, guard(compareSites)),
    // Chooses a site in the active inspector as the Model view's table does (tests, keybindings).
    vscode.commands.registerCommand(COMMAND.selectSite, (site: unknown) => {
      const session = inspector.active;
      if (!session || typeof site !== 'string') return false;
      return inspector.modelOf(session)?.select(site) ?? false;
    }),
    vscode.commands.registerCommand(COMMAND.showView, async (view: unknown) => {
      const session = inspector.active;
      if (!session || !isInspectorViewId(view)) return false;
      return session.post({ type: 'showView', view });
    }),
    // Test and automation hooks (hidden from the palette): what the webviews reported drawing.
    vscode.commands.registerCommand(COMMAND.renderCount, () => inspector.renderCount),
    vscode.commands.registerCommand(COMMAND.lastRender, async (which?: string, timeoutMs?: number, after?: number) => {
      if (which === 'sidePanel') return after === undefined && sidePanel.lastRender ? sidePanel.lastRender : sidePanel.nextRender(timeoutMs);
      if (which === 'abPanel') return AbPanel.latest()?.rendered(timeoutMs);
      return inspector.lastRender(timeoutMs, after);
    }),
  ];
}

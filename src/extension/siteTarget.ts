import * as vscode from 'vscode';
import { join } from 'node:path';
import { NormLensError } from '../core/errors';
import type { OpenDumpOptions } from '../core/formats/options';
import { listSweepSites } from '../worker/sweepRunner';
import { folderSiteTarget } from './sweepOptions';

/** What one analysis reads: a dump (URI) and, in a whole-model dump, the site inside it. */
export interface AnalysisTarget {
  uri: vscode.Uri;
  site?: string;
}

/**
 * The file and site an analysis of `site` of `uri` reads. A file: itself with the site. A folder
 * (the folder Model view): the site's file, and the site inside that file when it has several.
 */
export async function analysisTarget(uri: vscode.Uri, stat: vscode.FileStat, site: string | undefined, open: OpenDumpOptions): Promise<AnalysisTarget> {
  if (!(stat.type & vscode.FileType.Directory)) return { uri, ...(site !== undefined ? { site } : {}) };
  if (uri.scheme !== 'file') throw new NormLensError('usage', `folders are read from the local disk only; ${uri.toString()} is not.`);
  const listing = await listSweepSites(uri.fsPath, { open });
  const found = site === undefined ? listing.sites[0] : listing.sites.find((s) => s.name === site);
  if (!found || found.file === undefined) {
    const names = listing.sites.slice(0, 8).map((s) => `'${s.name}'`);
    throw new NormLensError('usage', `no site '${site ?? ''}' in folder ${uri.fsPath}. Sites: ${names.join(', ')}${listing.sites.length > 8 ? ', ...' : ''}.`);
  }
  const t = folderSiteTarget(found.name, found.file);
  return { uri: vscode.Uri.file(join(uri.fsPath, t.file)), ...(t.site !== undefined ? { site: t.site } : {}) };
}

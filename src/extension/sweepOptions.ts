/**
 * Pure helpers of the whole-model dump support on the VS Code side (no `vscode` import, so unit
 * tests run them in plain Node): sweep cache keys and where a folder site's analysis reads from.
 */

/** Cache key of one sweep: source, its modification stamp and every option that changes the result. */
export function sweepCacheKey(uri: string, stamp: string, options: object): string {
  return JSON.stringify([uri, stamp, sortedKeys(options)]);
}

/** `options` with its keys sorted at every level (two equal option sets give one key). */
function sortedKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortedKeys);
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
        .map((k) => [k, sortedKeys((v as Record<string, unknown>)[k])]),
    );
  }
  return v;
}

/** A site of a folder as one file's analysis sees it: the file, and the site inside it (none: the file's only site). */
export interface FolderSiteTarget {
  file: string;
  site?: string;
}

/**
 * Where a folder site lives: folder sites are named by the file stem (a file with one site) or
 * `stem/site` (DESIGN.md "Whole-model dumps"); `file` is the site's file name from the listing.
 */
export function folderSiteTarget(siteName: string, file: string): FolderSiteTarget {
  for (const prefix of [file, file.replace(/\.[^.]+$/, '')]) {
    if (siteName.startsWith(`${prefix}/`)) return { file, site: siteName.slice(prefix.length + 1) };
  }
  return { file };
}

/** The site to show: the one asked for when the dump has it, else the first. */
export function chooseSite(names: readonly string[], wanted: string | undefined): string | undefined {
  return wanted !== undefined && names.includes(wanted) ? wanted : names[0];
}

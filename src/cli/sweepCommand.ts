import { NormLensError } from '../core/errors';
import { formatSweepText, sweepFailOnTriggered } from '../core/sweep/sweepTable';
import { sweepPath, type SweepAnalysisOptions } from '../worker/sweepRunner';
import { parseNumber, writeJson } from './analyzeCommand';
import { EXIT_FAIL_ON, EXIT_OK, parseArgs, type CliIO } from './cliIO';

/** Help of `normlens sweep`. */
export const SWEEP_HELP = `Usage: normlens sweep PATH [--json] [--layer-axis N] [--feature-axis N] [--eps X] [--groups G]
                      [--bins N] [--fail-on error|warning|never]

Every normalization site of a whole-model dump (a hook on every norm, hidden_states.N, a stacked
tensor with --layer-axis) or of a folder of dumps, one line each: shape, mean/std, max |x|,
outlier features, the norm that best explains the recorded output and its max error, warnings.

  --json            print the SweepReport (schemaVersion 1) instead of the table
  --layer-axis N    split one tensor along axis N into sites NAME[0], NAME[1], ...
  --feature-axis N  axis of the features at every site (default: per site, from the parameters'
                    length, else the replay of the recorded output, else the last axis)
  --eps X           eps inside the square root (default: the one the capture recorded, else 1e-5)
  --groups G        GroupNorm's number of groups (default: fitted to the recorded output)
  --bins N          histogram bins, 2..1024 (default 64)
  --fail-on LEVEL   exit 1 when a site has a warning of that severity (or worse), or (error)
                    could not be analyzed: error, warning, or never (default)

Then: normlens analyze FILE --site NAME for the full report of one site.
Exit codes: 0 success, 1 --fail-on triggered, 2 unreadable or invalid input.
`;

/** `normlens sweep`: every site of a file or folder, on one worker pool, as a table or JSON. */
export async function runSweep(argv: string[], io: CliIO): Promise<number> {
  let args;
  try {
    args = parseArgs(argv, ['layer-axis', 'feature-axis', 'eps', 'groups', 'bins', 'fail-on'], ['json', 'help']);
  } catch (e) {
    throw new NormLensError('usage', (e as Error).message);
  }
  if (args.options.has('help')) {
    io.out(SWEEP_HELP);
    return EXIT_OK;
  }
  if (args.positional.length !== 1) throw new NormLensError('usage', `sweep takes exactly one PATH, a dump file or a folder of dumps (got ${args.positional.length}). Run normlens sweep --help.`);
  const opt = (name: string): string | undefined => {
    const v = args.options.get(name);
    return typeof v === 'string' ? v : undefined;
  };
  const failOn = opt('fail-on') ?? 'never';
  if (failOn !== 'error' && failOn !== 'warning' && failOn !== 'never') throw new NormLensError('usage', `--fail-on ${failOn}: use error, warning or never.`);
  const number = (flag: string, integer: boolean): number | undefined => {
    const v = opt(flag);
    return v === undefined ? undefined : parseNumber(flag, v, integer);
  };
  const eps = number('eps', false);
  const featureAxis = number('feature-axis', true);
  const bins = number('bins', true);
  const groups = number('groups', true);
  const layerAxis = number('layer-axis', true);
  const analysis: SweepAnalysisOptions = {
    ...(eps !== undefined ? { eps } : {}),
    ...(featureAxis !== undefined ? { featureAxis } : {}),
    ...(bins !== undefined ? { bins } : {}),
    ...(groups !== undefined ? { groups } : {}),
  };
  const path = args.positional[0]!;
  let shown = '';
  const show = (text: string): void => {
    if (!io.errIsTTY) return;
    io.err(`\r${text.padEnd(shown.length)}`);
    shown = text;
  };
  let site = '';
  let last = 0;
  const report = await sweepPath(path, { analysis, ...(layerAxis !== undefined ? { layerAxis } : {}) }, {
    onSite: (index, count, name) => {
      site = `site ${index + 1}/${count} ${name}`;
      show(site);
    },
    onProgress: (fraction) => {
      const now = Date.now();
      if (now - last < 100 && fraction < 1) return;
      last = now;
      show(`${site} (${Math.round(fraction * 100)} %)`);
    },
  });
  if (io.errIsTTY && shown !== '') io.err(`\r${' '.repeat(shown.length)}\r`);
  if (args.options.has('json')) {
    writeJson(report, (text) => io.out(text));
    io.out('\n');
  } else {
    io.out(formatSweepText(report));
  }
  return sweepFailOnTriggered(report, failOn) ? EXIT_FAIL_ON : EXIT_OK;
}

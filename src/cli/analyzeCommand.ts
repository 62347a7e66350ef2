import { readFileSync } from 'node:fs';
import { analyzeFile } from '../worker/workerRunner';
import type { AnalysisOptions } from '../core/analysis/plan';
import { hintAsFlag, isNormLensError, NormLensError } from '../core/errors';
import type { AnalysisReport } from '../core/report/analysisReport';
import { formatReportText } from '../core/report/textSummary';
import { EXIT_FAIL_ON, EXIT_OK, parseArgs, withHintFlags, type CliIO } from './cliIO';

/** Help of `normlens analyze` (also documents the --fail-on default). */
export const ANALYZE_HELP = `Usage: normlens analyze FILE [--json] [--tensor NAME] [--mask NAME] [--output NAME]
                        [--weight NAME] [--bias NAME] [--eps X] [--feature-axis N]
                        [--groups G] [--bins N] [--fail-on error|warning|never] [--bf16-from-uint16]
                        [--max-token-series N] [--max-feature-series N] [--max-memory-mb N]
       normlens analyze FILE --site NAME [--layer-axis N] [--json] [--eps X] [--feature-axis N] ...

  --json            print the full AnalysisReport (schemaVersion 1) instead of the summary
  --bf16-from-uint16  read uint16 tensors as raw bfloat16 bits (PyTorch bf16 saved with .view(torch.uint16))
  --site NAME       one site of a whole-model dump (its input with its own output, weight, bias,
                    running stats and mask); normlens sweep FILE lists the site names
  --layer-axis N    with --site: sites NAME[i] are slices of one tensor along axis N
  --tensor NAME     input activations (default: hidden_states|activations|input|x, else the largest float tensor)
  --mask NAME       padding mask, one entry per token, 1 = real, 0 = padding
  --output NAME     recorded norm output to replay LayerNorm/RMSNorm/BatchNorm (and GroupNorm/
                    InstanceNorm on (N, C, ...) inputs) against
  --weight/--bias   affine parameters, one value per feature
  --eps X           eps inside the square root (default: the dump's eps, else 1e-5)
  --feature-axis N  axis of the features (default: the axis a weight/bias/running stat's length
                    matches, else the one whose replay explains --output, else the last)
  --groups G        GroupNorm's number of groups, a divisor of C on an (N, C, ...) input with
                    feature axis 1 (default: fitted to --output, else 32 when C is a multiple of 32)
  --bins N          histogram bins, 2..1024 (default 64)
  --fail-on LEVEL   exit 1 when a warning of that severity (or worse) exists: error, warning,
                    or never (default: never, so warnings alone never fail a run)
  --max-token-series N  most tokens whose per-token arrays are reported in full (default 1048576);
                    above it they are reduced: exact summaries, min/max buckets, top tokens
  --max-feature-series N  most features whose per-feature arrays are reported in full (default
                    1048576); above it the features are analyzed in blocks: exact statistics,
                    histograms and checks, reduced per-feature series
  --max-memory-mb N memory budget of the analysis in MiB (default 1024); a larger estimate stops
                    with an error before reading the data

Exit codes: 0 success, 1 --fail-on triggered, 2 unreadable or invalid input.
`;

const SEVERITY_RANK = { info: 0, warning: 1, error: 2 } as const;

/** Parses the value of `--flag` as a number (an integer when asked); a usage error otherwise. */
export function parseNumber(flag: string, text: string, integer: boolean): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw new NormLensError('usage', `--${flag} ${text}: expected ${integer ? 'an integer' : 'a number'}.`);
  }
  return v;
}

/** True when `report` has a warning at or above `failOn`. */
export function failOnTriggered(report: AnalysisReport, failOn: 'error' | 'warning' | 'never'): boolean {
  if (failOn === 'never') return false;
  return report.warnings.some((w) => SEVERITY_RANK[w.severity] >= SEVERITY_RANK[failOn]);
}

/**
 * Writes exactly the text of `JSON.stringify(value)` through `write`, in pieces of about
 * `pieceChars` characters, without ever holding the whole text: objects are walked key by key and
 * long arrays (per-token series of big dumps) are serialized `sliceLength` elements at a time. Keeps
 * the peak memory of `--json` on multi-GiB dumps flat and is faster than one huge string.
 */
export function writeJson(value: unknown, write: (text: string) => void, pieceChars = 1 << 20, sliceLength = 8192): void {
  let parts: string[] = [];
  let size = 0;
  const emit = (text: string): void => {
    parts.push(text);
    size += text.length;
    if (size >= pieceChars) {
      write(parts.join(''));
      parts = [];
      size = 0;
    }
  };
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) {
      if (v.length <= sliceLength) {
        emit(JSON.stringify(v));
        return;
      }
      emit('[');
      for (let i = 0; i < v.length; i += sliceLength) {
        const text = JSON.stringify(v.slice(i, i + sliceLength));
        emit((i > 0 ? ',' : '') + text.slice(1, -1));
      }
      emit(']');
      return;
    }
    if (v !== null && typeof v === 'object' && !ArrayBuffer.isView(v) && typeof (v as { toJSON?: unknown }).toJSON !== 'function') {
      emit('{');
      let first = true;
      for (const [key, x] of Object.entries(v)) {
        // JSON.stringify leaves these keys out.
        if (x === undefined || typeof x === 'function' || typeof x === 'symbol') continue;
        emit(`${first ? '' : ','}${JSON.stringify(key)}:`);
        first = false;
        visit(x);
      }
      emit('}');
      return;
    }
    emit(JSON.stringify(v));
  };
  visit(value);
  if (parts.length > 0) write(parts.join(''));
}

/** `, main thread N ms CPU` from /proc/thread-self/stat (Linux), else nothing. */
function threadCpu(): string {
  try {
    const stat = readFileSync('/proc/thread-self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? `, main thread ${ticks * 10} ms CPU` : '';
  } catch {
    return '';
  }
}

/** `normlens analyze`: analyzes one dump (worker threads for big files) and prints the summary or JSON. */
export async function runAnalyze(argv: string[], io: CliIO): Promise<number> {
  let args;
  try {
    args = parseArgs(argv, ['tensor', 'mask', 'output', 'weight', 'bias', 'eps', 'feature-axis', 'groups', 'bins', 'fail-on', 'site', 'layer-axis', 'max-token-series', 'max-feature-series', 'max-memory-mb'], ['json', 'help', 'bf16-from-uint16']);
  } catch (e) {
    throw new NormLensError('usage', (e as Error).message);
  }
  if (args.options.has('help')) {
    io.out(ANALYZE_HELP);
    return EXIT_OK;
  }
  if (args.positional.length !== 1) throw new NormLensError('usage', `analyze takes exactly one FILE (got ${args.positional.length}). Run normlens analyze --help.`);
  const opt = (name: string): string | undefined => {
    const v = args.options.get(name);
    return typeof v === 'string' ? v : undefined;
  };
  const failOn = opt('fail-on') ?? 'never';
  if (failOn !== 'error' && failOn !== 'warning' && failOn !== 'never') throw new NormLensError('usage', `--fail-on ${failOn}: use error, warning or never.`);
  const eps = opt('eps');
  const axis = opt('feature-axis');
  const bins = opt('bins');
  const groups = opt('groups');
  const maxTokenSeries = opt('max-token-series');
  const maxFeatureSeries = opt('max-feature-series');
  const maxMemoryMB = opt('max-memory-mb');
  const options: AnalysisOptions = {
    ...(opt('tensor') !== undefined ? { tensor: opt('tensor') } : {}),
    ...(opt('mask') !== undefined ? { mask: opt('mask') } : {}),
    ...(opt('output') !== undefined ? { output: opt('output') } : {}),
    ...(opt('weight') !== undefined ? { weight: opt('weight') } : {}),
    ...(opt('bias') !== undefined ? { bias: opt('bias') } : {}),
    ...(eps !== undefined ? { eps: parseNumber('eps', eps, false) } : {}),
    ...(axis !== undefined ? { featureAxis: parseNumber('feature-axis', axis, true) } : {}),
    ...(bins !== undefined ? { bins: parseNumber('bins', bins, true) } : {}),
    ...(groups !== undefined ? { groups: parseNumber('groups', groups, true) } : {}),
    ...(maxTokenSeries !== undefined ? { maxTokenSeries: parseNumber('max-token-series', maxTokenSeries, true) } : {}),
    ...(maxFeatureSeries !== undefined ? { maxFeatureSeries: parseNumber('max-feature-series', maxFeatureSeries, true) } : {}),
    ...(maxMemoryMB !== undefined ? { maxMemoryMB: parseNumber('max-memory-mb', maxMemoryMB, false) } : {}),
  };
  const site = opt('site');
  const layerAxis = opt('layer-axis');
  if (layerAxis !== undefined && site === undefined) throw new NormLensError('usage', '--layer-axis needs --site NAME (or use normlens sweep FILE --layer-axis N to see every slice).');
  if (site !== undefined) {
    const picked = ['tensor', 'mask', 'output', 'weight', 'bias'].filter((f) => args.options.has(f));
    if (picked.length > 0) throw new NormLensError('usage', `--site ${site} picks the site's own tensors: leave out --${picked.join(', --')}.`);
  }
  const file = args.positional[0]!;
  let report: AnalysisReport;
  // NORMLENS_TRACE=1: when each step of the run happened, in ms since the process started, and (on
  // Linux) the CPU time of this thread so far (stderr).
  const trace = process.env.NORMLENS_TRACE ? (name: string): void => io.err(`normlens: +${performance.now().toFixed(0)} ms ${name}${threadCpu()}\n`) : null;
  try {
    ({ report } = await analyzeFile(file, {
      analysis: options,
      ...(trace ? { onMark: trace } : {}),
      ...(args.options.has('bf16-from-uint16') ? { open: { bf16FromUint16: true } } : {}),
      ...(site !== undefined ? { site } : {}),
      ...(layerAxis !== undefined ? { layerAxis: parseNumber('layer-axis', layerAxis, true) } : {}),
    }));
  } catch (e) {
    // An unknown site: point at the command that lists them all.
    if (site !== undefined && e instanceof NormLensError && e.message.startsWith(`--site ${site}: no such site`)) {
      throw new NormLensError('usage', `${e.message} List them with: normlens sweep ${file}`);
    }
    // Core errors carry hints as data; on the command line they read as the flags that apply them.
    if (isNormLensError(e) && e.hints.length > 0) throw new NormLensError(e.kind, withHintFlags(e.message, e.hints), e.hints);
    throw e;
  }
  if (args.options.has('json')) writeJson(report, (text) => io.out(text));
  else io.out(formatReportText(report, hintAsFlag));
  if (args.options.has('json')) io.out('\n');
  trace?.('written');
  return failOnTriggered(report, failOn) ? EXIT_FAIL_ON : EXIT_OK;
}

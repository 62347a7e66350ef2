import { isNormLensError } from '../core/errors';
import { EXIT_BAD_INPUT, EXIT_OK, type CliIO } from './cliIO';

declare const NORMLENS_VERSION: string;

/** One CLI subcommand: runs with its own arguments and returns the exit code. */
type Command = (argv: string[], io: CliIO) => Promise<number>;

/** Subcommands by name. Each lives in its own file (`infoCommand.ts`, `analyzeCommand.ts`). */
const commands: Record<string, () => Promise<Command>> = {
  info: async () => (await import('./infoCommand')).runInfo,
  analyze: async () => (await import('./analyzeCommand')).runAnalyze,
  sweep: async () => (await import('./sweepCommand')).runSweep,
};

export const HELP = `normlens - what LayerNorm, RMSNorm, BatchNorm, GroupNorm and InstanceNorm do to your activations

Usage:
  normlens info FILE [--json]
      List the tensors of a .npy, .npz, .safetensors or .json dump: name, dtype, shape, role.
  normlens analyze FILE [--json] [--tensor NAME] [--mask NAME] [--output NAME]
                   [--weight NAME] [--bias NAME] [--eps X] [--feature-axis N]
                   [--groups G] [--bins N] [--fail-on error|warning|never]
      Per-token LayerNorm/RMSNorm and per-feature BatchNorm statistics (per-sample
      GroupNorm/InstanceNorm on (N, C, ...) inputs), histograms, norm replay against
      a recorded output, and warnings.
  normlens analyze FILE --site NAME [--layer-axis N] [--json] [--eps X] [--feature-axis N] ...
      The full report of one site of a whole-model dump (see normlens sweep FILE for the names).
  normlens sweep PATH [--json] [--layer-axis N] [--feature-axis N] [--eps X] [--groups G]
                 [--bins N] [--fail-on error|warning|never]
      Every normalization site of a dump file or a folder of dumps, one line each: shape,
      mean/std, max |x|, outlier features, best-matching norm and its error, warnings.
  normlens --version | --help

Exit codes: 0 success, 1 --fail-on triggered, 2 unreadable or invalid input.
`;

/** Runs the CLI and returns the process exit code; never throws. */
export async function main(argv: string[], io: CliIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(HELP);
    return EXIT_OK;
  }
  if (name === '--version' || name === '-V') {
    io.out(`${typeof NORMLENS_VERSION === 'string' ? NORMLENS_VERSION : 'dev'}\n`);
    return EXIT_OK;
  }
  const load = commands[name];
  if (!load) {
    io.err(`normlens: error: unknown command '${name}'. Run normlens --help for the commands.\n`);
    return EXIT_BAD_INPUT;
  }
  try {
    const cmd = await load();
    return await cmd(rest, io);
  } catch (e) {
    const msg = isNormLensError(e) || e instanceof Error ? e.message : String(e);
    io.err(`normlens: error: ${msg.replace(/\s*\n\s*/g, ' ')}\n`);
    return EXIT_BAD_INPUT;
  }
}

if (require.main === module) {
  // A reader that stops early (`normlens analyze big.npy --json | head`) closes the pipe: stop
  // quietly, as other command-line tools do, instead of an unhandled EPIPE with a stack trace.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
  void main(process.argv.slice(2), {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
    errIsTTY: process.stderr.isTTY === true,
  }).then((code) => {
    process.exitCode = code;
  });
}

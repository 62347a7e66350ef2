import { hintAsFlag, type NormLensHint } from '../core/errors';

/** Where a CLI command writes; injectable so tests can capture output. */
export interface CliIO {
  out(text: string): void;
  err(text: string): void;
  /** True when stderr is a terminal: long commands then show progress there. */
  readonly errIsTTY?: boolean;
}

/** Exit codes of the contract in DESIGN.md. */
export const EXIT_OK = 0;
export const EXIT_FAIL_ON = 1;
export const EXIT_BAD_INPUT = 2;

/** A parsed command line: positional arguments and `--flag value` / `--switch` options. */
export interface ParsedArgs {
  positional: string[];
  options: Map<string, string | true>;
}

/**
 * Parses `argv` given which flags take a value. Unknown flags are a usage error (thrown as a
 * message string for the caller to print).
 */
export function parseArgs(argv: readonly string[], valueFlags: readonly string[], switches: readonly string[]): ParsedArgs {
  const positional: string[] = [];
  const options = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      if (valueFlags.includes(name)) {
        const v = eq >= 0 ? a.slice(eq + 1) : argv[++i];
        if (v === undefined) throw new Error(`--${name} needs a value`);
        options.set(name, v);
      } else if (switches.includes(name) && eq < 0) {
        options.set(name, true);
      } else {
        throw new Error(`unknown option --${name}; see normlens --help`);
      }
    } else {
      positional.push(a);
    }
  }
  return { positional, options };
}

/** A core message followed by its hints as flags: "… (try --feature-axis 1, --max-memory-mb 2048)". */
export function withHintFlags(message: string, hints: readonly NormLensHint[] | undefined): string {
  if (!hints || hints.length === 0) return message;
  return `${message} (try ${hints.map(hintAsFlag).join(', ')})`;
}

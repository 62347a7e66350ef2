// What the benchmark scripts (scripts/bench*.mjs) share: paths, flags, prerequisites, and running
// one whole process under GNU time -v.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const dataDir = join(root, 'bench-data');
export const cli = join(root, 'dist', 'cli.js');
export const MiB = 1024 * 1024;
export const args = process.argv.slice(2);

/** The value after `--name` on the command line, else `fallback`. */
export function flag(name, fallback) {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
}

/** Exits with a message when GNU time or the built CLI is missing; makes bench-data/. */
export function requireTools() {
  if (!existsSync('/usr/bin/time')) {
    console.error('GNU time is missing: apt-get install -y time');
    process.exit(2);
  }
  if (!existsSync(cli)) {
    console.error('dist/cli.js is missing: run npm run build first');
    process.exit(2);
  }
  mkdirSync(dataDir, { recursive: true });
}

/**
 * Runs `cmd args` under GNU time -v: exit status, wall seconds, user+sys CPU seconds, peak RSS (MiB),
 * stdout and stderr. `options` go to spawnSync (stdio, for one).
 */
export function timed(cmd, cmdArgs, options = {}) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-v', cmd, ...cmdArgs], { encoding: 'utf8', maxBuffer: 1 << 30, ...options });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const num = (re) => Number(re.exec(r.stderr)?.[1] ?? NaN);
  const rss = num(/Maximum resident set size \(kbytes\): (\d+)/) / 1024;
  const cpu = num(/User time \(seconds\): ([\d.]+)/) + num(/System time \(seconds\): ([\d.]+)/);
  return { status: r.status, wall, cpu, rss, stdout: r.stdout ?? '', stderr: r.stderr };
}

/** Median of a list of numbers (NaN when empty). */
export function median(a) {
  if (a.length === 0) return NaN;
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

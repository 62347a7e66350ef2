#!/usr/bin/env node
// Benchmark of `normlens sweep` (npm run bench:sweep; not a test). Writes two 1 GiB safetensors in
// bench-data/ (git-ignored) with scripts/bench/make_sweep_data.py: 16 sites `layers.N.input` of
// (4, 1024, 4096) float32, and one `hidden_states` of (64, 1024, 4096). Then alternates whole
// `node dist/cli.js sweep --json` and `node dist/cli.js analyze --json` processes under GNU time -v
// and prints median wall times, their ratio (target ≤ 1.3) and the peak RSS (target < 300 MiB).
//   node scripts/bench-sweep.mjs [--rounds N]
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const at = args.indexOf('--rounds');
const rounds = at >= 0 ? Number(args[at + 1]) : 5;
const dataDir = join(root, 'bench-data');
const cli = join(root, 'dist', 'cli.js');
const MiB = 1024 * 1024;

if (!existsSync('/usr/bin/time')) {
  console.error('GNU time is missing: apt-get install -y time');
  process.exit(2);
}
if (!existsSync(cli)) {
  console.error('dist/cli.js is missing: run npm run build first');
  process.exit(2);
}
execFileSync('python3', [join(root, 'scripts', 'bench', 'make_sweep_data.py'), dataDir], { stdio: 'inherit' });
const sweepFile = join(dataDir, 'sweep16.safetensors');
const oneFile = join(dataDir, 'one1g.safetensors');

/** Runs one CLI process under GNU time -v: wall seconds and peak RSS in bytes. */
function measure(argv) {
  const r = spawnSync('/usr/bin/time', ['-v', 'node', cli, ...argv], { encoding: 'utf8', maxBuffer: 256 * MiB });
  if (r.status !== 0) throw new Error(`normlens ${argv.join(' ')} exited with ${r.status}: ${r.stderr}`);
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)/.exec(r.stderr);
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr);
  const seconds = Number(wall[1] ?? 0) * 3600 + Number(wall[2]) * 60 + Number(wall[3]);
  return { seconds, rss: Number(rss[1]) * 1024, out: r.stdout };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
// One warm-up of each (page cache), then alternate so both see the same machine load.
const check = JSON.parse(measure(['sweep', sweepFile, '--json']).out);
measure(['analyze', oneFile, '--json']);
const sweep = [];
const analyze = [];
for (let k = 0; k < rounds; k++) {
  sweep.push(measure(['sweep', sweepFile, '--json']));
  analyze.push(measure(['analyze', oneFile, '--json']));
}
const ts = median(sweep.map((r) => r.seconds));
const ta = median(analyze.map((r) => r.seconds));
const peakSweep = Math.max(...sweep.map((r) => r.rss));
const peakAnalyze = Math.max(...analyze.map((r) => r.rss));
console.log(`sites swept: ${check.sites.length} (${check.sites.filter((s) => s.error).length} failed), workers ${check.timing.workers}`);
console.log(`sweep   16 × (4, 1024, 4096) float32, 1 GiB: median ${ts.toFixed(2)} s over ${rounds} runs (${sweep.map((r) => r.seconds.toFixed(2)).join(', ')}), peak RSS ${(peakSweep / MiB).toFixed(0)} MiB`);
console.log(`analyze (64, 1024, 4096) float32, 1 GiB:      median ${ta.toFixed(2)} s over ${rounds} runs (${analyze.map((r) => r.seconds.toFixed(2)).join(', ')}), peak RSS ${(peakAnalyze / MiB).toFixed(0)} MiB`);
console.log(`ratio sweep / analyze: ${(ts / ta).toFixed(2)} (target ≤ 1.30); sweep peak RSS ${peakSweep < 300 * MiB ? '<' : '≥'} 300 MiB`);

#!/usr/bin/env node
// Benchmark of `normlens sweep` (npm run bench:sweep; not a test). Writes two 1 GiB safetensors in
// bench-data/ (git-ignored) with scripts/bench/make_sweep_data.py: 16 sites `layers.N.input` of
// (4, 1024, 4096) float32, and one `hidden_states` of (64, 1024, 4096). Then alternates whole
// `node dist/cli.js sweep --json` and `node dist/cli.js analyze --json` processes under GNU time -v
// and prints median wall times, their ratio (target ≤ 1.3) and the peak RSS (target < 300 MiB).
//   node scripts/bench-sweep.mjs [--rounds N]
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { cli, dataDir, flag, median, requireTools, root, timed } from './bench/common.mjs';

const rounds = Number(flag('rounds', '5'));

requireTools();
execFileSync('python3', [join(root, 'scripts', 'bench', 'make_sweep_data.py'), dataDir], { stdio: 'inherit' });
const sweepFile = join(dataDir, 'sweep16.safetensors');
const oneFile = join(dataDir, 'one1g.safetensors');

/** Runs one CLI process under GNU time -v: wall seconds and peak RSS (MiB). */
function measure(argv) {
  const r = timed('node', [cli, ...argv]);
  if (r.status !== 0) throw new Error(`normlens ${argv.join(' ')} exited with ${r.status}: ${r.stderr}`);
  return { seconds: r.wall, rss: r.rss, out: r.stdout };
}

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
console.log(`sweep   16 × (4, 1024, 4096) float32, 1 GiB: median ${ts.toFixed(2)} s over ${rounds} runs (${sweep.map((r) => r.seconds.toFixed(2)).join(', ')}), peak RSS ${peakSweep.toFixed(0)} MiB`);
console.log(`analyze (64, 1024, 4096) float32, 1 GiB:      median ${ta.toFixed(2)} s over ${rounds} runs (${analyze.map((r) => r.seconds.toFixed(2)).join(', ')}), peak RSS ${peakAnalyze.toFixed(0)} MiB`);
console.log(`ratio sweep / analyze: ${(ts / ta).toFixed(2)} (target ≤ 1.30); sweep peak RSS ${peakSweep < 300 ? '<' : '≥'} 300 MiB`);

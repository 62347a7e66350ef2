#!/usr/bin/env node
// Benchmark of `normlens analyze` (npm run bench; not a test). Generates a (16, 1024, 4096) float32
// .npy (256 MiB) in bench-data/ (git-ignored), then alternates the whole `node dist/cli.js analyze
// --json` process with a PyTorch (2 threads) and a numpy float64 script doing the same statistics and
// histograms, and prints median times, ratios and peak RSS (GNU time -v).
//   node scripts/bench.mjs [--rounds N] [--shape 16,1024,4096] [--skip-numpy]
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const rounds = Number(flag('rounds', '5'));
const shape = flag('shape', '16,1024,4096').split(',').map(Number);
const skipNumpy = args.includes('--skip-numpy');
const dataDir = join(root, 'bench-data');
const file = join(dataDir, `bench-${shape.join('x')}.npy`);
const cli = join(root, 'dist', 'cli.js');
const reference = join(root, 'scripts', 'bench', 'reference_stats.py');

if (!existsSync('/usr/bin/time')) {
  console.error('GNU time is missing: apt-get install -y time');
  process.exit(2);
}
if (!existsSync(cli)) {
  console.error('dist/cli.js is missing: run npm run build first');
  process.exit(2);
}
mkdirSync(dataDir, { recursive: true });
if (!existsSync(file)) {
  console.log(`generating ${file} ...`);
  execFileSync('python3', ['-c', `import numpy as np; r = np.random.default_rng(0); x = r.standard_normal((${shape.join(',')}), dtype=np.float32); x[:, :, 7] *= 40; np.save(${JSON.stringify(file)}, x)`], { stdio: 'inherit' });
}

/** Runs a command under GNU time -v: wall seconds, peak RSS (MiB) and stdout. */
function timed(cmd, cmdArgs) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-v', cmd, ...cmdArgs], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${cmdArgs.join(' ')} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const rss = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr)?.[1] ?? NaN) / 1024;
  return { wall, rss, stdout: r.stdout };
}

const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const results = { normlens: [], normlensRss: [], normlensInternal: [], torchInProcess: [], torchWall: [], torchRss: [], numpyInProcess: [], numpyWall: [], numpyRss: [] };
for (let k = 0; k < rounds; k++) {
  const n = timed('node', [cli, 'analyze', file, '--json']);
  const report = JSON.parse(n.stdout);
  results.normlens.push(n.wall);
  results.normlensRss.push(n.rss);
  results.normlensInternal.push(report.timing.totalMs / 1000);
  const t = timed('python3', [reference, 'torch', file]);
  results.torchInProcess.push(JSON.parse(t.stdout).seconds);
  results.torchWall.push(t.wall);
  results.torchRss.push(t.rss);
  if (!skipNumpy) {
    const p = timed('python3', [reference, 'numpy', file]);
    results.numpyInProcess.push(JSON.parse(p.stdout).seconds);
    results.numpyWall.push(p.wall);
    results.numpyRss.push(p.rss);
  }
  console.log(`round ${k + 1}/${rounds}: normlens ${n.wall.toFixed(3)} s (${report.timing.workers} workers, ${n.rss.toFixed(0)} MiB), torch ${JSON.parse(t.stdout).seconds.toFixed(3)} s in process`);
}
const m = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v.length ? median(v) : NaN]));
console.log(`\n${file} (${shape.join('x')} float32), median of ${rounds}:`);
console.log(`  normlens analyze --json (whole process): ${m.normlens.toFixed(3)} s (analysis itself ${m.normlensInternal.toFixed(3)} s), peak RSS ${m.normlensRss.toFixed(0)} MiB`);
console.log(`  PyTorch (2 threads, in process):         ${m.torchInProcess.toFixed(3)} s (whole process ${m.torchWall.toFixed(3)} s), peak RSS ${m.torchRss.toFixed(0)} MiB`);
if (!skipNumpy) console.log(`  numpy float64 (in process):              ${m.numpyInProcess.toFixed(3)} s (whole process ${m.numpyWall.toFixed(3)} s), peak RSS ${m.numpyRss.toFixed(0)} MiB`);
console.log(`  ratio normlens / PyTorch in-process: ${(m.normlens / m.torchInProcess).toFixed(3)} (target ≤ 0.25)`);
if (!skipNumpy) console.log(`  ratio normlens / numpy in-process:   ${(m.normlens / m.numpyInProcess).toFixed(3)}`);

#!/usr/bin/env node
// Benchmark of `normlens analyze` (npm run bench; not a test). Generates a (16, 1024, 4096) float32
// .npy (256 MiB) in bench-data/ (git-ignored), then alternates the whole `node dist/cli.js analyze
// --json` process with a PyTorch (2 threads) script doing the same statistics and histograms, then
// (a second phase) with a numpy float64 one, and prints median times, ratios and peak RSS (GNU
// time -v). Then it checks memory and scaling on larger dumps of the same shape family (1 GiB and
// 2 GiB, generated in bench-data/ and deleted afterwards): normlens time per GiB and peak RSS
// (target < 300 MiB on 2 GiB). With --xl also an 8 GiB dump (needs 8 GiB free in bench-data/; one
// round): time should stay linear in size (the same s/GiB) and peak RSS bounded by the chunk size,
// not by the file.
//   node scripts/bench.mjs [--rounds N] [--shape 16,1024,4096] [--skip-numpy] [--skip-torch]
//                          [--large-rounds N] [--skip-large] [--keep-large] [--xl]
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { args, cli, dataDir, flag, median, MiB, requireTools, root, timed as timedRun } from './bench/common.mjs';

const rounds = Number(flag('rounds', '5'));
const largeRounds = Number(flag('large-rounds', '3'));
const shape = flag('shape', '16,1024,4096').split(',').map(Number);
const skipNumpy = args.includes('--skip-numpy');
const skipTorch = args.includes('--skip-torch');
const skipLarge = args.includes('--skip-large');
const keepLarge = args.includes('--keep-large');
const xl = args.includes('--xl');
const reference = join(root, 'scripts', 'bench', 'reference_stats.py');

requireTools();

const fileFor = (s) => join(dataDir, `bench-${s.join('x')}.npy`);

/** Writes a float32 .npy of shape `s` in slices along axis 0 (bounded memory, any size). */
function generate(s) {
  const file = fileFor(s);
  if (existsSync(file)) return file;
  console.log(`generating ${file} ...`);
  const script = [
    'import numpy as np, sys',
    `shape = (${s.join(',')},)`,
    `x = np.lib.format.open_memmap(${JSON.stringify(file)}, mode='w+', dtype=np.float32, shape=shape)`,
    'r = np.random.default_rng(0)',
    'for i in range(shape[0]):',
    '    a = r.standard_normal(shape[1:], dtype=np.float32)',
    '    a[..., 7] *= 40',
    '    x[i] = a',
    'x.flush()',
  ].join('\n');
  execFileSync('python3', ['-c', script], { stdio: 'inherit' });
  return file;
}

/** Runs a command under GNU time -v; a failure stops the benchmark. */
function timed(cmd, cmdArgs) {
  const r = timedRun(cmd, cmdArgs);
  if (r.status !== 0) throw new Error(`${cmd} ${cmdArgs.join(' ')} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return r;
}

/** One `normlens analyze --json` run: wall, CPU, RSS and the report's own timing. */
function normlens(file) {
  const n = timed('node', [cli, 'analyze', file, '--json']);
  const report = JSON.parse(n.stdout);
  return { ...n, analysis: report.timing.totalMs / 1000, workers: report.timing.workers };
}

const fmt = (v, d = 3) => (Number.isFinite(v) ? v.toFixed(d) : 'n/a');

const file = generate(shape);
const results = { normlens: [], normlensCpu: [], normlensRss: [], normlensAnalysis: [], torchInProcess: [], torchWall: [], torchRss: [], numpyInProcess: [], numpyWall: [], numpyRss: [] };
/** normlens's whole-process time in each phase's rounds (each ratio comes from its own pairs). */
const pairedNormlens = { torch: [], numpy: [] };
// One phase per reference, PyTorch first: each round runs normlens, then the reference, and each
// ratio comes from its own phase's pairs. numpy's phase comes after PyTorch's, so that its minute or
// so at full load (8-12 s a run) does not sit between the runs of the ratio the target is about.
const phases = [
  ['torch', skipTorch],
  ['numpy', skipNumpy],
].filter(([, skip]) => !skip);
for (const [mode] of phases.length > 0 ? phases : [['none']]) {
  for (let k = 0; k < rounds; k++) {
    const n = normlens(file);
    results.normlens.push(n.wall);
    results.normlensCpu.push(n.cpu);
    results.normlensRss.push(n.rss);
    results.normlensAnalysis.push(n.analysis);
    let line = `${mode === 'none' ? '' : `${mode} phase, `}round ${k + 1}/${rounds}: normlens ${n.wall.toFixed(3)} s (analysis ${n.analysis.toFixed(3)} s, cpu ${n.cpu.toFixed(2)} s, ${n.workers} workers, ${n.rss.toFixed(0)} MiB)`;
    if (mode !== 'none') {
      // The reference, timed the same way: in-process seconds (from the script), wall, peak RSS.
      pairedNormlens[mode].push(n.wall);
      const run = timed('python3', [reference, mode, file]);
      const s = JSON.parse(run.stdout).seconds;
      results[`${mode}InProcess`].push(s);
      results[`${mode}Wall`].push(run.wall);
      results[`${mode}Rss`].push(run.rss);
      line += `, ${mode} ${s.toFixed(3)} s in process`;
    }
    console.log(line);
  }
}
const m = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)]));
const sizeMiB = statSync(file).size / MiB;
console.log(`\n${file} (${shape.join('x')} float32, ${sizeMiB.toFixed(0)} MiB), median of ${results.normlens.length} (normlens) and ${rounds} (each reference):`);
console.log(`  normlens analyze --json, whole process:  ${fmt(m.normlens)} s   (user+sys CPU ${fmt(m.normlensCpu, 2)} s)   peak RSS ${fmt(m.normlensRss, 0)} MiB`);
console.log(`  normlens analysis only (report.timing):  ${fmt(m.normlensAnalysis)} s`);
if (!skipTorch) console.log(`  PyTorch (2 threads), in process:         ${fmt(m.torchInProcess)} s   (whole process ${fmt(m.torchWall)} s)   peak RSS ${fmt(m.torchRss, 0)} MiB`);
if (!skipNumpy) console.log(`  numpy float64, in process:               ${fmt(m.numpyInProcess)} s   (whole process ${fmt(m.numpyWall)} s)   peak RSS ${fmt(m.numpyRss, 0)} MiB`);
/**
 * normlens / reference from a phase's own alternated runs: the ratio of their medians, and the
 * median and range of each round's ratio (a machine busier for a while moves both sides of a round).
 */
const ratio = (mode) => {
  const own = pairedNormlens[mode];
  const ref = results[`${mode}InProcess`];
  const r = own.map((n, k) => n / ref[k]);
  return `${fmt(median(own) / median(ref))}   (normlens ${fmt(median(own))} s in this phase; per round ${fmt(median(r))} median, ${fmt(Math.min(...r))}–${fmt(Math.max(...r))}`;
};
if (!skipTorch) console.log(`  ratio normlens (whole process) / PyTorch (in process): ${ratio('torch')}; target ≤ 0.25)`);
if (!skipNumpy) console.log(`  ratio normlens (whole process) / numpy (in process):   ${ratio('numpy')})`);

if (!skipLarge) {
  // Same family, more batch rows: 4x (1 GiB) and 8x (2 GiB) the base dump; --xl adds 32x (8 GiB).
  const factors = xl ? [4, 8, 32] : [4, 8];
  const scaled = factors.map((k) => [shape[0] * k, ...shape.slice(1)]);
  const rows = [{ shape, file, sizeMiB, wall: m.normlens, analysis: m.normlensAnalysis, rss: m.normlensRss, generated: false }];
  for (const s of scaled) {
    const existed = existsSync(fileFor(s));
    const f = generate(s);
    const runs = [];
    // The 8 GiB dump runs once (each run reads 8 GiB).
    const n = s[0] >= shape[0] * 32 ? 1 : largeRounds;
    for (let k = 0; k < n; k++) runs.push(normlens(f));
    rows.push({ shape: s, file: f, sizeMiB: statSync(f).size / MiB, wall: median(runs.map((r) => r.wall)), analysis: median(runs.map((r) => r.analysis)), rss: Math.max(...runs.map((r) => r.rss)), generated: !existed });
  }
  console.log(`\nscaling (normlens analyze --json; median of ${largeRounds} on the larger dumps, RSS is the max):`);
  for (const r of rows) {
    const gib = r.sizeMiB / 1024;
    console.log(`  ${r.shape.join('x').padEnd(14)} ${(r.sizeMiB.toFixed(0) + ' MiB').padStart(9)}: ${fmt(r.wall)} s whole process (${fmt(r.wall / gib, 2)} s/GiB), analysis ${fmt(r.analysis)} s (${fmt(r.analysis / gib, 2)} s/GiB), peak RSS ${fmt(r.rss, 0)} MiB`);
  }
  const twoGiB = rows.find((r) => r.shape[0] === shape[0] * 8) ?? rows[rows.length - 1];
  console.log(`  2 GiB dump peak RSS: ${fmt(twoGiB.rss, 0)} MiB (target < 300 MiB) ${twoGiB.rss < 300 ? 'OK' : 'OVER'}`);
  if (xl) {
    const base = rows[0];
    const big = rows[rows.length - 1];
    const perGiB = (r) => r.wall / (r.sizeMiB / 1024);
    console.log(`  8 GiB dump: ${fmt(big.wall)} s (${fmt(perGiB(big), 2)} s/GiB vs ${fmt(perGiB(base), 2)} s/GiB at ${base.sizeMiB.toFixed(0)} MiB: ${fmt(perGiB(big) / perGiB(base), 2)}x), peak RSS ${fmt(big.rss, 0)} MiB (vs ${fmt(base.rss, 0)} MiB)`);
  }
  for (const r of rows) if (r.generated && !keepLarge) rmSync(r.file, { force: true });
}

#!/usr/bin/env node
// Memory check of `normlens analyze` on shapes that are extreme in one dimension (npm run bench:memory;
// not a unit test: it writes ~0.8 GiB of dumps into bench-data/, git-ignored). Each dump is analyzed
// twice as a whole process, once for the text summary and once with --json, under GNU time -v; the
// script prints peak RSS, wall time and output size, and exits 1 when a run fails, exceeds the RSS
// limit (300 MiB) or writes a JSON report over 16 MiB.
//   node scripts/bench-memory.mjs [--only NAME] [--rss-limit-mib 300] [--report-limit-mib 16] [--keep]
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, openSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { cli, dataDir, flag, MiB, requireTools, timed } from './bench/common.mjs';

const only = flag('only', null);
const rssLimit = Number(flag('rss-limit-mib', '300'));
const reportLimit = Number(flag('report-limit-mib', '16'));
const keep = process.argv.includes('--keep');

requireTools();

/** The shapes of issue 9: long token axes, a huge feature axis, vocab-sized logits, a big uint8 dump. */
const CASES = [
  { name: 'tokens-2^24', shape: [2 ** 24, 2], dtype: 'float32' },
  { name: 'features-2^24', shape: [2, 2 ** 24], dtype: 'float32' },
  { name: 'llama3-logits', shape: [1, 4, 128256], dtype: 'float32' },
  { name: 'uint8-2^28', shape: [2 ** 28, 2], dtype: 'uint8' },
];

/** Writes the dump with numpy through a memmap, in slices (bounded memory). */
function generate(c) {
  const file = join(dataDir, `memory-${c.name}.npy`);
  if (existsSync(file)) return file;
  console.log(`generating ${file} ...`);
  const script = [
    'import numpy as np',
    `shape = (${c.shape.join(',')},)`,
    `x = np.lib.format.open_memmap(${JSON.stringify(file)}, mode='w+', dtype=np.${c.dtype}, shape=shape)`,
    'r = np.random.default_rng(0)',
    'flat = x.reshape(-1)',
    'step = 1 << 24',
    'for s in range(0, flat.size, step):',
    '    n = min(step, flat.size - s)',
    `    flat[s:s + n] = ${c.dtype === 'uint8' ? 'r.integers(0, 256, n, dtype=np.uint8)' : 'r.standard_normal(n, dtype=np.float32)'}`,
    'x.flush()',
  ].join('\n');
  execFileSync('python3', ['-c', script], { stdio: 'inherit' });
  return file;
}

/** One whole `normlens analyze` process: exit code, peak RSS (MiB), wall seconds, stdout bytes, stderr. */
function run(file, json) {
  const out = join(dataDir, `memory-output${json ? '.json' : '.txt'}`);
  const fd = openSync(out, 'w');
  const r = timed('node', [cli, 'analyze', file, ...(json ? ['--json'] : [])], { stdio: ['ignore', fd, 'pipe'] });
  closeSync(fd);
  const size = statSync(out).size;
  const stderr = r.stderr.split('\n').filter((l) => l.startsWith('normlens:')).join(' ');
  rmSync(out);
  return { status: r.status, rss: r.rss, wall: r.wall, size, stderr };
}

let failed = 0;
const rows = [];
for (const c of CASES) {
  if (only && c.name !== only) continue;
  const file = generate(c);
  for (const json of [false, true]) {
    const r = run(file, json);
    const problems = [];
    if (r.status !== 0) problems.push(`exit ${r.status} ${r.stderr}`);
    if (!(r.rss < rssLimit)) problems.push(`peak RSS ${r.rss.toFixed(0)} MiB ≥ ${rssLimit}`);
    if (json && r.size > reportLimit * MiB) problems.push(`report ${(r.size / MiB).toFixed(1)} MiB > ${reportLimit}`);
    if (problems.length) failed++;
    rows.push({
      dump: `${c.name} (${c.shape.join('×')} ${c.dtype}, ${(statSync(file).size / MiB).toFixed(0)} MiB)`,
      mode: json ? '--json' : 'text',
      'peak RSS MiB': r.rss.toFixed(0),
      'wall s': r.wall.toFixed(2),
      'output': r.size < 10 * 1024 ? `${r.size} B` : `${(r.size / MiB).toFixed(2)} MiB`,
      result: problems.length ? `FAIL: ${problems.join('; ')}` : 'ok',
    });
    console.log(rows[rows.length - 1]);
  }
  if (!keep) rmSync(file);
}
console.log('\n| dump | mode | peak RSS (MiB) | wall (s) | output | result |\n|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.dump} | ${r.mode} | ${r['peak RSS MiB']} | ${r['wall s']} | ${r.output} | ${r.result} |`);
process.exit(failed ? 1 : 0);
